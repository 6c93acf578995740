// Package kmod loads kernel modules with finit_module(2) in the order
// modules.dep gives, the way modprobe would, on a system (gokrazy) that has
// no modprobe; and names the Raspberry Pi's WiFi driver modules.
package kmod

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// WiFi lists the Raspberry Pi's WiFi driver modules. gokrazy's kernel.rpi
// has cfg80211 built in and brcmfmac as a module; nothing in gokrazy loads it, so the appliance does.
// brcmfmac asks for its firmware-vendor module (brcmfmac-wcc on the Pi's
// Broadcom/Cypress chips) with request_module(), which needs a modprobe that
// gokrazy does not have: loading the vendor modules right after brcmfmac
// registers them before the (asynchronous) probe attaches, so the request is
// never made.
func WiFi() []string {
	return []string{"brcmfmac", "brcmfmac-wcc", "brcmfmac-cyw", "brcmfmac-bca"}
}

// Status is what happened to one module.
type Status string

const (
	Loaded  Status = "loaded"
	Already Status = "already loaded"
	Builtin Status = "built in"
	Failed  Status = "failed"
)

type Result struct {
	Name   string // brcmfmac
	Path   string // relative to the modules directory
	Status Status
	Err    error
}

// Loader loads kernel modules with finit_module(2), in the dependency
// order modules.dep gives (what modprobe would do), without modprobe.
type Loader struct {
	dir   string                                           // /lib/modules/<release>
	finit func(f *os.File, params string, flags int) error // unix.FinitModule in production
}

func NewLoader() (*Loader, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return nil, err
	}
	release := unix.ByteSliceToString(uts.Release[:])
	return &Loader{
		dir: filepath.Join("/lib/modules", release),
		finit: func(f *os.File, params string, flags int) error {
			return unix.FinitModule(int(f.Fd()), params, flags)
		},
	}, nil
}

// modName is a module's name as the kernel knows it: the file name without
// .ko[.xz|.zst|.gz], with '-' and '_' equivalent.
func modName(p string) string {
	b := filepath.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		b = strings.TrimSuffix(b, ext)
	}
	b = strings.TrimSuffix(b, ".ko")
	return strings.ReplaceAll(b, "_", "-")
}

// readModulesDep parses modules.dep: "path: dep1 dep2 ..." where the deps
// are the full transitive closure, the ones to load last listed first.
func readModulesDep(dir string) (map[string][]string, map[string]string, error) {
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	deps := map[string][]string{} // path -> dependency paths
	byName := map[string]string{} // name -> path
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		mod, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(mod) == "" {
			continue
		}
		mod = strings.TrimSpace(mod)
		deps[mod] = strings.Fields(rest)
		byName[modName(mod)] = mod
	}
	return deps, byName, sc.Err()
}

// builtinModules lists modules.builtin (built into the kernel).
func builtinModules(dir string) map[string]bool {
	b, err := os.ReadFile(filepath.Join(dir, "modules.builtin"))
	if err != nil {
		return nil
	}
	m := map[string]bool{}
	for _, l := range strings.Fields(string(b)) {
		m[modName(l)] = true
	}
	return m
}

// ErrAbsent means the kernel has none of the wanted modules.
var ErrAbsent = errors.New("not present")

// load loads each wanted module that exists, dependencies first, each module
// at most once. A module that is absent from modules.dep is skipped; if none
// is present (a VM kernel without WiFi), it returns ErrAbsent. EEXIST
// (already loaded) is success. A failed dependency fails its dependents
// without another finit_module call.
func (l *Loader) Load(wanted []string) ([]Result, error) {
	builtin := builtinModules(l.dir)
	deps, byName, err := readModulesDep(l.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(l.dir, "modules.dep"), err)
	}
	var res []Result
	done := map[string]*Result{} // by path
	loadOne := func(p string) *Result {
		if r, ok := done[p]; ok {
			return r
		}
		r := &Result{Name: modName(p), Path: p}
		done[p] = r
		for i := len(deps[p]) - 1; i >= 0; i-- {
			d := deps[p][i]
			dr, ok := done[d]
			if !ok {
				dr = l.loadFile(d)
				done[d] = dr
				res = append(res, *dr)
			}
			if dr.Status == Failed {
				r.Status, r.Err = Failed, fmt.Errorf("dependency %s failed", dr.Name)
				return r
			}
		}
		*r = *l.loadFile(p)
		return r
	}
	found := false
	for _, name := range wanted {
		name = modName(name)
		if builtin[name] {
			res = append(res, Result{Name: name, Status: Builtin})
			found = true
			continue
		}
		p, ok := byName[name]
		if !ok {
			continue
		}
		found = true
		if _, ok := done[p]; ok {
			continue
		}
		r := loadOne(p)
		res = append(res, *r)
	}
	if !found {
		return nil, ErrAbsent
	}
	return res, nil
}

func (l *Loader) loadFile(rel string) *Result {
	r := &Result{Name: modName(rel), Path: rel}
	f, err := os.Open(filepath.Join(l.dir, rel))
	if err != nil {
		r.Status, r.Err = Failed, err
		return r
	}
	defer f.Close()
	flags := 0
	if b := filepath.Base(rel); !strings.HasSuffix(b, ".ko") && strings.Contains(b, ".ko.") {
		flags |= unix.MODULE_INIT_COMPRESSED_FILE // the kernel decompresses
	}
	switch err := l.finit(f, "", flags); {
	case err == nil:
		r.Status = Loaded
	case errors.Is(err, unix.EEXIST):
		r.Status = Already
	default:
		r.Status, r.Err = Failed, fmt.Errorf("finit_module %s: %w", rel, err)
	}
	return r
}

// Summary is the console line for a load.
func Summary(res []Result, err error) string {
	if errors.Is(err, ErrAbsent) {
		return "modules: brcmfmac not present in this kernel (no WiFi driver to load)"
	}
	if err != nil {
		return "modules: " + err.Error()
	}
	var parts []string
	for _, r := range res {
		s := r.Name + " " + string(r.Status)
		if r.Err != nil {
			s += " (" + r.Err.Error() + ")"
		}
		parts = append(parts, s)
	}
	return "modules: " + strings.Join(parts, ", ")
}
