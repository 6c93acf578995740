package sdimage

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// bootModules are the kernel modules something on the box loads. gokrazy
// has no modprobe, so the kernel's own module requests fail and only
// these are ever loaded:
//   - by gokrazy's runtime (gokrazy.Boot loads
//     kernel/drivers/hwmon/pwm-fan.ko for the Pi 5's fan; kernel.rpi builds
//     it in, so there is no file and gokrazy logs that it found none);
//   - by the appliance (appliance/kmod): the WiFi driver and its firmware
//     vendor modules.
//
// The image carries these, what they depend on (modules.dep) and the
// module index files, and no other module. The tests check this list
// against gokrazy's and the appliance's sources.
func bootModules() []string {
	return []string{"pwm-fan", "brcmfmac", "brcmfmac-wcc", "brcmfmac-cyw", "brcmfmac-bca"}
}

// maxModulesDep bounds modules.dep: kernel.rpi's is 25 KiB, a distribution
// kernel's with every driver about 1 MiB.
const maxModulesDep = 16 << 20

// moduleName is a module's name as the kernel knows it: the file name
// without .ko and compression suffix, with '-' and '_' equivalent.
func moduleName(p string) string {
	b := path.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		b = strings.TrimSuffix(b, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(b, ".ko"), "_", "-")
}

// readModulesDep parses modules.dep ("path: dep1 dep2 ...", each line
// listing all of a module's dependencies) into dependencies by path and
// paths by module name.
func readModulesDep(r io.Reader) (deps map[string][]string, byName map[string]string, _ error) {
	deps, byName = map[string][]string{}, map[string]string{}
	lr := &io.LimitedReader{R: r, N: maxModulesDep + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		mod, rest, ok := strings.Cut(sc.Text(), ":")
		mod = strings.TrimSpace(mod)
		if !ok || mod == "" {
			continue
		}
		deps[mod] = strings.Fields(rest)
		byName[moduleName(mod)] = mod
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	if lr.N == 0 {
		return nil, nil, fmt.Errorf("modules.dep is larger than %d bytes", maxModulesDep)
	}
	return deps, byName, nil
}

// moduleClosure returns the files of the wanted modules that exist in
// modules.dep and of all they depend on, sorted.
func moduleClosure(deps map[string][]string, byName map[string]string, wanted []string) []string {
	set := map[string]bool{}
	for _, name := range wanted {
		p, ok := byName[moduleName(name)]
		if !ok {
			continue // built in, or not in this kernel
		}
		set[p] = true
		for _, d := range deps[p] {
			set[d] = true
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// copyModules installs the kernel module's /lib/modules/<release>
// directories: their index files (modules.dep, modules.builtin, …) and the
// wanted modules with their dependencies. It returns the module files
// installed, relative to /lib/modules.
func (r *rootTree) copyModules(modsDir string, wanted []string) ([]string, error) {
	releases, err := os.ReadDir(modsDir)
	if err != nil {
		return nil, err
	}
	var installed []string
	for _, rel := range releases {
		if !rel.IsDir() {
			continue
		}
		src := filepath.Join(modsDir, rel.Name())
		dest := path.Join("/lib/modules", rel.Name())
		if err := r.mkdir(dest); err != nil {
			return nil, err
		}
		files, err := os.ReadDir(src)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if f.Type().IsRegular() {
				if err := r.copyFile(path.Join(dest, f.Name()), filepath.Join(src, f.Name()), 0o644); err != nil {
					return nil, err
				}
			}
		}
		mods, err := releaseModules(src, wanted)
		if err != nil {
			return nil, err
		}
		for _, m := range mods {
			if err := r.copyFile(path.Join(dest, m), filepath.Join(src, filepath.FromSlash(m)), 0o644); err != nil {
				return nil, fmt.Errorf("module %s of %s: %w", m, rel.Name(), err)
			}
			installed = append(installed, path.Join(rel.Name(), m))
		}
	}
	return installed, nil
}

// releaseModules reads a release's modules.dep and returns the wanted
// modules' files with their dependencies; none without a modules.dep.
func releaseModules(releaseDir string, wanted []string) ([]string, error) {
	f, err := os.Open(filepath.Join(releaseDir, "modules.dep"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	deps, byName, err := readModulesDep(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	mods := moduleClosure(deps, byName, wanted)
	for _, m := range mods {
		if clean := path.Clean(m); clean != m || path.IsAbs(m) || strings.HasPrefix(m, "../") {
			return nil, fmt.Errorf("%s: module path %q leaves the release directory", f.Name(), m)
		}
	}
	return mods, nil
}
