package survey

import (
	"os"
	"path/filepath"
	"testing"
)

// captureFiles lists the raw netlink replies captured from the real
// kernel (mac80211_hwsim in the test VM) under testdata/.
func captureFiles(tb testing.TB) []string {
	m, err := filepath.Glob(filepath.Join("testdata", "capture", "*.nl"))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func readCapture(tb testing.TB, name string) []byte {
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
