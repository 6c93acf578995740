package testbed

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

func standardIW(t *testing.T) []IWBSS {
	t.Helper()
	text, err := os.ReadFile("testdata/iw-scan-standard.txt")
	if err != nil {
		t.Fatal(err)
	}
	bs, err := ParseIWScan(string(text))
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// TestExpectMatchesScenario checks that what Expect derives from real iw
// output agrees with the scenario's own description of each BSS.
func TestExpectMatchesScenario(t *testing.T) {
	byBSSID := map[string]IWBSS{}
	for _, b := range standardIW(t) {
		byBSSID[b.BSSID] = b
	}
	for _, s := range StandardScenario().BSSes() {
		e := byBSSID[s.BSSID].Expect()
		if e.FreqMHz != s.Freq || e.Channel != s.Channel || e.Band != s.Band || e.WidthMHz != s.WidthMHz ||
			e.CenterMHz != s.CenterMHz || !slices.Equal(e.Standards, s.Standards) || e.Security != s.Security ||
			!slices.Equal(e.AKM, s.AKM) || e.PMF != s.PMF || e.Group != s.Group || e.Country != s.Country ||
			e.Hidden != (s.Hidden != 0) {
			t.Errorf("%s %q:\n iw:       %+v\n scenario: %+v", s.BSSID, s.SSID, e, s)
		}
	}
}

// fakeAppliance renders what a correct appliance would print.
func fakeAppliance(bs []IWBSS) []map[string]any {
	var out []map[string]any
	for _, b := range bs {
		e := b.Expect()
		obj := map[string]any{
			"bssid": e.BSSID, "ssid": e.SSID, "ssid_hex": e.SSIDHex, "hidden": e.Hidden,
			"freq_mhz": e.FreqMHz, "channel": e.Channel, "band": e.Band, "width_mhz": e.WidthMHz,
			"center_mhz": e.CenterMHz, "signal_dbm": e.SignalDBm, "seen_ms_ago": 12, "beacon_interval": e.BeaconInterval,
			"capability": e.Capability, "security": e.Security, "akm": e.AKM, "pairwise": e.Pairwise,
			"group": e.Group, "pmf": e.PMF, "standards": e.Standards, "country": e.Country, "ies_hex": "0000",
		}
		if !e.SSIDIsUTF8 {
			obj["ssid"] = strings.ToValidUTF8(string(b.SSID), "\uFFFD")
		}
		out = append(out, obj)
	}
	// Round-trip through JSON like the real comparison will.
	var lines []string
	for _, o := range out {
		j, _ := json.Marshal(o)
		lines = append(lines, string(j))
	}
	ms, _ := DecodeJSONLines([]byte(strings.Join(lines, "\n")))
	return ms
}

func TestCompare(t *testing.T) {
	iw := standardIW(t)
	ours := fakeAppliance(iw)
	if d := Compare(iw, ours); len(d) != 0 {
		t.Fatalf("unexpected differences:\n%s", strings.Join(d, "\n"))
	}
	ours[0]["security"] = "wep"
	ours[1]["width_mhz"] = 160.0
	delete(ours[2], "akm")
	ours = append(ours[:3], ours[4:]...)
	d := Compare(iw, ours)
	if len(d) != 4 {
		t.Errorf("want 4 differences, got:\n%s", strings.Join(d, "\n"))
	}
}
