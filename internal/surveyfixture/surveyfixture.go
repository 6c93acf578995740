// Package surveyfixture fills a collector store with a survey that looks
// like a real one, for the report's and the exports' tests and
// benchmarks: BSSes made from the captured records (their IEs patched to
// match), spread over channels, with signals that drift and drop out,
// BSSes that appear, vanish, hide or change channel, a channel survey
// whose counters grow from scan to scan or are per scan, silent periods
// and evictions. Deterministic for a given Options. Test-only.
package surveyfixture

import (
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/internal/testrecords"
	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/proto/push"
	"github.com/surveybox/surveybox/wifi"
)

// Options describe the survey.
type Options struct {
	Box      string
	Spool    uint64 // 0: 1
	Start    time.Time
	Interval time.Duration // 0: 30 s
	Cycles   int
	BSS      int
	// Cumulative: survey counters grow from cycle to cycle (as many
	// drivers report them); otherwise per scan, as mac80211_hwsim does.
	Cumulative bool
	// Silent lists [from, to) cycle numbers during which the box did not
	// scan at all.
	Silent [][2]int
	// EvictAt lists cycles the box evicted before delivery: their
	// sequence numbers are skipped.
	EvictAt []int
	Seed    uint64
	// Hostile names one BSS with HTML and script, as anyone in radio
	// range can.
	Hostile bool
}

// HostileSSID is the SSID Hostile gives a BSS.
const HostileSSID = `<script>document.title='pwned'</script><img src=x onerror="document.title='pwned'">`

// Default is a day-long survey small enough for unit tests.
func Default(box string) Options {
	return Options{
		Box: box, Start: time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC), Interval: 30 * time.Second,
		Cycles: 400, BSS: 40, Silent: [][2]int{{150, 190}}, EvictAt: []int{300, 301}, Seed: 1,
	}
}

// channels2G are where copies of the 20 MHz 2.4 GHz records go.
var channels2G = []int{1, 6, 11, 6, 1, 11, 3, 9, 13, 6}

// Write stores the survey in st and returns how many cycles it stored.
func Write(tb testing.TB, st *collector.Store, o Options) int {
	tb.Helper()
	if o.Interval == 0 {
		o.Interval = 30 * time.Second
	}
	if o.Spool == 0 {
		o.Spool = 1
	}
	base := bssSet(tb, o.BSS)
	if o.Hostile && len(base) > 3 {
		r := &base[3].r
		r.SSID, r.SSIDHex = HostileSSID, hex.EncodeToString([]byte(HostileSSID))
	}
	chans := testrecords.Channels(tb)
	type job struct {
		i    int
		data []byte
	}
	var cycles []int
	for i := range o.Cycles {
		if !silent(o, i) {
			cycles = append(cycles, i)
		}
	}
	// Counters must be computed in order; the rest of a cycle in parallel.
	surveys := make([][]wifi.ChannelRecord, len(cycles))
	cum := make([][2]uint64, len(chans))
	for k, i := range cycles {
		surveys[k] = survey(o, chans, cum, i)
	}
	out := make([][]byte, len(cycles))
	var wg sync.WaitGroup
	work := make(chan int)
	var mu sync.Mutex
	var ferr error
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var enc batch.Encoder
			for k := range work {
				b := cycle(o, base, cycles[k])
				b.Channels = surveys[k]
				data, err := enc.Encode(&b)
				if err != nil {
					mu.Lock()
					ferr = err
					mu.Unlock()
				}
				out[k] = data
			}
		}()
	}
	for k := range cycles {
		work <- k
	}
	close(work)
	wg.Wait()
	if ferr != nil {
		tb.Fatal(ferr)
	}
	seq := uint64(0)
	var entries []push.Entry
	flush := func() {
		if len(entries) == 0 {
			return
		}
		if _, err := st.Put(o.Box, o.Spool, collector.SourceUpload, entries); err != nil {
			tb.Fatal(err)
		}
		entries = entries[:0]
	}
	for k, i := range cycles {
		h, err := batch.ReadHeader(out[k])
		if err != nil {
			tb.Fatal(err)
		}
		first := seq + 1
		seq += h.Seqs()
		if contains(o.EvictAt, i) {
			continue
		}
		entries = append(entries, push.Entry{FirstSeq: first, LastSeq: seq, Data: out[k]})
		if len(entries) == 256 {
			flush()
		}
	}
	flush()
	return len(cycles) - countEvicted(o, cycles)
}

func countEvicted(o Options, cycles []int) int {
	n := 0
	for _, i := range cycles {
		if contains(o.EvictAt, i) {
			n++
		}
	}
	return n
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func silent(o Options, i int) bool {
	for _, s := range o.Silent {
		if i >= s[0] && i < s[1] {
			return true
		}
	}
	return false
}

// bss is one simulated BSS: its record and how it behaves.
type bss struct {
	r         wifi.Record
	level     float64 // mean signal
	appear    float64 // share of the survey before it appears
	vanish    float64 // share of the survey after which it is gone
	moveTo    int     // channel it moves to halfway (2.4 GHz), 0: stays
	load      bool
	dropBelow float64
}

func bssSet(tb testing.TB, n int) []bss {
	recs := testrecords.RealisticBSS(tb, n)
	out := make([]bss, n)
	k := 0
	for j := range recs {
		b := bss{r: recs[j], level: -38 - float64((j*7)%52), appear: 0, vanish: 1, dropBelow: -88}
		r := &b.r
		if j >= 15 && r.Band == wifi.Band2GHz && r.WidthMHz == 20 {
			setChannel(tb, r, channels2G[k%len(channels2G)])
			k++
		}
		switch {
		case j%17 == 5:
			b.appear = 0.35
		case j%19 == 7:
			b.vanish = 0.6
		}
		if j == 16 && r.Band == wifi.Band2GHz && r.WidthMHz == 20 {
			b.moveTo = 11
			if r.Channel == 11 {
				b.moveTo = 1
			}
		}
		if j%4 == 2 {
			b.load = true
		}
		if j == 18 {
			hide(tb, r)
		}
		out[j] = b
	}
	return out
}

// setChannel moves a 20 MHz 2.4 GHz record to channel ch, in its fields
// and in the DS Parameter Set and HT Operation elements of its IEs.
func setChannel(tb testing.TB, r *wifi.Record, ch int) {
	r.Channel, r.FreqMHz, r.CenterMHz = ch, 2407+5*ch, 2407+5*ch
	ies, err := hex.DecodeString(r.IEsHex)
	if err != nil {
		tb.Fatal(err)
	}
	for p := 0; p+2 <= len(ies) && p+2+int(ies[p+1]) <= len(ies); p += 2 + int(ies[p+1]) {
		if (ies[p] == 3 || ies[p] == 61) && ies[p+1] >= 1 {
			ies[p+2] = byte(ch)
		}
	}
	r.IEsHex = hex.EncodeToString(ies)
}

// hide empties the record's SSID, in its fields and in its IEs.
func hide(tb testing.TB, r *wifi.Record) {
	ies, err := hex.DecodeString(r.IEsHex)
	if err != nil {
		tb.Fatal(err)
	}
	if len(ies) >= 2 && ies[0] == 0 {
		ies = append([]byte{0, 0}, ies[2+int(ies[1]):]...)
	}
	r.IEsHex = hex.EncodeToString(ies)
	r.SSID, r.SSIDHex, r.Hidden = "", "", true
}

// cycle returns scan cycle i without its survey.
func cycle(o Options, base []bss, i int) batch.Batch {
	start := o.Start.Add(time.Duration(i) * o.Interval)
	b := batch.Batch{Started: start, Finished: start.Add(4 * time.Second), Interface: "wlan0", Triggered: true}
	frac := float64(i) / float64(max(o.Cycles, 1))
	rng := rand.New(rand.NewPCG(o.Seed, uint64(i)))
	day := math.Sin(2 * math.Pi * float64(start.Unix()%86400) / 86400)
	for j := range base {
		x := &base[j]
		if frac < x.appear || frac >= x.vanish {
			continue
		}
		sig := math.Round(x.level + 4*day + rng.NormFloat64()*3)
		if sig < x.dropBelow {
			continue
		}
		r := x.r
		if x.moveTo != 0 && frac >= 0.5 {
			r.Channel, r.FreqMHz, r.CenterMHz = x.moveTo, 2407+5*x.moveTo, 2407+5*x.moveTo
		}
		r.SignalDBm = &sig
		r.SeenMsAgo = uint32(rng.IntN(3000))
		if x.load {
			u := uint8(40 + 30*day + rng.Float64()*40)
			s := uint16(rng.IntN(12))
			r.Utilization, r.Stations = &u, &s
		}
		b.BSS = append(b.BSS, r)
	}
	if i%97 == 13 {
		b.Problems = append(b.Problems, "decoding BSS 3: attribute 12: short")
	}
	return b
}

// survey returns cycle i's channel survey; cum carries the counters of
// a cumulative driver from cycle to cycle.
func survey(o Options, chans []wifi.ChannelRecord, cum [][2]uint64, i int) []wifi.ChannelRecord {
	rng := rand.New(rand.NewPCG(o.Seed^0x5eed, uint64(i)))
	start := o.Start.Add(time.Duration(i) * o.Interval)
	day := 0.5 + 0.5*math.Sin(2*math.Pi*float64(start.Unix()%86400)/86400)
	out := make([]wifi.ChannelRecord, 0, len(chans))
	for k, c := range chans {
		if c.Band == "" {
			continue
		}
		active := uint64(60 + rng.IntN(50))
		load := 0.05 + 0.5*float64((c.Channel*37)%11)/11*day + 0.05*rng.Float64()
		busy := uint64(float64(active) * min(load, 1))
		noise := -95 + rng.IntN(4)
		cr := wifi.ChannelRecord{Frequency: c.Frequency, Channel: c.Channel, Band: c.Band, NoiseDBm: &noise}
		if o.Cumulative {
			cum[k][0] += active
			cum[k][1] += busy
			a, b := cum[k][0], cum[k][1]
			cr.Active, cr.Busy = &a, &b
		} else {
			a, b := active, busy
			cr.Active, cr.Busy = &a, &b
		}
		out = append(out, cr)
	}
	return out
}

// Describe is for test logs.
func (o Options) Describe() string {
	return fmt.Sprintf("%s: %d cycles of %d BSSes every %s from %s", o.Box, o.Cycles, o.BSS, o.Interval, o.Start.Format(time.RFC3339))
}
