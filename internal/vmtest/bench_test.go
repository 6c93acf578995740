package vmtest

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/surveybox/surveybox/internal/testbed"
)

// BenchmarkVMDumpVsIW boots a VM with ≥100 BSSes and times, in the same
// run, N back-to-back `surveyscan -once -no-trigger -json` (dump + decode +
// JSON) against N `iw dev wlan0 scan dump` (dump + decode + text) of the
// same cache, reporting both and their ratio. Each benchmark iteration is
// one VM boot: run with -benchtime=1x (make bench).
func BenchmarkVMDumpVsIW(b *testing.B) {
	a, err := testbed.FindAssets()
	if err != nil {
		b.Fatal(err)
	}
	const n = 20
	sc := testbed.ManyBSSScenario(120)
	for i := 0; i < b.N; i++ {
		o := sc.Options()
		o.Files = map[string]string{"/bin/surveyscan": surveyscanBin}
		o.Timeout = 300 * time.Second
		o.Script = `
tb_scan -n 2 wlan0 > /dev/null
surveyscan -once -no-trigger -json -iface wlan0 | wc -l > /out/bss-count
echo 'i=0; while [ $i -lt ` + strconv.Itoa(n) + ` ]; do "$@" > /dev/null || exit 1; i=$((i+1)); done' > /tmp/loop.sh
time -p sh /tmp/loop.sh iw dev wlan0 scan dump 2> /out/iw.time
time -p sh /tmp/loop.sh surveyscan -once -no-trigger -json -iface wlan0 2> /out/ours.time
`
		res, err := testbed.Run(context.Background(), a, o)
		if err != nil {
			if res != nil {
				b.Logf("script output:\n%s", res.ScriptOutput)
			}
			b.Fatal(err)
		}
		count, _ := strconv.Atoi(strings.TrimSpace(string(res.Files["bss-count"])))
		if count < 100 {
			b.Fatalf("only %d BSSes in the cache, want ≥ 100", count)
		}
		iw, ours := realSeconds(b, res.Files["iw.time"]), realSeconds(b, res.Files["ours.time"])
		b.ReportMetric(float64(count), "bss")
		b.ReportMetric(iw/n*1000, "iw-ms/dump")
		b.ReportMetric(ours/n*1000, "ours-ms/dump")
		b.ReportMetric(ours/iw, "ours/iw")
	}
}

// realSeconds reads the "real" line of busybox `time -p`.
func realSeconds(b *testing.B, out []byte) float64 {
	for _, l := range bytes.Split(out, []byte("\n")) {
		if f := strings.Fields(string(l)); len(f) == 2 && f[0] == "real" {
			v, err := strconv.ParseFloat(f[1], 64)
			if err == nil && v > 0 {
				return v
			}
		}
	}
	b.Fatalf("no time in %q", out)
	return 0
}
