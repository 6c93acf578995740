package tailsvc

import (
	"bufio"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/surveybox/surveybox/appliance/hostkey"
	"github.com/surveybox/surveybox/appliance/scanloop"
	"github.com/surveybox/surveybox/config"
	"github.com/surveybox/surveybox/internal/tailtest"
	"github.com/surveybox/surveybox/internal/testrecords"
	"github.com/surveybox/surveybox/spool"
)

// TestTailnetServices brings up the appliance's tailnet services (as boot
// mode does) on a real in-process tailnet (Tailscale's testcontrol and
// DERP) and uses them from an operator node and a stranger node: the pull
// API and gokrazy's UI answer operators only, and SSH over the tailnet
// presents the very host key whose fingerprint the banner prints.
func TestTailnetServices(t *testing.T) {
	ctl := tailtest.StartControl(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()

	sp, err := spool.Open(filepath.Join(dir, "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for i := 0; i < 3; i++ {
		if _, _, err := sp.Append(ctx, testrecords.Cycle(i, 5, 2)); err != nil {
			t.Fatal(err)
		}
	}
	key, err := hostkey.LoadOrCreate(filepath.Join(dir, "ssh_host_ed25519_key"), "root@box", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Hostname = "box"
	cfg.Tailnet.Hostname = "box"
	cfg.Tailnet.StateDir = filepath.Join(dir, "tsnet")
	cfg.Tailnet.ControlURL = ctl.URL
	cfg.Operators = config.Operators{Tags: []string{"tag:surveyops"}}

	states := make(chan string, 16)
	svcCtx, stopSvc := context.WithCancel(ctx)
	defer stopSvc()
	Start(svcCtx, Deps{Config: &cfg, Spool: sp, Key: key, Radio: func() string { return "wlan0 phy0" },
		Log: slog.New(slog.DiscardHandler)}, func(s string) { states <- s })
	for s := range states {
		if s == Connecting {
			continue
		}
		if !strings.HasPrefix(s, "box.") || !strings.Contains(s, " 100.") {
			t.Fatalf("tailnet state %q, want the node's name and tailnet IP", s)
		}
		break
	}

	op := ctl.StartNode(t, ctx, "op", "tag:surveyops")
	stranger := ctl.StartNode(t, ctx, "stranger")

	get := func(c *http.Client, path string) (int, string) {
		t.Helper()
		var lastErr error
		for ctx.Err() == nil { // the box's first packets may race its DERP connection
			resp, err := c.Get("http://box" + path)
			if err != nil {
				lastErr = err
				time.Sleep(200 * time.Millisecond)
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(b)
		}
		t.Fatalf("GET %s: %v", path, lastErr)
		return 0, ""
	}
	if code, body := get(op.HTTPClient(), "/v1/status"); code != 200 || !strings.Contains(body, `"scanning"`) {
		t.Errorf("operator GET /v1/status = %d %s", code, body)
	}
	if code, body := get(op.HTTPClient(), "/v1/observations?after=0"); code != 200 || !strings.Contains(body, `"kind":"end"`) {
		t.Errorf("operator GET /v1/observations = %d %.300s", code, body)
	}
	// gokrazy's web UI: proxied for operators (no gokrazy socket here:
	// 502), refused for anyone else before any proxying.
	if code, _ := get(op.HTTPClient(), "/"); code != http.StatusBadGateway {
		t.Errorf("operator GET / = %d, want 502 (no gokrazy socket in the test)", code)
	}
	for _, p := range []string{"/v1/status", "/metrics", "/", "/update/"} {
		if code, _ := get(stranger.HTTPClient(), p); code != http.StatusForbidden {
			t.Errorf("stranger GET %s = %d, want 403", p, code)
		}
	}

	// SSH over the tailnet, authorized by the operator's tailnet identity.
	var seen string
	conn, err := op.Dial(ctx, "tcp", "box:22")
	if err != nil {
		t.Fatal(err)
	}
	cc, chans, reqs, err := ssh.NewClientConn(conn, "box:22", &ssh.ClientConfig{
		User: "operator",
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			seen = ssh.FingerprintSHA256(k)
			return nil
		},
		Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatalf("SSH handshake over the tailnet: %v", err)
	}
	client := ssh.NewClient(cc, chans, reqs)
	defer client.Close()
	if want := ssh.FingerprintSHA256(key.Signer.PublicKey()); seen != want || !strings.Contains(key.Fingerprint(), want) {
		t.Errorf("SSH host key %s; the banner prints %q", seen, key.Fingerprint())
	}
	run := func(cmd string) string {
		s, err := client.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		out, err := s.Output(cmd)
		if err != nil {
			t.Fatalf("ssh %s: %v", cmd, err)
		}
		return string(out)
	}
	if out := run("status"); !strings.Contains(out, `"hostname": "box"`) {
		t.Errorf("ssh status: %s", out)
	}
	lines := 0
	sc := bufio.NewScanner(strings.NewReader(run("export")))
	for sc.Scan() {
		lines++
	}
	if lines < 3*(5+2) {
		t.Errorf("ssh export: %d lines, want the 21 spooled records and their cycles", lines)
	}
	t.Logf("ssh host key over the tailnet: %s; export: %d lines", seen, lines)
	// A stranger's tailnet identity is not enough.
	if sconn, err := stranger.Dial(ctx, "tcp", "box:22"); err == nil {
		_, _, _, err := ssh.NewClientConn(sconn, "box:22", &ssh.ClientConfig{User: "x",
			HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second})
		if err == nil {
			t.Error("a stranger logged in over SSH")
		}
	}
}

func TestRadioState(t *testing.T) {
	tests := []struct {
		in      string
		present bool
		iface   string
		state   string
	}{
		{"wlan0 phy0", true, "wlan0", "scanning"},
		{scanloop.RadioNone, false, "", "waiting for radio"},
		{scanloop.RadioSearch, false, "", "waiting for radio"},
		{"error: boom — retrying", false, "", "error: boom — retrying"},
	}
	for _, tt := range tests {
		r := radioState(tt.in)
		if r.Present != tt.present || r.Interface != tt.iface || r.State != tt.state {
			t.Errorf("radioState(%q) = %+v", tt.in, r)
		}
	}
}
