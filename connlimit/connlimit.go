// Package connlimit bounds what strangers can hold of a server: a listener
// that refuses connections past a cap per remote address and in total,
// and closes connections idle in both directions. The box's tailnet
// services and the operator's collector serve through it. OS-neutral.
package connlimit

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure Listen. Zero values mean no limit of that kind.
type Options struct {
	// PerPeer bounds the open connections from one remote address.
	PerPeer int
	// Total bounds the open connections.
	Total int
	// Idle closes a connection after this long without a byte read or
	// written. Unlike a read deadline it also counts output, so a long
	// download to a client that sends nothing is not cut.
	Idle time.Duration
	// Logger hears of refusals (rate-limited by nothing but their
	// cause); nil discards them.
	Logger *slog.Logger
}

// Listen wraps ln: Accept closes and skips connections over the caps.
func Listen(ln net.Listener, o Options) net.Listener {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &listener{Listener: ln, o: o, peers: map[netip.Addr]int{}}
}

type listener struct {
	net.Listener
	o Options

	mu    sync.Mutex
	total int
	peers map[netip.Addr]int
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		peer := RemoteAddr(c)
		l.mu.Lock()
		over := ""
		switch {
		case l.o.Total > 0 && l.total >= l.o.Total:
			over = "total"
		case l.o.PerPeer > 0 && l.peers[peer] >= l.o.PerPeer:
			over = "per peer"
		default:
			l.total++
			l.peers[peer]++
		}
		l.mu.Unlock()
		if over != "" {
			l.o.Logger.Warn("refused a connection: too many open", "remote", peer.String(), "limit", over)
			c.Close()
			continue
		}
		return newConn(c, l.o.Idle, func() { l.release(peer) }), nil
	}
}

func (l *listener) release(peer netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.peers[peer]--; l.peers[peer] <= 0 {
		delete(l.peers, peer)
	}
}

// RemoteAddr returns the IP address of c's remote end (the zero Addr if it
// has none).
func RemoteAddr(c net.Conn) netip.Addr {
	a := c.RemoteAddr()
	if a == nil {
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// conn is a counted connection with an idle timer.
type conn struct {
	net.Conn
	release func()
	once    sync.Once

	idle  time.Duration
	start time.Time
	last  atomic.Int64 // nanoseconds since start of the last byte
	timer *time.Timer
}

func newConn(c net.Conn, idle time.Duration, release func()) *conn {
	cc := &conn{Conn: c, release: release, idle: idle, start: time.Now()}
	if idle > 0 {
		cc.timer = time.AfterFunc(idle, cc.check)
	}
	return cc
}

// NewIdleConn returns c wrapped so that it closes after idle without a
// byte in either direction; Close stops the timer.
func NewIdleConn(c net.Conn, idle time.Duration) net.Conn { return newConn(c, idle, func() {}) }

func (c *conn) touch() { c.last.Store(int64(time.Since(c.start))) }

func (c *conn) check() {
	idle := time.Since(c.start) - time.Duration(c.last.Load())
	if idle >= c.idle {
		c.Close()
		return
	}
	c.timer.Reset(c.idle - idle)
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		if c.timer != nil {
			c.timer.Stop()
		}
		c.release()
	})
	return err
}
