// Package vmtest runs the appliance against the real Linux kernel:
// cfg80211/mac80211 with mac80211_hwsim radios and hostapd access points in
// a throwaway qemu VM (internal/testbed), checked against iw in the same VM.
package vmtest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
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

// buildAppliance compiles a static appliance for the VM.
func buildAppliance(t *testing.T) string { return buildApplianceTB(t) }

func buildApplianceTB(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "appliance")
	cmd := exec.Command("go", "build", "-o", out, "github.com/surveybox/surveybox/appliance")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the appliance: %v\n%s", err, b)
	}
	return out
}

// runVM boots the scenario with the appliance at /bin/appliance and runs
// script; it fails the test with the console tail when the VM fails.
func runVM(t *testing.T, sc testbed.Scenario, script string, timeout time.Duration) *testbed.Result {
	t.Helper()
	o := sc.Options()
	if o.Files == nil {
		o.Files = map[string]string{}
	}
	o.Files["/bin/appliance"] = buildAppliance(t)
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
