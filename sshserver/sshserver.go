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
// the customer's LAN.
//
// With Config.Authorize set (the appliance always sets it), the tailnet
// identity decides: Authorize names the peer at the connection's remote
// address and says whether it is an operator (the appliance asks its
// tailnet node's WhoIs and applies the same policy as the pull API; the
// tailnet has authenticated the peer, and WhoIs answers from the node's
// own netmap, never from anything the client says). A peer that is not an
// operator is refused as soon as it connects, whatever keys it holds: a
// key copied off a laptop opens nothing from another tailnet node. An
// operator gets in
//
//   - with no key at all (the "none" method, which OpenSSH clients try
//     first), as with Tailscale SSH, when Config.AuthorizedKeys is empty;
//   - with a key listed in Config.AuthorizedKeys when there is one: the
//     list is a second factor on top of the identity, never a way around
//     it.
//
// Without Authorize (tests, or a server off the tailnet), a listed key
// alone lets a client in. With neither keys nor operators configured
// nobody gets in, but the host key can still be checked (ssh-keyscan).
//
// # Limits
//
// Strangers cannot crowd operators out: a peer that is not an operator is
// closed once WhoIs has named it; without Authorize, one remote address may
// hold Config.MaxPreAuthPerPeer connections that have not authenticated
// yet, and all together Config.MaxPreAuth. Config.MaxConns bounds the
// authenticated connections; Config.HandshakeTimeout bounds key exchange
// plus authentication, Config.IdleTimeout a connection without a byte in
// either direction, and maxSessionsPerConn the sessions on one
// connection.
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
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/surveybox/surveybox/connlimit"
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

	// MaxConns bounds concurrent authenticated connections (operators').
	// Default 8.
	MaxConns int
	// MaxPreAuthPerPeer and MaxPreAuth bound the connections that have
	// not authenticated yet, from one remote address and in all. Defaults
	// 2 and 16.
	MaxPreAuthPerPeer, MaxPreAuth int
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
	defaultMaxPreAuthPeer   = 2
	defaultMaxPreAuth       = 16
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

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	authed  int                // authenticated connections
	preauth map[netip.Addr]int // connections not yet authenticated, by peer
	pending int                // sum of preauth
	wg      sync.WaitGroup
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
	if cfg.MaxPreAuthPerPeer <= 0 {
		cfg.MaxPreAuthPerPeer = defaultMaxPreAuthPeer
	}
	if cfg.MaxPreAuth <= 0 {
		cfg.MaxPreAuth = defaultMaxPreAuth
	}
	s := &server{cfg: cfg, keys: keys, log: cfg.Logger, conns: make(map[net.Conn]struct{}), preauth: map[netip.Addr]int{}}
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

// track registers c, or closes it when the server is stopping or holds
// more connections than it can ever let in.
func (s *server) track(ctx context.Context, c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil {
		c.Close()
		return false
	}
	if len(s.conns) >= s.cfg.MaxConns+s.cfg.MaxPreAuth {
		c.Close()
		s.log.Warn("ssh: too many connections, refused one", "remote", c.RemoteAddr().String(), "open", len(s.conns))
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

// admit takes a slot for a connection that has not authenticated yet from
// peer, or reports that the caps are reached.
func (s *server) admit(peer netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.preauth[peer] >= s.cfg.MaxPreAuthPerPeer || s.pending >= s.cfg.MaxPreAuth {
		return false
	}
	s.preauth[peer]++
	s.pending++
	return true
}

// leavePreAuth gives back peer's pre-authentication slot.
func (s *server) leavePreAuth(peer netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.preauth[peer]--; s.preauth[peer] <= 0 {
		delete(s.preauth, peer)
	}
	s.pending--
}

// enter takes an authenticated slot, or reports that MaxConns are in.
func (s *server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.authed >= s.cfg.MaxConns {
		return false
	}
	s.authed++
	return true
}

func (s *server) leave() {
	s.mu.Lock()
	s.authed--
	s.mu.Unlock()
}

// connState is what one connection's authentication learned.
type connState struct {
	who     string   // the operator Authorize named ("" without Authorize)
	keyless bool     // an operator may log in without a key
	refused []string // fingerprints of offered keys that are not listed
}

// serverConfig builds the ssh.ServerConfig for one connection; its
// callbacks record into st.
func (s *server) serverConfig(st *connState) *ssh.ServerConfig {
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
				extMethod: "publickey", extKey: k.fp, extComment: k.comment, extIdentity: st.who,
			}}, nil
		},
	}
	if st.keyless {
		sc.NoClientAuth = true
		sc.NoClientAuthCallback = func(ssh.ConnMetadata) (*ssh.Permissions, error) {
			return &ssh.Permissions{Extensions: map[string]string{
				extMethod: "tailnet", extIdentity: st.who,
			}}, nil
		}
	}
	sc.AddHostKey(s.cfg.HostKey)
	return sc
}

// gate decides, before the SSH handshake, whether a connection may try to
// log in, and takes its slot: an operator's (Authorize) or a
// pre-authentication one. It returns the state and what to call when the
// connection has authenticated (false: refused, slot given back) and when
// it ends.
func (s *server) gate(ctx context.Context, nc net.Conn) (st *connState, authenticated func() bool, done func(), ok bool) {
	remote := nc.RemoteAddr().String()
	st = &connState{}
	if s.cfg.Authorize != nil {
		actx, cancel := context.WithTimeout(ctx, s.cfg.AuthorizeTimeout)
		who, err := s.cfg.Authorize(actx, remote)
		cancel()
		if err != nil {
			s.log.Warn("ssh: refused: not an operator", "remote", remote, "tailnet", who, "err", err)
			return nil, nil, nil, false
		}
		if !s.enter() {
			s.log.Warn("ssh: too many connections, refused one", "remote", remote, "tailnet", who, "max", s.cfg.MaxConns)
			return nil, nil, nil, false
		}
		st.who, st.keyless = who, len(s.keys) == 0
		return st, func() bool { return true }, s.leave, true
	}
	peer := connlimit.RemoteAddr(nc)
	if !s.admit(peer) {
		s.log.Warn("ssh: too many unauthenticated connections, refused one", "remote", remote,
			"per_peer", s.cfg.MaxPreAuthPerPeer, "max", s.cfg.MaxPreAuth)
		return nil, nil, nil, false
	}
	var in, pre bool = false, true
	authenticated = func() bool {
		s.leavePreAuth(peer)
		pre = false
		if in = s.enter(); !in {
			s.log.Warn("ssh: too many connections, refused one", "remote", remote, "max", s.cfg.MaxConns)
		}
		return in
	}
	done = func() {
		if pre {
			s.leavePreAuth(peer)
		}
		if in {
			s.leave()
		}
	}
	return st, authenticated, done, true
}

func (s *server) handle(ctx context.Context, nc net.Conn) {
	remote := nc.RemoteAddr().String()
	st, authenticated, done, ok := s.gate(ctx, nc)
	if !ok {
		return
	}
	defer done()
	ic := connlimit.NewIdleConn(nc, s.cfg.IdleTimeout)
	defer ic.Close()
	// Key exchange and authentication get HandshakeTimeout in all; the
	// idle timer runs too but is the longer one by default.
	hs := time.AfterFunc(s.cfg.HandshakeTimeout, func() { nc.Close() })
	sconn, chans, reqs, err := ssh.NewServerConn(ic, s.serverConfig(st))
	timedOut := !hs.Stop()
	if err != nil {
		attrs := []any{"remote", remote, "err", err}
		if timedOut {
			attrs = append(attrs, "timeout", s.cfg.HandshakeTimeout)
		}
		if len(st.refused) > 0 {
			attrs = append(attrs, "unlisted_keys", st.refused)
		}
		if st.who != "" {
			attrs = append(attrs, "tailnet", st.who)
		}
		// Refused logins are worth a line; port scans and keyscans
		// (no authentication attempted) only at debug level.
		if len(st.refused) > 0 || st.who != "" {
			s.log.Warn("ssh: login refused", attrs...)
		} else {
			s.log.Debug("ssh: handshake ended", attrs...)
		}
		return
	}
	if !authenticated() {
		sconn.Close()
		return
	}
	defer sconn.Close()
	ext := sconn.Permissions.Extensions
	who := []any{"remote", remote, "user", sconn.User(), "method", ext[extMethod]}
	if ext[extMethod] == "publickey" {
		who = append(who, "key", ext[extKey])
		if c := ext[extComment]; c != "" {
			who = append(who, "key_comment", c)
		}
	}
	if id := ext[extIdentity]; id != "" {
		who = append(who, "tailnet", id)
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
