package headscaletest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"tailscale.com/envknob"
	"tailscale.com/tsnet"

	"github.com/surveybox/surveybox/appliance/hostkey"
	"github.com/surveybox/surveybox/appliance/tailsvc"
	"github.com/surveybox/surveybox/config"
	"github.com/surveybox/surveybox/internal/syncbuf"
	"github.com/surveybox/surveybox/internal/tailtest"
	"github.com/surveybox/surveybox/internal/testrecords"
	"github.com/surveybox/surveybox/spool"
)

// bins are built by TestMain, before any test's clock starts.
var bins struct{ headscale, surveyctl string }

// env is what a surveyctl process needs to join this tailnet the way the
// test process does: the embedded DERP is plain http here.
var env = append(tailtest.Env, "TS_DEBUG_USE_DERP_HTTP=1")

func TestMain(m *testing.M) {
	tailtest.Init()
	envknob.Setenv("TS_DEBUG_USE_DERP_HTTP", "1")
	ctx := context.Background()
	var err error
	if bins.headscale, err = Binary(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "headscaletest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.surveyctl = filepath.Join(dir, "surveyctl")
	if out, err := exec.Command("go", "build", "-o", bins.surveyctl, "github.com/surveybox/surveybox/cmd/surveyctl").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building surveyctl: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// policy lets everyone reach everyone (the box's own WhoIs checks are
// what is tested) and lets user ops own the tags, in headscale's spelling
// of a user without an email ("ops@").
const policy = `{
  "tagOwners": {"tag:surveybox": ["ops@"], "tag:surveyops": ["ops@"]},
  "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]
}`

// surveyctl runs surveyctl with args and returns its exit code and output.
func surveyctl(t *testing.T, ctx context.Context, args ...string) (int, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bins.surveyctl, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("surveyctl %s: exit %d\n%s", strings.Join(args, " "), code, out)
	return code, string(out)
}

// node starts an in-process node with key on the headscale tailnet.
func node(t *testing.T, ctx context.Context, hs *Server, name, key string) *tsnet.Server {
	t.Helper()
	s := &tsnet.Server{Dir: filepath.Join(t.TempDir(), name), Hostname: name, ControlURL: hs.URL, AuthKey: key,
		UserLogf: func(string, ...any) {}, Logf: func(string, ...any) {}}
	t.Cleanup(func() { s.Close() })
	if err := tailtest.Up(ctx, s); err != nil {
		t.Fatalf("%s on headscale: %v", name, err)
	}
	return s
}

// TestHeadscaleEndToEnd runs the box, the collector and pulls against
// headscale: a tagged box pushes to a collector found by its tag; pull
// works for an operator by user (a headscale user without an email, named
// bare in the box's config) and by tag, again on a registered node (where
// it used to leave the tailnet); a stranger is refused over HTTP and SSH
// (with a log line); the box deletes its auth key once registered and,
// restarted, does not pass it again.
func TestHeadscaleEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	hs := Start(t, bins.headscale, policy)
	ops, eve := hs.CreateUser(t, "ops"), hs.CreateUser(t, "eve")

	// The box: its services as the appliance starts them, with a tagged
	// single-use key on its /perm.
	dir := t.TempDir()
	sp, err := spool.Open(filepath.Join(dir, "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for i := range 4 {
		if _, _, err := sp.Append(ctx, testrecords.Cycle(i, 5, 2)); err != nil {
			t.Fatal(err)
		}
	}
	key, err := hostkey.LoadOrCreate(filepath.Join(dir, "ssh_host_ed25519_key"), "root@hsbox", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	boxKey := hs.Key(t, ops, "tag:surveybox")
	cfg := config.Default()
	cfg.Hostname, cfg.Tailnet.Hostname = "hsbox", "hsbox"
	cfg.Tailnet.StateDir = filepath.Join(dir, "tsnet")
	cfg.Tailnet.ControlURL = hs.URL
	cfg.Tailnet.AuthKeyFile = KeyFile(t, boxKey)
	cfg.Tailnet.AuthKey = config.Secret(boxKey)
	cfg.Uploader.Collector = "http://collector:8080"
	cfg.Uploader.BackoffMin, cfg.Uploader.BackoffMax = config.Duration(200*time.Millisecond), config.Duration(2*time.Second)
	cfg.Operators = config.Operators{Users: []string{"ops"}, Tags: []string{"tag:surveyops"}}
	var boxLog syncbuf.Buffer
	start := func() context.CancelFunc {
		svcCtx, stop := context.WithCancel(ctx)
		states := make(chan string, 16)
		tailsvc.Start(svcCtx, tailsvc.Deps{Config: &cfg, Spool: sp, Key: key, Radio: func() string { return "wlan0 phy0" },
			Log: slog.New(slog.NewTextHandler(&boxLog, nil))}, func(s string) { states <- s })
		for s := range states {
			if s != tailsvc.Connecting {
				if !strings.HasPrefix(s, "hsbox.") {
					t.Fatalf("box's tailnet state %q", s)
				}
				break
			}
		}
		return stop
	}
	stopBox := start()

	// The collector: surveyctl collect on a node tagged by its key.
	data := t.TempDir()
	collect := exec.CommandContext(ctx, bins.surveyctl, "collect", "-dir", data, "-hostname", "collector", "-control-url", hs.URL,
		"-authkey-file", KeyFile(t, hs.Key(t, ops, "tag:surveyops")), "-allow", "tag:surveybox")
	collect.Env = append(os.Environ(), env...)
	var collectLog syncbuf.Buffer
	collect.Stdout, collect.Stderr = &collectLog, &collectLog
	if err := collect.Start(); err != nil {
		t.Fatal(err)
	}
	defer collect.Process.Kill()
	for {
		st, _ := sp.Stats()
		if st.Entries == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the box never delivered to the collector: %+v\ncollector:\n%s\nbox:\n%s", st, collectLog.String(), boxLog.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	collect.Process.Signal(os.Interrupt)
	collect.Wait()
	if !strings.Contains(collectLog.String(), `msg="collector: upload" box=hsbox`) {
		t.Errorf("collector log:\n%s", collectLog.String())
	}
	if _, err := os.Stat(cfg.Tailnet.AuthKeyFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the box's auth key is still there after it registered: %v", err)
	}

	// Pull by an operator user (bare name in operators.users), twice:
	// the second run is on a registered node, whose first peer list may
	// come after it reports itself up.
	for _, c := range []int{1, 2, 3} {
		sp.Append(ctx, testrecords.Cycle(10+c, 5, 2))
	}
	pullDir := t.TempDir()
	userKey := KeyFile(t, hs.Key(t, ops))
	if code, out := surveyctl(t, ctx, "pull", "hsbox", "-dir", pullDir, "-hostname", "ops-laptop", "-control-url", hs.URL, "-authkey-file", userKey); code != 0 || !strings.Contains(out, "3 cycles") {
		t.Fatalf("pull by user ops: exit %d\n%s", code, out)
	}
	if code, out := surveyctl(t, ctx, "pull", "hsbox", "-dir", pullDir, "-hostname", "ops-laptop", "-control-url", hs.URL); code != 0 || !strings.Contains(out, "0 cycles") {
		t.Fatalf("second pull by user ops, registered node: exit %d\n%s", code, out)
	}
	// By tag.
	if code, out := surveyctl(t, ctx, "pull", "hsbox", "-dir", t.TempDir(), "-hostname", "ops-ci", "-control-url", hs.URL,
		"-authkey-file", KeyFile(t, hs.Key(t, ops, "tag:surveyops"))); code != 0 || !strings.Contains(out, "3 cycles") {
		t.Fatalf("pull by tag:surveyops: exit %d\n%s", code, out)
	}
	// A stranger: 403, and no SSH.
	if code, out := surveyctl(t, ctx, "pull", "hsbox", "-dir", t.TempDir(), "-hostname", "eve-laptop", "-control-url", hs.URL,
		"-authkey-file", KeyFile(t, hs.Key(t, eve))); code != 1 || !strings.Contains(out, "403 Forbidden") {
		t.Fatalf("pull by user eve: exit %d\n%s", code, out)
	}
	sshTo := func(n *tsnet.Server) error {
		c, err := n.Dial(ctx, "tcp", "hsbox:22")
		if err != nil {
			return err
		}
		cc, chans, reqs, err := ssh.NewClientConn(c, "hsbox:22", &ssh.ClientConfig{User: "x",
			HostKeyCallback: ssh.FixedHostKey(key.Public), Timeout: 30 * time.Second})
		if err != nil {
			return err
		}
		client := ssh.NewClient(cc, chans, reqs)
		defer client.Close()
		s, err := client.NewSession()
		if err != nil {
			return err
		}
		defer s.Close()
		out, err := s.Output("status")
		if err == nil && !strings.Contains(string(out), `"hostname": "hsbox"`) {
			err = fmt.Errorf("status: %s", out)
		}
		return err
	}
	if err := sshTo(node(t, ctx, hs, "ops-ssh", hs.Key(t, ops))); err != nil {
		t.Errorf("ssh by user ops: %v", err)
	}
	if err := sshTo(node(t, ctx, hs, "eve-ssh", hs.Key(t, eve))); err == nil {
		t.Error("user eve got an SSH session")
	}
	if !strings.Contains(boxLog.String(), "ssh: refused: not an operator") {
		t.Errorf("no log line for eve's refused SSH login:\n%s", boxLog.String())
	}

	// Restarted, the registered box logs in with its state: no auth key
	// passed, so no "Ignoring authkey" complaint.
	stopBox()
	time.Sleep(time.Second)
	boxLog = syncbuf.Buffer{}
	stopBox = start()
	defer stopBox()
	if s := boxLog.String(); strings.Contains(s, "Ignoring authkey") || strings.Contains(s, "TSNET_FORCE_LOGIN") {
		t.Errorf("restart complains about the auth key:\n%s", s)
	}
	resp, err := node(t, ctx, hs, "ops-after", hs.Key(t, ops)).HTTPClient().Get("http://hsbox/v1/status")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status after the restart: %v %v", resp, err)
	}
	resp.Body.Close()
}
