package analysis

import (
	"cmp"
	"slices"
	"time"

	"github.com/surveybox/surveybox/wifi"
)

// Summary counts networks and BSSes by band and by security. A network
// is a named SSID (by its bytes); hidden BSSes are counted apart.
type Summary struct {
	Networks, BSSes, HiddenBSSes int
	ByBand                       []Count // Key: band
	BySecurity                   []Count // Key: security label
	// SilentTotal is the gaps' total length; LongestGap the longest.
	SilentTotal time.Duration
	LongestGap  Gap
}

// Count is a number of networks and of BSSes under one key.
type Count struct {
	Key             string
	Networks, BSSes int
}

func summarize(r *Report) Summary {
	var s Summary
	nets := map[string]bool{}
	band := map[string]map[string]bool{}
	sec := map[string]map[string]bool{}
	bandN := map[string]int{}
	secN := map[string]int{}
	for _, x := range r.BSS {
		s.BSSes++
		bandN[x.Band]++
		secN[x.Security]++
		if x.Hidden {
			s.HiddenBSSes++
			continue
		}
		nets[x.SSIDHex] = true
		if band[x.Band] == nil {
			band[x.Band] = map[string]bool{}
		}
		band[x.Band][x.SSIDHex] = true
		if sec[x.Security] == nil {
			sec[x.Security] = map[string]bool{}
		}
		sec[x.Security][x.SSIDHex] = true
	}
	s.Networks = len(nets)
	for _, b := range []string{wifi.Band2GHz, wifi.Band5GHz, wifi.Band6GHz, wifi.Band60GHz, ""} {
		if bandN[b] > 0 {
			s.ByBand = append(s.ByBand, Count{Key: b, Networks: len(band[b]), BSSes: bandN[b]})
		}
	}
	for k, n := range secN {
		s.BySecurity = append(s.BySecurity, Count{Key: k, Networks: len(sec[k]), BSSes: n})
	}
	slices.SortFunc(s.BySecurity, func(a, b Count) int { return cmp.Or(cmp.Compare(b.BSSes, a.BSSes), cmp.Compare(a.Key, b.Key)) })
	for _, g := range r.Gaps {
		s.SilentTotal += g.Duration()
		if g.Duration() > s.LongestGap.Duration() {
			s.LongestGap = g
		}
	}
	return s
}
