// Package reportcheck recomputes, from a JSON lines export alone, the
// numbers the site-survey report shows (per-BSS median signal,
// per-channel busy share, the ranked least-busy channels), so that tests
// can hold what a browser displays against a computation that shares no
// code with the report. Test-only.
package reportcheck

import (
	"bufio"
	"cmp"
	"encoding/json"
	"io"
	"slices"
	"sort"

	"github.com/surveybox/surveybox/collector"
)

// Expect is what the report should show.
type Expect struct {
	// Median signal per BSSID.
	Median map[string]float64
	// Share is the busy share per "band/channel".
	Share map[string]float64
	// Quietest is the ranked top channels per "band/dfs" (dfs "true" or
	// "false").
	Quietest   map[string][]int
	Cumulative bool
	BSSes      int
}

type chanRow struct {
	spool        string
	seq          uint64
	active, busy uint64
}

type latest struct {
	seq                               uint64
	spool                             string
	band                              string
	freq, center, center2, width, chn int
}

// Compute reads a JSON lines export of one box.
func Compute(r io.Reader) (Expect, error) {
	sigs := map[string][]float64{}
	last := map[string]latest{}
	rows := map[string][]chanRow{}
	meta := map[string][3]int{} // band/channel -> freq, channel, 0
	bands := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var rec collector.ExportRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return Expect{}, err
		}
		sp := rec.Spool.String()
		if b := rec.BSS; b != nil {
			if b.SignalDBm != nil {
				sigs[b.BSSID] = append(sigs[b.BSSID], *b.SignalDBm)
			} else if _, ok := sigs[b.BSSID]; !ok {
				sigs[b.BSSID] = nil
			}
			l := last[b.BSSID]
			if l.spool == "" || sp > l.spool || (sp == l.spool && rec.Seq > l.seq) {
				last[b.BSSID] = latest{seq: rec.Seq, spool: sp, band: b.Band, freq: b.FreqMHz, center: b.CenterMHz, center2: b.Center2MHz, width: b.WidthMHz, chn: b.Channel}
			}
		}
		if c := rec.Channel; c != nil && c.Active != nil && c.Busy != nil {
			k := key(c.Band, c.Channel)
			rows[k] = append(rows[k], chanRow{spool: sp, seq: rec.Seq, active: *c.Active, busy: *c.Busy})
			meta[k] = [3]int{c.Frequency, c.Channel, 0}
			bands[k] = c.Band
		}
	}
	if err := sc.Err(); err != nil {
		return Expect{}, err
	}
	e := Expect{Median: map[string]float64{}, Share: map[string]float64{}, Quietest: map[string][]int{}, BSSes: len(sigs)}
	for b, v := range sigs {
		if len(v) == 0 {
			continue
		}
		sort.Float64s(v)
		n := len(v)
		e.Median[b] = (v[(n-1)/2] + v[n/2]) / 2
	}
	// The survey's counters are cumulative when, from one row of a
	// channel to the next in the same spool, active time rises almost
	// always.
	rises, drops := 0, 0
	for _, rs := range rows {
		slices.SortFunc(rs, func(a, b chanRow) int { return cmp.Or(cmp.Compare(a.spool, b.spool), cmp.Compare(a.seq, b.seq)) })
		for i := 1; i < len(rs); i++ {
			if rs[i].spool != rs[i-1].spool {
				continue
			}
			if rs[i].active > rs[i-1].active {
				rises++
			} else if rs[i].active < rs[i-1].active {
				drops++
			}
		}
	}
	e.Cumulative = rises > 0 && drops*10 <= rises
	for k, rs := range rows {
		var busy, active float64
		for i, r := range rs {
			if !e.Cumulative {
				if r.active > 0 {
					busy += float64(min(r.busy, r.active))
					active += float64(r.active)
				}
				continue
			}
			if i == 0 || rs[i-1].spool != r.spool {
				continue
			}
			p := rs[i-1]
			if r.active > p.active && r.busy >= p.busy {
				da := float64(r.active - p.active)
				busy += min(float64(r.busy-p.busy), da)
				active += da
			}
		}
		if active > 0 {
			e.Share[k] = busy / active
		}
	}
	// Rank: busy share, then BSSes on or over the channel, then channel.
	type cand struct {
		ch    int
		share float64
		occ   int
	}
	groups := map[string][]cand{}
	for k, share := range e.Share {
		band, freq, ch := bands[k], meta[k][0], meta[k][1]
		switch band {
		case "2.4":
			if ch != 1 && ch != 6 && ch != 11 {
				continue
			}
		case "5", "6":
		default:
			continue
		}
		dfs := freq >= 5250 && freq <= 5730
		occ := 0
		for _, l := range last {
			if l.band != band {
				continue
			}
			if l.freq == freq || overlaps(l, freq) {
				occ++
			}
		}
		g := band + "/" + map[bool]string{true: "true", false: "false"}[dfs]
		groups[g] = append(groups[g], cand{ch, share, occ})
	}
	for g, cs := range groups {
		slices.SortFunc(cs, func(a, b cand) int {
			return cmp.Or(cmp.Compare(a.share, b.share), cmp.Compare(a.occ, b.occ), cmp.Compare(a.ch, b.ch))
		})
		for i := 0; i < len(cs) && i < 3; i++ {
			e.Quietest[g] = append(e.Quietest[g], cs[i].ch)
		}
	}
	return e, nil
}

func overlaps(l latest, freq int) bool {
	w := max(l.width, 20)
	c := l.center
	if c == 0 {
		c = l.freq
	}
	segs := [][2]int{{c*2 - w, c*2 + w}} // in half-MHz
	if l.center2 != 0 {
		segs = [][2]int{{c*2 - 80, c*2 + 80}, {l.center2*2 - 80, l.center2*2 + 80}}
	}
	for _, s := range segs {
		if s[0] < freq*2+20 && s[1] > freq*2-20 {
			return true
		}
	}
	return false
}

func key(band string, ch int) string {
	b, _ := json.Marshal(ch)
	return band + "/" + string(b)
}
