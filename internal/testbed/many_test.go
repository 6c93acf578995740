package testbed

import (
	"context"
	"testing"
	"time"
)

// TestVMManyBSS checks that scans see 100 BSSes on 10 radios and that APs
// can go away and come back during a run (ap_stop / ap_start). Each check
// uses the last of two or three scans (the kernel's BSS cache accumulates
// for 30 s), since one active scan under TCG on a loaded host can miss late
// probe responses.
func TestVMManyBSS(t *testing.T) {
	a := testAssets(t)
	sc := ManyBSSScenario(100)
	opts := sc.Options()
	opts.Timeout = 240 * time.Second
	opts.Script = `
tb_scan wlan0 > /out/scan0.txt
tb_mark scan0
tb_scan wlan0 > /out/scan1.txt
tb_mark scan1
ap_stop wlan2
tb_scan wlan0 flush > /out/scan2a.txt
tb_scan wlan0 > /out/scan2b.txt
tb_scan wlan0 > /out/scan2.txt
tb_mark scan2
ap_start wlan2
ap_wait -t 30 wlan2 || echo "wlan2 did not come back" >&2
tb_scan wlan0 > /out/scan3a.txt
tb_scan wlan0 > /out/scan3.txt
tb_mark scan3
`
	res, err := Run(context.Background(), a, opts)
	if err != nil {
		if res != nil {
			t.Logf("console:\n%s", res.Console)
		}
		t.Fatal(err)
	}
	t.Logf("VM wall %v; guest: APs up %.1fs, scan0 %.1fs, scan1 %.1fs, scan2 %.1fs, scan3 %.1fs",
		res.Elapsed.Round(100*time.Millisecond), res.Timing["aps"], res.Timing["scan0"], res.Timing["scan1"], res.Timing["scan2"], res.Timing["scan3"])
	count := func(name string) (all, radio2 int) {
		bs, err := ParseIWScan(string(res.Files[name]))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, b := range bs {
			seen[b.BSSID] = true
		}
		var missing []string
		for _, s := range sc.BSSes() {
			if !seen[s.BSSID] {
				missing = append(missing, s.BSSID)
			}
		}
		if len(missing) > 0 {
			t.Logf("%s: %d BSSes, missing %v", name, len(bs), missing)
		}
		for _, b := range bs {
			if b.BSSID[:14] == "02:00:00:00:02" {
				radio2++
			}
		}
		return len(bs), radio2
	}
	n0, _ := count("scan0.txt")
	t.Logf("first single scan saw %d of %d BSSes", n0, len(sc.BSSes()))
	count("scan2a.txt")
	count("scan2b.txt")
	count("scan3a.txt")
	n1, r1 := count("scan1.txt")
	n2, r2 := count("scan2.txt")
	n3, r3 := count("scan3.txt")
	t.Logf("BSSes seen: %d (wlan2: %d), after ap_stop wlan2: %d (%d), after ap_start: %d (%d)", n1, r1, n2, r2, n3, r3)
	want := len(sc.BSSes())
	if n1 != want || r1 != ManyBSSPerRadio {
		t.Errorf("first scan: %d BSSes (%d on wlan2), want %d (%d)", n1, r1, want, ManyBSSPerRadio)
	}
	if r2 != 0 || n2 != want-ManyBSSPerRadio {
		t.Errorf("after ap_stop: %d BSSes (%d on wlan2), want %d (0)", n2, r2, want-ManyBSSPerRadio)
	}
	if n3 != want || r3 != ManyBSSPerRadio {
		t.Errorf("after ap_start: %d BSSes (%d on wlan2), want %d (%d)", n3, r3, want, ManyBSSPerRadio)
	}
	if t.Failed() {
		t.Logf("script output:\n%s", res.ScriptOutput)
	}
}
