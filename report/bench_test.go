package report_test

import (
	"context"
	"io"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/cycles"
	"github.com/surveybox/surveybox/internal/surveyfixture"
	"github.com/surveybox/surveybox/report"
	"github.com/surveybox/surveybox/report/analysis"
)

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)

// heapPeak samples the live heap until stopped and returns its peak.
func heapPeak() (stop func() uint64) {
	var (
		mu   sync.Mutex
		peak uint64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			mu.Lock()
			peak = max(peak, s[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// BenchmarkReport7Days: a week of one box (150 BSSes every 30 s, about
// three million BSS observations and a channel survey per cycle, two
// silent periods) analysed and rendered. Reports the file size and the
// peak live heap.
func BenchmarkReport7Days(b *testing.B) {
	st, err := collector.Open(filepath.Join(b.TempDir(), "collector.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	o := surveyfixture.Options{
		Box: "week-box", Start: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), Interval: 30 * time.Second,
		Cycles: 7 * 24 * 120, BSS: 150, Cumulative: true,
		Silent: [][2]int{{3000, 3200}, {11000, 11500}}, EvictAt: []int{5000, 5001, 5002}, Seed: 7,
	}
	t0 := time.Now()
	n := surveyfixture.Write(b, st, o)
	bs, _ := st.Box(o.Box)
	obs := 0
	for c, err := range cycles.Read(context.Background(), st, o.Box, cycles.Options{}) {
		if err != nil {
			b.Fatal(err)
		}
		obs += len(c.Batch.BSS)
	}
	b.Logf("fixture: %d cycles, %d records (%d BSS observations), %.0f MB stored, built in %s",
		n, bs.Records, obs, float64(bs.Bytes)/1e6, time.Since(t0).Round(time.Second))
	runtime.GC()
	b.ResetTimer()
	var size int64
	var peak uint64
	for b.Loop() {
		stop := heapPeak()
		r, err := analysis.Build(context.Background(), st, o.Box, analysis.Options{})
		if err != nil {
			b.Fatal(err)
		}
		var w countWriter
		if err := report.Write(&w, r, report.Options{Version: "bench"}); err != nil {
			b.Fatal(err)
		}
		peak = max(peak, stop())
		size = w.n
	}
	b.ReportMetric(float64(size)/1e6, "MB-file")
	b.ReportMetric(float64(peak)/1e6, "MB-peak-heap")
}
