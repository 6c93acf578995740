package sshserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/surveybox/surveybox/internal/syncbuf"
	"github.com/surveybox/surveybox/tailnet"
)

// These tests drive the server with the real OpenSSH client tools
// (Debian's openssh-client, which `make testbed-assets` installs).

const toolTimeout = 30 * time.Second

// fakeBox is what a test server serves.
type fakeBox struct {
	statusJSON string
	records    int // export emits records 1..records
}

func (b *fakeBox) status(ctx context.Context) ([]byte, error) { return []byte(b.statusJSON), nil }

func (b *fakeBox) export(ctx context.Context, w io.Writer, after uint64) error {
	for seq := after + 1; seq <= uint64(b.records); seq++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, `{"kind":"bss","seq":%d,"bss":{"bssid":"02:00:00:00:%02x:%02x","ssid":"net-%d","signal_dbm":-%d}}`+"\n",
			seq, seq>>8&0xff, seq&0xff, seq, 30+seq%60); err != nil {
			return err
		}
	}
	return nil
}

type testServer struct {
	addr    string
	port    string
	hostPub ssh.PublicKey
	dir     string
	known   string // known_hosts file naming the host key
	logs    *syncBuffer
	cancel  context.CancelFunc
	done    chan error
}

// syncBuffer collects output from several goroutines.
type syncBuffer = syncbuf.Buffer

func newHostKey(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startServer runs Serve on 127.0.0.1:0; mutate adjusts the Config.
func startServer(t *testing.T, box *fakeBox, mutate func(*Config)) *testServer {
	t.Helper()
	host := newHostKey(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: ln.Addr().String(), hostPub: host.PublicKey(), dir: t.TempDir(), logs: &syncBuffer{}, done: make(chan error, 1)}
	_, ts.port, _ = net.SplitHostPort(ts.addr)
	ts.known = filepath.Join(ts.dir, "known_hosts")
	line := fmt.Sprintf("[127.0.0.1]:%s %s", ts.port, ssh.MarshalAuthorizedKey(host.PublicKey()))
	if err := os.WriteFile(ts.known, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		HostKey: host,
		Status:  box.status,
		Export:  box.export,
		Logger:  slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- Serve(ctx, ln, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ts.done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Serve returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", ts.logs.String())
		}
	})
	return ts
}

func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (apt-get install openssh-client; make testbed-assets does): %v", name, err)
	}
	return p
}

// clientKey makes an ed25519 key pair with ssh-keygen and returns the
// private key's path and the public key's authorized_keys line.
func clientKey(t testing.TB, dir, name string) (string, string) {
	t.Helper()
	path := filepath.Join(dir, name)
	runTool(t, "", needTool(t, "ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", name+"@test", "-f", path)
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return path, strings.TrimSpace(string(pub))
}

type result struct {
	stdout, stderr string
	code           int
}

func runTool(t testing.TB, stdin string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "SSH_AUTH_SOCK=")
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: timed out after %v; stderr: %s", name, args, toolTimeout, errb.String())
	}
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s %v: %v", name, args, err)
	}
	if filepath.Base(name) != "ssh" && r.code != 0 {
		t.Fatalf("%s %v: exit %d: %s", name, args, r.code, r.stderr)
	}
	return r
}

// ssh runs the OpenSSH client against ts: strict host key checking
// against ts.known, no user config, no agent, only the given key (none:
// "").
func (ts *testServer) ssh(t testing.TB, key string, extra []string, command ...string) result {
	t.Helper()
	args := []string{
		"-F", "/dev/null",
		"-o", "UserKnownHostsFile=" + ts.known,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes",
		"-o", "IdentityAgent=none",
		"-o", "IdentitiesOnly=yes",
		"-o", "PasswordAuthentication=no",
		"-o", "KbdInteractiveAuthentication=no",
		"-o", "ConnectTimeout=10",
		"-o", "LogLevel=ERROR",
		"-p", ts.port,
	}
	if key != "" {
		args = append(args, "-i", key)
	} else {
		args = append(args, "-o", "PubkeyAuthentication=no")
	}
	args = append(args, extra...)
	args = append(args, "operator@127.0.0.1")
	args = append(args, command...)
	return runTool(t, "", needTool(t, "ssh"), args...)
}

func TestKeyscanFingerprint(t *testing.T) {
	ts := startServer(t, &fakeBox{statusJSON: `{}`}, nil)
	r := runTool(t, "", needTool(t, "ssh-keyscan"), "-T", "10", "-t", "ed25519", "-p", ts.port, "127.0.0.1")
	var keyLines []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			keyLines = append(keyLines, l)
		}
	}
	if len(keyLines) != 1 {
		t.Fatalf("ssh-keyscan printed %q (stderr %q), want one key line", r.stdout, r.stderr)
	}
	f := strings.Fields(keyLines[0])
	if len(f) != 3 || f[0] != "[127.0.0.1]:"+ts.port || f[1] != "ssh-ed25519" {
		t.Fatalf("ssh-keyscan line %q", keyLines[0])
	}
	if want := strings.Fields(string(ssh.MarshalAuthorizedKey(ts.hostPub)))[1]; f[2] != want {
		t.Fatalf("scanned key %s, want %s", f[2], want)
	}
	scanned := filepath.Join(ts.dir, "scanned")
	if err := os.WriteFile(scanned, []byte(keyLines[0]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := runTool(t, "", needTool(t, "ssh-keygen"), "-l", "-f", scanned)
	// "256 SHA256:... [127.0.0.1]:PORT (ED25519)"
	lf := strings.Fields(l.stdout)
	want := ssh.FingerprintSHA256(ts.hostPub)
	if len(lf) != 4 || lf[0] != "256" || lf[1] != want || lf[3] != "(ED25519)" {
		t.Fatalf("ssh-keygen -l: %q, want 256 %s ... (ED25519)", l.stdout, want)
	}
	t.Logf("ssh-keygen -l: %s", strings.TrimSpace(l.stdout))
}

func TestOpenSSHStatusExportAndRefusals(t *testing.T) {
	box := &fakeBox{statusJSON: `{"hostname":"box","spool":{"entries":3}}`, records: 20000}
	dir := t.TempDir()
	key, pub := clientKey(t, dir, "operator")
	stranger, _ := clientKey(t, dir, "stranger")
	ts := startServer(t, box, func(c *Config) { c.AuthorizedKeys = []string{"# the operator", pub} })

	t.Run("status", func(t *testing.T) {
		r := ts.ssh(t, key, nil, "status")
		if r.code != 0 || r.stdout != box.statusJSON+"\n" {
			t.Fatalf("status: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("export", func(t *testing.T) {
		start := time.Now()
		r := ts.ssh(t, key, nil, "export")
		took := time.Since(start)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if r.code != 0 || len(lines) != box.records {
			t.Fatalf("export: exit %d, %d lines, stderr %q", r.code, len(lines), r.stderr)
		}
		for i, l := range lines {
			if !strings.HasPrefix(l, `{"kind":"bss","seq":`+strconv.Itoa(i+1)+`,`) {
				t.Fatalf("line %d: %q", i+1, l)
			}
		}
		t.Logf("export: %d lines, %d bytes in %v through OpenSSH (incl. connection setup)", len(lines), len(r.stdout), took.Round(time.Millisecond))
	})
	t.Run("export-after", func(t *testing.T) {
		for _, args := range [][]string{{"export", "--after", "19990"}, {"export", "--after=19990"}, {"export -after 19990"}} {
			r := ts.ssh(t, key, nil, args...)
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			if r.code != 0 || len(lines) != 10 || !strings.HasPrefix(lines[0], `{"kind":"bss","seq":19991,`) {
				t.Fatalf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
			}
		}
	})
	t.Run("export-bad-args", func(t *testing.T) {
		for _, args := range [][]string{{"export", "--after", "x"}, {"export", "extra"}, {"export", "--since", "3"}} {
			r := ts.ssh(t, key, nil, args...)
			if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, "usage: export [--after SEQ]") {
				t.Fatalf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
			}
		}
	})
	t.Run("help", func(t *testing.T) {
		r := ts.ssh(t, key, nil, "help")
		if r.code != 0 || !strings.Contains(r.stdout, "export [--after SEQ]") {
			t.Fatalf("help: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("unknown-command", func(t *testing.T) {
		r := ts.ssh(t, key, nil, "rm", "-rf", "/")
		if r.code != 127 || r.stdout != "" || !strings.Contains(r.stderr, `unknown command "rm"`) {
			t.Fatalf("unknown command: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("unlisted-key", func(t *testing.T) {
		r := ts.ssh(t, stranger, nil, "status")
		if r.code != 255 || r.stdout != "" || !strings.Contains(r.stderr, "Permission denied") {
			t.Fatalf("unlisted key: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		// The refusal is logged with the offered key's fingerprint.
		waitLog(t, ts.logs, "ssh: login refused")
	})
	t.Run("no-key", func(t *testing.T) {
		// No Authorize configured: "none" must not get in.
		r := ts.ssh(t, "", nil, "status")
		if r.code != 255 || !strings.Contains(r.stderr, "Permission denied") {
			t.Fatalf("no key: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("shell", func(t *testing.T) {
		r := ts.ssh(t, key, []string{"-T"})
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "there is no shell here") {
			t.Fatalf("shell: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		t.Logf("shell: exit %d, stderr %q", r.code, r.stderr)
	})
	t.Run("pty-forced", func(t *testing.T) {
		// -tt forces a pty request: refused, which OpenSSH makes fatal
		// when the pty was asked for explicitly.
		r := ts.ssh(t, key, []string{"-tt"}, "status")
		if r.code != 255 || r.stdout != "" || !strings.Contains(r.stderr, "PTY allocation request failed") {
			t.Fatalf("status with -tt: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("subsystem", func(t *testing.T) {
		r := ts.ssh(t, key, []string{"-s"}, "sftp")
		if r.code == 0 {
			t.Fatalf("sftp subsystem: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("port-forward", func(t *testing.T) {
		// -W asks for a direct-tcpip channel: refused.
		r := ts.ssh(t, key, []string{"-W", "127.0.0.1:" + ts.port})
		if r.code == 0 || !strings.Contains(r.stderr, "forwarding failed") {
			t.Fatalf("-W: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("wrong-host-key", func(t *testing.T) {
		// Strict checking against another key fails: the test's
		// known_hosts really is what is checked.
		other := *ts
		other.known = filepath.Join(t.TempDir(), "known_hosts")
		os.WriteFile(other.known, fmt.Appendf(nil, "[127.0.0.1]:%s %s", ts.port, ssh.MarshalAuthorizedKey(newHostKey(t).PublicKey())), 0o600)
		r := other.ssh(t, key, nil, "status")
		if r.code != 255 || r.stdout != "" || !strings.Contains(r.stderr, "HOST IDENTIFICATION HAS CHANGED") {
			t.Fatalf("wrong host key: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	if s := ts.logs.String(); strings.Contains(s, strings.Fields(pub)[1]) {
		t.Errorf("the log contains key material:\n%s", s)
	}
}

// TestOpenSSHTailnetIdentity: with tailnet identities, only operators get
// in; a key in authorized_keys never lets a non-operator in (a key copied
// off a laptop opens nothing from another node), and when keys are listed
// an operator needs one of them too.
func TestOpenSSHTailnetIdentity(t *testing.T) {
	box := &fakeBox{statusJSON: `{"ok":true}`, records: 3}
	dir := t.TempDir()
	listed, pub := clientKey(t, dir, "listed")
	stranger, _ := clientKey(t, dir, "stranger")
	var mu sync.Mutex
	var asked []string
	peer := tailnet.Identity{Node: "alice-laptop", Login: "alice@example.com"}
	var peerErr error
	// The appliance's policy, as for the pull API, on a stand-in WhoIs.
	policy := tailnet.Policy{Users: []string{"alice@example.com"}, Tags: []string{"tag:surveyops"}}
	authorize := func(ctx context.Context, remoteAddr string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, remoteAddr)
		if peerErr != nil {
			return "", peerErr
		}
		if !policy.Allows(peer) {
			return peer.String(), fmt.Errorf("%v is not an operator", peer)
		}
		return peer.String(), nil
	}
	identityOnly := startServer(t, box, func(c *Config) { c.Authorize = authorize })
	withKeys := startServer(t, box, func(c *Config) {
		c.Authorize = authorize
		c.AuthorizedKeys = []string{pub}
	})
	set := func(id tailnet.Identity, err error) {
		mu.Lock()
		peer, peerErr = id, err
		asked = nil
		mu.Unlock()
	}
	checkAsked := func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		if len(asked) != 1 || !strings.HasPrefix(asked[0], "127.0.0.1:") {
			t.Fatalf("Authorize asked about %q, want once about 127.0.0.1:port", asked)
		}
	}
	allowed := func(t *testing.T, ts *testServer, key string) {
		t.Helper()
		r := ts.ssh(t, key, nil, "status")
		if r.code != 0 || r.stdout != box.statusJSON+"\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	}
	denied := func(t *testing.T, ts *testServer, key string) {
		t.Helper()
		r := ts.ssh(t, key, nil, "status")
		if r.code != 255 || r.stdout != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	}

	t.Run("operator-user-no-key", func(t *testing.T) {
		set(tailnet.Identity{Node: "alice-laptop", Login: "alice@example.com"}, nil)
		allowed(t, identityOnly, "")
		checkAsked(t)
		waitLog(t, identityOnly.logs, `method=tailnet tailnet="node alice-laptop (alice@example.com)"`)
	})
	t.Run("operator-user-export", func(t *testing.T) {
		r := identityOnly.ssh(t, "", nil, "export", "--after", "1")
		if r.code != 0 || strings.Count(r.stdout, "\n") != 2 {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("operator-user-unlisted-key", func(t *testing.T) {
		// "none" comes first and succeeds; the key is never needed.
		allowed(t, identityOnly, stranger)
	})
	t.Run("operator-tag", func(t *testing.T) {
		set(tailnet.Identity{Node: "ops-1", Login: "tagged-devices", Tags: []string{"tag:other", "tag:surveyops"}}, nil)
		allowed(t, identityOnly, "")
	})
	t.Run("operator-needs-a-listed-key-when-keys-are-listed", func(t *testing.T) {
		set(tailnet.Identity{Node: "alice-laptop", Login: "alice@example.com"}, nil)
		denied(t, withKeys, "")
		denied(t, withKeys, stranger)
		allowed(t, withKeys, listed)
		waitLog(t, withKeys.logs, `method=publickey`)
	})
	t.Run("tagged-node-of-operator-user", func(t *testing.T) {
		// A user login never vouches for a tagged node.
		set(tailnet.Identity{Node: "ci", Login: "alice@example.com", Tags: []string{"tag:ci"}}, nil)
		denied(t, identityOnly, "")
	})
	t.Run("other-user", func(t *testing.T) {
		set(tailnet.Identity{Node: "bob-laptop", Login: "bob@example.com"}, nil)
		denied(t, identityOnly, stranger)
		checkAsked(t) // once per connection, not per method
		denied(t, identityOnly, "")
		waitLog(t, identityOnly.logs, `ssh: refused: not an operator`)
	})
	t.Run("other-user-listed-key", func(t *testing.T) {
		// Not an operator on the tailnet, though it holds a listed key.
		set(tailnet.Identity{Node: "bob-laptop", Login: "bob@example.com"}, nil)
		denied(t, withKeys, listed)
	})
	t.Run("whois-error", func(t *testing.T) {
		set(tailnet.Identity{}, errors.New("no peer at that address"))
		denied(t, identityOnly, "")
		denied(t, withKeys, listed)
	})
}

// waitLog waits briefly for the server's log to contain want.
func waitLog(t *testing.T, logs *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q:\n%s", want, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
