package analysis

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/cycles"
	"github.com/surveybox/surveybox/internal/surveyfixture"
	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/proto/push"
)

func TestHistogramMedian(t *testing.T) {
	for _, tc := range []struct {
		vals        []int32
		lo, med, hi float64
	}{
		{[]int32{-50}, -50, -50, -50},
		{[]int32{-50, -40}, -50, -45, -40},
		{[]int32{-70, -50, -40}, -70, -50, -40},
		{[]int32{-70, -70, -70, -40}, -70, -70, -40},
		{[]int32{-61, -60, -60, -59, -59, -59}, -61, -59.5, -59},
	} {
		h := histogram{}
		for _, v := range tc.vals {
			h[v]++
		}
		lo, med, hi, ok := h.median(1)
		if !ok || lo != tc.lo || med != tc.med || hi != tc.hi {
			t.Errorf("%v: %v %v %v, want %v %v %v", tc.vals, lo, med, hi, tc.lo, tc.med, tc.hi)
		}
	}
	if _, _, _, ok := (histogram{}).median(1); ok {
		t.Error("an empty histogram has a median")
	}
}

func TestGrid(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 8, 0, 7, 0, time.UTC)
	for _, tc := range []struct {
		span  time.Duration
		width time.Duration
	}{
		{time.Hour, 30 * time.Second},
		{24 * time.Hour, 10 * time.Minute},
		{7 * 24 * time.Hour, time.Hour},
		{400 * 24 * time.Hour, 41 * time.Hour}, // past the nice widths: whole hours
	} {
		g := NewGrid(t0, t0.Add(tc.span), 240)
		if g.Width != tc.width || g.N > 240 || g.Index(t0) != 0 || g.Index(t0.Add(tc.span)) != g.N-1 {
			t.Errorf("%s: %+v", tc.span, g)
		}
	}
}

func TestVendor(t *testing.T) {
	for _, tc := range []struct {
		bssid string
		ouis  []string
		want  string
	}{
		{"00:17:f2:01:02:03", nil, "Apple"},
		{"02:17:f2:01:02:03", nil, ""}, // locally administered
		{"02:00:00:00:01:00", []string{"00:50:f2", "00:10:18"}, "Broadcom (chipset)"},
		{"a4:00:00:00:01:00", []string{"00:50:f2"}, ""},
	} {
		if got := Vendor(tc.bssid, tc.ouis); got != tc.want {
			t.Errorf("%s %v: %q, want %q", tc.bssid, tc.ouis, got, tc.want)
		}
	}
}

func build(t *testing.T, o surveyfixture.Options, opt Options) *Report {
	t.Helper()
	st, err := collector.Open(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	surveyfixture.Write(t, st, o)
	r, err := Build(context.Background(), st, o.Box, opt)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestBuild checks what the report derives from a known survey: cycles,
// the silent period, evictions, the counters' kind, BSSes that appear,
// vanish, hide or move, and weak security.
func TestBuild(t *testing.T) {
	o := surveyfixture.Default("box")
	var progress []int
	r := build(t, o, Options{Progress: func(done, total int) {
		if done == total {
			progress = append(progress, done)
		}
	}})
	// 400 cycles, 40 silent, 2 evicted
	if r.Cycles != 358 || !slices.Equal(progress, []int{358}) {
		t.Errorf("%d cycles, progress %v", r.Cycles, progress)
	}
	if r.Interval != 30*time.Second || len(r.Gaps) != 1 || r.Gaps[0].Missed != 40 {
		t.Errorf("interval %s, gaps %+v", r.Interval, r.Gaps)
	}
	if r.Store.Missing == 0 || r.Cumulative {
		t.Errorf("missing %d, cumulative %v (rises %d, drops %d)", r.Store.Missing, r.Cumulative, r.CounterRises, r.CounterDrops)
	}
	if len(r.BSS) != 40 || r.Summary.HiddenBSSes != 1 {
		t.Errorf("%d BSSes, %d hidden", len(r.BSS), r.Summary.HiddenBSSes)
	}
	if !slices.IsSortedFunc(r.BSS, compareBSS) {
		t.Error("BSSes not strongest first")
	}
	topics := map[string]int{}
	var texts []string
	for _, f := range r.Findings {
		topics[f.Topic]++
		texts = append(texts, f.Text)
	}
	if topics["security"] < 3 || topics["box"] < 3 || topics["networks"] < 3 {
		t.Errorf("findings by topic %v:\n%q", topics, texts)
	}
	if !slices.IsSortedFunc(r.Findings, func(a, b Finding) int { return int(b.Severity) - int(a.Severity) }) {
		t.Error("findings not ranked by severity")
	}
	moved := 0
	for _, x := range r.BSS {
		if len(x.PrimaryChannels) > 1 {
			moved++
		}
		if x.HasSignal && (x.MinDBm > x.MedianDBm || x.MedianDBm > x.MaxDBm || x.Share <= 0 || x.Share > 1) {
			t.Errorf("%s: %v %v %v, share %v", x.BSSID, x.MinDBm, x.MedianDBm, x.MaxDBm, x.Share)
		}
	}
	if moved != 1 {
		t.Errorf("%d BSSes changed channel, want 1", moved)
	}
	for _, c := range r.Channels {
		if c.HasShare && (c.Share < 0 || c.Share > 1 || math.IsNaN(c.Share)) {
			t.Errorf("channel %d: share %v", c.Channel, c.Share)
		}
	}

	o.Cumulative = true
	if r := build(t, o, Options{}); !r.Cumulative {
		t.Errorf("cumulative counters read as per scan (rises %d, drops %d)", r.CounterRises, r.CounterDrops)
	}
}

func TestRange(t *testing.T) {
	o := surveyfixture.Default("box")
	o.Silent, o.EvictAt = nil, nil
	from := o.Start.Add(100 * o.Interval)
	r := build(t, o, Options{Range: cycles.Range{From: from, To: from.Add(50 * o.Interval)}})
	if r.Cycles != 50 || !r.First.Equal(from) || !r.Last.Equal(from.Add(49*o.Interval)) {
		t.Errorf("%d cycles from %s to %s", r.Cycles, r.First, r.Last)
	}
}

// TestLateDelivery: a pushed cycle stored long after it ended waited on
// the box; a pulled one is counted apart. The fixture's cycles are days
// old when stored, so every pushed one is late.
func TestLateDelivery(t *testing.T) {
	o := surveyfixture.Default("box")
	r := build(t, o, Options{})
	if r.Late != r.Cycles || r.Pulled != 0 || r.LongestWait < 24*time.Hour {
		t.Errorf("late %d of %d cycles (longest %v), pulled %d", r.Late, r.Cycles, r.LongestWait, r.Pulled)
	}
	st, err := collector.Open(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Fresh cycles, stored within three intervals of their end: on time.
	now := time.Now().Add(-24 * time.Second)
	var entries []push.Entry
	for i := range 3 {
		b := batch.Batch{Started: now.Add(time.Duration(i) * 10 * time.Second), Interface: "wlan0"}
		b.Finished = b.Started.Add(2 * time.Second)
		data, err := batch.Encode(&b)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, push.Entry{FirstSeq: uint64(i + 1), LastSeq: uint64(i + 1), Data: data})
	}
	if _, err := st.Put("box", 7, collector.SourceUpload, entries[:2]); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put("box", 7, collector.SourcePull, entries[2:]); err != nil {
		t.Fatal(err)
	}
	r, err = Build(context.Background(), st, "box", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Late != 0 || r.Pulled != 1 || r.Cycles != 3 || r.LateAfter != 30*time.Second {
		t.Errorf("late %d (after %v), pulled %d of %d cycles", r.Late, r.LateAfter, r.Pulled, r.Cycles)
	}
}
