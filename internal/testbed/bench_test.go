package testbed

import (
	"context"
	"testing"
	"time"
)

// BenchmarkVMScanManyBSS boots ManyBSSScenario(100) and reports how long
// one full `iw scan` takes in the guest with 100 BSSes on 4 radios.
// Run with -benchtime=1x (make bench); each iteration is one VM boot.
func BenchmarkVMScanManyBSS(b *testing.B) {
	a, err := FindAssets()
	if err != nil {
		b.Fatal(err)
	}
	sc := ManyBSSScenario(100)
	for i := 0; i < b.N; i++ {
		opts := sc.Options()
		opts.Timeout = 240 * time.Second
		opts.Script = "tb_mark s0; tb_scan wlan0 > /out/scan.txt; tb_mark s1; tb_scan wlan0 > /out/scan2.txt; tb_mark s2"
		res, err := Run(context.Background(), a, opts)
		if err != nil {
			b.Fatal(err)
		}
		bs, err := ParseIWScan(string(res.Files["scan2.txt"]))
		if err != nil {
			b.Fatal(err)
		}
		if len(bs) < 100 {
			b.Errorf("saw %d BSSes", len(bs))
		}
		b.ReportMetric(res.Timing["s1"]-res.Timing["s0"], "scan1-s")
		b.ReportMetric(res.Timing["s2"]-res.Timing["s1"], "scan2-s")
		b.ReportMetric(res.Timing["aps"], "aps-up-s")
		b.ReportMetric(res.Elapsed.Seconds(), "vm-wall-s")
	}
}
