// Package layouttest checks the repository's layout: every package sits on
// one side (the box, the operator, or neutral ground both import), and
// imports flow one way. Test-only.
package layouttest

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/surveybox/surveybox"

type side string

const (
	box      side = "box"      // runs on the appliance
	operator side = "operator" // runs on the operator's machine
	neutral  side = "neutral"  // protocols and data types both import; OS-neutral
	testing_ side = "test"     // test-only helpers and integration tests
)

// sides places every package, by path prefix (the longest prefix wins).
var sides = map[string]side{
	"appliance":         box,
	"cmd/surveyscan":    box,
	"survey":            box,
	"spool":             box,
	"uploader":          box,
	"pullapi":           box,
	"sshserver":         box,
	"gokrazyproxy":      box,
	"cmd/surveyctl":     operator,
	"collector":         operator,
	"sdimage":           operator,
	"flash":             operator,
	"remoteupdate":      operator,
	"wifi":              neutral,
	"config":            neutral,
	"proto":             neutral,
	"tailnet":           neutral,
	"internal/boltkv":   neutral,
	"internal/cachedir": neutral,
	"connlimit":         neutral,
	"authkeys":          operator,
	"cycles":            operator,
	"report":            operator,
	"exports":           operator,
	"internal":          testing_,
}

func sideOf(pkg string) (side, bool) {
	rel, ok := strings.CutPrefix(pkg, module+"/")
	if !ok {
		return "", false
	}
	best, bestLen := side(""), -1
	for prefix, s := range sides {
		if (rel == prefix || strings.HasPrefix(rel, prefix+"/")) && len(prefix) > bestLen {
			best, bestLen = s, len(prefix)
		}
	}
	return best, bestLen >= 0
}

type pkgInfo struct {
	ImportPath   string
	Name         string
	Imports      []string
	Deps         []string
	TestImports  []string
	XTestImports []string
}

func list(t *testing.T, env ...string) []pkgInfo {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = "../.."
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkgInfo
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkgInfo
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestImportsFlowOneWay(t *testing.T) {
	pkgs := list(t)
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	forbidden := map[side][]side{
		box:      {operator, testing_},
		operator: {box, testing_},
		neutral:  {box, operator, testing_},
	}
	for _, p := range pkgs {
		s, ok := sideOf(p.ImportPath)
		if !ok || s == "" {
			t.Errorf("%s is on no side: add it to sides", p.ImportPath)
			continue
		}
		check := func(what string, deps []string) {
			for _, d := range deps {
				if ds, ok := sideOf(d); ok && slices.Contains(forbidden[s], ds) {
					t.Errorf("%s (%s) %s %s (%s)", p.ImportPath, s, what, d, ds)
				}
			}
		}
		check("depends on", p.Deps)
		// Tests of library packages stay on their side too; the
		// integration tests that need both sides live in internal/.
		if p.Name != "main" {
			var testDeps []string
			for _, d := range append(slices.Clone(p.TestImports), p.XTestImports...) {
				if ds, _ := sideOf(d); ds != testing_ {
					testDeps = append(testDeps, d)
				}
			}
			check("is tested with", testDeps)
		}
	}
}

// TestNeutralPackagesAvoidUnix: the data model, the protocols, the config
// and the collector never reach for Linux's system interface directly, so
// the operator's tools build on macOS and Windows (make crossbuild builds
// them).
func TestNeutralPackagesAvoidUnix(t *testing.T) {
	for _, p := range list(t) {
		s, _ := sideOf(p.ImportPath)
		if s != neutral && s != operator {
			continue
		}
		if slices.Contains(p.Imports, "golang.org/x/sys/unix") {
			t.Errorf("%s (%s) imports golang.org/x/sys/unix", p.ImportPath, s)
		}
	}
}

// TestOperatorBuildsWithoutLinux lists the operator's command for macOS
// and Windows: every package it needs must exist there (make crossbuild
// compiles it).
func TestOperatorBuildsWithoutLinux(t *testing.T) {
	for _, goos := range []string{"darwin", "windows"} {
		cmd := exec.Command("go", "list", "-e", "-deps", "-f", "{{if .Error}}{{.ImportPath}}: {{.Error}}{{end}}{{if .DepsErrors}}{{.ImportPath}}: {{.DepsErrors}}{{end}}", "./cmd/surveyctl")
		cmd.Dir = "../.."
		cmd.Env = append(cmd.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list for %s: %v", goos, err)
		}
		if s := strings.TrimSpace(string(out)); s != "" {
			t.Errorf("surveyctl on %s:\n%s", goos, s)
		}
		lc := exec.Command("go", "list", "-deps", "./cmd/surveyctl")
		lc.Dir = "../.."
		lc.Env = cmd.Env
		deps, err := lc.Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range strings.Fields(string(deps)) {
			if ds, _ := sideOf(d); ds == box {
				t.Errorf("surveyctl depends on the box's %s", d)
			}
		}
	}
}
