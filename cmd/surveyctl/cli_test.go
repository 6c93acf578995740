package main

// End-to-end tests of the README's operator commands (collect, pull,
// export) as commands: run() with the arguments an operator types, against
// an in-process tailnet (internal/tailtest: testcontrol + DERP).

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/config"
	"github.com/surveybox/surveybox/internal/syncbuf"
	"github.com/surveybox/surveybox/internal/tailtest"
	"github.com/surveybox/surveybox/internal/testrecords"
	"github.com/surveybox/surveybox/pullapi"
	"github.com/surveybox/surveybox/spool"
	"github.com/surveybox/surveybox/uploader"
	"tailscale.com/tsnet"
)

func TestMain(m *testing.M) {
	tailtest.Init()
	os.Exit(m.Run())
}

// syncBuffer collects output from several goroutines.
type syncBuffer = syncbuf.Buffer

// cli runs surveyctl with args and returns its exit code, stdout and stderr.
func cli(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr syncBuffer
	code := run(ctx, args, &stdout, &stderr)
	t.Logf("surveyctl %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	return code, stdout.String(), stderr.String()
}

// counts is what a set of spooled cycles holds.
type counts struct{ records, bss, channels, cycles int }

// appendCycles appends cycles from..from+n-1 (never empty) to sp.
func appendCycles(t *testing.T, sp *spool.Spool, from, n int) (c counts) {
	t.Helper()
	for i := from; i < from+n; i++ {
		b := testrecords.Cycle(i, 4+i%5, i%2*6)
		first, last, err := sp.Append(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		if last-first+1 != uint64(b.Records()) {
			t.Fatalf("cycle %d: sequences %d-%d for %d records", i, first, last, b.Records())
		}
		c.records += b.Records()
		c.bss += len(b.BSS)
		c.channels += len(b.Channels)
		c.cycles++
	}
	return c
}

func (c counts) add(o counts) counts {
	return counts{c.records + o.records, c.bss + o.bss, c.channels + o.channels, c.cycles + o.cycles}
}

// pushAll runs the box's push loop from its node to the collector at
// http://collector:8080 until the spool is empty and acknowledged up to
// records, failing the test if the command under test (name, its exit code
// on done, its stderr in log) exits first. stop ends the push loop.
func pushAll(t *testing.T, ctx context.Context, box *tsnet.Server, sp *spool.Spool, batchMaxBytes, records int,
	name string, done <-chan int, log fmt.Stringer) (p *uploader.Pusher, stop func()) {
	t.Helper()
	p, err := uploader.New(uploader.Options{
		Spool: sp, Client: box.HTTPClient(), Collector: "http://collector:8080", BatchMaxBytes: batchMaxBytes,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond, RequestTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	pushCtx, stopPush := context.WithCancel(ctx)
	pushDone := make(chan error, 1)
	go func() { pushDone <- p.Run(pushCtx) }()
	stop = func() {
		stopPush()
		if err := <-pushDone; !errors.Is(err, context.Canceled) {
			t.Errorf("uploader: %v", err)
		}
	}
	for {
		st, err := sp.Stats()
		if err != nil {
			stop()
			t.Fatal(err)
		}
		if st.Entries == 0 && st.LastAck == uint64(records) {
			return p, stop
		}
		select {
		case code := <-done:
			stop()
			t.Fatalf("%s exited early with %d:\n%s", name, code, log.String())
		case <-ctx.Done():
			stop()
			t.Fatalf("waiting for delivery: spool %+v, uploader %+v\n%s:\n%s", st, p.Status(), name, log.String())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func openSpool(t *testing.T) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{QuotaBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

// checkExport runs `surveyctl export -dir dir` as jsonl and csv into files
// and checks that every record of box is there exactly once: sequence
// numbers 1..want.records, each once, from source src.
func checkExport(t *testing.T, ctx context.Context, dir, box, src string, want counts) {
	t.Helper()
	out := t.TempDir()
	jl, cf := filepath.Join(out, "all.jsonl"), filepath.Join(out, "box.csv")
	if code, _, stderr := cli(t, ctx, "export", "-dir", dir, "-format", "jsonl", "-o", jl); code != 0 ||
		!strings.Contains(stderr, fmt.Sprintf("exported %d records", want.records)) {
		t.Fatalf("export jsonl: exit %d, %q; want %d records", code, stderr, want.records)
	}
	data, err := os.ReadFile(jl)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	kinds := map[string]int{}
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var r collector.ExportRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("jsonl: %v", err)
		}
		if r.Box != box || r.Source != src || (r.BSS == nil) == (r.Channel == nil) || r.CycleStarted.IsZero() {
			t.Fatalf("jsonl record %+v", r)
		}
		if seen[r.Seq] {
			t.Fatalf("jsonl: sequence %d twice", r.Seq)
		}
		seen[r.Seq] = true
		kinds[r.Kind]++
	}
	if len(seen) != want.records || kinds["bss"] != want.bss || kinds["channel"] != want.channels {
		t.Fatalf("jsonl: %d records (%v), want %d (%d bss, %d channel)", len(seen), kinds, want.records, want.bss, want.channels)
	}
	for s := uint64(1); s <= uint64(want.records); s++ {
		if !seen[s] {
			t.Fatalf("jsonl: sequence %d missing", s)
		}
	}

	// CSV (default kind: bss), limited to the box as in the README.
	if code, _, stderr := cli(t, ctx, "export", "-dir", dir, "-format", "csv", "-box", box, "-o", cf); code != 0 ||
		!strings.Contains(stderr, fmt.Sprintf("exported %d records", want.bss)) {
		t.Fatalf("export csv: exit %d, %q; want %d records", code, stderr, want.bss)
	}
	f, err := os.Open(cf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v", err)
	}
	if len(rows) != want.bss+1 {
		t.Fatalf("csv: %d rows, want a header and %d", len(rows), want.bss)
	}
	if h := rows[0]; len(h) < 4 || h[0] != "box" || h[1] != "seq" || h[3] != "bssid" {
		t.Fatalf("csv header %q", h)
	}
	csvSeqs := map[string]bool{}
	for _, r := range rows[1:] {
		if r[0] != box || r[3] == "" || csvSeqs[r[1]] {
			t.Fatalf("csv row %q (duplicate sequence: %v)", r, csvSeqs[r[1]])
		}
		csvSeqs[r[1]] = true
	}
}

// TestCollectAndExport: `surveyctl collect -allow tag:surveybox` on the
// tailnet, a box pushing to http://collector:8080, then `surveyctl export`.
func TestCollectAndExport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	ctl := tailtest.StartControl(t)
	dir := t.TempDir()

	// Any key works with testcontrol; this goes through -authkey-file.
	keyFile := filepath.Join(t.TempDir(), "collector.key")
	if err := os.WriteFile(keyFile, []byte("tskey-auth-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	collectCtx, stopCollect := context.WithCancel(ctx)
	defer stopCollect()
	var collectErr syncBuffer
	collectDone := make(chan int, 1)
	go func() {
		collectDone <- run(collectCtx, []string{"collect", "-allow", "tag:surveybox", "-dir", dir,
			"-control-url", ctl.URL, "-hostname", "collector", "-authkey-file", keyFile}, &syncBuffer{}, &collectErr)
	}()
	defer func() {
		stopCollect()
		select {
		case <-collectDone:
		case <-time.After(10 * time.Second):
			t.Error("collect did not stop")
		}
	}()

	box := ctl.StartNode(t, ctx, "box", "tag:surveybox")
	sp := openSpool(t)
	want := appendCycles(t, sp, 0, 8)
	// The box deletes only what the collector acknowledged (stored): an
	// empty spool acknowledged up to the last record means all is stored.
	// The collector's bbolt is locked while collect runs.
	p, stopPush := pushAll(t, ctx, box, sp, 1<<10, want.records, "collect", collectDone, &collectErr) // several uploads
	defer stopPush()
	if s := p.Status(); s.Records != uint64(want.records) || s.Uploads < 2 {
		t.Errorf("uploader status %+v, want %d records in several uploads", s, want.records)
	}

	// While collect runs, export says clearly that the store is locked.
	lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
	code, _, stderr := cli(t, lctx, "export", "-dir", dir, "-format", "jsonl", "-o", filepath.Join(t.TempDir(), "x"))
	lcancel()
	if code != 1 || !strings.Contains(stderr, "locked by another process") {
		t.Errorf("export while collecting: exit %d, %q", code, stderr)
	}

	stopCollect()
	select {
	case code := <-collectDone:
		if code != 0 {
			t.Fatalf("collect exited %d after cancel:\n%s", code, collectErr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("collect did not stop within 10s of cancel")
	}
	if log := collectErr.String(); !strings.Contains(log, "msg=collecting") || !strings.Contains(log, "collector: upload") {
		t.Errorf("collect's log lacks its start or the uploads:\n%s", log)
	}
	collectDone <- 0 // for the deferred wait

	checkExport(t, ctx, dir, "box", "upload", want)
}

// recordAfter wraps the pull API and remembers each request's after=.
type recordAfter struct {
	h  http.Handler
	mu sync.Mutex
	af []string
}

func (ra *recordAfter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/observations" {
		ra.mu.Lock()
		ra.af = append(ra.af, r.URL.Query().Get("after"))
		ra.mu.Unlock()
	}
	ra.h.ServeHTTP(w, r)
}

func (ra *recordAfter) afters() []string {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	return slices.Clone(ra.af)
}

// TestPullResumeAndExport: `surveyctl pull box` from a box serving the
// pull API, twice (the second fetches only what was appended since), then
// `surveyctl export`; a node that is not an operator gets 403.
func TestPullResumeAndExport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctl := tailtest.StartControl(t)
	box := ctl.StartNode(t, ctx, "box", "tag:surveybox")

	// `surveyctl pull` joins as an untagged node (it has no flag to
	// advertise tags; with Tailscale a tagged auth key would tag it), so
	// the box must list it under operators.users. testcontrol gives every
	// new untagged node its own user, user-N@fake-control.example.net, N
	// counting registrations: the box was 1, the pull node will be 2.
	operator := fmt.Sprintf("user-%d@fake-control.example.net", len(ctl.Server.AllNodes())+1)
	boxLC, err := box.LocalClient()
	if err != nil {
		t.Fatal(err)
	}
	sp := openSpool(t)
	ra := &recordAfter{h: pullapi.NewHandler(pullapi.Options{
		Spool: sp, WhoIs: boxLC, Hostname: "box", Version: "v-test",
		Operators: config.Operators{Users: []string{operator}, Tags: []string{"tag:surveyops"}},
	})}
	ln, err := box.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: ra}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	dir := t.TempDir()
	want := appendCycles(t, sp, 0, 6)
	code, _, stderr := cli(t, ctx, "pull", "box", "-dir", dir, "-control-url", ctl.URL)
	if code != 0 || !strings.Contains(stderr, fmt.Sprintf("pull box: %d cycles, %d records stored after sequence 0; now at %d", want.cycles, want.records, want.records)) {
		t.Fatalf("first pull: exit %d, %q", code, stderr)
	}
	// It was the identity we allowed: untagged, that user.
	var pullNode bool
	for _, n := range ctl.Server.AllNodes() {
		if strings.HasPrefix(n.Name, "surveyctl-pull.") {
			pullNode = true
			who, err := boxLC.WhoIs(ctx, n.Addresses[0].Addr().String())
			if err != nil || len(n.Tags) != 0 || who.UserProfile.LoginName != operator {
				t.Fatalf("pull node %s: tags %v, WhoIs %+v, %v; want untagged %s", n.Name, n.Tags, who, err, operator)
			}
		}
	}
	if !pullNode {
		t.Fatal("no surveyctl-pull node on the tailnet")
	}

	// Resume: only what was appended since is fetched.
	more := appendCycles(t, sp, 6, 4)
	code, _, stderr = cli(t, ctx, "pull", "-dir", dir, "-control-url", ctl.URL, "box") // flags before BOX too
	if code != 0 || !strings.Contains(stderr, fmt.Sprintf("pull box: %d cycles, %d records stored after sequence %d; now at %d",
		more.cycles, more.records, want.records, want.records+more.records)) {
		t.Fatalf("second pull: exit %d, %q", code, stderr)
	}
	want = want.add(more)
	if a := ra.afters(); !slices.Equal(a, []string{"0", fmt.Sprint(want.records - more.records)}) {
		t.Fatalf("observations requested after %q, want 0 then %d", a, want.records-more.records)
	}
	// Nothing new: a third pull stores nothing.
	code, _, stderr = cli(t, ctx, "pull", "box", "-dir", dir, "-control-url", ctl.URL)
	if code != 0 || !strings.Contains(stderr, fmt.Sprintf("pull box: 0 cycles, 0 records stored after sequence %d", want.records)) {
		t.Fatalf("third pull: exit %d, %q", code, stderr)
	}

	checkExport(t, ctx, dir, "box", "pull", want)

	// The box's address or name as something off the tailnet would take
	// the pull off it: an address that is not a peer's, and a name the
	// tailnet does not know (the machine's DNS could answer for it), are
	// refused before anything is sent. Before, tsnet's HTTP client dialled
	// them over the default route and reported whatever answered.
	var offTailnet atomic.Int32
	lan := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		offTailnet.Add(1)
		http.NotFound(w, r)
	}))
	defer lan.Close()
	for _, url := range []string{lan.URL, "http://nosuchbox"} {
		code, _, stderr = cli(t, ctx, "pull", "box", "-dir", dir, "-control-url", ctl.URL, "-url", url)
		if code != 1 || !strings.Contains(stderr, "not a peer on the tailnet") {
			t.Errorf("pull -url %s: exit %d, %q", url, code, stderr)
		}
	}
	if n := offTailnet.Load(); n != 0 {
		t.Errorf("%d requests left the tailnet", n)
	}

	// An operator machine identified by its tag (operators.tags) gets in too.
	tagged := t.TempDir()
	code, _, stderr = cli(t, ctx, "pull", "box", "-dir", tagged, "-control-url", ctl.URL, "-hostname", "ops", "-advertise-tags", "tag:surveyops")
	if code != 0 || !strings.Contains(stderr, fmt.Sprintf("%d records stored after sequence 0", want.records)) {
		t.Fatalf("pull by a tag:surveyops node: exit %d, %q", code, stderr)
	}

	// Another machine (its own user, not an operator) is refused.
	other := t.TempDir()
	code, _, stderr = cli(t, ctx, "pull", "box", "-dir", other, "-control-url", ctl.URL, "-hostname", "intruder")
	if code != 1 || !strings.Contains(stderr, "403 Forbidden") {
		t.Fatalf("pull by a non-operator: exit %d, %q", code, stderr)
	}
	if code, _, stderr := cli(t, ctx, "export", "-dir", other); code != 0 || !strings.Contains(stderr, "exported 0 records") {
		t.Fatalf("export after a refused pull: exit %d, %q", code, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.key")
	if err := os.WriteFile(loose, []byte("tskey-auth-x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: surveyctl <command>"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"pull"}, 2, "usage: surveyctl pull BOX"},
		{[]string{"pull", "-dir", dir}, 2, "usage: surveyctl pull BOX"},
		{[]string{"pull", "box", "extra"}, 2, `unexpected arguments ["extra"]`},
		{[]string{"pull", "no_such box"}, 1, "is not a box name"},
		{[]string{"export", "-dir", dir, "-format", "xml"}, 2, `-format must be jsonl or csv, not "xml"`},
		{[]string{"export", "-dir", dir}, 1, "nothing collected in " + dir},
		{[]string{"collect", "-dir", dir}, 2, "collect: -allow: give the boxes' tag"},
		{[]string{"collect", "-dir", dir, "-allow", "alice@example.com"}, 2, "collect: -allow: give the boxes' tag"},
		{[]string{"collect", "-dir", dir, "-allow", "tag:"}, 2, "collect: -allow: empty tag"},
		{[]string{"collect", "-dir", dir, "-allow", "tag:surveybox", "-authkey-file", loose}, 1, "must be 0600 or stricter"},
	} {
		code, stdout, stderr := cli(t, ctx, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("surveyctl %q: exit %d, stderr %q, stdout %q; want exit %d and %q", tc.args, code, stderr, stdout, tc.code, tc.want)
		}
	}
}
