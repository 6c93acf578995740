package e2etest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/config"
	"github.com/surveybox/surveybox/internal/boltkv"
	"github.com/surveybox/surveybox/internal/testrecords"
	"github.com/surveybox/surveybox/pullapi"
	"github.com/surveybox/surveybox/spool"
)

// spoolWithDamage makes a spool of n cycles whose third batch lost the
// end of its DEFLATE data (an SD card's rot), and returns it reopened and
// that batch's range.
func spoolWithDamage(t *testing.T, n int) (*spool.Spool, [2]uint64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spool.db")
	sp, err := spool.Open(path, spool.Options{QuotaBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	var bad [2]uint64
	for i := range n {
		f, l, err := sp.Append(context.Background(), testrecords.Cycle(i, 5+i, 20))
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			bad = [2]uint64{f, l}
		}
	}
	sp.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("batches"))
		v := bk.Get(boltkv.SeqKey(bad[1]))
		return bk.Put(boltkv.SeqKey(bad[1]), append([]byte(nil), v[:len(v)-8]...))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	return openSpool(t, path), bad
}

// TestBadDataPushGoesOn: a damaged batch in the box's spool no longer
// stops delivery for good (it made every upload a 400): the push loop
// sends it as it is, the collector keeps it apart and acknowledges it,
// everything after it is delivered, and the box counts it.
func TestBadDataPushGoesOn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tn := newTailnet(t, ctx)
	tn.sp.Close()
	var bad [2]uint64
	tn.sp, bad = spoolWithDamage(t, 6)
	serve(t, tn.collector, ":8080", tn.handler)
	runPusher(t, ctx, tn.pusher(t))
	for {
		st, err := tn.sp.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Entries == 0 {
			if st.CorruptEntries != 1 {
				t.Errorf("the box counted %d corrupt entries, want 1", st.CorruptEntries)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("not delivered: %+v", st)
		case <-time.After(50 * time.Millisecond):
		}
	}
	bs, err := tn.store.Box("box")
	if err != nil {
		t.Fatal(err)
	}
	if bs.Entries != 5 || bs.Quarantined != 1 || bs.HighSeq < bad[1] {
		t.Errorf("collector: %+v; want 5 entries and batch %d-%d quarantined", bs, bad[0], bad[1])
	}
}

// TestBadDataPullGoesOn: the pull stream used to stop for good at a batch
// it could not decode; now it sends that batch as a "corrupt" line (its
// bytes kept apart by the puller) and goes on.
func TestBadDataPullGoesOn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tn := newTailnet(t, ctx) // "collector" is tag:surveyops: an operator
	tn.sp.Close()
	sp, _ := spoolWithDamage(t, 6)
	boxLC, _ := tn.box.LocalClient()
	serve(t, tn.box, ":80", pullapi.NewHandler(pullapi.Options{
		Spool: sp, WhoIs: boxLC, Operators: config.Operators{Tags: []string{"tag:surveyops"}},
	}))
	st, err := collector.Open(filepath.Join(t.TempDir(), "pulled.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := collector.Pull(ctx, tn.collector.HTTPClient(), "http://box", "box", st)
	if err != nil {
		t.Fatalf("Pull: %v (%+v)", err, res)
	}
	if res.Cycles != 5 || res.Quarantined != 1 || !res.Complete {
		t.Errorf("Pull = %+v; want 5 cycles and 1 quarantined", res)
	}
	if s, _ := sp.Stats(); s.CorruptEntries != 1 {
		t.Errorf("the box counted %d corrupt entries, want 1", s.CorruptEntries)
	}
}

// TestOversizedSingleBatch: a collector whose upload limit is below one
// stored batch gets that batch retried with backoff and a status that says
// what to change, and the batch stays on the box: before, the box retried
// it forever, saying only "413".
func TestOversizedSingleBatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tn := newTailnet(t, ctx)
	tn.handler.MaxUploadBytes = 1 << 10
	serve(t, tn.collector, ":8080", tn.handler)
	if _, _, err := tn.sp.Append(ctx, testrecords.Batch(t, 30, true)); err != nil { // one batch, well over 1 KiB
		t.Fatal(err)
	}
	p := tn.pusher(t)
	runPusher(t, ctx, p)
	for p.Status().Failures < 3 {
		if ctx.Err() != nil {
			t.Fatalf("status: %+v", p.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := p.Status(); !strings.Contains(st.LastError, "refuses one stored batch") || !strings.Contains(st.LastError, "-max-upload-bytes") {
		t.Errorf("last error %q does not say what to change", st.LastError)
	}
	if st, _ := tn.sp.Stats(); st.Entries != 1 || st.LastAck != 0 {
		t.Errorf("the batch left the box: %+v", st)
	}
}
