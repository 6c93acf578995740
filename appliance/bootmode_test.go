package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surveybox/surveybox/config"
	"github.com/surveybox/surveybox/internal/syncbuf"
	"github.com/surveybox/surveybox/survey"
)

// syncBuffer collects output from several goroutines.
type syncBuffer = syncbuf.Buffer

func TestBannerPrintsOnChangeOnly(t *testing.T) {
	var out syncBuffer
	b := &banner{con: &console{w: &out}, firstStart: true, held: true,
		uptime: func() time.Duration { return 4321 * time.Millisecond }}
	b.update(func(s *bootState) {
		*s = bootState{Hostname: "box", Version: "v1 go1", Fingerprint: "256 SHA256:x root@box (ED25519)",
			PublicKey: "ssh-ed25519 AAAA root@box", Radio: radioSearch, Tailnet: tailnetOff, Config: "defaults (no config file)", Perm: "/perm ext4 rw"}
	})
	b.update(func(s *bootState) { s.Radio = radioNone })
	if out.String() != "" {
		t.Fatalf("held banner printed:\n%s", out.String())
	}
	b.release()
	want := `surveybox: ======== surveybox banner 1 (first start, uptime 4.32s) ========
surveybox: hostname: box
surveybox: version: v1 go1
surveybox: ssh host key: 256 SHA256:x root@box (ED25519)
surveybox: ssh public key: ssh-ed25519 AAAA root@box
surveybox: radio: none (no wireless interface) — still running
surveybox: tailnet: not configured
surveybox: config: defaults (no config file)
surveybox: perm: /perm ext4 rw
surveybox: ================================================
`
	if out.String() != want {
		t.Fatalf("banner:\n%s\nwant:\n%s", out.String(), want)
	}
	b.update(func(s *bootState) { s.Radio = radioNone }) // no change
	if strings.Count(out.String(), "banner ") != 1 {
		t.Errorf("an unchanged state printed again:\n%s", out.String())
	}
	b.update(func(s *bootState) { s.Radio = "wlan0 phy0"; s.Tailnet = tailnetWait })
	b.update(func(s *bootState) { s.Tailnet = "box.tail1234.ts.net 100.101.102.103" })
	got := out.String()
	for _, w := range []string{"banner 2 (first start", "radio: wlan0 phy0\n", "tailnet: connecting\n", "banner 3 (", "tailnet: box.tail1234.ts.net 100.101.102.103\n"} {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}

	// A restart and a missing key.
	out = syncBuffer{}
	b = &banner{con: &console{w: &out}, firstStart: false}
	b.update(func(s *bootState) { s.HostKeyProblem = "cannot store a host key (read-only); SSH is off" })
	if got := out.String(); !strings.Contains(got, "(RESTARTED by gokrazy after an exit, uptime ?)") ||
		!strings.Contains(got, "surveybox: ssh host key: NONE — cannot store a host key (read-only); SSH is off\n") ||
		strings.Contains(got, "ssh public key") {
		t.Errorf("banner:\n%s", got)
	}
}

func TestFormatVersion(t *testing.T) {
	bi := func(main string, settings ...string) *debug.BuildInfo {
		b := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: main}}
		for i := 0; i+1 < len(settings); i += 2 {
			b.Settings = append(b.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return b
	}
	for _, tt := range []struct {
		ldflags string
		bi      *debug.BuildInfo
		want    string
	}{
		{"v1.2.3", bi("(devel)"), "v1.2.3 go1.26.8"},
		{"", bi("v0.4.0"), "v0.4.0 go1.26.8"},
		{"", bi("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.modified", "true", "vcs.time", "2026-07-01T10:00:00Z"), "0123456789ab+dirty 2026-07-01T10:00:00Z go1.26.8"},
		{"", bi("(devel)", "vcs.revision", "0123456789ab", "vcs.modified", "false"), "0123456789ab go1.26.8"},
		{"", bi("(devel)"), "(devel) go1.26.8"},
	} {
		if got := formatVersion(tt.ldflags, tt.bi); got != tt.want {
			t.Errorf("formatVersion(%q, %v) = %q, want %q", tt.ldflags, tt.bi.Main.Version, got, tt.want)
		}
	}
}

func TestPermState(t *testing.T) {
	mounts := "/dev/root / squashfs ro,relatime 0 0\n/dev/sda4 /perm ext4 rw,relatime 0 0\ntmpfs /tmp tmpfs rw 0 0\n"
	if got := permState(mounts); got != "/perm ext4 rw" {
		t.Errorf("got %q", got)
	}
	if got := permState(strings.Replace(mounts, "ext4 rw,", "ext4 ro,", 1)); got != "/perm ext4 ro" {
		t.Errorf("got %q", got)
	}
	if got := permState("/dev/root / squashfs ro 0 0\n"); !strings.HasPrefix(got, "not mounted") {
		t.Errorf("got %q", got)
	}
}

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

func startBoot(t *testing.T, e *bootEnv) *bootRun {
	t.Helper()
	out := &syncBuffer{}
	e.con = &console{w: out}
	if e.procRoot == "" {
		e.procRoot = fakeProc(t, "")
	}
	if e.hostKeyPath == "" {
		e.hostKeyPath = filepath.Join(t.TempDir(), "surveybox", "ssh_host_ed25519_key")
	}
	if e.loadModules == nil {
		e.loadModules = func() ([]moduleResult, error) { return nil, errModulesAbsent }
	}
	if e.loadConfig == nil {
		e.loadConfig = func() (configInfo, error) { return configInfo{}, nil }
	}
	e.hostname = func() (string, error) { return "box-7", nil }
	e.firstStart = true
	e.listenerEvery = func(int) time.Duration { return 10 * time.Millisecond }
	e.retryWait = func(int) time.Duration { return 10 * time.Millisecond }
	ctx, cancel := context.WithCancel(context.Background())
	r := &bootRun{out: out, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- e.run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
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
		t.Error("boot mode did not stop when its context ended")
	}
}

// noRadio is the scanner of a VM: no radio, waiting until stopped.
func noRadio(ctx context.Context, _ *config.Scan, radio func(string)) error {
	radio(radioFromOpen(survey.Interface{}, fmt.Errorf("%w: no wireless interface", survey.ErrNoRadio)))
	<-ctx.Done()
	return nil
}

func TestBootNoRadio(t *testing.T) {
	e := &bootEnv{scan: noRadio}
	r := startBoot(t, e)
	r.waitFor(t, `listeners: none on non-tailnet addresses`)
	out := r.out.String()
	for _, w := range []string{
		"surveybox: appliance starting (pid ",
		"surveybox: modules: brcmfmac not present in this kernel",
		"surveybox: generated a new SSH host key at " + e.hostKeyPath,
		"surveybox: ======== surveybox banner 1 (first start, uptime ",
		"surveybox: hostname: box-7\n",
		"surveybox: radio: " + radioNone + "\n",
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
	// The fingerprint is OpenSSH's, for the public key the banner shows.
	fp := regexp.MustCompile(`ssh host key: (.*)\n`).FindStringSubmatch(out)
	pub := regexp.MustCompile(`ssh public key: (.*)\n`).FindStringSubmatch(out)
	if fp == nil || pub == nil {
		t.Fatalf("no key lines:\n%s", out)
	}
	pubFile := filepath.Join(t.TempDir(), "k.pub")
	os.WriteFile(pubFile, []byte(pub[1]+"\n"), 0o644)
	if want := sshKeygen(t, "-l", "-f", pubFile); fp[1] != want {
		t.Errorf("banner fingerprint %q, ssh-keygen -l says %q", fp[1], want)
	}
	r.stop(t)

	// Second boot: the same key.
	r2 := startBoot(t, &bootEnv{scan: noRadio, hostKeyPath: e.hostKeyPath})
	r2.waitFor(t, `surveybox banner 1`)
	if got := r2.waitFor(t, `ssh host key: .*\n`); got != "ssh host key: "+fp[1]+"\n" {
		t.Errorf("second boot: %q, first %q", got, fp[1])
	}
	if strings.Contains(r2.out.String(), "generated") {
		t.Error("second boot generated a key")
	}
}

func TestBootRadioComesAndGoes(t *testing.T) {
	step := make(chan string)
	scan := func(ctx context.Context, _ *config.Scan, radio func(string)) error {
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
	r := startBoot(t, &bootEnv{scan: scan})
	step <- radioNone
	r.waitFor(t, `banner 1 [^\n]*\n(.*\n)*surveybox: radio: none`)
	step <- "wlan0 phy0"
	r.waitFor(t, `banner 2 [^\n]*\n(.*\n)*surveybox: radio: wlan0 phy0\n`)
	step <- "fail" // the scanner fails: a state, then a retry, not an exit
	r.waitFor(t, `banner 3 [^\n]*\n(.*\n)*surveybox: radio: error: nl80211 went away — retrying\n`)
	step <- "wlan0 phy0"
	r.waitFor(t, `banner 4 [^\n]*\n(.*\n)*surveybox: radio: wlan0 phy0\n`)
	select {
	case err := <-r.done:
		t.Fatalf("boot mode exited: %v", err)
	default:
	}
}

func TestBootBrokenConfig(t *testing.T) {
	cfgErr := errors.New(`/etc/surveybox/config.json: field "scan.interval": "soon" is not a duration`)
	r := startBoot(t, &bootEnv{scan: noRadio, loadConfig: func() (configInfo, error) { return configInfo{}, cfgErr }})
	r.waitFor(t, `listeners: `)
	out := r.out.String()
	lines := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "scan.interval") {
			lines++
			want := `surveybox: CONFIG ERROR: /etc/surveybox/config.json: field "scan.interval": "soon" is not a duration — running in safe mode (scanning with defaults, no tailnet, no upload, no SSH)`
			if l != want {
				t.Errorf("config line\n %q\nwant\n %q", l, want)
			}
		}
	}
	if lines != 1 {
		t.Errorf("%d lines name the field, want 1:\n%s", lines, out)
	}
	if !strings.Contains(out, "surveybox: config: INVALID — safe mode") || !strings.Contains(out, "surveybox: radio: "+radioNone) {
		t.Errorf("banner:\n%s", out)
	}
}

func TestBootUnusableHostKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
	os.WriteFile(path, []byte("garbage"), 0o600)
	r := startBoot(t, &bootEnv{scan: noRadio, hostKeyPath: path})
	r.waitFor(t, `surveybox banner 1`)
	out := r.out.String()
	if !strings.Contains(out, "surveybox: ERROR: SSH host key "+path+" is unusable") ||
		!strings.Contains(out, "surveybox: ssh host key: NONE — the key file is unusable") {
		t.Errorf("console:\n%s", out)
	}
	if b, _ := os.ReadFile(path); string(b) != "garbage" {
		t.Error("the key file was replaced")
	}
}

func TestBootListenerWarning(t *testing.T) {
	tcp := "   0: 0F02000A:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7 1 0 100 0 0 10 0\n"
	r := startBoot(t, &bootEnv{scan: noRadio, procRoot: fakeProc(t, tcp)})
	r.waitFor(t, `surveybox: listeners: WARNING: listening on non-tailnet addresses: tcp 10.0.2.15:80; addresses: none\n`)
	time.Sleep(50 * time.Millisecond)
	if n := strings.Count(r.out.String(), "listeners:"); n != 1 {
		t.Errorf("an unchanged listener state printed %d times", n)
	}
}

func TestBootFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-boot", "on"}, true},
		{[]string{"-boot", "off", "-once"}, true},
		{[]string{"-boot", "maybe"}, false},
		{[]string{"-boot", "on", "-once"}, false},
		{[]string{"-boot", "on", "-cycles", "3"}, false},
	} {
		_, err := parseFlags(tt.args, io.Discard)
		if (err == nil) != tt.ok {
			t.Errorf("parseFlags(%q) = %v, want ok=%v", tt.args, err, tt.ok)
		}
	}
}

// TestBootRealConfigError feeds the config package's own error for a file
// with an unknown field through boot mode.
func TestBootRealConfigError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(p, []byte("{\n  \"scan\": {\n    \"intervall\": \"10s\"\n  }\n}\n"), 0o644)
	load := func() (configInfo, error) {
		_, err := config.Load(p)
		return configInfo{}, err
	}
	r := startBoot(t, &bootEnv{scan: noRadio, loadConfig: load})
	r.waitFor(t, `surveybox banner 1`)
	want := "surveybox: CONFIG ERROR: config " + p + `:3:5: field "scan.intervall": unknown field — running in safe mode`
	if n := strings.Count(r.out.String(), `"scan.intervall"`); n != 1 || !strings.Contains(r.out.String(), want) {
		t.Errorf("want one line starting %q, got:\n%s", want, r.out.String())
	}
}

func TestApplyScanConfig(t *testing.T) {
	o, err := parseFlags([]string{"-interval", "7s", "-ssid", "x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := config.Default().Scan
	c.Interface, c.Interval, c.Timeout, c.Frequencies, c.Passive = "wlan1", config.Duration(time.Minute), config.Duration(9*time.Second), []int{2412}, true
	applyScanConfig(&o, &c)
	// -interval and -ssid were given: they win (and -ssid keeps the scan
	// active); the rest comes from the config.
	if o.iface != "wlan1" || o.interval != 7*time.Second || o.timeout != 9*time.Second || o.passive || len(o.ssids) != 1 || len(o.freqs) != 1 {
		t.Errorf("options %+v", o)
	}
	applyScanConfig(&o, nil) // safe mode: unchanged
	if o.iface != "wlan1" {
		t.Error("nil config changed the options")
	}
}

func TestBootTailnetState(t *testing.T) {
	var gotKey *hostKey
	start := func(ctx context.Context, cfg configInfo, key *hostKey, state func(string)) {
		gotKey = key
		go func() {
			time.Sleep(20 * time.Millisecond)
			state("box-7.tail1234.ts.net 100.101.102.103 fd7a:115c:a1e0::1")
		}()
	}
	r := startBoot(t, &bootEnv{scan: noRadio, startTailnet: start,
		loadConfig: func() (configInfo, error) { return configInfo{TailnetConfigured: true}, nil }})
	r.waitFor(t, `banner 1 [^\n]*\n(.*\n)*surveybox: tailnet: connecting\n`)
	r.waitFor(t, `banner 2 [^\n]*\n(.*\n)*surveybox: tailnet: box-7.tail1234.ts.net 100.101.102.103 fd7a:115c:a1e0::1\n`)
	if gotKey == nil || gotKey.Signer == nil {
		t.Error("the tailnet starter got no host key")
	}
}
