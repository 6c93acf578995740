package sdimage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

var fatTestTime = time.Date(2026, 11, 27, 13, 14, 16, 0, time.UTC)

func testData(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// TestFAT16 writes file systems with fat16 and reads them back with
// dosfstools, mtools, go-diskfs and gokrazy's reader.
func TestFAT16(t *testing.T) {
	for _, tool := range []string{"fsck.fat", "mtype", "mdir", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: apt-get install dosfstools mtools: %v", tool, err)
		}
	}
	const cmdline = "console=tty1 console=serial0,115200 root=PARTUUID=abcd1234-02 ro init=/gokrazy/init panic=10                                                                "
	piFiles := func() map[string][]byte {
		m := map[string][]byte{
			"cmdline.txt":              []byte(cmdline),
			"config.txt":               []byte("arm_64bit=1\nkernel=vmlinuz\n"),
			"vmlinuz":                  testData(3<<20+17, 1),
			"bcm2711-rpi-4-b.dtb":      testData(50000, 2),
			"bcm2710-rpi-3-b-plus.dtb": testData(30000, 3),
			"bcm2710-rpi-3-b.dtb":      testData(30001, 4),
			"bootcode.bin":             testData(52000, 5),
			"start4.elf":               testData(2<<20, 6),
			"fixup4.dat":               testData(5400, 7),
			"pieeprom.upd":             testData(2<<20, 8),
			"pieeprom.sig":             []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"),
			"vl805.bin":                testData(99000, 9),
			"vl805.sig":                []byte("fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\n"),
			"recovery.bin":             testData(100000, 10),
			"overlays/overlay_map.dtb": testData(5000, 11),
		}
		for i := 0; i < 400; i++ { // more than one cluster of entries
			m[fmt.Sprintf("overlays/some-overlay-%03d.dtbo", i)] = testData(100+i*37, int64(100+i))
		}
		return m
	}
	for _, tt := range []struct {
		name    string
		size    int64
		files   map[string][]byte
		wantErr string
	}{
		{name: "pi boot partition", size: 256 << 20, files: piFiles()},
		{name: "edge cases", size: 64 << 20, files: map[string][]byte{
			"cmdline.txt":                 []byte(cmdline),
			"empty.txt":                   nil,
			"README.TXT":                  []byte("upper case 8.3\n"),
			"Mixed.Txt":                   []byte("mixed case needs a long name\n"),
			"a long name with spaces.dat": []byte("spaces\n"),
			"one-cluster":                 testData(4096, 20),
			"one-cluster-and-a-byte.bin":  testData(4097, 21),
			"noext":                       []byte("x"),
			"x.y":                         []byte("y"),
			"überlänge.txt":               []byte("non-ASCII long name\n"),
			"deep/er/file.bin":            testData(9000, 22),
			"deep/sibling.txt":            []byte("sibling\n"),
			"bcm2711-rpi-4-b.dtb":         []byte("alias 1\n"),
			"bcm2711-rpi-400.dtb":         []byte("alias 2\n"),
			"bcm2711-rpi-cm4.dtb":         []byte("alias 3\n"),
		}},
		{name: "smallest FAT16", size: 34 << 20, files: map[string][]byte{"cmdline.txt": []byte(cmdline)}},
		{name: "too small for FAT16", size: 16 << 20, files: map[string][]byte{"cmdline.txt": []byte(cmdline)}, wantErr: "outside FAT16"},
		{name: "too large for FAT16 clusters", size: 600 << 20, files: map[string][]byte{"cmdline.txt": []byte(cmdline)}, wantErr: "outside FAT16"},
		{name: "files do not fit", size: 40 << 20, files: map[string][]byte{"cmdline.txt": []byte(cmdline), "big": testData(41<<20, 1)}, wantErr: "do not fit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := newFAT16("GOKRAZY", fatTestTime)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for p := range tt.files {
				names = append(names, p)
			}
			sort.Strings(names)
			hostDir := t.TempDir()
			for i, p := range names {
				if i%2 == 0 { // half from host files, half from memory
					if err := fs.addBytes(p, tt.files[p]); err != nil {
						t.Fatal(err)
					}
					continue
				}
				src := filepath.Join(hostDir, fmt.Sprint(i))
				if err := os.WriteFile(src, tt.files[p], 0o644); err != nil {
					t.Fatal(err)
				}
				if err := fs.addFile(p, src); err != nil {
					t.Fatal(err)
				}
			}
			part := filepath.Join(t.TempDir(), "p1")
			f, err := os.Create(part)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(tt.size); err != nil {
				t.Fatal(err)
			}
			geo, err := fs.write(f, 0, tt.size, 8192, 0x12345678)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("write error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			t.Logf("geometry: %+v", geo)
			checkFAT16Partition(t, part, tt.files)

			// The A/B switch as gokrazy does it on the device.
			if got := runGokrazyFAT(t, part, "setroot", "PARTUUID=abcd1234-03"); got != "ok" {
				t.Fatalf("setroot: %s", got)
			}
			want := map[string][]byte{"cmdline.txt": []byte(strings.Replace(cmdline, "-02", "-03", 1))}
			checkFAT16Partition(t, part, want)
		})
	}
}

// checkFAT16Partition checks the FAT16 file system in the file part
// (one partition) and that files (slash-separated paths) read back exactly.
func checkFAT16Partition(t *testing.T, part string, files map[string][]byte) {
	t.Helper()
	raw, err := os.ReadFile(part)
	if err != nil {
		t.Fatal(err)
	}
	// The boot sector gokrazy's reader needs.
	le := binary.LittleEndian
	bps, spc := int64(le.Uint16(raw[11:])), int64(raw[13])
	reserved, numFATs, rootEnts := int64(le.Uint16(raw[14:])), raw[16], int64(le.Uint16(raw[17:]))
	fatSz := int64(le.Uint16(raw[22:]))
	total := int64(le.Uint16(raw[19:]))
	if total == 0 {
		total = int64(le.Uint32(raw[32:]))
	}
	dataStart := reserved + fatSz + rootEnts*32/bps
	clusters := (total - dataStart) / spc
	if bps != 512 || numFATs != 1 || fatSz == 0 || string(raw[54:62]) != "FAT16   " || raw[510] != 0x55 || raw[511] != 0xAA {
		t.Errorf("boot sector: %d bytes/sector, %d FATs, FATSz16 %d, type %q: want 512, one FAT, FAT16", bps, numFATs, fatSz, raw[54:62])
	}
	if clusters < 4085 || clusters > 65524 {
		t.Errorf("%d clusters: not FAT16", clusters)
	}
	if dataStart%spc != 0 || reserved%spc != 0 {
		t.Errorf("reserved %d / data area at sector %d: not cluster-aligned (%d sectors)", reserved, dataStart, spc)
	}

	checkFsckFAT(t, part)

	// mtools: listing (long names) and content.
	mt := func(args ...string) []byte {
		cmd := exec.Command(args[0], append([]string{"-i", part}, args[1:]...)...)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Errorf("%s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	listing := string(mt("mdir", "-/", "-b", "::/"))
	for p, want := range files {
		if !strings.Contains(listing, "::/"+p+"\n") {
			t.Errorf("mdir -/ -b lacks ::/%s", p)
		}
		if got := mt("mtype", "::/"+p); !bytes.Equal(got, want) {
			t.Errorf("mtype ::/%s: %d bytes, want %d (content differs)", p, len(got), len(want))
		}
	}

	// Not go-diskfs: v1.9.4's fat16.Read assumes two FATs (it puts the
	// root directory after a second FAT whatever BPB_NumFATs says).

	// gokrazy's reader, for the root files it can find: 8.3 names with a
	// three-letter extension, like the ones gokrazy looks up (cmdline.txt,
	// pieeprom.sig, vl805.sig, RECOVERY.000). It cannot find others, not
	// even in gokrazy's own images, unless the on-disk short name equals
	// the looked-up name byte for byte: it appends all three extension
	// bytes, spaces included, and a "." to extension-less names
	// (reader.go:122-131).
	root := map[string][]byte{}
	for p, want := range files {
		if _, _, ok := fit83(p); ok && !strings.Contains(p, "/") && len(filepath.Ext(p)) == 4 {
			root["/"+p] = want
		}
	}
	checkGokrazyReads(t, part, root)
}

// checkFsckFAT runs fsck.fat -n -V on part and fails on anything it
// reports beyond its progress lines.
func checkFsckFAT(t *testing.T, part string) {
	t.Helper()
	out, err := exec.Command("fsck.fat", "-n", "-V", part).CombinedOutput()
	if err != nil {
		t.Errorf("fsck.fat -n -V: %v\n%s", err, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(l, "fsck.fat ") && !strings.HasPrefix(l, "Checking we can access the last sector") &&
			!strings.HasPrefix(l, "Starting check/repair pass.") && !strings.HasPrefix(l, "Starting verification pass.") &&
			!strings.HasPrefix(l, part+": ") {
			t.Errorf("fsck.fat -n -V says: %s", l)
		}
	}
}
