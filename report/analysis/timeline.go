package analysis

import (
	"math"
	"slices"
	"time"
)

// Grid divides the report's time span into equal buckets: timelines keep
// one aggregate per bucket, so their size does not grow with the span.
type Grid struct {
	Start time.Time
	Width time.Duration
	N     int
}

// niceWidths are the bucket widths a grid may use, so that the report can
// say "each point is 15 minutes" rather than "each point is 13m27s".
var niceWidths = []time.Duration{
	30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
	15 * time.Minute, 20 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour,
	3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// NewGrid returns a grid of at most n buckets (n >= 2) over [first, last],
// its width the smallest nice width that fits.
func NewGrid(first, last time.Time, n int) Grid {
	n = max(n, 2)
	span := last.Sub(first)
	w := niceWidths[len(niceWidths)-1]
	for _, nw := range niceWidths {
		if time.Duration(n-1)*nw >= span {
			w = nw
			break
		}
	}
	if time.Duration(n-1)*w < span { // longer than n days
		w = (span/time.Duration(n-1)/time.Hour + 1) * time.Hour
	}
	start := first.Truncate(w)
	return Grid{Start: start, Width: w, N: int(last.Sub(start)/w) + 1}
}

// Index returns t's bucket, clamped to the grid.
func (g Grid) Index(t time.Time) int {
	if g.N == 0 {
		return 0
	}
	i := int(t.Sub(g.Start) / g.Width)
	return min(max(i, 0), g.N-1)
}

// Mid returns the middle of bucket i.
func (g Grid) Mid(i int) time.Time { return g.Start.Add(time.Duration(i)*g.Width + g.Width/2) }

// Agg aggregates the samples of one bucket.
type Agg struct {
	Sum      float64
	N        int32
	Min, Max float32
}

// Mean is the average of the samples (NaN without any).
func (a Agg) Mean() float64 {
	if a.N == 0 {
		return math.NaN()
	}
	return a.Sum / float64(a.N)
}

func (a *Agg) add(v float64) {
	if a.N == 0 || float32(v) < a.Min {
		a.Min = float32(v)
	}
	if a.N == 0 || float32(v) > a.Max {
		a.Max = float32(v)
	}
	a.Sum += v
	a.N++
}

// Timeline is one Agg per grid bucket; nil until the first sample.
type Timeline []Agg

func (t *Timeline) add(g Grid, at time.Time, v float64) {
	if *t == nil {
		*t = make(Timeline, g.N)
	}
	(*t)[g.Index(at)].add(v)
}

// Ratio sums a numerator and a denominator per bucket (busy and active
// time of a channel).
type Ratio struct {
	Num, Den []float64
}

func (r *Ratio) add(g Grid, at time.Time, num, den float64) {
	if r.Num == nil {
		r.Num, r.Den = make([]float64, g.N), make([]float64, g.N)
	}
	i := g.Index(at)
	r.Num[i] += num
	r.Den[i] += den
}

// At returns bucket i's ratio, or NaN when it has no denominator.
func (r Ratio) At(i int) float64 {
	if r.Den == nil || r.Den[i] <= 0 {
		return math.NaN()
	}
	return r.Num[i] / r.Den[i]
}

// histogram counts integer values (hundredths of a dB, dBm) exactly, so a
// median costs memory per distinct value, not per sample.
type histogram map[int32]int32

func (h histogram) n() int {
	n := 0
	for _, c := range h {
		n += int(c)
	}
	return n
}

// median returns the minimum, median and maximum, each divided by scale;
// the median of an even count is the mean of the two middle values.
func (h histogram) median(scale float64) (lo, med, hi float64, ok bool) {
	n := h.n()
	if n == 0 {
		return 0, 0, 0, false
	}
	keys := make([]int32, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sortInt32(keys)
	a, b := (n-1)/2, n/2
	var va, vb int32
	seen := 0
	for _, k := range keys {
		c := int(h[k])
		if a >= seen && a < seen+c {
			va = k
		}
		if b >= seen && b < seen+c {
			vb = k
			break
		}
		seen += c
	}
	return float64(keys[0]) / scale, (float64(va) + float64(vb)) / 2 / scale, float64(keys[len(keys)-1]) / scale, true
}

func sortInt32(s []int32) { slices.Sort(s) }
