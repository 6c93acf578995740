package testbed

import (
	"context"
	"os"
	"testing"
	"time"
)

// testAssets returns the asset cache or fails. The VM tests never skip for
// missing assets: `make test` fetches them first, and a silent skip would hide
// a broken bench in CI. `go test -short` skips VM tests outside CI.
func testAssets(t *testing.T) Assets {
	t.Helper()
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skip("VM test skipped in -short mode")
	}
	a, err := FindAssets()
	if err != nil {
		t.Fatalf("%v\n(the real-kernel WiFi bench needs its assets: run `make testbed-assets`)", err)
	}
	return a
}

func TestVMBoots(t *testing.T) {
	a := testAssets(t)
	sc := StandardScenario()
	opts := sc.Options()
	opts.Timeout = 150 * time.Second
	opts.Script = `
tb_scan -n 2 wlan0 > /out/iw-scan.txt
tb_mark scanned
iw dev wlan0 survey dump > /out/iw-survey.txt
`
	start := time.Now()
	res, err := Run(context.Background(), a, opts)
	if err != nil {
		if res != nil {
			t.Logf("console:\n%s", res.Console)
		}
		t.Fatal(err)
	}
	t.Logf("VM wall time %v; guest uptime at: modules %.1fs, APs up %.1fs, scan done %.1fs, end %.1fs",
		time.Since(start).Round(100*time.Millisecond), res.Timing["modules"], res.Timing["aps"], res.Timing["scanned"], res.Timing["done"])

	if res.ScriptOutput != "" {
		t.Logf("script output:\n%s", res.ScriptOutput)
	}
	scan := string(res.Files["iw-scan.txt"])
	bsses, err := ParseIWScan(scan)
	if err != nil {
		t.Fatal(err)
	}
	errs := checkScan(sc, bsses)
	surveys, err := ParseIWSurvey(string(res.Files["iw-survey.txt"]))
	if err != nil {
		t.Fatal(err)
	}
	errs = append(errs, checkSurvey(sc, surveys)...)
	if len(bsses) != len(sc.BSSes()) {
		t.Errorf("scan found %d BSSes, want %d", len(bsses), len(sc.BSSes()))
	}
	reportErrs(t, errs)
	if t.Failed() {
		t.Logf("iw scan output:\n%s", scan)
		for name, b := range res.Logs {
			t.Logf("--- %s:\n%s", name, b)
		}
	}
	if os.Getenv("TESTBED_UPDATE_TESTDATA") == "1" && !t.Failed() {
		for src, dst := range map[string]string{"iw-scan.txt": "iw-scan-standard.txt", "iw-survey.txt": "iw-survey-standard.txt"} {
			if err := os.WriteFile("testdata/"+dst, res.Files[src], 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
