// Package boottest boots the real appliance image in qemu:
// the amd64 variant of the image that `surveyctl image` builds from
// gokr-packer.json, on gokrazy's amd64 VM kernel, asserting from the serial
// console.
//
// Host packages (Debian 12): qemu-system-x86 (qemu-system-x86_64, installed
// by the Makefile's testbed-assets target) and openssh-client (ssh-keygen).
// The image build needs what sdimage's tests need (the go command,
// the module proxy, ca-certificates). The test fails, not skips, when a tool
// is missing. It runs qemu with TCG (no KVM: a /dev/kvm that exists but
// fails, as on nested CI runners, would only add a failure mode).
package boottest

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surveybox/surveybox/appliance/banner"
	"github.com/surveybox/surveybox/internal/testimage"
	"github.com/surveybox/surveybox/sdimage"
)

const (
	hostname = "boottest"
	// noRestartWindow is how long after the banner the appliance must keep
	// running without gokrazy restarting it (gokrazy restarts an exited
	// service after 1 s).
	noRestartWindow = 8 * time.Second
	bootTimeout     = 100 * time.Second // one boot, banner and checks
)

// brokenConfig has an unknown field (a typo) in the appliance config.
const brokenConfig = "{\n  \"scan\": {\n    \"intervall\": \"10s\"\n  }\n}\n"

func TestApplianceBoot(t *testing.T) {
	for _, tool := range []string{"qemu-system-x86_64", "ssh-keygen", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (Debian: apt-get install qemu-system-x86 openssh-client): %v", tool, err)
		}
	}
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken-config.json")
	if err := os.WriteFile(broken, []byte(brokenConfig), 0o644); err != nil {
		t.Fatal(err)
	}

	// Both images, before any VM runs and before the deadline starts.
	start := time.Now()
	good, err := buildImage(filepath.Join(dir, "good.img"), hostname, "", "")
	if err != nil {
		t.Fatalf("building the image: %v", err)
	}
	bad, err := buildImage(filepath.Join(dir, "broken.img"), hostname, broken, "")
	if err != nil {
		t.Fatalf("building the image: %v", err)
	}
	t.Logf("assembled two amd64 images in %v", time.Since(start).Round(100*time.Millisecond))
	// Each boot bounds itself (bootTimeout); this bounds the whole test.
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	// First boot of a fresh image: key generated, banner, no radio, no
	// crash loop, no listener, /perm rw.
	var firstFP string
	t.Run("first boot", func(t *testing.T) {
		vm := boot(ctx, t, good, false)
		defer vm.stop()
		b := vm.waitBanner(t)
		vm.waitFor(t, `surveybox: listeners: [^\n]*addresses: [^\n]*10\.0\.2\.15`)
		time.Sleep(noRestartWindow)
		out := vm.console()

		mustContain(t, out,
			"surveybox: modules: brcmfmac not present in this kernel",
			"surveybox: generated a new SSH host key at /perm/surveybox/ssh_host_ed25519_key",
			"surveybox: hostname: "+hostname+"\n",
			"surveybox: radio: none (no wireless interface) - still running\n",
			"surveybox: tailnet: not configured\n",
			"surveybox: config: defaults (no config file)\n",
			"surveybox: perm: /perm ext4 rw\n", // the key was written there
		)
		vm.stop()
		checkFingerprint(t, out, good.Path)
		// The image builder stamps the source version (git describe).
		if want, err := exec.Command("git", "describe", "--always", "--dirty", "--tags").Output(); err == nil {
			mustContain(t, out, "surveybox: version: "+strings.TrimSpace(string(want))+" ")
		}
		firstFP = b.fingerprint
		checkNoCrashLoop(t, out)
		checkListeners(t, out)
		checkBootPartition(t, out, good)
	})
	if firstFP == "" {
		t.Fatal("no fingerprint from the first boot")
	}

	// Second boot of the same image file (its /perm now holds the key):
	// the same fingerprint, no new key.
	t.Run("second boot", func(t *testing.T) {
		vm := boot(ctx, t, good, false)
		defer vm.stop()
		b := vm.waitBanner(t)
		out := vm.console()
		if b.fingerprint != firstFP {
			t.Errorf("fingerprint %q after a reboot, %q before: the host key did not persist", b.fingerprint, firstFP)
		}
		if strings.Contains(out, "generated a new SSH host key") {
			t.Error("the second boot generated a new host key")
		}
		vm.stop()
		checkFingerprint(t, out, good.Path)
		checkNoCrashLoop(t, out)
	})

	// An image whose baked-in config has an unknown field: one clear line
	// naming the field, then safe mode (still running, banner shown).
	t.Run("broken config", func(t *testing.T) {
		vm := boot(ctx, t, bad, true)
		defer vm.stop()
		vm.waitBanner(t)
		out := vm.console()
		var named []string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "scan.intervall") {
				named = append(named, strings.TrimRight(l, "\r"))
			}
		}
		want := regexp.MustCompile(`^surveybox: CONFIG ERROR: config /etc/surveybox/config\.json:3:5: field "scan\.intervall": unknown field - running in safe mode \(scanning with defaults, no tailnet, no upload, no SSH\)$`)
		if len(named) != 1 || !want.MatchString(named[0]) {
			t.Errorf("lines naming the field: %q\nwant exactly one matching %s", named, want)
		}
		mustContain(t, out,
			"surveybox: config: INVALID - safe mode",
			"surveybox: radio: none (no wireless interface) - still running\n",
			"surveybox: perm: /perm ext4 rw\n",
		)
		checkFingerprint(t, out, "") // a snapshot: nothing reached /perm
		checkNoCrashLoop(t, out)
	})
}

// images builds the amd64 programs once (TestMain), before any test's
// clock starts; the tests assemble their images from them.
var images *testimage.Builder

// buildImage builds the amd64 image from the repository's gokr-packer.json
// with the per-box overrides ("" leaves one out). Assembling is quick and
// cannot hang: it runs before a test starts its deadline.
func buildImage(out, host, applianceConfig, authKeyFile string) (*sdimage.Result, error) {
	return images.Image(context.Background(), sdimage.Options{
		Output: out, Hostname: host, ApplianceConfig: applianceConfig, AuthKeyFile: authKeyFile,
	})
}

// vm is one qemu run with its serial console captured.
type vm struct {
	t       testing.TB
	cmd     *exec.Cmd
	started time.Time
	cancel  context.CancelFunc
	done    chan struct{}
	logPath string

	mu  sync.Mutex
	out bytes.Buffer
}

func (v *vm) Write(p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.out.Write(p)
}

// console returns the serial console so far, with \r\n as \n.
func (v *vm) console() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return strings.ReplaceAll(v.out.String(), "\r\n", "\n")
}

// boot starts qemu on the image: gokrazy's amd64 kernel, the image's own
// kernel command line (rootdelay=0: the disk is there at once), the serial
// console on stdout, user-mode networking without outside access (so the
// box gets a LAN address by DHCP for the listener check). snapshot=true
// discards the writes.
func boot(ctx context.Context, t testing.TB, res *sdimage.Result, snapshot bool) *vm {
	t.Helper()
	args := strings.Fields(res.Cmdline)
	hasDelay := false
	for i, a := range args {
		if strings.HasPrefix(a, "rootdelay=") {
			args[i], hasDelay = "rootdelay=0", true
		}
	}
	if !hasDelay {
		args = append(args, "rootdelay=0")
	}
	drive := "file=" + res.Path + ",format=raw,if=ide"
	if snapshot {
		drive += ",snapshot=on"
	}
	qargs := []string{
		"-accel", "tcg,thread=single", "-m", "1024", "-smp", "2", "-no-reboot",
		"-display", "none", "-monitor", "none", "-serial", "stdio",
		"-kernel", filepath.Join(res.KernelDir, "vmlinuz"),
		"-append", strings.Join(args, " "),
		"-drive", drive,
		"-nic", "user,model=virtio-net-pci,restrict=on",
	}
	bctx, cancel := context.WithTimeout(ctx, bootTimeout+noRestartWindow+30*time.Second)
	return startVM(bctx, cancel, t, "qemu-system-x86_64", qargs, 60)
}

// startVM runs qemu with qargs until ctx ends (cancel stops it), teeing
// the serial console into the vm and a log file; on a failed test it
// shows the console's last tailLines lines.
func startVM(ctx context.Context, cancel context.CancelFunc, t testing.TB, qemu string, qargs []string, tailLines int) *vm {
	t.Helper()
	v := &vm{t: t, cancel: cancel, done: make(chan struct{})}
	v.logPath = filepath.Join(t.TempDir(), "console.txt")
	logf, err := os.Create(v.logPath)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	v.cmd = exec.CommandContext(ctx, qemu, qargs...)
	v.cmd.Stdout = io.MultiWriter(v, logf)
	v.cmd.Stderr = v.cmd.Stdout
	v.cmd.WaitDelay = 5 * time.Second
	v.started = time.Now()
	if err := v.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		v.cmd.Wait()
		logf.Close()
		close(v.done)
	}()
	t.Cleanup(func() {
		v.stop()
		if t.Failed() {
			t.Logf("serial console (%s), last %d lines:\n%s", v.logPath, tailLines, tail(v.console(), tailLines))
		}
	})
	return v
}

func (v *vm) stop() {
	v.cancel() // kills qemu; the image file keeps what the guest fsynced
	<-v.done
}

// waitFor waits until the console matches re and returns the match.
func (v *vm) waitFor(t testing.TB, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(bootTimeout)
	for time.Now().Before(deadline) {
		if m := rx.FindStringSubmatch(v.console()); m != nil {
			return m
		}
		select {
		case <-v.done:
			if m := rx.FindStringSubmatch(v.console()); m != nil {
				return m
			}
			t.Fatalf("qemu exited (%v) before the console showed %q", v.cmd.ProcessState, re)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("no %q on the console within %v", re, bootTimeout)
	return nil
}

type bannerInfo struct {
	fingerprint string
	seen        time.Duration // from starting qemu to the banner on the console
	uptime      string        // the guest's uptime in the banner header
}

var bannerRE = `surveybox: ======== surveybox banner 1 \(uptime ([0-9.]+)s\) ========\nsurveybox: why: first start\n(?:surveybox: .*\n)*?` +
	banner.FingerprintPattern + `(?:surveybox: .*\n)*?surveybox: ={20,}\n`

// waitBanner waits for the whole first banner and logs boot-to-banner.
func (v *vm) waitBanner(t testing.TB) bannerInfo {
	t.Helper()
	m := v.waitFor(t, bannerRE)
	b := bannerInfo{fingerprint: m[2], seen: time.Since(v.started), uptime: m[1]}
	t.Logf("boot to banner: %.1fs from starting qemu (guest uptime at the banner %ss)", b.seen.Seconds(), b.uptime)
	return b
}

// checkFingerprint compares the banner's fingerprint with what OpenSSH's
// ssh-keygen -l prints for the host key on the image's /perm (image ""
// only checks the banner has one). Stop the VM first.
func checkFingerprint(t *testing.T, out, image string) {
	t.Helper()
	fp := regexp.MustCompile(banner.FingerprintPattern).FindStringSubmatch(out)
	if fp == nil {
		t.Fatalf("the banner lacks the host key lines")
	}
	if image == "" {
		return
	}
	if got := permFingerprint(t, image); got != fp[1] {
		t.Errorf("banner fingerprint %q, ssh-keygen -l prints %q for the key on /perm", fp[1], got)
	}
}

// permFingerprint reads the SSH host key off the image's /perm (p4) and
// returns ssh-keygen -l's line for it. /perm is copied and its journal
// replayed (e2fsck) first: the guest was killed, and debugfs reads what is
// checkpointed only.
func permFingerprint(t *testing.T, image string) string {
	t.Helper()
	f, err := os.Open(image)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start, size := mbrPartition(t, f, 3)
	dir := t.TempDir()
	perm := filepath.Join(dir, "perm.ext4")
	pf, err := os.Create(perm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(pf, io.NewSectionReader(f, start, size)); err != nil {
		t.Fatal(err)
	}
	pf.Close()
	// e2fsck exits 1 when it fixed something (a replayed journal).
	if out, err := exec.Command("e2fsck", "-fy", perm).CombinedOutput(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
			t.Fatalf("e2fsck /perm: %v\n%s", err, out)
		}
	}
	key := filepath.Join(dir, "ssh_host_ed25519_key")
	if out, err := exec.Command("debugfs", "-R", "dump /surveybox/ssh_host_ed25519_key "+key, perm).CombinedOutput(); err != nil {
		t.Fatalf("debugfs: %v\n%s", err, out)
	}
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatalf("no host key on /perm: %v", err)
	}
	got, err := exec.Command("ssh-keygen", "-l", "-f", key).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -l -f (the key on /perm): %v\n%s", err, got)
	}
	return strings.TrimSpace(string(got))
}

// checkNoCrashLoop: the appliance started once and kept running. gokrazy
// restarts an exited service after a second, and each start prints
// "appliance starting" and a banner (marked RESTARTED after the first).
func checkNoCrashLoop(t *testing.T, out string) {
	t.Helper()
	if n := strings.Count(out, "surveybox: appliance starting (pid "); n != 1 {
		t.Errorf("the appliance started %d times, want once", n)
	}
	if strings.Contains(out, "RESTARTED by gokrazy") {
		t.Error("gokrazy restarted the appliance")
	}
	for _, bad := range []string{"panic: ", "goroutine 1 [", "Kernel panic"} {
		if strings.Contains(out, bad) {
			t.Errorf("the console shows %q", bad)
		}
	}
}

// checkBootPartition: gokrazy's init read cmdline.txt from the FAT boot
// partition with its own FAT reader (gokrazy update.go readCmdline, logged
// by maybeSwitchToInactive in gokrazy.go) — the same reader the A/B update
// uses to rewrite root=.
func checkBootPartition(t *testing.T, out string, res *sdimage.Result) {
	t.Helper()
	if strings.Contains(out, `"/cmdline.txt" not found`) {
		t.Errorf(`the console shows "/cmdline.txt" not found: gokrazy cannot read the boot partition`)
	}
	if !strings.Contains(out, "cmdline: "+res.Cmdline) {
		t.Errorf("the console lacks gokrazy's %q line (it read cmdline.txt from the boot partition)", "cmdline: "+res.Cmdline)
	}
}

// checkListeners: every listener check the appliance printed found nothing
// reachable from the LAN, including one after the LAN address came up.
func checkListeners(t *testing.T, out string) {
	t.Helper()
	lines := regexp.MustCompile(`surveybox: listeners: .*`).FindAllString(out, -1)
	if len(lines) == 0 {
		t.Fatal("no listener check on the console")
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "surveybox: listeners: none reachable from the LAN") {
			t.Errorf("listener check: %s", l)
		}
	}
	t.Logf("listener checks: %q", lines)
}

func mustContain(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("console lacks %q", w)
		}
	}
}

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// BenchmarkBootToBanner measures, per boot of the amd64 image in qemu (TCG),
// the time from starting qemu to the complete first banner on the serial
// console (s/banner) and the guest's uptime in that banner (guest-s).
func BenchmarkBootToBanner(b *testing.B) {
	res, err := buildImage(filepath.Join(b.TempDir(), "bench.img"), hostname, "", "")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b.ResetTimer()
	var wall, guest float64
	for i := 0; i < b.N; i++ {
		vm := boot(ctx, b, res, true)
		bi := vm.waitBanner(b)
		vm.stop()
		wall += bi.seen.Seconds()
		g, _ := strconv.ParseFloat(bi.uptime, 64)
		guest += g
	}
	b.ReportMetric(wall/float64(b.N), "s/banner")
	b.ReportMetric(guest/float64(b.N), "guest-s/banner")
}
