package sshserver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// These tests use x/crypto's client for what OpenSSH cannot be made to do
// on cue: hold a connection open, go silent, vanish mid-export.

func goClient(t *testing.T, ts *testServer, signer ssh.Signer) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial("tcp", ts.addr, &ssh.ClientConfig{
		User:            "operator",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(ts.hostPub),
		Timeout:         10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func authorizedSigner(t *testing.T) (ssh.Signer, string) {
	s := newHostKey(t)
	return s, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
}

// readBanner reads the server's version line from a raw connection.
func readBanner(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading banner: %v", err)
	}
	return strings.TrimSpace(l)
}

// waitClosed waits until the server closes c and returns how long it took.
func waitClosed(t *testing.T, c net.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", within)
	}
	return time.Since(start)
}

func TestHandshakeTimeout(t *testing.T) {
	ts := startServer(t, &fakeBox{}, func(c *Config) { c.HandshakeTimeout = 300 * time.Millisecond })
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if b := readBanner(t, c); b != serverVersion {
		t.Fatalf("banner %q, want %q", b, serverVersion)
	}
	// Say nothing: the server gives up after HandshakeTimeout.
	took := waitClosed(t, c, 5*time.Second)
	t.Logf("silent client dropped after %v", took.Round(time.Millisecond))
}

// TestMaxConns: without tailnet identities (a listed key is the only way
// in), one address may hold MaxPreAuthPerPeer connections that have not
// authenticated, and MaxConns authenticated ones.
func TestMaxConns(t *testing.T) {
	signer, pub := authorizedSigner(t)
	ts := startServer(t, &fakeBox{statusJSON: "{}"}, func(c *Config) {
		c.MaxConns = 1
		c.MaxPreAuthPerPeer = 1
		c.AuthorizedKeys = []string{pub}
	})
	cl := goClient(t, ts, signer) // authenticated: the one slot
	// The client may finish its handshake before the server has moved it
	// out of the unauthenticated count; the login line comes after.
	waitLog(t, ts.logs, "ssh: login")
	raw, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	readBanner(t, raw) // this address's one unauthenticated slot
	extra, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	waitClosed(t, extra, 5*time.Second) // closed without a banner
	waitLog(t, ts.logs, "too many unauthenticated connections")
	// A second authenticated client (once the server has seen raw go):
	// it may authenticate, but not stay.
	raw.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(ts.logs.String(), "too many connections") {
		if time.Now().After(deadline) {
			t.Fatalf("a second authenticated connection was never refused:\n%s", ts.logs.String())
		}
		if c, err := ssh.Dial("tcp", ts.addr, &ssh.ClientConfig{User: "x", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: ssh.FixedHostKey(ts.hostPub), Timeout: 5 * time.Second}); err == nil {
			if _, _, err := c.SendRequest("keepalive@openssh.com", true, nil); err == nil {
				t.Error("a second authenticated connection stayed open with MaxConns 1")
			}
			c.Close()
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Freeing the slot lets the next one in.
	cl.Close()
	deadline = time.Now().Add(5 * time.Second)
	for {
		c, err := ssh.Dial("tcp", ts.addr, &ssh.ClientConfig{User: "x", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: ssh.FixedHostKey(ts.hostPub), Timeout: 5 * time.Second})
		if err == nil {
			s, serr := c.NewSession()
			c.Close()
			if serr == nil {
				s.Close()
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStrangersCannotLockOutOperators: tailnet peers that are not
// operators are closed as soon as WhoIs names them, so however many
// connections they open and hold, an operator gets in. Before, the cap
// counted connections that had not authenticated: eight idle connections
// from any peer locked the operators out.
func TestStrangersCannotLockOutOperators(t *testing.T) {
	operator := "127.0.0.1"
	ts := startServer(t, &fakeBox{statusJSON: `{"ok":true}`}, func(c *Config) {
		c.Authorize = func(ctx context.Context, remote string) (string, error) {
			if strings.HasPrefix(remote, operator+":") {
				return "node op (tag:surveyops)", nil
			}
			return "node stranger (tag:other)", errors.New("node stranger (tag:other) is not an operator")
		}
	})
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	var held []net.Conn
	for range 3 * defaultMaxConns {
		c, err := d.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for _, c := range held {
		waitClosed(t, c, 5*time.Second)
	}
	waitLog(t, ts.logs, "ssh: refused: not an operator")
	c, err := ssh.Dial("tcp", ts.addr, &ssh.ClientConfig{User: "op", HostKeyCallback: ssh.FixedHostKey(ts.hostPub), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("the operator was locked out: %v", err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Output("status")
	if err != nil || string(out) != `{"ok":true}`+"\n" {
		t.Errorf("status: %q, %v", out, err)
	}
}

func TestIdleTimeout(t *testing.T) {
	signer, pub := authorizedSigner(t)
	ts := startServer(t, &fakeBox{statusJSON: "{}"}, func(c *Config) {
		c.IdleTimeout = time.Second
		c.AuthorizedKeys = []string{pub}
	})
	cl := goClient(t, ts, signer)
	// Traffic keeps it open past the timeout...
	for range 8 {
		time.Sleep(200 * time.Millisecond)
		if _, _, err := cl.SendRequest("keepalive@openssh.com", true, nil); err != nil {
			t.Fatalf("connection closed while active: %v", err)
		}
	}
	// ...silence closes it.
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- cl.Wait() }()
	select {
	case <-done:
		t.Logf("idle connection closed after %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("idle connection not closed")
	}
}

func TestExportEndsWhenClientLeaves(t *testing.T) {
	signer, pub := authorizedSigner(t)
	exportDone := make(chan error, 1)
	var written atomic.Int64
	ts := startServer(t, &fakeBox{statusJSON: "{}"}, func(c *Config) {
		c.AuthorizedKeys = []string{pub}
		c.Export = func(ctx context.Context, w io.Writer, after uint64) error {
			line := []byte(strings.Repeat("x", 99) + "\n")
			for {
				n, err := w.Write(line)
				written.Add(int64(n))
				if err != nil {
					exportDone <- err
					return err
				}
				if ctx.Err() != nil {
					exportDone <- ctx.Err()
					return ctx.Err()
				}
			}
		}
	})
	cl := goClient(t, ts, signer)
	sess, err := cl.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := sess.StdoutPipe()
	if err := sess.Start("export"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(out, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	cl.Close() // vanish
	select {
	case err := <-exportDone:
		t.Logf("export ended with %v after %d bytes", err, written.Load())
	case <-time.After(10 * time.Second):
		t.Fatal("export still running after the client left")
	}
	waitLog(t, ts.logs, "client went away")
}

func TestExportError(t *testing.T) {
	signer, pub := authorizedSigner(t)
	ts := startServer(t, &fakeBox{statusJSON: "{}"}, func(c *Config) {
		c.AuthorizedKeys = []string{pub}
		c.Export = func(ctx context.Context, w io.Writer, after uint64) error {
			io.WriteString(w, `{"seq":1}`+"\n")
			return errors.New("spool: disk on fire")
		}
		c.Status = func(context.Context) ([]byte, error) { return nil, errors.New("no status today") }
	})
	cl := goClient(t, ts, signer)
	run := func(cmd string) (string, string, int) {
		sess, err := cl.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		var o, e strings.Builder
		sess.Stdout, sess.Stderr = &o, &e
		err = sess.Run(cmd)
		var ee *ssh.ExitError
		switch {
		case err == nil:
			return o.String(), e.String(), 0
		case errors.As(err, &ee):
			return o.String(), e.String(), ee.ExitStatus()
		}
		t.Fatalf("%s: %v", cmd, err)
		return "", "", 0
	}
	if o, e, code := run("export"); code != 1 || o != `{"seq":1}`+"\n" || !strings.Contains(e, "disk on fire") {
		t.Fatalf("export: exit %d, stdout %q, stderr %q", code, o, e)
	}
	if o, e, code := run("status"); code != 1 || o != "" || !strings.Contains(e, "no status today") {
		t.Fatalf("status: exit %d, stdout %q, stderr %q", code, o, e)
	}
	// Several sessions on one connection, one after the other, work; a
	// non-session channel does not.
	if _, err := cl.Dial("tcp", "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "only sessions") {
		t.Fatalf("direct-tcpip: %v", err)
	}
	if ok, _, _ := cl.SendRequest("tcpip-forward", true, ssh.Marshal(struct {
		Addr string
		Port uint32
	}{"127.0.0.1", 0})); ok {
		t.Fatal("tcpip-forward accepted")
	}
}

func TestSessionsPerConn(t *testing.T) {
	signer, pub := authorizedSigner(t)
	ts := startServer(t, &fakeBox{statusJSON: "{}"}, func(c *Config) { c.AuthorizedKeys = []string{pub} })
	cl := goClient(t, ts, signer)
	var open []*ssh.Session
	for range maxSessionsPerConn {
		s, err := cl.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, s)
	}
	if _, err := cl.NewSession(); err == nil || !strings.Contains(err.Error(), "too many sessions") {
		t.Fatalf("session %d: %v", maxSessionsPerConn+1, err)
	}
	open[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := cl.NewSession()
		if err == nil {
			s.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session after closing one: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestShutdownClosesConnections(t *testing.T) {
	signer, pub := authorizedSigner(t)
	ts := startServer(t, &fakeBox{statusJSON: "{}"}, func(c *Config) { c.AuthorizedKeys = []string{pub} })
	cl := goClient(t, ts, signer)
	ts.cancel()
	select {
	case err := <-ts.done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve: %v", err)
		}
		ts.done <- err // for the cleanup's check
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	done := make(chan error, 1)
	go func() { done <- cl.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("client connection survived shutdown")
	}
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Fatal("listener still open")
	}
}

func TestConfigErrors(t *testing.T) {
	host := newHostKey(t)
	_, pub := authorizedSigner(t)
	ok := Config{HostKey: host, Status: (&fakeBox{}).status, Export: (&fakeBox{}).export}
	for _, tc := range []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"no host key", func(c *Config) { c.HostKey = nil }, "no host key"},
		{"no status", func(c *Config) { c.Status = nil }, "required"},
		{"garbage key", func(c *Config) { c.AuthorizedKeys = []string{pub, "ssh-ed25519 notbase64!"} }, "ssh.authorized_keys[1]"},
		{"options", func(c *Config) { c.AuthorizedKeys = []string{`from="10.0.0.0/8" ` + pub} }, "options"},
	} {
		cfg := ok
		tc.mut(&cfg)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		err = Serve(context.Background(), ln, cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// flakyListener fails Accept with errs, in order, then blocks until closed.
type flakyListener struct {
	net.Listener
	mu   sync.Mutex
	errs []error
}

type tempErr struct{}

func (tempErr) Error() string   { return "accept tcp: too many open files" }
func (tempErr) Temporary() bool { return true }
func (tempErr) Timeout() bool   { return false }

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

func TestAcceptErrors(t *testing.T) {
	host := newHostKey(t)
	cfg := Config{HostKey: host, Status: (&fakeBox{}).status, Export: (&fakeBox{}).export}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln, errs: []error{tempErr{}, tempErr{}, errors.New("listener broke")}}
	done := make(chan error, 1)
	go func() { done <- Serve(context.Background(), fl, cfg) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "listener broke") {
			t.Fatalf("Serve: %v, want the permanent accept error after retrying the temporary ones", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("listener still open after Serve returned")
	}
}
