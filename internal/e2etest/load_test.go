package e2etest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tailscale.com/client/tailscale/apitype"
	"tailscale.com/ipn/ipnstate"
	"tailscale.com/tailcfg"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/internal/testrecords"
	"github.com/surveybox/surveybox/spool"
	"github.com/surveybox/surveybox/tailnet"
	"github.com/surveybox/surveybox/uploader"
)

// The load test runs what 200 boxes do to one collector at once. Two
// hundred tsnet nodes do not fit on the test machine, so the tailnet's
// part is played on loopback: box i connects from 127.0.1.i, and a
// stand-in WhoIs names 127.0.1.i "box-i" (tag:surveybox) and nothing else.
// Everything else is the real code: each box's spool and push loop, and
// the collector's server (connection limits, browser guard, handler,
// store) in a process of its own, whose memory is measured.

const (
	loadBoxes       = 200
	loadCycles      = 40
	loadStrangers   = 16 // addresses holding connections open
	loadStrangerCon = 8  // connections each tries to hold
	loadCollector   = "SURVEYBOX_TEST_LOAD_COLLECTOR"
)

// loopbackTailnet stands in for the collector's tailnet node.
type loopbackTailnet struct{}

func (loopbackTailnet) WhoIs(ctx context.Context, remote string) (*apitype.WhoIsResponse, error) {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return nil, err
	}
	a := ap.Addr().As4()
	if a[0] != 127 || a[1] != 0 || a[2] != 1 {
		return nil, fmt.Errorf("no peer at %s", remote)
	}
	return &apitype.WhoIsResponse{
		Node:        &tailcfg.Node{Name: fmt.Sprintf("box-%d.tail.example.", a[3]), Tags: []string{"tag:surveybox"}},
		UserProfile: &tailcfg.UserProfile{LoginName: tailnet.TaggedLogin},
	}, nil
}

func (loopbackTailnet) StatusWithoutPeers(ctx context.Context) (*ipnstate.Status, error) {
	return &ipnstate.Status{Self: &ipnstate.PeerStatus{DNSName: "collector.tail.example.",
		TailscaleIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}}, nil
}

// loadCollectorMain is the collector process: it serves on 127.0.0.1 until
// its stdin closes, then prints its peak RSS.
func loadCollectorMain(dir string) int {
	st, err := collector.Open(filepath.Join(dir, "collector.db"))
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	fmt.Println("PORT", ln.Addr().(*net.TCPAddr).Port)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		bufio.NewReader(os.Stdin).ReadString('\n')
		cancel()
	}()
	h := &collector.Handler{Store: st, WhoIs: loopbackTailnet{}, Allow: tailnet.Policy{Tags: []string{"tag:surveybox"}}}
	if err := collector.Serve(ctx, ln, loopbackTailnet{}, h, nil); err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	st.Close()
	fmt.Println("VMHWM", vmHWM())
	return 0
}

func TestLoad200Boxes(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), loadCollector+"="+dir)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	out := bufio.NewScanner(stdout)
	var port int
	for out.Scan() {
		if f := strings.Fields(out.Text()); len(f) == 2 && f[0] == "PORT" {
			port, _ = strconv.Atoi(f[1])
			break
		}
	}
	if port == 0 {
		t.Fatal("the collector did not start")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	// Strangers hold connections open from their own addresses.
	var held []net.Conn
	for s := range loadStrangers {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 2, byte(s+1))}}
		for range loadStrangerCon {
			if c, err := d.Dial("tcp", addr); err == nil {
				held = append(held, c)
			}
		}
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()

	// The boxes: spools first, then every push loop at once.
	type box struct {
		sp      *spool.Spool
		p       *uploader.Pusher
		records uint64
	}
	boxes := make([]*box, loadBoxes)
	var total uint64
	for i := range boxes {
		sp, err := spool.Open(filepath.Join(dir, fmt.Sprintf("box-%d.db", i+1)), spool.Options{QuotaBytes: -1, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		b := &box{sp: sp}
		for c := range loadCycles {
			f, l, err := sp.Append(context.Background(), testrecords.Cycle(c, 15+i%10, 20))
			if err != nil {
				t.Fatal(err)
			}
			b.records += l - f + 1
		}
		total += b.records
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(i+1))}}
		client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 1}}
		b.p, err = uploader.New(uploader.Options{Spool: sp, Client: client, Collector: "http://" + addr,
			BatchMaxBytes: 8 << 10, BackoffMin: 50 * time.Millisecond, BackoffMax: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		boxes[i] = b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	runCtx, stop := context.WithCancel(ctx)
	for _, b := range boxes {
		wg.Add(1)
		go func() { defer wg.Done(); b.p.Run(runCtx) }()
	}
	for _, b := range boxes {
		for {
			st, err := b.sp.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if st.Entries == 0 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("not delivered in time: %+v; push loop %+v", st, b.p.Status())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	took := time.Since(start)
	stop()
	wg.Wait()
	// The stranger connections the collector kept (per-peer cap 4).
	kept := 0
	for _, c := range held {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				kept++
			}
		}
	}
	var uploads, failures uint64
	for _, b := range boxes {
		uploads += b.p.Status().Uploads
		failures += b.p.Status().Failures
	}

	// Stop the collector; read its peak RSS; check the store.
	stdin.Write([]byte("\n"))
	var hwm int64
	for out.Scan() {
		if f := strings.Fields(out.Text()); len(f) == 2 && f[0] == "VMHWM" {
			hwm, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("collector: %v", err)
	}
	t.Logf("%d boxes, %d records in %d uploads (%d failed attempts) in %v: %.0f uploads/s, %.0f records/s; strangers held %d of %d connections; collector peak RSS %d MiB",
		loadBoxes, total, uploads, failures, took.Round(time.Millisecond), float64(uploads)/took.Seconds(), float64(total)/took.Seconds(), kept, len(held), hwm>>20)
	if kept > loadStrangers*4 {
		t.Errorf("strangers held %d connections, more than 4 per address", kept)
	}
	if hwm <= 0 || hwm > 512<<20 {
		t.Errorf("collector peak RSS %d MiB, want under 512 MiB", hwm>>20)
	}
	st, err := collector.Open(filepath.Join(dir, "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, b := range boxes {
		checkSpoolExactlyOnce(t, st, fmt.Sprintf("box-%d", i+1), b.sp.ID(), 0, b.records)
	}
	if b, _ := json.Marshal(boxes[0].p.Status()); t.Failed() {
		t.Logf("box-1's push loop: %s", b)
	}
}
