package banner

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/surveybox/surveybox/internal/syncbuf"
)

type syncBuffer = syncbuf.Buffer

func TestBannerPrintsOnChangeOnly(t *testing.T) {
	var out syncBuffer
	b := New(NewConsole(&out, nil), true, func() time.Duration { return 4321 * time.Millisecond })
	b.Update(func(s *State) {
		*s = State{Hostname: "box", Version: "v1 go1", Fingerprint: "256 SHA256:x root@box (ED25519)",
			Radio: "searching", Tailnet: "not configured", Config: "defaults (no config file)", Perm: "/perm ext4 rw"}
	})
	b.Update(func(s *State) { s.Radio = "none (no wireless interface) - still running" })
	if out.String() != "" {
		t.Fatalf("held banner printed:\n%s", out.String())
	}
	b.Release()
	want := `surveybox: ======== surveybox banner 1 (uptime 4.3s) ========
surveybox: why: first start
surveybox: hostname: box
surveybox: version: v1 go1
surveybox: ssh host key (compare with ssh-keygen -l or your ssh client):
256 SHA256:x root@box (ED25519)
surveybox: tailnet: not configured
surveybox: radio: none (no wireless interface) - still running
surveybox: config: defaults (no config file)
surveybox: perm: /perm ext4 rw
surveybox: ================================================
`
	if out.String() != want {
		t.Fatalf("banner:\n%s\nwant:\n%s", out.String(), want)
	}
	b.Update(func(s *State) { s.Radio = "none (no wireless interface) - still running" }) // no change
	if strings.Count(out.String(), "banner ") != 1 {
		t.Errorf("an unchanged state printed again:\n%s", out.String())
	}
	b.Update(func(s *State) { s.Radio = "wlan0 phy0" })
	b.Update(func(s *State) { s.Tailnet = "connecting" })
	b.Update(func(s *State) { s.Clock = "set by NTP" })
	b.Update(func(s *State) { s.Tailnet = "box.tail1234.ts.net 100.101.102.103" })
	got := out.String()
	for _, w := range []string{
		"banner 2 (uptime", "why: radio changed (was: none (no wireless interface)", "radio: wlan0 phy0\n",
		"banner 3 (", "why: tailnet changed (was: not configured)\n",
		"banner 4 (", "why: clock known\n", "clock: set by NTP\n",
		"banner 5 (", "why: tailnet changed (was: connecting)\n", "tailnet: box.tail1234.ts.net 100.101.102.103\n",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}

	// A restart and a missing key.
	out = syncBuffer{}
	b = New(NewConsole(&out, nil), false, nil)
	b.Release()
	b.Update(func(s *State) { s.HostKeyProblem = "cannot store a host key (read-only); SSH is off" })
	if got := out.String(); !strings.Contains(got, "(uptime ?)") || !strings.Contains(got, "why: RESTARTED by gokrazy after an exit\n") ||
		!strings.Contains(got, "why: ssh host key changed\n") ||
		!strings.Contains(got, "surveybox: ssh host key: NONE - cannot store a host key (read-only); SSH is off\n") {
		t.Errorf("banner:\n%s", got)
	}
}

// TestBannerFitsAScreen: a full banner, with realistic values at their
// longest usual length, fits 80×25 (the reason too).
func TestBannerFitsAScreen(t *testing.T) {
	var out syncBuffer
	b := New(NewConsole(&out, nil), true, func() time.Duration { return 123456 * time.Second })
	st := State{
		Hostname:    "acme-box-1",
		Version:     "0123456789ab+dirty 2026-12-01T22:03:00Z go1.26.8",
		Fingerprint: "256 SHA256:y/bZOJNqarSNyf/Aj1zWh5fD3ptgpefeTCGrOmWmLlc root@acme-box-1 (ED25519)",
		Network:     "eth0 192.168.100.123/24, gateway 192.168.100.1",
		Clock:       "set from the HTTPS Date of controlplane.tailscale.com (NTP no answer)",
		Tailnet:     "acme-box-1.tail1234.ts.net 100.101.102.103",
		Radio:       "wlan0 phy0",
		Spool:       "ok: 12345 cycles kept, 41% of quota",
		Config:      "/perm/surveybox/config.json",
		Perm:        "/perm ext4 rw",
	}
	b.Update(func(s *State) { *s = st })
	b.Release()
	b.Update(func(s *State) { s.Tailnet = "LOGIN FAILED: the coordination server refused the auth key" })
	for i, banner := range strings.SplitAfter(out.String(), bannerBottom+"\n") {
		if banner == "" {
			continue
		}
		lines := strings.Split(strings.TrimSuffix(banner, "\n"), "\n")
		if len(lines) > 25 {
			t.Errorf("banner %d has %d lines", i+1, len(lines))
		}
		for _, l := range lines {
			if n := utf8.RuneCountInString(l); n > 80 {
				t.Errorf("banner %d: %d columns: %q", i+1, n, l)
			}
		}
	}
}

func TestParseConsoles(t *testing.T) {
	// /proc/consoles of a Pi booted with console=tty1 console=serial0 and
	// a netconsole, and of the amd64 VM.
	for _, tt := range []struct{ text, want string }{
		{"ttyS0                -W- (EC p a)    4:64\ntty1                 -WU (E  p  )    4:1\nnetcon0              -W- (E     )\n", "ttyS0 tty1"},
		{"tty0                 -WU (E  p  )    4:1\nttyS0                -W- (EC p a)    4:64\n", "tty0 ttyS0"},
		{"ttyAMA0              --- (  p  )  204:64\nttyS0 -W- (EC p a) 4:64\nttyS0 -W- (E) 4:64\n", "ttyS0"},
		{"", ""},
		{"garbage\n../../etc/passwd -W- (E) 1:1\n", ""},
	} {
		if got := strings.Join(ParseConsoles(tt.text), " "); got != tt.want {
			t.Errorf("ParseConsoles(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

// TestOpenConsoles: every console gets every line; one that cannot be
// opened does not keep the lines from the others; with none, /dev/console.
func TestOpenConsoles(t *testing.T) {
	proc, dev := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(proc, "consoles"), []byte("ttyS0 -W- (EC p a) 4:64\ntty1 -WU (E p) 4:1\nttyAMA0 -W- (E) 204:64\n"), 0o644)
	for _, n := range []string{"ttyS0", "tty1", "console"} {
		os.WriteFile(filepath.Join(dev, n), nil, 0o644)
	}
	var mirror syncBuffer
	con, names, err := OpenConsoles(proc, dev, io.Discard, &mirror)
	if strings.Join(names, " ") != "ttyS0 tty1" || err == nil || !strings.Contains(err.Error(), "ttyAMA0") {
		t.Fatalf("opened %q, err %v; want ttyS0 and tty1, and an error naming ttyAMA0", names, err)
	}
	con.Printf("hello %d", 1)
	for _, n := range []string{"ttyS0", "tty1"} {
		if b, _ := os.ReadFile(filepath.Join(dev, n)); string(b) != "surveybox: hello 1\n" {
			t.Errorf("%s got %q", n, b)
		}
	}
	if mirror.String() != "surveybox: hello 1\n" {
		t.Errorf("mirror got %q", mirror.String())
	}
	if b, _ := os.ReadFile(filepath.Join(dev, "console")); len(b) != 0 {
		t.Errorf("/dev/console written as well: %q", b)
	}

	os.Remove(filepath.Join(proc, "consoles"))
	con, names, _ = OpenConsoles(proc, dev, io.Discard, nil)
	con.Printf("fallback")
	if b, _ := os.ReadFile(filepath.Join(dev, "console")); strings.Join(names, " ") != "console" || string(b) != "surveybox: fallback\n" {
		t.Errorf("without /proc/consoles: opened %q, console got %q", names, b)
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
		if got := FormatVersion(tt.ldflags, tt.bi); got != tt.want {
			t.Errorf("FormatVersion(%q, %v) = %q, want %q", tt.ldflags, tt.bi.Main.Version, got, tt.want)
		}
	}
}

func TestPermState(t *testing.T) {
	mounts := "/dev/root / squashfs ro,relatime 0 0\n/dev/sda4 /perm ext4 rw,relatime 0 0\ntmpfs /tmp tmpfs rw 0 0\n"
	if got := PermState(mounts); got != "/perm ext4 rw" {
		t.Errorf("got %q", got)
	}
	if got := PermState(strings.Replace(mounts, "ext4 rw,", "ext4 ro,", 1)); got != "/perm ext4 ro" {
		t.Errorf("got %q", got)
	}
	if got := PermState("/dev/root / squashfs ro 0 0\n"); !strings.HasPrefix(got, "not mounted") {
		t.Errorf("got %q", got)
	}
}

func TestConsoleIsASCII(t *testing.T) {
	var out bytes.Buffer
	c := NewConsole(&out, nil)
	c.Printf("radio: none — still running\x1b[2J\tcafé")
	if got, want := out.String(), "surveybox: radio: none ? still running?[2J?caf?\n"; got != want {
		t.Errorf("console got %q, want %q", got, want)
	}
}

// FuzzParseConsoles: whatever /proc/consoles holds, the names it yields
// stay inside /dev (they are joined to it and opened for writing).
func FuzzParseConsoles(f *testing.F) {
	f.Add("tty1                 -WU (E  p  )    4:1\nttyS0                -W- (E  p a)    4:64\nnetcon0              -W- (E     )\n")
	f.Fuzz(func(t *testing.T, text string) {
		seen := map[string]bool{}
		for _, n := range ParseConsoles(text) {
			if n == "" || strings.ContainsAny(n, "/.") || filepath.Join("/dev", n) != "/dev/"+n || seen[n] {
				t.Fatalf("console name %q", n)
			}
			seen[n] = true
		}
	})
}
