package cycles_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/cycles"
	"github.com/surveybox/surveybox/internal/testrecords"
	"github.com/surveybox/surveybox/proto/push"
)

// TestReadOrderRangeCorrupt: cycles come back in stored order whatever
// the number of workers, the range selects by start time, and a corrupt
// entry is yielded with its error without stopping the rest.
func TestReadOrderRangeCorrupt(t *testing.T) {
	st, err := collector.Open(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var entries []push.Entry
	seq := uint64(0)
	for i := range 60 {
		b := testrecords.Cycle(i, 3, 2)
		data := testrecords.Encode(t, &b, i%2 == 0)
		if i == 30 {
			data = []byte{1, 0, 5} // a header that does not decode
		}
		entries = append(entries, push.Entry{FirstSeq: seq + 1, LastSeq: seq + 5, Data: data})
		seq += 5
	}
	if _, err := st.Put("box", 7, collector.SourceUpload, entries); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := testrecords.Cycle(0, 0, 0).Started
	for _, workers := range []int{1, 2, 7} {
		var got []uint64
		bad := 0
		for c, err := range cycles.Read(ctx, st, "box", cycles.Options{Workers: workers, IncludeCorrupt: true}) {
			if err != nil {
				t.Fatal(err)
			}
			if c.Err != nil {
				bad++
				continue
			}
			if want := t0.Add(time.Duration(len(got)+bad) * 30 * time.Second); !c.Batch.Started.Equal(want) || len(c.Batch.BSS) != 3 {
				t.Errorf("workers %d: cycle %d started %s with %d BSS", workers, len(got), c.Batch.Started, len(c.Batch.BSS))
			}
			got = append(got, c.LastSeq)
		}
		if len(got) != 59 || bad != 1 {
			t.Errorf("workers %d: %d cycles, %d bad", workers, len(got), bad)
		}
	}
	r := cycles.Range{From: t0.Add(10 * 30 * time.Second), To: t0.Add(20 * 30 * time.Second)}
	plan, err := cycles.Survey(ctx, st, "box", r)
	if err != nil || plan.Cycles != 10 || plan.Corrupt != 1 || !plan.First.Equal(r.From) {
		t.Errorf("survey %+v, %v", plan, err)
	}
	n := 0
	for c, err := range cycles.Read(ctx, st, "box", cycles.Options{Range: r}) {
		if err != nil || !r.Contains(c.Started) {
			t.Fatalf("%v %s", err, c.Started)
		}
		n++
	}
	if n != 10 {
		t.Errorf("range: %d cycles", n)
	}
	// Stopping early, and a cancelled context.
	for range cycles.Read(ctx, st, "box", cycles.Options{}) {
		break
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	var last error
	for _, err := range cycles.Read(cctx, st, "box", cycles.Options{}) {
		last = err
	}
	if !errors.Is(last, context.Canceled) {
		t.Errorf("cancelled: %v", last)
	}
}
