package tailtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"tailscale.com/client/local"
	"tailscale.com/ipn"

	"github.com/surveybox/surveybox/internal/cachedir"
	"github.com/surveybox/surveybox/internal/syncbuf"
)

// moduleRoot is surveybox's module root (where go.mod pins tailscale.com).
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Tailscaled returns a tailscaled binary built from the tailscale.com
// module surveybox pins (the same code as its tsnet nodes), building it
// into the cache first when the cache has none for this pin and Go.
func Tailscaled(ctx context.Context) (string, error) {
	list := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}", "tailscale.com")
	list.Dir = moduleRoot()
	out, err := list.Output()
	if err != nil {
		return "", fmt.Errorf("finding the pinned tailscale.com: %w", err)
	}
	ver := strings.TrimSpace(string(out))
	name := "tailscaled-" + ver + "-" + runtime.Version() + "-" + runtime.GOOS + "-" + runtime.GOARCH
	return cachedir.GoBinary(ctx, name, moduleRoot(), "tailscale.com/cmd/tailscaled")
}

// TailscaledNode is a running tailscaled, in userspace-networking mode (no
// TUN device, no routes or DNS changed on the host), logged in to the
// test tailnet as an untagged node of its own user.
type TailscaledNode struct {
	Socket string
	Client *local.Client
	logs   *syncbuf.Buffer
}

// Logs is what tailscaled wrote so far.
func (n *TailscaledNode) Logs() string { return n.logs.String() }

// StartTailscaled runs bin (Tailscaled) as hostname until the test ends
// and logs it in to c, waiting until it is running.
func (c *Control) StartTailscaled(t testing.TB, ctx context.Context, bin, hostname string) *TailscaledNode {
	t.Helper()
	// A short directory: a Unix socket's path is limited to ~100 bytes.
	dir, err := os.MkdirTemp("", "tsd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &TailscaledNode{Socket: filepath.Join(dir, "ts.sock"), logs: &syncbuf.Buffer{}}
	cmd := exec.Command(bin,
		"--tun=userspace-networking",
		"--statedir="+filepath.Join(dir, "state"),
		"--socket="+n.Socket,
		"--port=0",
	)
	cmd.Env = append(os.Environ(), Env...)
	cmd.Stdout, cmd.Stderr = n.logs, n.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() || Verbose {
			t.Logf("tailscaled %s:\n%s", hostname, n.Logs())
		}
	})
	n.Client = &local.Client{Socket: n.Socket, UseSocketOnly: true}

	// Wait for the LocalAPI, then log in as `tailscale up` would.
	for {
		if _, err := n.Client.StatusWithoutPeers(ctx); err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("tailscaled exited:\n%s", n.Logs())
		case <-ctx.Done():
			t.Fatalf("tailscaled's LocalAPI never answered: %v\n%s", ctx.Err(), n.Logs())
		case <-time.After(50 * time.Millisecond):
		}
	}
	prefs := ipn.NewPrefs()
	prefs.ControlURL = c.URL
	prefs.Hostname = hostname
	prefs.WantRunning = true
	if err := n.Client.Start(ctx, ipn.Options{UpdatePrefs: prefs}); err != nil {
		t.Fatalf("starting tailscaled's backend: %v", err)
	}
	loginAsked := false
	for {
		st, err := n.Client.StatusWithoutPeers(ctx)
		if err == nil && st.BackendState == ipn.Running.String() && st.Self != nil && len(st.Self.TailscaleIPs) > 0 {
			return n
		}
		if err == nil && st.BackendState == ipn.NeedsLogin.String() && !loginAsked {
			loginAsked = true
			if err := n.Client.StartLoginInteractive(ctx); err != nil {
				t.Fatalf("logging tailscaled in: %v", err)
			}
		}
		select {
		case <-exited:
			t.Fatalf("tailscaled exited:\n%s", n.Logs())
		case <-ctx.Done():
			t.Fatalf("tailscaled never got running (%v): %v\n%s", st, ctx.Err(), n.Logs())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
