package scanloop

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/surveybox/surveybox/spool"
	"github.com/surveybox/surveybox/survey"
)

// TestSpoolSink commits snapshots of real captured scan results and reads
// them back from the spool.
func TestSpoolSink(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "survey", "testdata", "capture", "scan-standard.nl"))
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := survey.UnmarshalMessages(raw)
	if err != nil {
		t.Fatal(err)
	}
	bsses, _ := survey.DecodeScan(msgs)
	if len(bsses) == 0 {
		t.Fatal("no BSSes in the capture")
	}

	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{QuotaBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	sink := Sink(sp, false, slog.New(slog.DiscardHandler))
	now := time.Now()
	ctx := context.Background()
	sink(ctx, nil, survey.Snapshot{Cycle: 1, Own: true, Result: survey.ScanResult{BSSes: bsses, Triggered: true, Started: now, Finished: now}})
	sink(ctx, nil, survey.Snapshot{Result: survey.ScanResult{BSSes: bsses[:1]}, Err: context.DeadlineExceeded})

	entries, err := sp.Read(ctx, 0, 1<<20)
	if err != nil || len(entries) != 2 {
		t.Fatalf("Read = %d entries, %v; want 2", len(entries), err)
	}
	b, err := entries[0].Decode()
	if err != nil {
		t.Fatal(err)
	}
	if len(b.BSS) != len(bsses) || !b.Triggered || b.BSS[0].BSSID != bsses[0].Record().BSSID {
		t.Fatalf("first batch: %d BSS, triggered %v", len(b.BSS), b.Triggered)
	}
	b2, err := entries[1].Decode()
	if err != nil {
		t.Fatal(err)
	}
	if len(b2.Problems) != 1 || len(b2.BSS) != 1 {
		t.Fatalf("second batch: problems %q, %d BSS; want the scan error and 1 BSS", b2.Problems, len(b2.BSS))
	}
}

func TestCounters(t *testing.T) {
	var c Counters
	t0 := time.Now()
	c.cycle(survey.Snapshot{Own: true, Result: survey.ScanResult{Started: t0, Finished: t0.Add(3 * time.Second)}}, survey.Stats{TriggerBusy: 1}, survey.Stats{})
	c.cycle(survey.Snapshot{Own: true, Err: context.DeadlineExceeded, Result: survey.ScanResult{Started: t0, Finished: t0.Add(time.Second)}}, survey.Stats{TriggerBusy: 2, Redials: 1}, survey.Stats{})
	c.cycle(survey.Snapshot{}, survey.Stats{TriggerBusy: 1}, survey.Stats{TriggerBusy: 2, Redials: 1}) // a new scanner after a failure
	got := c.Snapshot()
	if got.Cycles != 2 || got.FailedCycles != 1 || got.FollowUps != 1 || got.MaxCycle != 3*time.Second ||
		got.LastCycle != time.Second || got.Scanner.TriggerBusy != 3 || got.Scanner.Redials != 1 {
		t.Errorf("counts %+v", got)
	}
	var none *Counters
	none.cycle(survey.Snapshot{Own: true}, survey.Stats{}, survey.Stats{}) // no counters: no panic
}
