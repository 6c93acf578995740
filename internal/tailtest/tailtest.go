// Package tailtest runs real Tailscale code in-process for tests: an
// in-process DERP+STUN server and a testcontrol coordination server on
// 127.0.0.1, and tsnet nodes joined to them (modelled on upstream's
// tsnet_test.go).
//
// Call Init from TestMain before anything else touches Tailscale code.
package tailtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"tailscale.com/envknob"
	"tailscale.com/ipn/store/mem"
	"tailscale.com/net/netns"
	"tailscale.com/tailcfg"
	"tailscale.com/tsnet"
	"tailscale.com/tstest/integration"
	"tailscale.com/tstest/integration/testcontrol"
	"tailscale.com/types/logger"
)

// Env is the environment a child process needs to join the test tailnet
// the way this process does (Init's knobs as environment variables).
var Env = []string{
	"TS_DISABLE_PORTMAPPER=1",
	"TS_DEBUG_OMIT_LOCAL_ADDRS=1",
	"TS_NO_LOGS_NO_SUPPORT=1",
}

// Init keeps every packet on 127.0.0.1: no NAT-PMP/PCP/UPnP probes to the
// default gateway, no LAN addresses advertised, no netns (SO_MARK). It uses
// envknob.Setenv because the knobs are read at package init.
func Init() {
	envknob.Setenv("TS_DISABLE_PORTMAPPER", "1")
	envknob.Setenv("TS_DEBUG_OMIT_LOCAL_ADDRS", "1")
	envknob.Setenv("TS_NO_LOGS_NO_SUPPORT", "1")
	netns.SetEnabled(false)
}

// Verbose, when set (TAILTEST_VERBOSE=1), sends DERP, control and node
// logs to the test log.
var Verbose = os.Getenv("TAILTEST_VERBOSE") != ""

// SafeLogf returns a logf that forwards to t.Logf until the test's
// cleanups have run, so late background goroutines cannot panic the test.
func SafeLogf(t testing.TB) logger.Logf {
	var done atomic.Bool
	t.Cleanup(func() { done.Store(true) })
	return func(format string, args ...any) {
		if !done.Load() {
			t.Logf(format, args...)
		}
	}
}

// Control is a running test tailnet.
type Control struct {
	URL    string
	Server *testcontrol.Server
}

// Tags that nodes may advertise on the test tailnet.
var Tags = []string{"tag:surveybox", "tag:surveyops", "tag:other"}

// StartControl starts DERP+STUN and testcontrol on 127.0.0.1. Nodes get
// the tags they advertise (TagOwners is set for Tags).
func StartControl(t testing.TB) *Control { return StartControlAt(t, "127.0.0.1") }

// StartControlAt is StartControl with DERP and testcontrol listening on
// ip (e.g. the address of a test bridge, so a VM on it can join the test
// tailnet). STUN listens on all addresses (upstream's stuntest), so ip
// reaches it too. MagicDNS is on.
func StartControlAt(t testing.TB, ip string) *Control {
	t.Helper()
	derpLogf, ctrlLogf := logger.Discard, logger.Discard
	if Verbose {
		derpLogf, ctrlLogf = SafeLogf(t), SafeLogf(t)
	}
	derpMap := integration.RunDERPAndSTUN(t, derpLogf, ip)
	owners := map[string][]string{}
	for _, tag := range Tags {
		owners[tag] = nil
	}
	control := &testcontrol.Server{
		DERPMap:        derpMap,
		DNSConfig:      &tailcfg.DNSConfig{Proxied: true},
		MagicDNSDomain: "tail-scale.ts.net",
		TagOwners:      owners,
		Logf:           ctrlLogf,
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("testcontrol listener on %s: %v", ip, err)
	}
	// A real coordination server answers its root (the box asks it for
	// the time when NTP is silent); testcontrol panics on paths it does
	// not know, so the root is answered here.
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		control.ServeHTTP(w, r)
	})
	control.HTTPTestServer = httptest.NewUnstartedServer(root)
	control.HTTPTestServer.Listener.Close()
	control.HTTPTestServer.Listener = ln
	control.HTTPTestServer.Start()
	t.Cleanup(control.HTTPTestServer.Close)
	return &Control{URL: control.HTTPTestServer.URL, Server: control}
}

// NewNode returns an ephemeral, in-memory tsnet node for this tailnet,
// not yet started.
func (c *Control) NewNode(t testing.TB, hostname string, tags ...string) *tsnet.Server {
	s := &tsnet.Server{
		Dir:           filepath.Join(t.TempDir(), hostname),
		ControlURL:    c.URL,
		Hostname:      hostname,
		Store:         new(mem.Store),
		Ephemeral:     true,
		AdvertiseTags: tags,
		UserLogf:      logger.Discard,
	}
	if Verbose {
		s.Logf = SafeLogf(t)
		s.UserLogf = SafeLogf(t)
	}
	return s
}

// StartNode starts a node (NewNode) and waits until it is running and
// connected to its home DERP region.
func (c *Control) StartNode(t testing.TB, ctx context.Context, hostname string, tags ...string) *tsnet.Server {
	t.Helper()
	s := c.NewNode(t, hostname, tags...)
	t.Cleanup(func() { s.Close() })
	if err := Up(ctx, s); err != nil {
		t.Fatalf("node %s: %v", hostname, err)
	}
	return s
}

// Up brings s up and waits for its home DERP connection: until a node has
// one, the DERP server drops disco frames for it (PeerGoneNotHere) and
// fast tests flake (upstream's waitForHomeDERPConnected).
func Up(ctx context.Context, s *tsnet.Server) error {
	if _, err := s.Up(ctx); err != nil {
		return err
	}
	return WaitForHomeDERP(ctx, s)
}

// WaitForHomeDERP waits until s has received from its home DERP region.
func WaitForHomeDERP(ctx context.Context, s *tsnet.Server) error {
	h := s.Sys().HealthTracker.Get()
	ms := s.Sys().MagicSock.Get()
	for {
		if r := ms.GetLastNetcheckReport(ctx); r != nil && r.PreferredDERP != 0 &&
			!h.GetDERPRegionReceivedTime(r.PreferredDERP).IsZero() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for home DERP: %w", errors.Join(ctx.Err(), context.Cause(ctx)))
		case <-time.After(20 * time.Millisecond):
		}
	}
}
