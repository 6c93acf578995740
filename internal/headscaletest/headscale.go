// Package headscaletest runs headscale, the self-hosted coordination
// server, for tests: a build pinned by tool/go.mod and tool/go.sum (a
// module of its own, so nothing of headscale enters surveybox's), cached
// under the surveybox cache, and a server on loopback with its embedded
// DERP, users and pre-auth keys. Test-only.
package headscaletest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/surveybox/surveybox/internal/cachedir"
	"github.com/surveybox/surveybox/internal/syncbuf"
)

// Version is the headscale release tool/go.mod pins.
const Version = "v0.29.1"

// toolDir is this package's tool/ directory.
func toolDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "tool")
}

// Binary returns the headscale binary, building it into the cache first
// when the cache has none for these pins (a few minutes, once).
func Binary(ctx context.Context) (string, error) {
	sum, err := os.ReadFile(filepath.Join(toolDir(), "go.sum"))
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(sum)
	name := "headscale-" + Version + "-" + hex.EncodeToString(h[:6])
	return cachedir.GoBinary(ctx, name, toolDir(), "github.com/juanfont/headscale/cmd/headscale")
}

// Server is a running headscale.
type Server struct {
	URL  string // http://127.0.0.1:PORT, also the embedded DERP's
	bin  string
	cfg  string
	logs *syncbuf.Buffer
}

// freePort returns a loopback port nothing listens on (for a moment).
func freePort(t testing.TB, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs headscale on loopback with policy (a HuJSON policy file's
// contents), its state in a temporary directory, until the test ends.
// The server's URL is plain http, so tsnet nodes need
// TS_DEBUG_USE_DERP_HTTP=1 to reach the embedded DERP.
func Start(t testing.TB, bin, policy string) *Server {
	t.Helper()
	dir := t.TempDir()
	port, metrics, stun := freePort(t, "tcp"), freePort(t, "tcp"), freePort(t, "udp")
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), bin: bin, cfg: filepath.Join(dir, "config.yaml"), logs: &syncbuf.Buffer{}}
	cfg := fmt.Sprintf(`server_url: %[1]s
listen_addr: 127.0.0.1:%[2]d
metrics_listen_addr: 127.0.0.1:%[3]d
grpc_listen_addr: 127.0.0.1:0
noise:
  private_key_path: %[4]s/noise.key
prefixes:
  v4: 100.64.0.0/10
  v6: fd7a:115c:a1e0::/48
  allocation: sequential
derp:
  server:
    enabled: true
    region_id: 999
    region_code: hs
    region_name: headscale
    verify_clients: true
    stun_listen_addr: 127.0.0.1:%[5]d
    private_key_path: %[4]s/derp.key
    automatically_add_embedded_derp_region: true
    ipv4: 127.0.0.1
  urls: []
  paths: []
  auto_update_enabled: false
disable_check_updates: true
database:
  type: sqlite
  sqlite:
    path: %[4]s/db.sqlite
log:
  level: info
policy:
  mode: file
  path: %[4]s/policy.json
dns:
  magic_dns: true
  base_domain: hs.test
  override_local_dns: false
unix_socket: %[4]s/headscale.sock
unix_socket_permission: "0700"
logtail:
  enabled: false
`, s.URL, port, metrics, dir, stun)
	if err := os.WriteFile(s.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.json"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-c", s.cfg, "serve")
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("headscale's log:\n%s", s.logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		select {
		case <-done:
			t.Fatalf("headscale exited:\n%s", s.logs.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("headscale not healthy within 60s:\n%s", s.logs.String())
		}
	}
}

// cli runs a headscale command against the server and decodes its JSON.
func (s *Server) cli(t testing.TB, out any, args ...string) {
	t.Helper()
	cmd := exec.Command(s.bin, append([]string{"-c", s.cfg, "-o", "json"}, args...)...)
	b, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("headscale %s: %v\n%s%s", strings.Join(args, " "), err, b, stderr)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("headscale %s: %v: %s", strings.Join(args, " "), err, b)
	}
}

// CreateUser creates a user without an email (it logs in under its bare
// name) and returns its ID.
func (s *Server) CreateUser(t testing.TB, name string) uint64 {
	t.Helper()
	var u struct {
		ID uint64 `json:"id"`
	}
	s.cli(t, &u, "users", "create", name)
	return u.ID
}

// Key creates a single-use pre-auth key: for user (0: none) and, with
// tags, a tagged one (headscale gives a node only the tags its key was
// made with).
func (s *Server) Key(t testing.TB, user uint64, tags ...string) string {
	t.Helper()
	args := []string{"preauthkeys", "create", "--expiration", "1h"}
	if user != 0 {
		args = append(args, "-u", strconv.FormatUint(user, 10))
	}
	if len(tags) > 0 {
		args = append(args, "--tags", strings.Join(tags, ","))
	}
	var k struct {
		Key string `json:"key"`
	}
	s.cli(t, &k, args...)
	return k.Key
}

// KeyFile writes key to a new 0600 file and returns its path.
func KeyFile(t testing.TB, key string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "authkey")
	if err := os.WriteFile(p, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Logs returns headscale's log so far.
func (s *Server) Logs() string { return s.logs.String() }
