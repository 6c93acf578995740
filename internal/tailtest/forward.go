package tailtest

import (
	"context"
	"io"
	"net"
	"testing"

	"tailscale.com/tsnet"
)

// Forward listens on 127.0.0.1:PORT, which it returns, and forwards each
// connection through node to target (a tailnet address), so that
// Chromium, which cannot join the test tailnet, reaches a tailnet service
// as that node.
func Forward(t testing.TB, ctx context.Context, node *tsnet.Server, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := node.Dial(ctx, "tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go io.Copy(u, c)
				io.Copy(c, u)
			}()
		}
	}()
	return ln.Addr().String()
}
