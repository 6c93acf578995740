package testbed

import (
	"os"
	"testing"
)

func FuzzParseIWScan(f *testing.F) {
	if b, err := os.ReadFile("testdata/iw-scan-standard.txt"); err == nil {
		f.Add(string(b[:min(len(b), 4000)]))
	}
	f.Add("BSS 00:11:22:33:44:55(on wlan0)\n\tSSID: \\x\n\tRSN:\t * Version: 1\n")
	f.Fuzz(func(t *testing.T, s string) {
		bs, _ := ParseIWScan(s)
		for _, b := range bs {
			_ = b.Expect()
		}
		_, _ = ParseIWSurvey(s)
	})
}
