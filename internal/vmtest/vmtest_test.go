// Package vmtest runs the survey engine (the surveyscan explorer) against
// the real Linux kernel:
// cfg80211/mac80211 with mac80211_hwsim radios and hostapd access points in
// a throwaway qemu VM (internal/testbed), checked against iw in the same VM.
package vmtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/surveybox/surveybox/internal/testbed"
)

// assets returns the VM assets. In CI (and whenever the Makefile prepared
// them) they exist; a missing cache is a failure, never a skip.
func assets(t *testing.T) testbed.Assets {
	t.Helper()
	a, err := testbed.FindAssets()
	if err != nil {
		t.Fatalf("VM assets: %v (run `make testbed-assets`)", err)
	}
	return a
}

// surveyscanBin is the static surveyscan binary for the VM, built once by
// TestMain before any test's clock starts.
var surveyscanBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vmtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	surveyscanBin, err = testbed.BuildGoBinary(context.Background(), dir, "github.com/surveybox/surveybox/cmd/surveyscan")
	if err != nil {
		fmt.Fprintln(os.Stderr, "building surveyscan for the VM:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runVM boots the scenario with surveyscan at /bin/surveyscan and runs
// script; it fails the test with the console tail when the VM fails.
func runVM(t *testing.T, sc testbed.Scenario, script string, timeout time.Duration) *testbed.Result {
	t.Helper()
	o := sc.Options()
	if o.Files == nil {
		o.Files = map[string]string{}
	}
	o.Files["/bin/surveyscan"] = surveyscanBin
	o.Script = script
	o.Timeout = timeout
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	res, err := testbed.Run(ctx, assets(t), o)
	if err != nil {
		if res != nil {
			t.Logf("script output:\n%s", res.ScriptOutput)
			t.Logf("console tail:\n%s", tail(res.Console, 4000))
		}
		t.Fatalf("VM run: %v", err)
	}
	if dir := os.Getenv("VMTEST_KEEP"); dir != "" {
		dir = filepath.Join(dir, t.Name())
		for name, b := range res.Files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				_ = os.WriteFile(p, b, 0o644)
			}
		}
		_ = os.WriteFile(filepath.Join(dir, "console.txt"), []byte(res.Console), 0o644)
		_ = os.WriteFile(filepath.Join(dir, "script-output.txt"), []byte(res.ScriptOutput), 0o644)
	}
	t.Logf("VM: %v wall, guest timing %v", res.Elapsed.Round(time.Millisecond), res.Timing)
	return res
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// jsonLines decodes one JSON object per line.
func jsonLines[T any](t *testing.T, b []byte) []T {
	t.Helper()
	var out []T
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("decoding JSON lines: %v\n%s", err, b)
		}
		out = append(out, v)
	}
	return out
}
