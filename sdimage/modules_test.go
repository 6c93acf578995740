package sdimage

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// goSources walks the non-test Go files under dir and calls f with each
// file's string literals and whether it calls a function named FinitModule.
func goSources(t *testing.T, dir string, f func(file string, literals []string, finit bool)) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "website" || d.Name() == "docs") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		var lits []string
		finit := false
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if n.Kind == token.STRING {
					if s, err := strconv.Unquote(n.Value); err == nil {
						lits = append(lits, s)
					}
				}
			case *ast.SelectorExpr:
				finit = finit || n.Sel.Name == "FinitModule"
			case *ast.Ident:
				finit = finit || n.Name == "FinitModule"
			}
			return true
		})
		f(p, lits, finit)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// kernelModuleNames are the modules kernel.rpi has, as files and built in.
func kernelModuleNames(t *testing.T, release string) (files map[string]string, builtin map[string]bool) {
	t.Helper()
	f, err := os.Open(filepath.Join(release, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, files, err = readModulesDep(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(release, "modules.builtin"))
	if err != nil {
		t.Fatal(err)
	}
	builtin = map[string]bool{}
	for _, p := range strings.Fields(string(b)) {
		builtin[moduleName(p)] = true
	}
	return files, builtin
}

// TestBootModules checks bootModules against the modules the pinned
// gokrazy runtime and the appliance load (read from their sources) and
// against kernel.rpi.
func TestBootModules(t *testing.T) {
	release := moduleRelease(t, kernelModuleDir(t, DefaultKernelPackage))
	files, builtin := kernelModuleNames(t, release)
	boot := bootModules()
	asked := map[string]string{} // module name -> who asks for it

	// gokrazy loads modules by path (modules.go: loadModule(release,
	// "kernel/…/x.ko")); every file that calls FinitModule must name them.
	gokrazy := kernelModuleDir(t, "github.com/gokrazy/gokrazy")
	goSources(t, gokrazy, func(file string, lits []string, finit bool) {
		var kos []string
		for _, s := range lits {
			if strings.HasPrefix(s, "kernel/") && (strings.HasSuffix(s, ".ko") || strings.Contains(s, ".ko.")) {
				kos = append(kos, s)
				asked[moduleName(s)] = "gokrazy (" + s + ")"
			}
		}
		if finit && len(kos) == 0 {
			t.Errorf("%s loads kernel modules but names none as kernel/….ko: read it and update bootModules", file)
		}
	})
	// The appliance loads modules by name, in appliance/kmod only.
	kmodDir, err := filepath.Abs("../appliance/kmod")
	if err != nil {
		t.Fatal(err)
	}
	goSources(t, filepath.Dir(kmodDir), func(file string, lits []string, finit bool) {
		if filepath.Dir(file) != kmodDir {
			if finit {
				t.Errorf("%s loads kernel modules outside appliance/kmod: check it and update bootModules", file)
			}
			return
		}
		for _, s := range lits {
			if _, ok := files[moduleName(s)]; ok || builtin[moduleName(s)] {
				asked[moduleName(s)] = "the appliance (appliance/kmod)"
			}
		}
	})
	if len(asked) == 0 {
		t.Fatal("found no module that gokrazy or the appliance loads")
	}
	for name, who := range asked {
		switch {
		case !slices.Contains(boot, name):
			t.Errorf("%s loads %s, which bootModules lacks", who, name)
		case builtin[name]:
			t.Logf("%s: built into kernel.rpi (asked for by %s)", name, who)
		case files[name] != "":
			t.Logf("%s: %s (asked for by %s)", name, files[name], who)
		default:
			t.Logf("%s: not in kernel.rpi (asked for by %s)", name, who)
		}
	}
	for _, name := range boot {
		if _, ok := asked[name]; !ok {
			t.Errorf("bootModules lists %s, which neither gokrazy nor the appliance loads", name)
		}
	}
}

func TestModuleClosure(t *testing.T) {
	const dep = `kernel/net/wireless/other.ko:
kernel/drivers/net/wireless/broadcom/brcm80211/brcmutil/brcmutil.ko:
kernel/drivers/net/wireless/broadcom/brcm80211/brcmfmac/brcmfmac.ko: kernel/drivers/net/wireless/broadcom/brcm80211/brcmutil/brcmutil.ko
kernel/drivers/net/wireless/broadcom/brcm80211/brcmfmac/wcc/brcmfmac-wcc.ko: kernel/drivers/net/wireless/broadcom/brcm80211/brcmfmac/brcmfmac.ko kernel/drivers/net/wireless/broadcom/brcm80211/brcmutil/brcmutil.ko
kernel/drivers/hwmon/pwm_fan.ko.xz:
`
	deps, byName, err := readModulesDep(strings.NewReader(dep))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		wanted []string
		want   []string
	}{
		{[]string{"brcmfmac-wcc"}, []string{
			"kernel/drivers/net/wireless/broadcom/brcm80211/brcmfmac/brcmfmac.ko",
			"kernel/drivers/net/wireless/broadcom/brcm80211/brcmfmac/wcc/brcmfmac-wcc.ko",
			"kernel/drivers/net/wireless/broadcom/brcm80211/brcmutil/brcmutil.ko",
		}},
		{[]string{"pwm-fan", "nosuch"}, []string{"kernel/drivers/hwmon/pwm_fan.ko.xz"}},
		{nil, []string{}},
	} {
		if got := moduleClosure(deps, byName, tt.wanted); !slices.Equal(got, tt.want) {
			t.Errorf("moduleClosure(%q) = %q, want %q", tt.wanted, got, tt.want)
		}
	}
	big := strings.NewReader(strings.Repeat("x.ko:\n", maxModulesDep/5))
	if _, _, err := readModulesDep(big); err == nil {
		t.Errorf("readModulesDep read %d bytes of modules.dep without complaint", big.Size())
	}
}
