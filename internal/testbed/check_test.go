package testbed

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

// checkScan compares a parsed iw scan against a scenario and returns the
// problems found.
func checkScan(sc Scenario, bsses []IWBSS) []string {
	var errs []string
	byBSSID := map[string]IWBSS{}
	for _, b := range bsses {
		byBSSID[b.BSSID] = b
	}
	radioOf := map[string]RadioSpec{}
	for ri, r := range sc.Radios {
		radioOf[fmt.Sprintf("wlan%d", ri+1)] = r
	}
	for _, s := range sc.BSSes() {
		name := fmt.Sprintf("%s (%q)", s.BSSID, s.SSID)
		b, ok := byBSSID[s.BSSID]
		if !ok {
			errs = append(errs, name+": not in scan")
			continue
		}
		r := radioOf[s.Conf]
		if int(b.Freq) != s.Freq {
			errs = append(errs, fmt.Sprintf("%s: freq %v, want %d", name, b.Freq, s.Freq))
		}
		switch s.Hidden {
		case 0:
			if !b.HasSSID || !bytes.Equal(b.SSID, s.SSID) {
				errs = append(errs, fmt.Sprintf("%s: ssid %q", name, b.SSID))
			}
		case 1:
			if len(b.SSID) != 0 {
				errs = append(errs, fmt.Sprintf("%s: hidden ssid %q, want empty", name, b.SSID))
			}
		case 2:
			if !bytes.Equal(b.SSID, make([]byte, len(s.SSID))) {
				errs = append(errs, fmt.Sprintf("%s: hidden ssid %q, want %d NULs", name, b.SSID, len(s.SSID)))
			}
		}
		sec, akm, pairwise, group, pmf := IWSecurity(b)
		if sec != s.Security || !slices.Equal(akm, s.AKM) || pmf != s.PMF || group != s.Group || !slices.Equal(pairwise, s.Pairwise) {
			errs = append(errs, fmt.Sprintf("%s: security %s akm %v pairwise %v group %q pmf %s; want %s %v %v %q %s",
				name, sec, akm, pairwise, group, pmf, s.Security, s.AKM, s.Pairwise, s.Group, s.PMF))
		}
		if b.HT != r.HT || b.VHT != r.VHT80 || b.HE != r.HE {
			errs = append(errs, fmt.Sprintf("%s: HT/VHT/HE caps %v/%v/%v, want %v/%v/%v", name, b.HT, b.VHT, b.HE, r.HT, r.VHT80, r.HE))
		}
		if r.HT40 == "+" && (b.HTOp == nil || b.HTOp.SecondaryOffset != "above" || b.HTOp.STAChannelWidth != "any") {
			errs = append(errs, fmt.Sprintf("%s: HT operation %+v, want 40 MHz above", name, b.HTOp))
		}
		if r.HT && r.HT40 == "" && (b.HTOp == nil || b.HTOp.SecondaryOffset != "no secondary") {
			errs = append(errs, fmt.Sprintf("%s: HT operation %+v, want 20 MHz", name, b.HTOp))
		}
		if r.VHT80 && (b.VHTOp == nil || b.VHTOp.ChannelWidth != 1 || b.VHTOp.Seg1 != vht80Center(s.Channel)) {
			errs = append(errs, fmt.Sprintf("%s: VHT operation %+v, want 80 MHz around %d", name, b.VHTOp, vht80Center(s.Channel)))
		}
		maxRate := slices.Max(append([]float64{0}, b.Rates...))
		switch r.HwMode {
		case "b":
			if maxRate != 11 {
				errs = append(errs, fmt.Sprintf("%s: rates %v, want 802.11b only", name, b.Rates))
			}
		case "g", "a":
			if maxRate != 54 {
				errs = append(errs, fmt.Sprintf("%s: rates %v, want OFDM", name, b.Rates))
			}
		}
		if r.HwMode == "a" && slices.Contains(b.Rates, 11) {
			errs = append(errs, fmt.Sprintf("%s: DSSS rates on 5 GHz: %v", name, b.Rates))
		}
		if r.BSSLoad && b.BSSLoad == nil {
			errs = append(errs, name+": no BSS Load element")
		}
		if b.Country != sc.country() {
			errs = append(errs, fmt.Sprintf("%s: country %q", name, b.Country))
		}
		if !b.HasSignal || b.BeaconInterval == 0 || b.LastSeenMS < 0 {
			errs = append(errs, fmt.Sprintf("%s: header incomplete: %+v", name, b))
		}
	}
	return errs
}

func checkSurvey(sc Scenario, surveys []IWSurvey) []string {
	var errs []string
	freqs := map[int]IWSurvey{}
	for _, s := range surveys {
		freqs[s.FreqMHz] = s
	}
	for _, b := range sc.BSSes() {
		s, ok := freqs[b.Freq]
		if !ok {
			errs = append(errs, fmt.Sprintf("survey: no entry for %d MHz", b.Freq))
			continue
		}
		if !s.HasNoise || s.NoiseDBm != -92 || s.ActiveMS <= 0 || s.BusyMS < 0 {
			errs = append(errs, fmt.Sprintf("survey: %d MHz: %+v", b.Freq, s))
		}
	}
	return errs
}

func reportErrs(t *testing.T, errs []string) {
	t.Helper()
	for _, e := range errs {
		t.Error(e)
	}
}
