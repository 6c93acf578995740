package connlimit

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// dialFrom connects to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echoServer accepts on a limited listener and echoes; it returns the
// address.
func echoServer(t *testing.T, o Options) string {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Listen(raw, o)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return raw.Addr().String()
}

// alive reports whether c still echoes.
func alive(c net.Conn) bool {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("x")); err != nil {
		return false
	}
	b := make([]byte, 1)
	_, err := io.ReadFull(c, b)
	return err == nil
}

func TestPerPeerAndTotal(t *testing.T) {
	addr := echoServer(t, Options{PerPeer: 2, Total: 3})
	a1, a2, a3 := dialFrom(t, "127.0.0.2", addr), dialFrom(t, "127.0.0.2", addr), dialFrom(t, "127.0.0.2", addr)
	if !alive(a1) || !alive(a2) || alive(a3) {
		t.Fatalf("per peer: %v %v %v, want the third refused", alive(a1), alive(a2), alive(a3))
	}
	b1, b2 := dialFrom(t, "127.0.0.3", addr), dialFrom(t, "127.0.0.3", addr)
	if !alive(b1) || alive(b2) {
		t.Fatal("total: want one more from another peer, then none")
	}
	// Closing frees a slot.
	a1.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if alive(dialFrom(t, "127.0.0.4", addr)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no slot freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestIdle(t *testing.T) {
	addr := echoServer(t, Options{Idle: 300 * time.Millisecond})
	c := dialFrom(t, "127.0.0.1", addr)
	for range 5 { // traffic keeps it open past the idle time
		if !alive(c) {
			t.Fatal("closed while busy")
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("idle connection not closed: %v", err)
	}
	t.Logf("closed after %v idle", time.Since(start).Round(10*time.Millisecond))
}
