package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surveybox/surveybox/appliance/banner"
	"github.com/surveybox/surveybox/appliance/hostkey"
	"github.com/surveybox/surveybox/appliance/kmod"
	"github.com/surveybox/surveybox/appliance/scanloop"
	"github.com/surveybox/surveybox/appliance/tailsvc"
	"github.com/surveybox/surveybox/config"
	"github.com/surveybox/surveybox/internal/syncbuf"
	"github.com/surveybox/surveybox/survey"
)

// syncBuffer collects output from several goroutines.
type syncBuffer = syncbuf.Buffer

// fakeProc makes a /proc with mounts and the socket tables.
func fakeProc(t *testing.T, tcp string) string {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "self"), 0o755)
	os.MkdirAll(filepath.Join(dir, "net"), 0o755)
	os.WriteFile(filepath.Join(dir, "self", "mounts"), []byte("/dev/sda4 /perm ext4 rw,relatime 0 0\n"), 0o644)
	header := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	os.WriteFile(filepath.Join(dir, "net", "tcp"), []byte(header+tcp), 0o644)
	os.WriteFile(filepath.Join(dir, "net", "udp"), []byte(header), 0o644)
	return dir
}

type bootRun struct {
	out    *syncBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startBoot(t *testing.T, e *env) *bootRun {
	t.Helper()
	out := &syncBuffer{}
	e.con = banner.NewConsole(out, nil)
	e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if e.procRoot == "" {
		e.procRoot = fakeProc(t, "")
	}
	if e.hostKeyPath == "" {
		e.hostKeyPath = filepath.Join(t.TempDir(), "surveybox", "ssh_host_ed25519_key")
	}
	if e.loadModules == nil {
		e.loadModules = func() ([]kmod.Result, error) { return nil, kmod.ErrAbsent }
	}
	if e.loadConfig == nil {
		e.loadConfig = func() (*config.Config, error) { c := config.Default(); return &c, nil }
	}
	if e.startTailnet == nil {
		e.startTailnet = func(context.Context, tailsvc.Deps, func(string)) { t.Error("the tailnet was started") }
	}
	e.addrs = func() string { return "" }
	e.hostname = func() (string, error) { return "box-7", nil }
	e.firstStart = true
	e.listenerEvery = func(int) time.Duration { return 10 * time.Millisecond }
	e.retryWait = func(int) time.Duration { return 10 * time.Millisecond }
	ctx, cancel := context.WithCancel(context.Background())
	r := &bootRun{out: out, cancel: cancel, done: make(chan error, 1)}
	go func() { e.run(ctx); r.done <- nil }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *bootRun) waitFor(t *testing.T, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := rx.FindString(r.out.String()); m != "" {
			return m
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %q in the console output:\n%s", re, r.out.String())
	return ""
}

func (r *bootRun) stop(t *testing.T) {
	r.once.Do(func() { r.stopOnce(t) })
}

func (r *bootRun) stopOnce(t *testing.T) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the service did not stop when its context ended")
	}
}

// noRadio is the scanner of a VM: no radio, waiting until stopped.
func noRadio(ctx context.Context, radio func(string)) error {
	radio(scanloop.RadioState(survey.Interface{}, fmt.Errorf("%w: no wireless interface", survey.ErrNoRadio)))
	<-ctx.Done()
	return nil
}

func TestBootNoRadio(t *testing.T) {
	e := &env{scanner: noRadio}
	r := startBoot(t, e)
	r.waitFor(t, `listeners: none reachable from the LAN`)
	out := r.out.String()
	for _, w := range []string{
		"surveybox: appliance starting (pid ",
		"surveybox: modules: brcmfmac not present in this kernel",
		"surveybox: generated a new SSH host key at " + e.hostKeyPath,
		"surveybox: ======== surveybox banner 1 (uptime ",
		"surveybox: why: first start\n",
		"surveybox: hostname: box-7\n",
		"surveybox: radio: " + scanloop.RadioNone + "\n",
		"surveybox: tailnet: not configured\n",
		"surveybox: config: defaults (no config file)\n",
		"surveybox: perm: /perm ext4 rw\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("console lacks %q:\n%s", w, out)
		}
	}
	// The first banner already knows the radio state.
	if strings.Contains(out, "radio: searching") || strings.Count(out, "surveybox banner ") != 1 {
		t.Errorf("want exactly one banner, showing the radio state:\n%s", out)
	}
	// The fingerprint is OpenSSH's, for the key on /perm, on a line of its
	// own as ssh-keygen -l prints it.
	fp := regexp.MustCompile(banner.FingerprintPattern).FindStringSubmatch(out)
	if fp == nil {
		t.Fatalf("no key lines:\n%s", out)
	}
	want, err := exec.Command("ssh-keygen", "-l", "-f", e.hostKeyPath).Output()
	if err != nil {
		t.Fatalf("ssh-keygen -l: %v (Debian: apt-get install openssh-client)", err)
	}
	if fp[1] != strings.TrimSpace(string(want)) {
		t.Errorf("banner fingerprint %q, ssh-keygen -l says %q", fp[1], want)
	}
	r.stop(t)

	// Second boot: the same key.
	r2 := startBoot(t, &env{scanner: noRadio, hostKeyPath: e.hostKeyPath})
	r2.waitFor(t, `surveybox banner 1`)
	if got := r2.waitFor(t, banner.FingerprintPattern); !strings.Contains(got, fp[1]+"\n") {
		t.Errorf("second boot: %q, first %q", got, fp[1])
	}
	if strings.Contains(r2.out.String(), "generated") {
		t.Error("second boot generated a key")
	}
}

func TestBootRadioComesAndGoes(t *testing.T) {
	step := make(chan string)
	scan := func(ctx context.Context, radio func(string)) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case s := <-step:
				if s == "fail" {
					return errors.New("nl80211 went away")
				}
				radio(s)
			}
		}
	}
	r := startBoot(t, &env{scanner: scan})
	step <- scanloop.RadioNone
	r.waitFor(t, `banner 1 [^\n]*\n(.*\n)*surveybox: radio: none`)
	step <- "wlan0 phy0"
	r.waitFor(t, `banner 2 [^\n]*\n(.*\n)*surveybox: radio: wlan0 phy0\n`)
	step <- "fail" // the scanner fails: a state, then a retry, not an exit
	r.waitFor(t, `banner 3 [^\n]*\n(.*\n)*surveybox: radio: error: nl80211 went away - retrying\n`)
	step <- "wlan0 phy0"
	r.waitFor(t, `banner 4 [^\n]*\n(.*\n)*surveybox: radio: wlan0 phy0\n`)
	select {
	case err := <-r.done:
		t.Fatalf("the service exited: %v", err)
	default:
	}
}

func TestBootBrokenConfig(t *testing.T) {
	cfgErr := errors.New(`/etc/surveybox/config.json: field "scan.interval": "soon" is not a duration`)
	r := startBoot(t, &env{scanner: noRadio, loadConfig: func() (*config.Config, error) { return nil, cfgErr }})
	r.waitFor(t, `listeners: `)
	out := r.out.String()
	lines := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "scan.interval") {
			lines++
			want := `surveybox: CONFIG ERROR: /etc/surveybox/config.json: field "scan.interval": "soon" is not a duration - running in safe mode (scanning with defaults, no tailnet, no upload, no SSH)`
			if l != want {
				t.Errorf("config line\n %q\nwant\n %q", l, want)
			}
		}
	}
	if lines != 1 {
		t.Errorf("%d lines name the field, want 1:\n%s", lines, out)
	}
	if !strings.Contains(out, "surveybox: config: INVALID - safe mode") || !strings.Contains(out, "surveybox: radio: "+scanloop.RadioNone) {
		t.Errorf("banner:\n%s", out)
	}
}

func TestBootUnusableHostKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
	os.WriteFile(path, []byte("garbage"), 0o600)
	r := startBoot(t, &env{scanner: noRadio, hostKeyPath: path})
	r.waitFor(t, `surveybox banner 1`)
	out := r.out.String()
	if !strings.Contains(out, "surveybox: ERROR: SSH host key "+path+" is unusable") ||
		!strings.Contains(out, "surveybox: ssh host key: NONE - the key file is unusable") {
		t.Errorf("console:\n%s", out)
	}
	if b, _ := os.ReadFile(path); string(b) != "garbage" {
		t.Error("the key file was replaced")
	}
}

func TestBootListenerWarning(t *testing.T) {
	tcp := "   0: 0F02000A:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7 1 0 100 0 0 10 0\n"
	r := startBoot(t, &env{scanner: noRadio, procRoot: fakeProc(t, tcp)})
	r.waitFor(t, `surveybox: listeners: WARNING: listening on the LAN: tcp 10.0.2.15:80; addresses: none\n`)
	time.Sleep(50 * time.Millisecond)
	if n := strings.Count(r.out.String(), "listeners:"); n != 1 {
		t.Errorf("an unchanged listener state printed %d times", n)
	}
}

// TestBootRealConfigError feeds the config package's own error for a file
// with an unknown field through the service.
func TestBootRealConfigError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(p, []byte("{\n  \"scan\": {\n    \"intervall\": \"10s\"\n  }\n}\n"), 0o644)
	load := func() (*config.Config, error) { return config.Load(p) }
	r := startBoot(t, &env{scanner: noRadio, loadConfig: load})
	r.waitFor(t, `surveybox banner 1`)
	want := "surveybox: CONFIG ERROR: config " + p + `:3:5: field "scan.intervall": unknown field - running in safe mode`
	if n := strings.Count(r.out.String(), `"scan.intervall"`); n != 1 || !strings.Contains(r.out.String(), want) {
		t.Errorf("want one line starting %q, got:\n%s", want, r.out.String())
	}
}

func TestBootTailnetState(t *testing.T) {
	var gotKey *hostkey.Key
	start := func(ctx context.Context, d tailsvc.Deps, state func(string)) {
		gotKey = d.Key
		go func() {
			time.Sleep(20 * time.Millisecond)
			state("box-7.tail1234.ts.net 100.101.102.103 fd7a:115c:a1e0::1")
		}()
	}
	cfg := config.Default()
	cfg.Tailnet.AuthKey = "tskey-test"
	cfg.Spool.Path = filepath.Join(t.TempDir(), "spool.db")
	r := startBoot(t, &env{scanner: noRadio, startTailnet: start, openSpool: openSpool,
		loadConfig: func() (*config.Config, error) { return &cfg, nil }})
	r.waitFor(t, `banner 1 [^\n]*\n(.*\n)*surveybox: tailnet: connecting\n`)
	r.waitFor(t, `banner 2 [^\n]*\n(.*\n)*surveybox: tailnet: box-7.tail1234.ts.net 100.101.102.103 fd7a:115c:a1e0::1\n`)
	if gotKey == nil || gotKey.Signer == nil {
		t.Error("the tailnet starter got no host key")
	}
}

func TestOpenSpoolMakesPrivateDirectory(t *testing.T) {
	dir := t.TempDir()
	sp, err := openSpool(config.Spool{Path: filepath.Join(dir, "sub", "spool.db"), QuotaBytes: 1 << 20}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if fi, err := os.Stat(filepath.Join(dir, "sub")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("spool directory: %v, %v; want mode 0700", fi, err)
	}
}

// TestBootStateLines: the network and clock lines, and the spool's, are on
// the banner, and each change prints it again with the reason.
func TestBootStateLines(t *testing.T) {
	netStep, clockStep := make(chan string), make(chan string)
	feed := func(ch chan string) func(ctx context.Context, report func(string)) {
		return func(ctx context.Context, report func(string)) {
			for {
				select {
				case <-ctx.Done():
					return
				case s := <-ch:
					report(s)
				}
			}
		}
	}
	e := &env{scanner: noRadio, openSpool: openSpool, watchNetwork: feed(netStep),
		watchClock: func(ctx context.Context, _ *config.Config, report func(string)) { feed(clockStep)(ctx, report) }}
	dir := t.TempDir()
	e.loadConfig = func() (*config.Config, error) {
		c := config.Default()
		c.Spool.Path = filepath.Join(dir, "spool.db")
		return &c, nil
	}
	r := startBoot(t, e)
	netStep <- "eth0: NO LINK - is the Ethernet cable plugged in?"
	clockStep <- "NOT SET (1970-01-01): waiting for NTP"
	r.waitFor(t, `banner 1 [^\n]*\n(.*\n)*surveybox: clock: NOT SET`)
	netStep <- "eth0 192.168.1.23/24, gateway 192.168.1.1"
	r.waitFor(t, `banner \d+ [^\n]*\nsurveybox: why: network changed \(was: eth0: NO LINK[^\n]*\n(.*\n)*surveybox: network: eth0 192.168.1.23/24, gateway 192.168.1.1\n`)
	clockStep <- "set from the HTTPS Date of controlplane.tailscale.com (no NTP)"
	r.waitFor(t, `banner \d+ [^\n]*\nsurveybox: why: clock changed \(was: NOT SET \(1970-01-01\): waiting for NTP\)\n(.*\n)*surveybox: clock: set from the HTTPS Date`)
	if out := r.out.String(); !strings.Contains(out, "surveybox: spool: ok\n") {
		t.Errorf("no spool line:\n%s", out)
	}
}
