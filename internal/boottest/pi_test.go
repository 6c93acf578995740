package boottest

// The arm64 image on an emulated Raspberry Pi 3 (qemu's raspi3b machine):
// the closest to a real Pi these machines get. qemu has no firmware stage
// (config.txt and start*.elf are not used), so the kernel, the Pi 3 device
// tree and the command line are taken from the image's own boot partition
// and given to qemu; the whole image is the SD card.
//
// Host packages (Debian 12): qemu-system-arm (qemu-system-aarch64), mtools
// (mcopy), openssh-client, e2fsprogs. `make test` installs them.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/surveybox/surveybox/internal/testimage"
	"github.com/surveybox/surveybox/sdimage"
)

// piImages builds the arm64 programs once (TestMain).
var piImages *testimage.Builder

// piEmulationArgs are kernel arguments the emulated Pi needs and a real
// one does not; nothing else differs from the image's cmdline.txt.
var piEmulationArgs = []string{
	// Opening the watchdog resets qemu's raspi3b at once (the box would
	// reboot just after /gokrazy/init starts); qemu emulates no
	// VideoCore, so vchiq oopses; and the SDIO controller meant for the
	// WiFi chip sometimes grabs the SD card, and the root search hangs.
	"initcall_blacklist=bcm2835_wdt_driver_init,vchiq_driver_init,bcm2835_mmc_driver_init",
}

// piBootTimeout bounds one boot to the banner: about 60 s on a quiet
// machine (TCG emulating four Cortex-A53s), several minutes under load.
const piBootTimeout = 6 * time.Minute

func TestPiBoot(t *testing.T) {
	for _, tool := range []string{"qemu-system-aarch64", "mcopy", "ssh-keygen", "e2fsck", "debugfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (Debian: apt-get install qemu-system-arm mtools openssh-client e2fsprogs): %v", tool, err)
		}
	}
	dir := t.TempDir()
	res, err := piImages.Image(context.Background(), sdimage.Options{Output: filepath.Join(dir, "pi.img"), Hostname: "pi-box"})
	if err != nil {
		t.Fatalf("building the arm64 image: %v", err)
	}
	boot := piBootFiles(t, res, dir)
	font := kernelFont(t, boot.kernel)
	// qemu wants an SD card whose size is a power of two; the partitions
	// stay where the image put them.
	if err := os.Truncate(res.Path, 4<<30); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*piBootTimeout+2*time.Minute)
	defer cancel()

	// The image's command line gives the kernel tty1 (HDMI) and serial0;
	// /dev/console is the last one. First as the image has it (serial
	// last), then with HDMI last: the banner must reach both either way.
	var fingerprints []string
	for _, tc := range []struct{ name, last string }{
		{"kernel console on serial", "ttyS0"},
		{"kernel console on HDMI", "tty1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := piCmdline(boot.cmdline, tc.last)
			t.Logf("kernel command line: %s", args)
			v, mon := bootPi(ctx, t, res.Path, boot, args)
			defer v.stop()
			m := v.waitAfter(t, 0, bannerRE, piBootTimeout)
			t.Logf("boot to banner on serial0: %.1fs from starting qemu (guest uptime %ss)", time.Since(v.started).Seconds(), m[1])
			out := v.console()
			mustContain(t, out,
				"surveybox: hostname: pi-box\n",
				"surveybox: radio: none (no wireless interface) - still running\n", // qemu emulates no WiFi chip
				"surveybox: perm: /perm ext4 rw\n",
			)
			if !regexp.MustCompile(`Kernel command line: [^\n]*console=` + regexp.QuoteMeta(tc.last) + `[^\n]*\n`).MatchString(out) {
				t.Errorf("the kernel did not log our command line")
			}
			// The screen: the same banner, read off qemu's framebuffer.
			screen := screenText(t, mon, dir, font)
			checkScreen(t, screen, m[2])
			v.stop()
			checkFingerprint(t, out, res.Path)
			fingerprints = append(fingerprints, m[2])
		})
	}
	if len(fingerprints) == 2 && fingerprints[0] != fingerprints[1] {
		t.Errorf("fingerprint %q on the second boot, %q on the first: the key on /perm did not persist", fingerprints[1], fingerprints[0])
	}
}

// piBoot is what qemu takes from the image's boot partition.
type piBoot struct {
	kernel, dtb, cmdline string
}

// piBootFiles copies the kernel, the Pi 3 B device tree and cmdline.txt
// out of the image's boot partition (FAT, read with mtools).
func piBootFiles(t *testing.T, res *sdimage.Result, dir string) piBoot {
	t.Helper()
	f, err := os.Open(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	start, _ := mbrPartition(t, f, 0)
	f.Close()
	get := func(name string) string {
		dst := filepath.Join(dir, name)
		cmd := exec.Command("mcopy", "-n", "-i", fmt.Sprintf("%s@@%d", res.Path, start), "::/"+name, dst)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mcopy %s from the boot partition: %v\n%s", name, err, out)
		}
		return dst
	}
	b := piBoot{kernel: get("vmlinuz"), dtb: get("bcm2710-rpi-3-b.dtb")}
	cl, err := os.ReadFile(get("cmdline.txt"))
	if err != nil {
		t.Fatal(err)
	}
	b.cmdline = strings.TrimSpace(string(cl))
	if !strings.Contains(b.cmdline, "root=PARTUUID=") {
		t.Fatalf("cmdline.txt %q has no root=PARTUUID=", b.cmdline)
	}
	return b
}

// piCmdline is the image's command line as the Pi 3's firmware hands it
// to the kernel (which knows no serial0: the firmware names the UART
// behind it, the mini UART ttyS0 while Bluetooth has the PL011), with the
// console named last moved to the end, oops=panic dropped and the
// emulation-only arguments added.
func piCmdline(cmdline, last string) string {
	var args, lastArgs []string
	for _, a := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(a, "console=serial0"); ok {
			a = "console=ttyS0" + v
		}
		switch {
		case a == "oops=panic":
		case strings.HasPrefix(a, "console="+last):
			lastArgs = append(lastArgs, a)
		default:
			args = append(args, a)
		}
	}
	args = append(append(args, piEmulationArgs...), lastArgs...)
	return strings.Join(args, " ")
}

// bootPi starts qemu's raspi3b on the SD image. The first serial port is
// the PL011 (Bluetooth's, in this device tree), the second the mini UART,
// which is serial0: that one is captured. The monitor socket is for
// screendump.
func bootPi(ctx context.Context, t *testing.T, sd string, b piBoot, cmdline string) (*vm, string) {
	t.Helper()
	mon := filepath.Join(t.TempDir(), "monitor.sock")
	qargs := []string{
		"-M", "raspi3b", "-m", "1G",
		"-kernel", b.kernel, "-dtb", b.dtb, "-append", cmdline,
		"-drive", "if=sd,format=raw,file=" + sd,
		"-display", "none",
		"-serial", "null", "-serial", "stdio",
		"-monitor", "unix:" + mon + ",server,nowait",
	}
	bctx, cancel := context.WithTimeout(ctx, piBootTimeout+time.Minute)
	return startVM(bctx, cancel, t, "qemu-system-aarch64", qargs, 80), mon
}

// screenText dumps qemu's framebuffer (what HDMI shows) and reads its
// text cell by cell with the console font of the kernel that drew it: no
// OCR, every character exact.
func screenText(t *testing.T, monitor, dir string, font *consoleFont) string {
	t.Helper()
	ppm := filepath.Join(dir, "screen.ppm")
	os.Remove(ppm)
	c, err := net.Dial("unix", monitor)
	if err != nil {
		t.Fatalf("qemu monitor: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "screendump %s\n", ppm)
	// The monitor answers with a prompt once the command is done.
	r := bufio.NewReader(c)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st, err := os.Stat(ppm); err == nil && st.Size() > 0 {
			time.Sleep(500 * time.Millisecond) // written in one go, but be sure
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("qemu wrote no screendump")
		}
		r.ReadString('\n')
	}
	img, err := readPPM(ppm)
	if err != nil {
		t.Fatal(err)
	}
	pngPath := filepath.Join(dir, "screen.png")
	pf, err := os.Create(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(pf, img); err != nil {
		t.Fatal(err)
	}
	pf.Close()
	text := font.read(img)
	t.Logf("HDMI (%dx%d, saved as %s), read with the kernel's console font:\n%s", img.Bounds().Dx(), img.Bounds().Dy(), pngPath, text)
	return text
}

// consoleFont is the Linux console's VGA 8x16 font (lib/fonts/font_8x16.c),
// which fbcon draws HDMI's text with: 16 bytes a glyph, bit 7 the leftmost
// pixel. Glyphs of printable ASCII map back to their characters.
type consoleFont struct {
	chars map[[16]byte]byte
}

// fontA is the font's 'A'; the 256 glyphs are stored in code order, so it
// locates the font in a kernel image.
var fontA = []byte{0x00, 0x00, 0x10, 0x38, 0x6c, 0xc6, 0xc6, 0xfe, 0xc6, 0xc6, 0xc6, 0xc6, 0x00, 0x00, 0x00, 0x00}

// kernelFont finds the font in the (uncompressed arm64) kernel image the
// emulated Pi boots.
func kernelFont(t *testing.T, vmlinuz string) *consoleFont {
	t.Helper()
	k, err := os.ReadFile(vmlinuz)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(k, fontA)
	base := i - 'A'*16
	if i < 0 || base < 0 || base+256*16 > len(k) || bytes.Count(k, fontA) != 1 {
		t.Fatalf("the VGA 8x16 console font is not in %s (found %d times)", vmlinuz, bytes.Count(k, fontA))
	}
	f := &consoleFont{chars: map[[16]byte]byte{}}
	for c := byte('!'); c <= '~'; c++ {
		var g [16]byte
		copy(g[:], k[base+int(c)*16:])
		f.chars[g] = c
	}
	f.chars[[16]byte{}] = ' '
	return f
}

// read returns the screen's text: each 8x16 cell (on the grid offset that
// reads the most characters) as its character, '?' for what is no ASCII
// glyph (the boot logo, a cursor).
func (f *consoleFont) read(img image.Image) string {
	b := img.Bounds()
	lit := func(x, y int) bool {
		r, g, bl, _ := img.At(x, y).RGBA()
		return (r+g+bl)/3 > 0x6000
	}
	decode := func(x0, y0 int) (string, int) {
		var out strings.Builder
		known := 0
		for y := b.Min.Y + y0; y+16 <= b.Max.Y; y += 16 {
			var line []byte
			for x := b.Min.X + x0; x+8 <= b.Max.X; x += 8 {
				var g [16]byte
				for row := range 16 {
					for col := range 8 {
						if lit(x+col, y+row) {
							g[row] |= 0x80 >> col
						}
					}
				}
				c, ok := f.chars[g]
				if !ok {
					c = '?'
				} else if c != ' ' {
					known++
				}
				line = append(line, c)
			}
			out.WriteString(strings.TrimRight(string(line), " "))
			out.WriteByte('\n')
		}
		return out.String(), known
	}
	best, bestKnown := "", -1
	for y0 := range 16 {
		if s, n := decode(0, y0); n > bestKnown {
			best, bestKnown = s, n
		}
	}
	return best
}

// readPPM reads a binary PPM (P6, maxval 255), qemu's screendump format.
func readPPM(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var magic string
	var w, h, max int
	if _, err := fmt.Fscan(r, &magic, &w, &h, &max); err != nil {
		return nil, fmt.Errorf("reading the PPM header: %w", err)
	}
	if magic != "P6" || max != 255 || w <= 0 || h <= 0 || w > 8192 || h > 8192 {
		return nil, fmt.Errorf("PPM %s %dx%d max %d: not a screendump", magic, w, h, max)
	}
	if _, err := r.ReadByte(); err != nil { // the one whitespace after the header
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	px := make([]byte, 3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if _, err := io.ReadFull(r, px); err != nil {
				return nil, fmt.Errorf("PPM pixels: %w", err)
			}
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = px[0], px[1], px[2], 255
		}
	}
	return img, nil
}

// checkScreen checks that the screen shows the banner with its
// fingerprint line, exactly.
func checkScreen(t *testing.T, screen, fingerprint string) {
	t.Helper()
	for _, w := range []string{
		"surveybox: hostname: pi-box\n",
		"surveybox: ssh host key (compare with ssh-keygen -l or your ssh client):\n" + fingerprint + "\n",
		"surveybox: radio: none (no wireless interface) - still running\n",
	} {
		if !strings.Contains(screen, w) {
			t.Errorf("the screen does not show %q", w)
		}
	}
}
