// Package sshserver is the operator's SSH service on the tailnet, and
// nothing else: it presents the box's host key (the one the console banner
// prints) and runs a few fixed commands for authorized operators.
//
//	ssh box status                 the box's status as JSON
//	ssh box export [--after SEQ]   observations as JSON lines
//	ssh box help                   the list of commands
//
// There is no shell, no pty, no port forwarding, no subsystem (sftp) and
// no agent or X11 forwarding: only "session" channels carrying one "exec"
// request each. The user name is ignored (the box has no accounts) and
// only logged.
//
// # Authorization
//
// Serve works on any net.Listener but is meant for the tailnet listener
// only (tsnet Server.Listen("tcp", ":22")); it must never get a listener on
// the customer's LAN. A connection is let in by either
//
//   - public key: the client proves it holds a key listed in
//     Config.AuthorizedKeys (the "publickey" method), or
//   - tailnet identity: Config.Authorize names the peer at the
//     connection's remote address and says it is an operator (the
//     appliance asks its tailnet node's WhoIs and applies the same policy
//     as the pull API). This is the "none" method, which OpenSSH clients
//     try first, so an operator on an allowed tailnet machine needs no key
//     at all, as with Tailscale SSH. The tailnet has already authenticated
//     the peer (WireGuard), and WhoIs answers from the node's own netmap,
//     never from anything the client says. A refusal only closes this
//     path: the client may still authenticate with a listed key.
//
// With neither keys nor operators configured nobody gets in, but the host
// key can still be checked (ssh-keyscan).
//
// # Limits
//
// Config.MaxConns connections at a time (more are closed at once),
// Config.HandshakeTimeout for key exchange plus authentication,
// Config.IdleTimeout without a byte in either direction, and
// maxSessionsPerConn sessions at a time on one connection.
//
// Logs name the remote address, the user name, the method, the key's
// fingerprint or the tailnet identity, and the command; never key
// material beyond fingerprints, nor command output.
package sshserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// Config configures Serve.
type Config struct {
	// HostKey is the box's host key (appliance hostKey.Signer). Required.
	HostKey ssh.Signer
	// AuthorizedKeys are public keys in authorized_keys form
	// ("ssh-ed25519 AAAA... comment", config SSH.AuthorizedKeys), without
	// options.
	AuthorizedKeys []string
	// Authorize, if set, enables the tailnet-identity login: it names the
	// peer at remoteAddr (for the logs) and returns a nil error only when
	// that peer may log in by its tailnet identity alone.
	Authorize func(ctx context.Context, remoteAddr string) (who string, err error)

	// Status returns the body of "status" (JSON; a newline is added if
	// missing). Required.
	Status func(ctx context.Context) ([]byte, error)
	// Export writes the observations with sequence numbers after after as
	// JSON lines to w, for "export". ctx ends when the client goes away.
	// Required.
	Export func(ctx context.Context, w io.Writer, after uint64) error

	// Logger gets one line per login, refusal and command; nil: discard.
	Logger *slog.Logger

	// MaxConns bounds concurrent connections (authenticated or not).
	// Default 8.
	MaxConns int
	// HandshakeTimeout bounds key exchange and authentication. Default
	// 15s.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection after this long without traffic in
	// either direction. Default 10m.
	IdleTimeout time.Duration
	// AuthorizeTimeout bounds one Authorize call. Default 5s.
	AuthorizeTimeout time.Duration
}

const (
	defaultMaxConns         = 8
	defaultHandshakeTimeout = 15 * time.Second
	defaultIdleTimeout      = 10 * time.Minute
	defaultAuthorizeTimeout = 5 * time.Second
	maxSessionsPerConn      = 4
	serverVersion           = "SSH-2.0-surveybox"
)

// Permissions.Extensions keys carrying how a connection got in.
const (
	extMethod   = "surveybox-method"   // "publickey" or "tailnet"
	extKey      = "surveybox-key"      // fingerprint of the accepted key
	extComment  = "surveybox-comment"  // its comment in authorized_keys
	extIdentity = "surveybox-identity" // tailnet identity, for "tailnet"
)

type server struct {
	cfg  Config
	keys []authorizedKey
	log  *slog.Logger

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Serve accepts SSH connections on ln until ctx ends, then closes every
// connection, waits for their handlers and returns ctx.Err(). It returns
// other errors for an unusable Config (before accepting anything) or when
// Accept fails for good (temporary errors such as EMFILE are retried). ln
// is closed when Serve returns, whatever the reason.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	defer ln.Close()
	if cfg.HostKey == nil {
		return errors.New("sshserver: no host key")
	}
	if cfg.Status == nil || cfg.Export == nil {
		return errors.New("sshserver: Status and Export are required")
	}
	keys, err := parseAuthorizedKeys(cfg.AuthorizedKeys)
	if err != nil {
		return fmt.Errorf("sshserver: %w", err)
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = defaultMaxConns
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = defaultHandshakeTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	if cfg.AuthorizeTimeout <= 0 {
		cfg.AuthorizeTimeout = defaultAuthorizeTimeout
	}
	s := &server{cfg: cfg, keys: keys, log: cfg.Logger, conns: make(map[net.Conn]struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	tailnet := cfg.Authorize != nil
	if len(keys) == 0 && !tailnet {
		s.log.Warn("ssh: no authorized keys and no tailnet operators: nobody can log in")
	}
	s.log.Info("ssh: serving", "addr", ln.Addr().String(), "host_key", ssh.FingerprintSHA256(cfg.HostKey.PublicKey()),
		"authorized_keys", len(keys), "tailnet_operators", tailnet)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	defer s.wg.Wait()

	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Retry what net/http retries (EMFILE, timeouts); give up
			// on anything else.
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("ssh: accept", "err", err, "retry_in", backoff)
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
					return ctx.Err()
				}
				continue
			}
			cancel()
			return fmt.Errorf("sshserver: accept: %w", err)
		}
		backoff = 0
		if !s.track(ctx, c) {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.handle(ctx, c)
		}()
	}
}

// track registers c, or closes it when MaxConns are open or the server is
// stopping.
func (s *server) track(ctx context.Context, c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil {
		c.Close()
		return false
	}
	if len(s.conns) >= s.cfg.MaxConns {
		c.Close()
		s.log.Warn("ssh: too many connections, refused one", "remote", c.RemoteAddr().String(), "max", s.cfg.MaxConns)
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// connState is what one connection's authentication learned.
type connState struct {
	authDone bool     // Authorize was asked (once per connection)
	who      string   // what Authorize named the peer
	authErr  error    // why Authorize refused
	refused  []string // fingerprints of offered keys that are not listed
}

// serverConfig builds the ssh.ServerConfig for one connection; its
// callbacks record into st.
func (s *server) serverConfig(ctx context.Context, st *connState) *ssh.ServerConfig {
	sc := &ssh.ServerConfig{
		ServerVersion: serverVersion,
		MaxAuthTries:  6,
		PublicKeyCallback: func(meta ssh.ConnMetadata, pub ssh.PublicKey) (*ssh.Permissions, error) {
			k, ok := lookup(s.keys, pub)
			if !ok {
				if len(st.refused) < 8 {
					st.refused = append(st.refused, ssh.FingerprintSHA256(pub))
				}
				return nil, errors.New("key not authorized")
			}
			return &ssh.Permissions{Extensions: map[string]string{
				extMethod: "publickey", extKey: k.fp, extComment: k.comment,
			}}, nil
		},
	}
	if s.cfg.Authorize != nil {
		sc.NoClientAuth = true
		sc.NoClientAuthCallback = func(meta ssh.ConnMetadata) (*ssh.Permissions, error) {
			if !st.authDone {
				st.authDone = true
				actx, cancel := context.WithTimeout(ctx, s.cfg.AuthorizeTimeout)
				st.who, st.authErr = s.cfg.Authorize(actx, meta.RemoteAddr().String())
				cancel()
			}
			if st.authErr != nil {
				return nil, st.authErr
			}
			return &ssh.Permissions{Extensions: map[string]string{
				extMethod: "tailnet", extIdentity: st.who,
			}}, nil
		}
	}
	sc.AddHostKey(s.cfg.HostKey)
	return sc
}

func (s *server) handle(ctx context.Context, nc net.Conn) {
	remote := nc.RemoteAddr().String()
	ic := newIdleConn(nc, s.cfg.IdleTimeout)
	defer ic.stop()
	// Key exchange and authentication get HandshakeTimeout in all; the
	// idle timer runs too but is the longer one by default.
	hs := time.AfterFunc(s.cfg.HandshakeTimeout, func() { nc.Close() })
	st := &connState{}
	sconn, chans, reqs, err := ssh.NewServerConn(ic, s.serverConfig(ctx, st))
	timedOut := !hs.Stop()
	if err != nil {
		attrs := []any{"remote", remote, "err", err}
		if timedOut {
			attrs = append(attrs, "timeout", s.cfg.HandshakeTimeout)
		}
		if len(st.refused) > 0 {
			attrs = append(attrs, "unlisted_keys", st.refused)
		}
		if st.authDone {
			if st.who != "" {
				attrs = append(attrs, "tailnet", st.who)
			}
			if st.authErr != nil {
				attrs = append(attrs, "tailnet_refused", st.authErr.Error())
			}
		}
		// Refused logins are worth a line; port scans and keyscans
		// (no authentication attempted) only at debug level.
		if len(st.refused) > 0 || st.authDone {
			s.log.Warn("ssh: login refused", attrs...)
		} else {
			s.log.Debug("ssh: handshake ended", attrs...)
		}
		return
	}
	defer sconn.Close()
	ext := sconn.Permissions.Extensions
	who := []any{"remote", remote, "user", sconn.User(), "method", ext[extMethod]}
	switch ext[extMethod] {
	case "publickey":
		who = append(who, "key", ext[extKey])
		if c := ext[extComment]; c != "" {
			who = append(who, "key_comment", c)
		}
		if st.who != "" {
			who = append(who, "tailnet", st.who)
		}
	case "tailnet":
		who = append(who, "tailnet", ext[extIdentity])
	}
	who = slices.Clip(who) // appends below copy: sessions share it
	s.log.Info("ssh: login", who...)

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go ssh.DiscardRequests(reqs) // keepalives, no-more-sessions, tcpip-forward: all refused
	var sessions atomic.Int32
	var wg sync.WaitGroup
	for nch := range chans {
		if t := nch.ChannelType(); t != "session" {
			nch.Reject(ssh.Prohibited, "only sessions with a command are offered")
			s.log.Info("ssh: refused channel", append(who, "type", t)...)
			continue
		}
		if sessions.Add(1) > maxSessionsPerConn {
			sessions.Add(-1)
			nch.Reject(ssh.ResourceShortage, "too many sessions on this connection")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			sessions.Add(-1)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sessions.Add(-1)
			s.session(cctx, ch, creqs, who)
		}()
	}
	// The connection is gone: end running commands.
	cancel()
	wg.Wait()
}
