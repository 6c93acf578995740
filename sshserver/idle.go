package sshserver

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// idleConn closes its net.Conn after timeout without a byte read or
// written. Unlike read deadlines it also counts output, so a long export to
// a client that sends nothing back for a while is not cut.
type idleConn struct {
	net.Conn
	timeout time.Duration
	last    atomic.Int64 // monotonic nanoseconds since start
	start   time.Time

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

func newIdleConn(c net.Conn, timeout time.Duration) *idleConn {
	ic := &idleConn{Conn: c, timeout: timeout, start: time.Now()}
	ic.mu.Lock()
	ic.timer = time.AfterFunc(timeout, ic.check)
	ic.mu.Unlock()
	return ic
}

func (c *idleConn) touch() { c.last.Store(int64(time.Since(c.start))) }

func (c *idleConn) check() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	idle := time.Since(c.start) - time.Duration(c.last.Load())
	if idle >= c.timeout {
		c.Conn.Close()
		return
	}
	c.timer.Reset(c.timeout - idle)
}

func (c *idleConn) stop() {
	c.mu.Lock()
	c.stopped = true
	c.timer.Stop()
	c.mu.Unlock()
}

func (c *idleConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}
