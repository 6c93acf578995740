package testbed

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// IWExpectation is what the appliance's JSON should say about a BSS,
// derived from iw's text output of the same kernel scan results.
type IWExpectation struct {
	BSSID          string
	SSIDHex        string
	SSID           string // only meaningful when SSIDIsUTF8 && !Hidden
	SSIDIsUTF8     bool
	Hidden         bool
	FreqMHz        int
	Channel        int
	Band           string // "2.4", "5", "6"
	WidthMHz       int
	CenterMHz      int
	SignalDBm      float64
	BeaconInterval int
	Capability     int
	Security       string
	AKM            []string
	Pairwise       []string
	Group          string
	PMF            string
	Standards      []string // subset of b g a n ac ax be, in that order
	Country        string
}

// FreqChannel converts a centre frequency to a channel number and band.
func FreqChannel(freq int) (channel int, band string) {
	switch {
	case freq == 2484:
		return 14, "2.4"
	case freq >= 2412 && freq < 2484:
		return (freq - 2407) / 5, "2.4"
	case freq == 5935:
		return 2, "6"
	case freq > 5950 && freq <= 7115:
		return (freq - 5950) / 5, "6"
	case freq >= 4910 && freq <= 5895:
		return (freq - 5000) / 5, "5"
	}
	return 0, ""
}

func channelFreq(ch int, band string) int {
	switch band {
	case "2.4":
		if ch == 14 {
			return 2484
		}
		return 2407 + 5*ch
	case "6":
		if ch == 2 {
			return 5935
		}
		return 5950 + 5*ch
	}
	return 5000 + 5*ch
}

// Expect derives the expected appliance fields from an iw BSS.
func (b IWBSS) Expect() IWExpectation {
	e := IWExpectation{
		BSSID:          b.BSSID,
		SSIDHex:        hex.EncodeToString(b.SSID),
		SSIDIsUTF8:     utf8.Valid(b.SSID),
		FreqMHz:        int(b.Freq),
		SignalDBm:      b.SignalDBm,
		BeaconInterval: b.BeaconInterval,
		Capability:     int(b.Capability),
		Country:        b.Country,
	}
	e.Hidden = len(b.SSID) == 0 || strings.Count(string(b.SSID), "\x00") == len(b.SSID)
	if !e.Hidden && e.SSIDIsUTF8 {
		e.SSID = string(b.SSID)
	}
	e.Channel, e.Band = FreqChannel(e.FreqMHz)
	e.Security, e.AKM, e.Pairwise, e.Group, e.PMF = IWSecurity(b)
	e.WidthMHz, e.CenterMHz = 20, e.FreqMHz
	if h := b.HTOp; h != nil && h.STAChannelWidth == "any" {
		switch h.SecondaryOffset {
		case "above":
			e.WidthMHz, e.CenterMHz = 40, e.FreqMHz+10
		case "below":
			e.WidthMHz, e.CenterMHz = 40, e.FreqMHz-10
		}
	}
	if v := b.VHTOp; v != nil && v.ChannelWidth >= 1 && e.Band != "2.4" {
		switch {
		case v.ChannelWidth == 1 && v.Seg2 != 0 && abs(v.Seg2-v.Seg1) == 8:
			e.WidthMHz, e.CenterMHz = 160, channelFreq(v.Seg2, e.Band) // 160 MHz, new signalling
		case v.ChannelWidth == 1 && v.Seg2 != 0:
			e.WidthMHz, e.CenterMHz = 160, channelFreq(v.Seg1, e.Band) // 80+80, reported as 160
		case v.ChannelWidth == 1:
			e.WidthMHz, e.CenterMHz = 80, channelFreq(v.Seg1, e.Band)
		case v.ChannelWidth == 2:
			e.WidthMHz, e.CenterMHz = 160, channelFreq(v.Seg1, e.Band)
		case v.ChannelWidth == 3:
			e.WidthMHz, e.CenterMHz = 160, channelFreq(v.Seg1, e.Band)
		}
	}
	if h := b.HEOp; h != nil && h.Has6GHz {
		w := map[string]int{"20 MHz": 20, "40 MHz": 40, "80 MHz": 80, "160 MHz": 160, "80+80 or 160 MHz": 160}[h.ChannelWidth]
		if w != 0 {
			e.WidthMHz = w
			c := h.CCFS0
			if w == 160 && h.CCFS1 != 0 {
				c = h.CCFS1
			}
			e.CenterMHz = channelFreq(c, "6")
		}
	}
	has := func(rs ...float64) bool {
		for _, r := range rs {
			if slices.Contains(b.Rates, r) {
				return true
			}
		}
		return false
	}
	ofdm := has(6, 9, 12, 18, 24, 36, 48, 54)
	if e.Band == "2.4" {
		if has(1, 2, 5.5, 11) {
			e.Standards = append(e.Standards, "b")
		}
		if ofdm {
			e.Standards = append(e.Standards, "g")
		}
	} else if e.Band == "5" && ofdm {
		e.Standards = append(e.Standards, "a")
	}
	if b.HT {
		e.Standards = append(e.Standards, "n")
	}
	if b.VHT && e.Band == "5" {
		e.Standards = append(e.Standards, "ac")
	}
	if b.HE {
		e.Standards = append(e.Standards, "ax")
	}
	if b.EHT {
		e.Standards = append(e.Standards, "be")
	}
	return e
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// DecodeJSONLines decodes one JSON object per line (blank lines skipped).
func DecodeJSONLines(b []byte) ([]map[string]any, error) {
	var out []map[string]any
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return out, fmt.Errorf("line %d: %w: %q", i+1, err, line)
		}
		out = append(out, m)
	}
	return out, nil
}

// Compare checks the appliance's per-BSS JSON objects (`appliance -once
// -json`, decoded with DecodeJSONLines) field by field against iw's view of
// the same kernel scan results, and returns one line per difference. Both
// sides must come from the same scan (dump them back to back); signals may
// differ by up to 1 dB between the two dumps and seen_ms_ago is only checked
// for presence.
func Compare(iw []IWBSS, ours []map[string]any) []string {
	var diffs []string
	got := map[string]map[string]any{}
	for i, m := range ours {
		bssid, _ := m["bssid"].(string)
		if bssid == "" {
			diffs = append(diffs, fmt.Sprintf("appliance object %d has no bssid: %v", i, m))
			continue
		}
		if bssid != strings.ToLower(bssid) {
			diffs = append(diffs, fmt.Sprintf("%s: bssid not lower case", bssid))
		}
		if _, dup := got[strings.ToLower(bssid)]; dup {
			diffs = append(diffs, fmt.Sprintf("%s: reported twice", bssid))
		}
		got[strings.ToLower(bssid)] = m
	}
	seen := map[string]bool{}
	for _, b := range iw {
		seen[b.BSSID] = true
		m, ok := got[b.BSSID]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s (%q): seen by iw, missing from appliance", b.BSSID, b.SSID))
			continue
		}
		diffs = append(diffs, compareOne(b.Expect(), m)...)
	}
	var extra []string
	for bssid := range got {
		if !seen[bssid] {
			extra = append(extra, bssid)
		}
	}
	sort.Strings(extra)
	for _, bssid := range extra {
		diffs = append(diffs, fmt.Sprintf("%s: reported by appliance, not seen by iw", bssid))
	}
	return diffs
}

func compareOne(e IWExpectation, m map[string]any) []string {
	var diffs []string
	bad := func(field string, got, want any) {
		diffs = append(diffs, fmt.Sprintf("%s: %s = %v, iw says %v", e.BSSID, field, fmtAny(got), fmtAny(want)))
	}
	str := func(field, want string) {
		g, ok := m[field].(string)
		if !ok || g != want {
			bad(field, m[field], want)
		}
	}
	num := func(field string, want, tol float64) {
		g, ok := m[field].(float64)
		if !ok || math.Abs(g-want) > tol {
			bad(field, m[field], want)
		}
	}
	list := func(field string, want []string) {
		var g []string
		raw, ok := m[field].([]any)
		if !ok && m[field] != nil {
			bad(field, m[field], want)
			return
		}
		for _, x := range raw {
			s, _ := x.(string)
			g = append(g, s)
		}
		if !slices.Equal(g, want) {
			bad(field, g, want)
		}
	}
	str("ssid_hex", e.SSIDHex)
	if h, ok := m["hidden"].(bool); !ok || h != e.Hidden {
		bad("hidden", m["hidden"], e.Hidden)
	}
	if e.Hidden {
		str("ssid", "")
	} else if e.SSIDIsUTF8 {
		str("ssid", e.SSID)
	}
	num("freq_mhz", float64(e.FreqMHz), 0)
	num("channel", float64(e.Channel), 0)
	str("band", e.Band)
	num("width_mhz", float64(e.WidthMHz), 0)
	num("center_mhz", float64(e.CenterMHz), 0)
	num("signal_dbm", e.SignalDBm, 1)
	if v, ok := m["seen_ms_ago"].(float64); !ok || v < 0 {
		bad("seen_ms_ago", m["seen_ms_ago"], "≥ 0")
	}
	num("beacon_interval", float64(e.BeaconInterval), 0)
	num("capability", float64(e.Capability), 0)
	str("security", e.Security)
	list("akm", e.AKM)
	list("pairwise", e.Pairwise)
	str("group", e.Group)
	str("pmf", e.PMF)
	list("standards", e.Standards)
	str("country", e.Country)
	if s, ok := m["ies_hex"].(string); !ok || s == "" {
		bad("ies_hex", m["ies_hex"], "non-empty hex")
	} else if _, err := hex.DecodeString(s); err != nil {
		bad("ies_hex", "invalid hex", "hex")
	}
	return diffs
}

func fmtAny(v any) string {
	if v == nil {
		return "<missing>"
	}
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case []string:
		return fmt.Sprintf("%q", x)
	}
	return fmt.Sprint(v)
}

// CompareSurvey checks `appliance -once -json -survey` objects against iw's
// survey dump: every frequency iw reports must be present with the same
// noise, in_use and times (within tolMS, since the two dumps are not atomic).
func CompareSurvey(iw []IWSurvey, ours []map[string]any, tolMS float64) []string {
	var diffs []string
	got := map[int]map[string]any{}
	for _, m := range ours {
		f, _ := m["freq_mhz"].(float64)
		got[int(f)] = m
	}
	for _, s := range iw {
		m, ok := got[s.FreqMHz]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("survey %d MHz: missing from appliance", s.FreqMHz))
			continue
		}
		chk := func(field string, want int64, tol float64) {
			if want < 0 {
				return
			}
			g, ok := m[field].(float64)
			if !ok || math.Abs(g-float64(want)) > tol {
				diffs = append(diffs, fmt.Sprintf("survey %d MHz: %s = %v, iw says %d", s.FreqMHz, field, fmtAny(m[field]), want))
			}
		}
		if s.HasNoise {
			chk("noise_dbm", int64(s.NoiseDBm), 0)
		}
		chk("active_ms", s.ActiveMS, tolMS)
		chk("busy_ms", s.BusyMS, tolMS)
		chk("rx_ms", s.RxMS, tolMS)
		chk("tx_ms", s.TxMS, tolMS)
		if u, ok := m["in_use"].(bool); !ok || u != s.InUse {
			diffs = append(diffs, fmt.Sprintf("survey %d MHz: in_use = %v, iw says %v", s.FreqMHz, fmtAny(m["in_use"]), s.InUse))
		}
	}
	if len(got) > len(iw) {
		diffs = append(diffs, fmt.Sprintf("survey: appliance reports %d channels, iw %d", len(got), len(iw)))
	}
	return diffs
}
