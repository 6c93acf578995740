package vmtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/surveybox/surveybox/internal/testbed"
)

// TestApplianceMatchesIW is the survey engine's acceptance test: in one VM
// with the standard scenario (open, WPA2, WPA3, transition, OWE, EAP,
// hidden, non-UTF-8, HT40, VHT80, HE, b-only, WPA/WPA2 mixed), the JSON of
// `surveyscan -once -json` must equal what iw prints for the same kernel
// scan cache, for every BSS and field, and likewise for the channel survey.
// With SURVEYBOX_UPDATE_CAPTURE=1 it refreshes survey/testdata/capture.
func TestApplianceMatchesIW(t *testing.T) {
	sc := testbed.StandardScenario()
	script := `
# iw's scans first fill the cache with every BSS (hidden ones beacon only).
tb_scan -n 2 wlan0 > /out/iw-scan.txt
# Then our scan, and iw's dump of the very cache ours just read.
timeout 60 surveyscan -once -json -iface wlan0 -capture /out/cap > /out/ours.jsonl 2> /out/ours.err
timeout 20 iw dev wlan0 scan dump > /out/iw-dump.txt
timeout 30 surveyscan -once -json -survey -iface wlan0 -capture /out/cap > /out/survey.jsonl 2>> /out/ours.err
timeout 20 iw dev wlan0 survey dump > /out/iw-survey.txt
# Scan options: a directed probe names the hidden network; a passive scan
# on one channel sends no probes and still hears the beacons.
timeout 60 surveyscan -once -json -iface wlan0 -flush -ssid tb-hidden -freq 2462 > /out/directed.jsonl 2>> /out/ours.err
timeout 60 surveyscan -once -json -iface wlan0 -flush -passive -freq 2412 > /out/passive.jsonl 2>> /out/ours.err
`
	res := runVM(t, sc, script, 180*time.Second)
	if e := strings.TrimSpace(string(res.Files["ours.err"])); e != "" {
		t.Errorf("surveyscan stderr:\n%s", e)
	}

	iw, err := testbed.ParseIWScan(string(res.Files["iw-dump.txt"]))
	if err != nil {
		t.Fatalf("parsing iw scan dump: %v", err)
	}
	ours, err := testbed.DecodeJSONLines(res.Files["ours.jsonl"])
	if err != nil {
		t.Fatalf("decoding surveyscan's JSON: %v", err)
	}
	for _, d := range testbed.Compare(iw, ours) {
		t.Error(d)
	}
	// Every BSS of the scenario must be there: a comparison of two empty
	// lists proves nothing.
	have := map[string]bool{}
	for _, m := range ours {
		b, _ := m["bssid"].(string)
		have[b] = true
	}
	for _, b := range sc.BSSes() {
		if !have[b.BSSID] {
			t.Errorf("scenario BSS %s (%q) missing from surveyscan's scan", b.BSSID, b.SSID)
		}
	}
	t.Logf("compared %d BSSes with iw (%d in the scenario)", len(ours), len(sc.BSSes()))

	iws, err := testbed.ParseIWSurvey(string(res.Files["iw-survey.txt"]))
	if err != nil {
		t.Fatalf("parsing iw survey dump: %v", err)
	}
	chans, err := testbed.DecodeJSONLines(res.Files["survey.jsonl"])
	if err != nil {
		t.Fatalf("decoding surveyscan's survey JSON: %v", err)
	}
	if len(iws) == 0 || len(chans) != len(iws) {
		t.Errorf("survey: surveyscan %d channels, iw %d", len(chans), len(iws))
	}
	// The two survey dumps are not atomic: counters may advance between them.
	for _, d := range testbed.CompareSurvey(iws, chans, 50) {
		t.Error(d)
	}

	checkScanOptions(t, sc, res)

	if os.Getenv("SURVEYBOX_UPDATE_CAPTURE") != "" && !t.Failed() {
		dir := filepath.Join("..", "..", "survey", "testdata", "capture")
		for src, dst := range map[string]string{"cap/scan.nl": "scan-standard.nl", "cap/survey.nl": "survey-standard.nl"} {
			if err := os.WriteFile(filepath.Join(dir, dst), res.Files[src], 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("updated %s (now run: go test ./survey -run TestReplayCaptures -update)", dir)
	}
}

// checkScanOptions checks the directed (-ssid) and passive scans.
func checkScanOptions(t *testing.T, sc testbed.Scenario, res *testbed.Result) {
	t.Helper()
	directed, err := testbed.DecodeJSONLines(res.Files["directed.jsonl"])
	if err != nil {
		t.Fatal(err)
	}
	passive, err := testbed.DecodeJSONLines(res.Files["passive.jsonl"])
	if err != nil {
		t.Fatal(err)
	}
	byBSSID := func(ms []map[string]any) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, m := range ms {
			b, _ := m["bssid"].(string)
			out[b] = m
		}
		return out
	}
	d, p := byBSSID(directed), byBSSID(passive)
	for _, b := range sc.BSSes() {
		switch {
		case b.Hidden == 1 && b.Freq == 2462:
			// The probe response names it; the beacon still hides it.
			m := d[b.BSSID]
			if m == nil || m["ssid"] != string(b.SSID) || m["hidden"] != true {
				t.Errorf("directed scan for %q: got %v, want ssid %q and hidden true", b.SSID, m, b.SSID)
			}
		case b.Freq == 2412:
			if p[b.BSSID] == nil {
				t.Errorf("passive scan on 2412 MHz missed %s (%q)", b.BSSID, b.SSID)
			}
		}
	}
	t.Logf("directed scan: %d BSSes; passive scan: %d BSSes", len(directed), len(passive))
}
