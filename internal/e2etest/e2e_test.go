package e2etest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tailscale.com/tsnet"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/config"
	"github.com/surveybox/surveybox/internal/tailtest"
	"github.com/surveybox/surveybox/internal/testrecords"
	"github.com/surveybox/surveybox/proto/push"
	"github.com/surveybox/surveybox/pullapi"
	"github.com/surveybox/surveybox/spool"
	"github.com/surveybox/surveybox/tailnet"
	"github.com/surveybox/surveybox/uploader"
)

func TestMain(m *testing.M) {
	tailtest.Init()
	if os.Getenv(childEnv) != "" {
		os.Exit(childBox())
	}
	if dir := os.Getenv(loadCollector); dir != "" {
		os.Exit(loadCollectorMain(dir))
	}
	os.Exit(m.Run())
}

// testNet is a test tailnet with a box and a collector node.
type testNet struct {
	ctl            *tailtest.Control
	box, collector *tsnet.Server
	store          *collector.Store
	handler        *collector.Handler
	sp             *spool.Spool
}

func newTailnet(t *testing.T, ctx context.Context) *testNet {
	t.Helper()
	tn := &testNet{ctl: tailtest.StartControl(t)}
	tn.collector = tn.ctl.StartNode(t, ctx, "collector", "tag:surveyops")
	tn.box = tn.ctl.StartNode(t, ctx, "box", "tag:surveybox")
	var err error
	tn.store, err = collector.Open(filepath.Join(t.TempDir(), "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tn.store.Close() })
	lc, err := tn.collector.LocalClient()
	if err != nil {
		t.Fatal(err)
	}
	tn.handler = &collector.Handler{Store: tn.store, WhoIs: lc, Allow: tailnet.Policy{Tags: []string{"tag:surveybox"}}}
	tn.sp = openSpool(t, filepath.Join(t.TempDir(), "spool.db"))
	return tn
}

func openSpool(t testing.TB, path string) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(path, spool.Options{QuotaBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

// serve serves h on node's port until the returned stop is called.
func serve(t testing.TB, node *tsnet.Server, addr string, h http.Handler) (stop func()) {
	t.Helper()
	ln, err := node.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(ln)
	var once sync.Once
	stop = func() { once.Do(func() { hs.Close(); ln.Close() }) }
	t.Cleanup(stop)
	return stop
}

func (tn *testNet) pusher(t *testing.T) *uploader.Pusher {
	p, err := uploader.New(uploader.Options{
		Spool: tn.sp, Client: tn.box.HTTPClient(), Collector: "http://collector:8080",
		BatchMaxBytes: 16 << 10, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		RequestTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func runPusher(t *testing.T, ctx context.Context, p *uploader.Pusher) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("pusher: %v", err)
		}
	})
}

func appendCycles(t testing.TB, sp *spool.Spool, from, n int) (records uint64) {
	t.Helper()
	for i := from; i < from+n; i++ {
		b := testrecords.Cycle(i, 5+i%11, i%3*10)
		f, l, err := sp.Append(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		records += l - f + 1
	}
	return records
}

// waitDelivered waits until the collector holds want records for box and
// the spool is empty.
func waitDelivered(t *testing.T, ctx context.Context, st *collector.Store, sp *spool.Spool, box string, want uint64) collector.BoxStats {
	t.Helper()
	for {
		bs, err := st.Box(box)
		if err != nil {
			t.Fatal(err)
		}
		ss, err := sp.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if bs.Records >= want && ss.Entries == 0 {
			return bs
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for delivery: collector has %d of %d records, spool %d entries", bs.Records, want, ss.Entries)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// checkExactlyOnce checks that the store holds sequence numbers 1..want
// for box, each once, and that every entry decodes.
func checkExactlyOnce(t *testing.T, st *collector.Store, box string, want uint64) {
	t.Helper()
	next := uint64(1)
	for e, err := range st.Entries(box, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if e.FirstSeq != next {
			t.Fatalf("entry %d-%d, want it to start at %d", e.FirstSeq, e.LastSeq, next)
		}
		b, err := e.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if n := uint64(max(b.Records(), 1)); n != e.LastSeq-e.FirstSeq+1 {
			t.Fatalf("entry %d-%d decodes to %d records", e.FirstSeq, e.LastSeq, n)
		}
		next = e.LastSeq + 1
	}
	if next-1 != want {
		t.Fatalf("store ends at %d, want %d", next-1, want)
	}
	bs, _ := st.Box(box)
	if bs.Records != want || bs.Missing != 0 {
		t.Fatalf("box stats %+v, want %d records, none missing", bs, want)
	}
}

func TestHappyPath(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tn := newTailnet(t, ctx)
	serve(t, tn.collector, ":8080", tn.handler)
	p := tn.pusher(t)
	runPusher(t, ctx, p)

	var want uint64
	for round := range 5 { // appends while the loop runs, and in bursts
		want += appendCycles(t, tn.sp, round*10, 10)
		time.Sleep(30 * time.Millisecond)
	}
	bs := waitDelivered(t, ctx, tn.store, tn.sp, "box", want)
	checkExactlyOnce(t, tn.store, "box", want)
	if bs.Duplicates != 0 {
		t.Errorf("%d duplicates on a clean path", bs.Duplicates)
	}
	st := p.Status()
	ss, _ := tn.sp.Stats()
	if st.AckedSeq != want || ss.LastAck != want || st.Records != want {
		t.Errorf("status %+v, spool last ack %d; want all %d acknowledged", st, ss.LastAck, want)
	}
	t.Logf("%d records in %d uploads, %d bytes on the wire (%.1f B/record)", want, st.Uploads, st.Bytes, float64(st.Bytes)/float64(want))
}

// lossyAcks stores the upload but answers 502 to the first n requests, as
// if the acknowledgement was lost on the way back.
type lossyAcks struct {
	h http.Handler
	n atomic.Int64
}

func (l *lossyAcks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if l.n.Add(-1) >= 0 {
		rec := &discard{header: http.Header{}}
		l.h.ServeHTTP(rec, r)
		http.Error(w, "ack lost", http.StatusBadGateway)
		return
	}
	l.h.ServeHTTP(w, r)
}

type discard struct {
	header http.Header
	code   int
}

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(c int)           { d.code = c }

func TestCollectorDownAndBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tn := newTailnet(t, ctx)
	p := tn.pusher(t)
	runPusher(t, ctx, p)

	// Collector down: nothing listens on :8080.
	want := appendCycles(t, tn.sp, 0, 20)
	deadline := time.Now().Add(5 * time.Second)
	for p.Status().Failures < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if st := p.Status(); st.Failures < 3 || st.Uploads != 0 || st.LastError == "" {
		t.Fatalf("with the collector down: %+v", st)
	}
	if ss, _ := tn.sp.Stats(); ss.Records != want {
		t.Fatalf("spool holds %d records, want %d (nothing acknowledged)", ss.Records, want)
	}
	t.Logf("collector down: %d failures, last error %q", p.Status().Failures, p.Status().LastError)

	// Back, but the first acknowledgements get lost: the box must send
	// again and the collector must store nothing twice.
	want += appendCycles(t, tn.sp, 20, 10)
	lossy := &lossyAcks{h: tn.handler}
	lossy.n.Store(3)
	stop := serve(t, tn.collector, ":8080", lossy)
	want += appendCycles(t, tn.sp, 30, 10)
	waitDelivered(t, ctx, tn.store, tn.sp, "box", want)
	checkExactlyOnce(t, tn.store, "box", want)
	bs, _ := tn.store.Box("box")
	if bs.Duplicates == 0 {
		t.Errorf("lost acknowledgements caused no redelivery? %+v", bs)
	}
	t.Logf("redelivered and skipped: %d entries", bs.Duplicates)

	// Down again for a while, then back.
	stop()
	want += appendCycles(t, tn.sp, 40, 10)
	time.Sleep(300 * time.Millisecond)
	serve(t, tn.collector, ":8080", tn.handler)
	waitDelivered(t, ctx, tn.store, tn.sp, "box", want)
	checkExactlyOnce(t, tn.store, "box", want)
}

func TestAuthorization(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tn := newTailnet(t, ctx)
	serve(t, tn.collector, ":8080", tn.handler)
	boxLC, err := tn.box.LocalClient()
	if err != nil {
		t.Fatal(err)
	}
	appendCycles(t, tn.sp, 0, 3)
	serve(t, tn.box, ":80", pullapi.NewHandler(pullapi.Options{
		Spool: tn.sp, WhoIs: boxLC, Version: "test",
		Operators: config.Operators{Tags: []string{"tag:surveyops"}, Users: []string{"alice@example.com"}},
	}))
	// An untagged stranger, and a tagged machine that is not an operator.
	mallory := tn.ctl.StartNode(t, ctx, "mallory")
	other := tn.ctl.StartNode(t, ctx, "other", "tag:other")

	get := func(node *tsnet.Server, url string) int {
		resp, err := node.HTTPClient().Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, path := range []string{"/v1/status", "/v1/observations?after=0", "/metrics"} {
		if c := get(tn.collector, "http://box"+path); c != 200 {
			t.Errorf("operator (tag:surveyops) GET %s: %d, want 200", path, c)
		}
		if c := get(mallory, "http://box"+path); c != 403 {
			t.Errorf("stranger GET %s: %d, want 403", path, c)
		}
		if c := get(other, "http://box"+path); c != 403 {
			t.Errorf("tag:other GET %s: %d, want 403", path, c)
		}
	}

	// The collector accepts only boxes (tag:surveybox).
	entries, err := tn.sp.Read(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	body := push.Append(nil, tn.sp.ID(), uploader.PushEntries(entries))
	post := func(node *tsnet.Server) int {
		resp, err := node.HTTPClient().Post("http://collector:8080"+push.UploadPath, push.ContentType, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := post(mallory); c != 403 {
		t.Errorf("stranger upload: %d, want 403", c)
	}
	if c := post(other); c != 403 {
		t.Errorf("tag:other upload: %d, want 403", c)
	}
	if boxes, _ := tn.store.Boxes(); len(boxes) != 0 {
		t.Errorf("refused uploads stored something: %+v", boxes)
	}
	if c := post(tn.box); c != 200 {
		t.Errorf("box upload: %d, want 200", c)
	}
	// The box is named by WhoIs, not by anything it says: its node name.
	if boxes, _ := tn.store.Boxes(); len(boxes) != 1 || boxes[0].Box != "box" {
		t.Errorf("stored under %+v, want box", boxes)
	}
}

func TestMalformedAndOversized(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tn := newTailnet(t, ctx)
	tn.handler.MaxUploadBytes = 32 << 10
	serve(t, tn.collector, ":8080", tn.handler)
	appendCycles(t, tn.sp, 0, 4)
	entries, err := tn.sp.Read(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	good := push.Append(nil, tn.sp.ID(), uploader.PushEntries(entries))
	if len(good) > 32<<10 {
		t.Fatalf("fixture too large: %d", len(good))
	}
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-10] ^= 0xff // inside the last batch's deflate data
	gap := push.Append(nil, tn.sp.ID(), uploader.PushEntries([]spool.Entry{entries[0], entries[2]}))
	badCount := push.Append(nil, tn.sp.ID(), uploader.PushEntries(entries[:1]))
	badCount[15]++ // the first entry's span (magic 4, version, spool ID 8, count, first seq)
	// Version 1 (before spool IDs): the same framing without the ID.
	v1 := append([]byte("SBUP\x01"), good[5+8:]...)
	noID := bytes.Clone(good)
	clear(noID[5 : 5+8])
	cases := map[string][]byte{
		"empty":          {},
		"garbage":        []byte("hello, collector"),
		"json":           []byte(`{"entries":[]}`),
		"version 9":      append([]byte("SBUP\x09"), good[5:]...),
		"version 1":      v1,
		"spool ID 0":     noID,
		"truncated":      good[:len(good)-7],
		"trailing":       append(bytes.Clone(good), 0),
		"not contiguous": gap,
	}
	postAck := func(body []byte) push.Ack {
		t.Helper()
		resp, err := tn.box.HTTPClient().Post("http://collector:8080"+push.UploadPath, push.ContentType, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ack push.Ack
		if err := json.NewDecoder(resp.Body).Decode(&ack); err != nil || resp.StatusCode != 200 {
			t.Fatalf("upload: %s, %v", resp.Status, err)
		}
		return ack
	}
	post := func(body []byte) (int, string) {
		resp, err := tn.box.HTTPClient().Post("http://collector:8080"+push.UploadPath, push.ContentType, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(msg)
	}
	for name, body := range cases {
		if c, msg := post(body); c != 400 {
			t.Errorf("%s: %d %s, want 400", name, c, msg)
		} else {
			t.Logf("%s: 400 %s", name, bytes.TrimSpace([]byte(msg)))
		}
	}
	if _, msg := post(v1); !bytes.Contains([]byte(msg), []byte("version 1 upload without a spool ID")) {
		t.Errorf("version 1: %q does not say why", msg)
	}
	big := make([]byte, 40<<10)
	copy(big, good)
	if c, _ := post(big); c != 413 {
		t.Errorf("oversized: %d, want 413", c)
	}
	// Oversized without a Content-Length (chunked): still 413.
	req, _ := http.NewRequest("POST", "http://collector:8080"+push.UploadPath, io.MultiReader(bytes.NewReader(big)))
	req.ContentLength = -1
	if resp, err := tn.box.HTTPClient().Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != 413 {
		t.Errorf("oversized, chunked: %d, want 413", resp.StatusCode)
	}
	if boxes, _ := tn.store.Boxes(); len(boxes) != 0 {
		t.Fatalf("rejected uploads stored something: %+v", boxes)
	}
	// A sound upload carrying an entry whose data is not the batch its
	// range says (corrupt on the box's card, or newer software): the rest
	// is stored, that entry is kept apart and acknowledged too, so one bad
	// entry never blocks delivery.
	if ack := postAck(badCount); ack.Quarantined != 1 || ack.Stored != 0 || ack.AckedSeq != entries[0].LastSeq+1 {
		t.Errorf("wrong span: ack %+v, want the entry quarantined and acknowledged", ack)
	}
	if ack := postAck(corrupt); ack.Quarantined != 1 || ack.Stored != len(entries)-1 || ack.AckedSeq != entries[len(entries)-1].LastSeq {
		t.Errorf("corrupt data: ack %+v, want %d stored and 1 quarantined", ack, len(entries)-1)
	}
	if ack := postAck(good); ack.Stored != 1 || ack.Duplicates != len(entries)-1 {
		t.Errorf("good upload after the corrupt one: ack %+v", ack)
	}
	if ack := postAck(good); ack.AckedSeq != entries[len(entries)-1].LastSeq || ack.Stored != 0 || ack.Duplicates != len(entries) {
		t.Errorf("redelivery ack %+v", ack)
	}
	if boxes, _ := tn.store.Boxes(); len(boxes) != 1 || boxes[0].Quarantined != 2 || boxes[0].Entries != uint64(len(entries)) {
		t.Errorf("store: %+v; want %d entries and 2 quarantined", boxes, len(entries))
	}
}

var _ = net.Listen

// checkSpoolExactlyOnce checks that the store holds sequence numbers
// 1..want of box's spool id, each once, and that entry k is spooled cycle
// from+k (by its start time), so no spool's records stand in for
// another's.
func checkSpoolExactlyOnce(t *testing.T, st *collector.Store, box string, id uint64, from int, want uint64) {
	t.Helper()
	next, k := uint64(1), 0
	for e, err := range st.SpoolEntries(box, id, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Spool != id || e.FirstSeq != next {
			t.Fatalf("spool %016x: entry %d-%d of spool %016x, want it to start at %d", id, e.FirstSeq, e.LastSeq, e.Spool, next)
		}
		b, err := e.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if n := uint64(max(b.Records(), 1)); n != e.LastSeq-e.FirstSeq+1 {
			t.Fatalf("spool %016x: entry %d-%d decodes to %d records", id, e.FirstSeq, e.LastSeq, n)
		}
		if w := testrecords.Cycle(from+k, 0, 0).Started; !b.Started.Equal(w) {
			t.Fatalf("spool %016x: entry %d-%d is the cycle of %v, want %v", id, e.FirstSeq, e.LastSeq, b.Started, w)
		}
		next, k = e.LastSeq+1, k+1
	}
	if next-1 != want {
		t.Fatalf("spool %016x: store ends at %d, want %d", id, next-1, want)
	}
}

// TestSpoolStartsOver: the box's spool is replaced by a new file (SD card
// re-flashed, /perm lost), which numbers from 1 again under a new ID, and
// the box uploads under the same node name. Every record of both spools
// must be stored exactly once: the new spool's are not duplicates of the
// old one's, nor conflicts.
func TestSpoolStartsOver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tn := newTailnet(t, ctx)
	serve(t, tn.collector, ":8080", tn.handler)

	old := tn.sp
	p := tn.pusher(t)
	pctx, pcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	wantOld := appendCycles(t, old, 0, 20)
	waitDelivered(t, ctx, tn.store, old, "box", wantOld)
	pcancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}

	// A new spool file: sequence numbers from 1 again. Cycles 33.. have the
	// record counts of cycles 0.. (5+i%11 BSS, i%3*10 channels), so the
	// first 20 take exactly the old spool's sequence ranges; 10 more go
	// past them.
	tn.sp = openSpool(t, filepath.Join(t.TempDir(), "spool.db"))
	if tn.sp.ID() == old.ID() {
		t.Fatal("new spool has the old one's ID")
	}
	runPusher(t, ctx, tn.pusher(t))
	wantNew := appendCycles(t, tn.sp, 33, 30)
	bs := waitDelivered(t, ctx, tn.store, tn.sp, "box", wantOld+wantNew)

	checkSpoolExactlyOnce(t, tn.store, "box", old.ID(), 0, wantOld)
	checkSpoolExactlyOnce(t, tn.store, "box", tn.sp.ID(), 33, wantNew)
	if bs.Records != wantOld+wantNew || bs.Duplicates != 0 || bs.Missing != 0 || len(bs.Spools) != 2 ||
		uint64(bs.Spool) != tn.sp.ID() || bs.HighSeq != wantNew {
		t.Fatalf("box stats %+v; want %d+%d records in 2 spools, none duplicate or missing", bs, wantOld, wantNew)
	}
	n := 0
	for _, err := range tn.store.Entries("box", 0) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 50 {
		t.Fatalf("store holds %d entries of box, want 20+30", n)
	}
	t.Logf("spool %016x: %d records, then spool %016x: %d records, all stored", old.ID(), wantOld, tn.sp.ID(), wantNew)
}
