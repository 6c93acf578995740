package testbed

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// baseModules are loaded in this order (with their dependencies first) before
// mac80211_hwsim. Without the crypto modules hostapd fails WPA with "key
// addition failed".
var baseModules = []string{
	"rfkill", "libarc4", "cfg80211", "mac80211",
	"ctr", "ccm", "gf128mul", "ghash_generic", "gcm", "cmac", "seqiv", "ecb",
}

// moduleIndex maps a module name (with '-' normalised to '_') to its file.
type moduleIndex map[string]string

func normMod(name string) string {
	name = filepath.Base(name)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		name = strings.TrimSuffix(name, ext)
	}
	name = strings.TrimSuffix(name, ".ko")
	return strings.ReplaceAll(name, "-", "_")
}

func indexModules(dir string) (moduleIndex, error) {
	idx := moduleIndex{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n := d.Name()
		if !d.IsDir() && (strings.HasSuffix(n, ".ko") || strings.Contains(n, ".ko.")) {
			idx[normMod(n)] = p
		}
		return nil
	})
	return idx, err
}

// readModule returns the uncompressed .ko bytes (Debian 12 ships them
// uncompressed; later kernels use .ko.xz, which is decompressed with xz).
func readModule(p string) ([]byte, error) {
	switch {
	case strings.HasSuffix(p, ".ko"):
		return os.ReadFile(p)
	case strings.HasSuffix(p, ".gz"):
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case strings.HasSuffix(p, ".xz"):
		return exec.Command("xz", "-dc", p).Output()
	case strings.HasSuffix(p, ".zst"):
		return exec.Command("zstd", "-dc", p).Output()
	}
	return nil, fmt.Errorf("unknown module format %s", p)
}

// moduleDeps reads depends= from the module's .modinfo section.
func moduleDeps(ko []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, err
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, nil
	}
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			var deps []string
			for _, d := range strings.Split(string(v), ",") {
				if d = strings.TrimSpace(d); d != "" {
					deps = append(deps, normMod(d))
				}
			}
			return deps, nil
		}
	}
	return nil, nil
}

type loadedModule struct {
	Name string
	Data []byte
}

// resolveModules returns the modules to insmod, dependencies first.
func resolveModules(idx moduleIndex, want []string) ([]loadedModule, error) {
	var out []loadedModule
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		name = normMod(name)
		switch state[name] {
		case 1:
			return fmt.Errorf("module dependency cycle: %v", append(chain, name))
		case 2:
			return nil
		}
		p, ok := idx[name]
		if !ok {
			return fmt.Errorf("kernel module %s not found (needed by %v)", name, chain)
		}
		state[name] = 1
		data, err := readModule(p)
		if err != nil {
			return fmt.Errorf("reading module %s: %w", p, err)
		}
		deps, err := moduleDeps(data)
		if err != nil {
			return fmt.Errorf("module %s: %w", p, err)
		}
		for _, d := range deps {
			if err := visit(d, append(chain, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		out = append(out, loadedModule{Name: name, Data: data})
		return nil
	}
	for _, w := range want {
		if err := visit(w, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}
