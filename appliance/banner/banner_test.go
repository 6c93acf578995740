package banner

import (
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/surveybox/surveybox/internal/syncbuf"
)

type syncBuffer = syncbuf.Buffer

func TestBannerPrintsOnChangeOnly(t *testing.T) {
	var out syncBuffer
	b := New(NewConsole(&out, nil), true, func() time.Duration { return 4321 * time.Millisecond })
	b.Update(func(s *State) {
		*s = State{Hostname: "box", Version: "v1 go1", Fingerprint: "256 SHA256:x root@box (ED25519)",
			PublicKey: "ssh-ed25519 AAAA root@box", Radio: "searching", Tailnet: "not configured", Config: "defaults (no config file)", Perm: "/perm ext4 rw"}
	})
	b.Update(func(s *State) { s.Radio = "none (no wireless interface) — still running" })
	if out.String() != "" {
		t.Fatalf("held banner printed:\n%s", out.String())
	}
	b.Release()
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
	b.Update(func(s *State) { s.Radio = "none (no wireless interface) — still running" }) // no change
	if strings.Count(out.String(), "banner ") != 1 {
		t.Errorf("an unchanged state printed again:\n%s", out.String())
	}
	b.Update(func(s *State) { s.Radio = "wlan0 phy0"; s.Tailnet = "connecting" })
	b.Update(func(s *State) { s.Tailnet = "box.tail1234.ts.net 100.101.102.103" })
	got := out.String()
	for _, w := range []string{"banner 2 (first start", "radio: wlan0 phy0\n", "tailnet: connecting\n", "banner 3 (", "tailnet: box.tail1234.ts.net 100.101.102.103\n"} {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}

	// A restart and a missing key.
	out = syncBuffer{}
	b = New(NewConsole(&out, nil), false, nil)
	b.Release()
	b.Update(func(s *State) { s.HostKeyProblem = "cannot store a host key (read-only); SSH is off" })
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
