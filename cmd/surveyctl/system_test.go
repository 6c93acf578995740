package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tailscale.com/ipn"

	"github.com/surveybox/surveybox/config"
	"github.com/surveybox/surveybox/internal/tailtest"
	"github.com/surveybox/surveybox/pullapi"
)

// TestPullThroughSystemTailscale: on a machine that runs Tailscale (here a
// real tailscaled built from the pinned module, in userspace-networking
// mode, logged in to the test tailnet as its own user), pull goes through
// it with no node or login of its own, and the box sees the machine's own
// user, so operators.users works as written. -tailnet chooses either way.
func TestPullThroughSystemTailscale(t *testing.T) {
	// The binary is normally cached by `make prebuild`; building it here
	// (a plain `go test`) must not count against the test's deadline.
	bin, err := tailtest.Tailscaled(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctl := tailtest.StartControl(t)
	box := ctl.StartNode(t, ctx, "box", "tag:surveybox")
	laptop := ctl.StartTailscaled(t, ctx, bin, "laptop")
	self, err := laptop.Client.StatusWithoutPeers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	user := self.User[self.Self.UserID].LoginName
	if user == "" {
		t.Fatalf("tailscaled's status names no user: %+v", self.Self)
	}

	boxLC, err := box.LocalClient()
	if err != nil {
		t.Fatal(err)
	}
	sp := openSpool(t)
	ra := &recordAfter{h: pullapi.NewHandler(pullapi.Options{
		Spool: sp, WhoIs: boxLC, Hostname: "box", Version: "v-test",
		Operators: config.Operators{Users: []string{user}},
	})}
	ln, err := box.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: ra}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	want := appendCycles(t, sp, 0, 5)
	nodesBefore := len(ctl.Server.AllNodes())

	// auto (the default): this machine's Tailscale answers and runs.
	dir := t.TempDir()
	code, _, stderr := cli(t, ctx, "pull", "box", "-dir", dir, "-tailscale-socket", laptop.Socket)
	if code != 0 || !strings.Contains(stderr, "pull box: on the tailnet through this machine's Tailscale, as laptop.") ||
		!strings.Contains(stderr, "("+user+")") ||
		!strings.Contains(stderr, fmt.Sprintf("pull box: %d cycles, %d records stored after sequence 0", want.cycles, want.records)) {
		t.Fatalf("pull through the system Tailscale: exit %d, %q", code, stderr)
	}
	// No node of its own: nothing new on the tailnet, no tsnet state.
	if n := len(ctl.Server.AllNodes()); n != nodesBefore {
		t.Errorf("the tailnet had %d nodes before the pull and %d after", nodesBefore, n)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "tsnet-pull", "*")); len(m) > 0 {
		t.Errorf("pull left tsnet state although it used the system Tailscale: %v", m)
	}
	// The box saw the laptop's own user.
	who, err := boxLC.WhoIs(ctx, self.Self.TailscaleIPs[0].String())
	if err != nil || who.UserProfile.LoginName != user {
		t.Fatalf("the box's WhoIs of the laptop: %+v, %v; want %s", who, err, user)
	}
	checkExport(t, ctx, dir, "box", "pull", want)

	// -tailnet system, explicitly, resumes.
	more := appendCycles(t, sp, 5, 2)
	code, _, stderr = cli(t, ctx, "pull", "box", "-dir", dir, "-tailnet", "system", "-tailscale-socket", laptop.Socket)
	if code != 0 || !strings.Contains(stderr, fmt.Sprintf("pull box: %d cycles, %d records stored after sequence %d", more.cycles, more.records, want.records)) {
		t.Fatalf("pull -tailnet system: exit %d, %q", code, stderr)
	}

	// tsnet flags choose a node of its own in auto; with -tailnet system
	// they are a mistake.
	code, _, stderr = cli(t, ctx, "pull", "box", "-dir", dir, "-tailnet", "system", "-tailscale-socket", laptop.Socket, "-control-url", ctl.URL)
	if code != 1 || !strings.Contains(stderr, "-control-url: only for a node of surveyctl's own (-tailnet tsnet)") {
		t.Errorf("pull -tailnet system -control-url: exit %d, %q", code, stderr)
	}
	code, _, stderr = cli(t, ctx, "pull", "box", "-dir", t.TempDir(), "-tailscale-socket", laptop.Socket, "-control-url", ctl.URL)
	if code != 1 || !strings.Contains(stderr, "pull box: on the tailnet through surveyctl-pull.") || !strings.Contains(stderr, "403 Forbidden") {
		// The tsnet node is a new user of its own, not an operator.
		t.Errorf("pull with -control-url in auto: exit %d, %q", code, stderr)
	}
	code, _, stderr = cli(t, ctx, "pull", "box", "-dir", dir, "-tailnet", "bogus")
	if code != 2 || !strings.Contains(stderr, `-tailnet "bogus": want auto, system or tsnet`) {
		t.Errorf("pull -tailnet bogus: exit %d, %q", code, stderr)
	}

	// Forcing the system Tailscale when there is none, or it is stopped,
	// is a clear error.
	code, _, stderr = cli(t, ctx, "pull", "box", "-dir", dir, "-tailnet", "system", "-tailscale-socket", filepath.Join(t.TempDir(), "none.sock"))
	if code != 1 || !strings.Contains(stderr, "asking this machine's Tailscale for its state") {
		t.Errorf("pull -tailnet system with no tailscaled: exit %d, %q", code, stderr)
	}
	if _, err := laptop.Client.EditPrefs(ctx, &ipn.MaskedPrefs{Prefs: ipn.Prefs{WantRunning: false}, WantRunningSet: true}); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = cli(t, ctx, "pull", "box", "-dir", dir, "-tailnet", "system", "-tailscale-socket", laptop.Socket)
	if code != 1 || !strings.Contains(stderr, "this machine's Tailscale is not running (its state is Stopped)") {
		t.Errorf("pull -tailnet system with Tailscale stopped: exit %d, %q", code, stderr)
	}
}
