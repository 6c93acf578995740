// Package analysis reduces a box's stored scan cycles to what the
// operator's report shows: per-BSS statistics, channel occupancy, the
// channel survey's busy share and noise floor, timelines downsampled to a
// fixed number of buckets, the box's silent periods, and findings ranked
// for people. It makes one cheap pass over the stored headers and one
// over the decoded cycles; memory grows with the number of BSSes and
// channels seen, not with the number of observations.
package analysis

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/cycles"
	"github.com/surveybox/surveybox/wifi"
)

// DefaultBuckets is the number of time buckets of every timeline.
const DefaultBuckets = 240

// maxProblems bounds the distinct problem texts kept; the rest are
// counted together.
const maxProblems = 50

// Options tune Build.
type Options struct {
	Range cycles.Range
	// Buckets is the timelines' resolution; 0: DefaultBuckets.
	Buckets int
	// Progress, if set, hears how many of the cycles are done.
	Progress func(done, total int)
	// Workers decode cycles in parallel; 0: every core.
	Workers int
	// Now is the report's time; zero: time.Now.
	Now time.Time
}

// Report is what the operator's report shows for one box and time range.
type Report struct {
	Box       string
	Generated time.Time
	Range     cycles.Range
	// First and Last are the first and last cycle's start in the range.
	First, Last time.Time
	Cycles      int
	// Interval is the median time between consecutive cycles.
	Interval time.Duration
	Gaps     []Gap
	// Store is what the collector's store counts for the box (all
	// time, not only the range): evictions are Store.Missing.
	Store collector.BoxStats
	// Corrupt counts stored cycles that do not decode; Aborted and
	// EventsLost count cycles the box flagged.
	Corrupt, Aborted, EventsLost int
	// Late counts pushed cycles that reached the collector more than
	// LateAfter after they ended: the box kept them while its uplink or
	// the collector was away; LongestWait is the longest such wait.
	// Pulled counts cycles that came by surveyctl pull instead.
	Late, Pulled int
	LongestWait  time.Duration
	LateAfter    time.Duration
	// Problems are the problem texts the box's decoder reported, most
	// frequent first.
	Problems []Problem
	Grid     Grid

	BSS      []*BSS     // strongest median signal first
	Channels []*Channel // by frequency
	// Cumulative reports how the box's driver counts survey times:
	// growing from scan to scan (each scan's share is the difference
	// between consecutive cycles) or per scan.
	Cumulative bool
	// CounterRises and CounterDrops count consecutive cycles in which
	// a channel's active time grew or shrank (how Cumulative was
	// decided).
	CounterRises, CounterDrops int

	Summary  Summary
	Quietest []ChannelPick
	Findings []Finding
}

// Gap is a silent period: no cycle started between From and To.
type Gap struct {
	From, To time.Time
	// Missed estimates the cycles that would have run.
	Missed int
}

// Duration is the gap's length.
func (g Gap) Duration() time.Duration { return g.To.Sub(g.From) }

// Problem is a problem text and how often it was reported.
type Problem struct {
	Text  string
	Count int
}

// BSS is one BSSID's observations. Descriptive fields are those of its
// latest observation.
type BSS struct {
	BSSID, SSID, SSIDHex string
	Hidden               bool
	Vendor               string
	Band                 string
	Channel, FreqMHz     int
	WidthMHz, CenterMHz  int
	Center2MHz           int
	Security             string
	AKM, Pairwise        []string
	Group, GroupMgmt     string
	PMF                  string
	WPA1                 bool
	Standards            []string
	Country              string

	// Seen counts the cycles it was in; Share is Seen over the
	// report's cycles.
	Seen        int
	Share       float64
	First, Last time.Time
	// Signal statistics in dBm, over every observation with a signal.
	HasSignal                 bool
	MinDBm, MedianDBm, MaxDBm float64
	// PrimaryChannels lists every primary channel it was seen on, with
	// how many observations; more than one means it changed channel.
	PrimaryChannels []ChannelCount
	// BSS Load (when it advertises one): utilisation in percent and
	// station counts.
	HasLoad                 bool
	MedianUtil, MaxUtil     float64
	MedianStations, MaxStas float64
	Problems                int

	Signal, Util, Stations Timeline

	lastCycle int
	sig, util histogram
	stas      histogram
	chans     map[int]int
}

// ChannelCount is a primary channel (by frequency) and a count.
type ChannelCount struct {
	FreqMHz, Channel int
	Count            int
}

// Channel is one 20 MHz channel: the survey's readings and the BSSes on
// and around it.
type Channel struct {
	Band          string
	Channel, Freq int
	DFS           bool
	// Rows counts survey rows for it.
	Rows int
	// BusyMs and ActiveMs are the survey's busy and active time summed
	// over the range (see Report.Cumulative); Share is their ratio.
	HasShare         bool
	BusyMs, ActiveMs float64
	Share            float64
	HasNoise         bool
	NoiseDBm         float64 // median noise floor
	// CoChannel counts BSSes whose primary channel this is; Overlapping
	// those on another primary whose width covers part of it.
	CoChannel, Overlapping int
	// Rank is its place among the candidates of its band and DFS class
	// (1: least busy), 0 when not ranked.
	Rank int

	// Busy is the busy share per time bucket; Noise the noise floor.
	Busy  Ratio
	Noise Timeline

	noise        histogram
	abs, delta   [2]float64 // busy, active
	absT, deltaT Ratio
	prevA, prevB uint64
	prevSpool    uint64
	havePrev     bool
}

// ChannelPick is the least-busy channels of one band and DFS class.
type ChannelPick struct {
	Band     string
	DFS      bool
	Channels []*Channel
}

// Build reads box's cycles in opt.Range from st and analyses them.
func Build(ctx context.Context, st *collector.Store, box string, opt Options) (*Report, error) {
	stats, err := st.Box(box)
	if err != nil {
		return nil, err
	}
	if len(stats.Spools) == 0 {
		return nil, fmt.Errorf("no data for box %q in %s", box, st.Path())
	}
	plan, err := cycles.Survey(ctx, st, box, opt.Range)
	if err != nil {
		return nil, err
	}
	if plan.Cycles == 0 {
		return nil, fmt.Errorf("box %s has no scan cycles in the range %s", box, describeRange(opt.Range))
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	b := newBuilder(NewGrid(plan.First, plan.Last, cmp.Or(opt.Buckets, DefaultBuckets)))
	b.r.Box, b.r.Generated, b.r.Range, b.r.Store = box, now, opt.Range, stats
	b.r.Corrupt = plan.Corrupt
	done := 0
	for c, err := range cycles.Read(ctx, st, box, cycles.Options{Range: opt.Range, Workers: opt.Workers}) {
		if err != nil {
			return nil, err
		}
		b.add(c)
		done++
		if opt.Progress != nil {
			opt.Progress(done, plan.Cycles)
		}
	}
	b.finish()
	return b.r, nil
}

func describeRange(r cycles.Range) string {
	f := func(t time.Time) string {
		if t.IsZero() {
			return "…"
		}
		return t.UTC().Format(time.RFC3339)
	}
	return f(r.From) + " – " + f(r.To)
}

type builder struct {
	r        *Report
	bss      map[string]*BSS
	chans    map[int]*Channel
	starts   []time.Time
	waits    []time.Duration // from each pushed cycle's end to its arrival
	problems map[string]int
	other    int
}

func newBuilder(g Grid) *builder {
	return &builder{
		r:        &Report{Grid: g},
		bss:      map[string]*BSS{},
		chans:    map[int]*Channel{},
		problems: map[string]int{},
	}
}

func (b *builder) problem(text string) {
	if _, ok := b.problems[text]; ok || len(b.problems) < maxProblems {
		b.problems[text]++
		return
	}
	b.other++
}

// LateAfter is how long after a cycle ends its push may take before the
// report counts it as delivered late (buffered on the box): three cycle
// intervals, at least 30 s. The box pushes each cycle as soon as it is
// stored, so a push that waited that long missed several chances: the
// uplink or the collector was away.
func LateAfter(interval time.Duration) time.Duration {
	return max(3*interval, 30*time.Second)
}

func (b *builder) add(c cycles.Cycle) {
	if c.Err != nil {
		b.r.Corrupt++
		b.problem("a stored cycle does not decode")
		return
	}
	bt := &c.Batch
	t := bt.Started
	b.starts = append(b.starts, t)
	b.r.Cycles++
	switch {
	case c.Pulled:
		b.r.Pulled++
	case !c.Received.IsZero() && !bt.Finished.IsZero():
		// Judged in finishTime, once the interval is known.
		b.waits = append(b.waits, c.Received.Sub(bt.Finished))
	}
	if bt.Aborted {
		b.r.Aborted++
	}
	if bt.EventsLost {
		b.r.EventsLost++
	}
	for _, p := range bt.Problems {
		b.problem("cycle: " + p)
	}
	for i := range bt.BSS {
		b.addBSS(&bt.BSS[i], t)
	}
	for i := range bt.Channels {
		b.addChannel(&bt.Channels[i], c.Spool, t)
	}
}

func (b *builder) addBSS(r *wifi.Record, t time.Time) {
	g := b.r.Grid
	x := b.bss[r.BSSID]
	if x == nil {
		x = &BSS{BSSID: r.BSSID, Vendor: Vendor(r.BSSID, r.VendorOUIs), sig: histogram{}, chans: map[int]int{}}
		b.bss[r.BSSID] = x
	}
	if !t.Before(x.Last) {
		x.SSID, x.SSIDHex, x.Hidden = r.SSID, r.SSIDHex, r.Hidden
		x.Band, x.Channel, x.FreqMHz = r.Band, r.Channel, r.FreqMHz
		x.WidthMHz, x.CenterMHz, x.Center2MHz = r.WidthMHz, r.CenterMHz, r.Center2MHz
		x.Security, x.AKM, x.Pairwise = r.Security, r.AKM, r.Pairwise
		x.Group, x.GroupMgmt, x.PMF, x.WPA1 = r.Group, r.GroupMgmt, r.PMF, r.WPA1
		x.Standards, x.Country = r.Standards, r.Country
		x.Last = t
	}
	if x.First.IsZero() || t.Before(x.First) {
		x.First = t
	}
	if x.lastCycle != b.r.Cycles {
		x.Seen++
		x.lastCycle = b.r.Cycles
	}
	x.chans[r.FreqMHz]++
	if r.SignalDBm != nil && !math.IsNaN(*r.SignalDBm) && !math.IsInf(*r.SignalDBm, 0) {
		v := *r.SignalDBm
		x.sig[int32(math.Round(v*100))]++
		x.Signal.add(g, t, v)
	}
	if r.Utilization != nil {
		if x.util == nil {
			x.util, x.stas = histogram{}, histogram{}
		}
		u := float64(*r.Utilization) * 100 / 255
		x.util[int32(math.Round(u*100))]++
		x.Util.add(g, t, u)
	}
	if r.Stations != nil {
		if x.util == nil {
			x.util, x.stas = histogram{}, histogram{}
		}
		x.stas[int32(*r.Stations)]++
		x.Stations.add(g, t, float64(*r.Stations))
	}
	for _, p := range r.Problems {
		x.Problems++
		b.problem("BSS record: " + p)
	}
}

func (b *builder) addChannel(c *wifi.ChannelRecord, spool uint64, t time.Time) {
	g := b.r.Grid
	x := b.chans[c.Frequency]
	if x == nil {
		x = &Channel{Band: c.Band, Channel: c.Channel, Freq: c.Frequency, DFS: isDFS(c.Frequency), noise: histogram{}}
		b.chans[c.Frequency] = x
	}
	x.Rows++
	if c.NoiseDBm != nil {
		x.noise[int32(*c.NoiseDBm)]++
		x.Noise.add(g, t, float64(*c.NoiseDBm))
	}
	for _, p := range c.Problems {
		b.problem("survey row: " + p)
	}
	if c.Active == nil || c.Busy == nil {
		return
	}
	a, bz := *c.Active, *c.Busy
	// Read both ways; finish keeps the one the counters' behaviour
	// shows (Report.Cumulative).
	if a > 0 {
		busy := float64(min(bz, a))
		x.abs[0] += busy
		x.abs[1] += float64(a)
		x.absT.add(g, t, busy, float64(a))
	}
	if x.havePrev && x.prevSpool == spool {
		switch {
		case a > x.prevA:
			b.r.CounterRises++
			if bz >= x.prevB {
				da := float64(a - x.prevA)
				db := min(float64(bz-x.prevB), da)
				x.delta[0] += db
				x.delta[1] += da
				x.deltaT.add(g, t, db, da)
			}
		case a < x.prevA:
			b.r.CounterDrops++
		}
	}
	x.prevA, x.prevB, x.prevSpool, x.havePrev = a, bz, spool, true
}

// isDFS reports whether a 5 GHz channel needs radar detection (channels
// 52 to 144).
func isDFS(freq int) bool { return freq >= 5250 && freq <= 5730 }

func (b *builder) finish() {
	r := b.r
	b.finishTime()
	b.countLate()
	// Cumulative counters rise from cycle to cycle and drop only when
	// the driver or the box restarts; per-scan counters go up and down.
	r.Cumulative = r.CounterRises > 0 && r.CounterDrops*10 <= r.CounterRises
	for _, x := range b.chans {
		sums, tl := x.abs, x.absT
		if r.Cumulative {
			sums, tl = x.delta, x.deltaT
		}
		x.BusyMs, x.ActiveMs, x.Busy = sums[0], sums[1], tl
		if x.ActiveMs > 0 {
			x.HasShare, x.Share = true, x.BusyMs/x.ActiveMs
		}
		_, x.NoiseDBm, _, x.HasNoise = x.noise.median(1)
		x.absT, x.deltaT, x.noise = Ratio{}, Ratio{}, nil
		r.Channels = append(r.Channels, x)
	}
	for _, x := range b.bss {
		x.Share = float64(x.Seen) / float64(max(r.Cycles, 1))
		x.MinDBm, x.MedianDBm, x.MaxDBm, x.HasSignal = x.sig.median(100)
		if x.util != nil {
			var ok bool
			_, x.MedianUtil, x.MaxUtil, ok = x.util.median(100)
			_, x.MedianStations, x.MaxStas, _ = x.stas.median(1)
			x.HasLoad = ok || x.stas.n() > 0
		}
		for f, n := range x.chans {
			x.PrimaryChannels = append(x.PrimaryChannels, ChannelCount{FreqMHz: f, Channel: wifi.FrequencyChannel(f), Count: n})
		}
		slices.SortFunc(x.PrimaryChannels, func(a, b ChannelCount) int { return cmp.Compare(b.Count, a.Count) })
		x.sig, x.util, x.stas, x.chans = nil, nil, nil, nil
		r.BSS = append(r.BSS, x)
	}
	slices.SortFunc(r.BSS, compareBSS)
	b.addBSSChannels()
	slices.SortFunc(r.Channels, func(a, b *Channel) int { return cmp.Compare(a.Freq, b.Freq) })
	b.countOverlap()
	r.Quietest = rankChannels(r.Channels)
	for t, n := range b.problems {
		r.Problems = append(r.Problems, Problem{Text: t, Count: n})
	}
	slices.SortFunc(r.Problems, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Text, b.Text))
	})
	if b.other > 0 {
		r.Problems = append(r.Problems, Problem{Text: "other problems", Count: b.other})
	}
	r.Summary = summarize(r)
	r.Findings = findings(r)
}

// compareBSS orders by median signal, strongest first, then BSSID.
func compareBSS(a, b *BSS) int {
	if a.HasSignal != b.HasSignal {
		if a.HasSignal {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(b.MedianDBm, a.MedianDBm), cmp.Compare(a.BSSID, b.BSSID))
}

// finishTime derives the span, the cycle interval and the silent
// periods from the cycles' start times.
func (b *builder) finishTime() {
	r := b.r
	s := b.starts
	slices.SortFunc(s, func(a, b time.Time) int { return a.Compare(b) })
	if len(s) == 0 {
		return
	}
	r.First, r.Last = s[0], s[len(s)-1]
	var d []time.Duration
	for i := 1; i < len(s); i++ {
		if dd := s[i].Sub(s[i-1]); dd > 0 {
			d = append(d, dd)
		}
	}
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	r.Interval = d[len(d)/2]
	for i := 1; i < len(s); i++ {
		if dd := s[i].Sub(s[i-1]); dd > GapFactor*r.Interval {
			r.Gaps = append(r.Gaps, Gap{From: s[i-1], To: s[i], Missed: int(dd/r.Interval) - 1})
		}
	}
	b.starts = nil
}

// countLate counts the pushes that waited longer than LateAfter.
func (b *builder) countLate() {
	r := b.r
	r.LateAfter = LateAfter(r.Interval)
	for _, w := range b.waits {
		if w > r.LateAfter {
			r.Late++
			r.LongestWait = max(r.LongestWait, w)
		}
	}
	b.waits = nil
}

// GapFactor: a pause longer than this many cycle intervals between two
// cycles is a silent period.
const GapFactor = 3

// addBSSChannels adds channels that BSSes use but the survey did not
// report, so that occupancy is shown for them too.
func (b *builder) addBSSChannels() {
	for _, x := range b.r.BSS {
		if x.FreqMHz == 0 || b.chans[x.FreqMHz] != nil || x.Band == "" {
			continue
		}
		c := &Channel{Band: x.Band, Channel: x.Channel, Freq: x.FreqMHz, DFS: isDFS(x.FreqMHz)}
		b.chans[x.FreqMHz] = c
		b.r.Channels = append(b.r.Channels, c)
	}
}

// Span returns the frequency ranges (MHz) a BSS occupies: one, or two for
// 80+80 MHz.
func (x *BSS) Span() [][2]float64 {
	w := float64(max(x.WidthMHz, 20))
	c := float64(cmp.Or(x.CenterMHz, x.FreqMHz))
	if x.Center2MHz != 0 {
		return [][2]float64{{c - 40, c + 40}, {float64(x.Center2MHz) - 40, float64(x.Center2MHz) + 40}}
	}
	return [][2]float64{{c - w/2, c + w/2}}
}

// covers reports whether x's span overlaps the 20 MHz channel at freq.
func (x *BSS) covers(freq int) bool {
	f := float64(freq)
	for _, s := range x.Span() {
		if s[0] < f+10 && s[1] > f-10 {
			return true
		}
	}
	return false
}

func (b *builder) countOverlap() {
	for _, c := range b.r.Channels {
		for _, x := range b.r.BSS {
			if x.Band != c.Band {
				continue
			}
			if x.FreqMHz == c.Freq {
				c.CoChannel++
			} else if x.covers(c.Freq) {
				c.Overlapping++
			}
		}
	}
}

// candidate reports whether a channel is worth recommending: in 2.4 GHz
// only 1, 6 and 11, the channels that do not overlap each other.
func candidate(c *Channel) bool {
	if !c.HasShare {
		return false
	}
	if c.Band == wifi.Band2GHz {
		return c.Channel == 1 || c.Channel == 6 || c.Channel == 11
	}
	return c.Band == wifi.Band5GHz || c.Band == wifi.Band6GHz
}

// QuietestPerGroup is how many channels each pick lists.
const QuietestPerGroup = 3

// rankChannels ranks the candidate channels of each band and DFS class:
// least busy share first, then fewest BSSes on or over it, then lowest
// channel. It sets each candidate's Rank and returns the top of each
// group.
func rankChannels(chans []*Channel) []ChannelPick {
	var picks []ChannelPick
	for _, band := range []string{wifi.Band2GHz, wifi.Band5GHz, wifi.Band6GHz} {
		for _, dfs := range []bool{false, true} {
			var g []*Channel
			for _, c := range chans {
				if c.Band == band && c.DFS == dfs && candidate(c) {
					g = append(g, c)
				}
			}
			if len(g) == 0 {
				continue
			}
			slices.SortFunc(g, CompareQuiet)
			for i, c := range g {
				c.Rank = i + 1
			}
			picks = append(picks, ChannelPick{Band: band, DFS: dfs, Channels: g[:min(len(g), QuietestPerGroup)]})
		}
	}
	return picks
}

// CompareQuiet orders channels for recommendation.
func CompareQuiet(a, b *Channel) int {
	return cmp.Or(cmp.Compare(a.Share, b.Share),
		cmp.Compare(a.CoChannel+a.Overlapping, b.CoChannel+b.Overlapping),
		cmp.Compare(a.Channel, b.Channel))
}
