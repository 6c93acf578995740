package kmod

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// rpiModulesDep is kernel.rpi's modules.dep for the WiFi driver (6.12.47-v8).
const rpiModulesDep = `kernel/net/wireless/other.ko:
kernel/drivers/net/wireless/broadcom/brcm80211/brcmutil/brcmutil.ko:
kernel/drivers/net/wireless/broadcom/brcm80211/brcmfmac/brcmfmac.ko: kernel/drivers/net/wireless/broadcom/brcm80211/brcmutil/brcmutil.ko
kernel/drivers/net/wireless/broadcom/brcm80211/brcmfmac/wcc/brcmfmac-wcc.ko: kernel/drivers/net/wireless/broadcom/brcm80211/brcmfmac/brcmfmac.ko kernel/drivers/net/wireless/broadcom/brcm80211/brcmutil/brcmutil.ko
kernel/drivers/net/wireless/broadcom/brcm80211/brcmfmac/cyw/brcmfmac-cyw.ko: kernel/drivers/net/wireless/broadcom/brcm80211/brcmfmac/brcmfmac.ko kernel/drivers/net/wireless/broadcom/brcm80211/brcmutil/brcmutil.ko
kernel/drivers/net/wireless/broadcom/brcm80211/brcmfmac/bca/brcmfmac-bca.ko: kernel/drivers/net/wireless/broadcom/brcm80211/brcmfmac/brcmfmac.ko kernel/drivers/net/wireless/broadcom/brcm80211/brcmutil/brcmutil.ko
`

// fakeModules lays out a modules directory: modules.dep, modules.builtin,
// and an empty file for every module listed in dep (unless skip has it).
func fakeModules(t *testing.T, dep, builtin string, skip ...string) string {
	t.Helper()
	dir := t.TempDir()
	if dep != "" {
		if err := os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if builtin != "" {
		if err := os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte(builtin), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, line := range strings.Split(dep, "\n") {
		p, _, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		skipped := false
		for _, s := range skip {
			skipped = skipped || strings.Contains(p, s)
		}
		if skipped {
			continue
		}
		f := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(f), 0o755)
		if err := os.WriteFile(f, []byte("\x7fELF fake "+p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestModuleLoad(t *testing.T) {
	for _, tt := range []struct {
		name      string
		dep       string
		builtin   string
		skipFiles []string
		errs      map[string]error // finit result by module name
		wantCalls []string
		want      []string // name=status
		wantErr   error
		wantLine  string
	}{
		{
			name:      "pi: dependencies first, each once",
			dep:       rpiModulesDep,
			wantCalls: []string{"brcmutil", "brcmfmac", "brcmfmac-wcc", "brcmfmac-cyw", "brcmfmac-bca"},
			want:      []string{"brcmutil=loaded", "brcmfmac=loaded", "brcmfmac-wcc=loaded", "brcmfmac-cyw=loaded", "brcmfmac-bca=loaded"},
			wantLine:  "modules: brcmutil loaded, brcmfmac loaded, brcmfmac-wcc loaded, brcmfmac-cyw loaded, brcmfmac-bca loaded",
		},
		{
			name:      "already loaded (EEXIST) is fine",
			dep:       rpiModulesDep,
			errs:      map[string]error{"brcmutil": unix.EEXIST, "brcmfmac": unix.EEXIST},
			wantCalls: []string{"brcmutil", "brcmfmac", "brcmfmac-wcc", "brcmfmac-cyw", "brcmfmac-bca"},
			want:      []string{"brcmutil=already loaded", "brcmfmac=already loaded", "brcmfmac-wcc=loaded", "brcmfmac-cyw=loaded", "brcmfmac-bca=loaded"},
		},
		{
			name:      "a failed dependency fails its dependents without trying them",
			dep:       rpiModulesDep,
			errs:      map[string]error{"brcmutil": unix.ENOEXEC},
			wantCalls: []string{"brcmutil"},
			want:      []string{"brcmutil=failed", "brcmfmac=failed", "brcmfmac-wcc=failed", "brcmfmac-cyw=failed", "brcmfmac-bca=failed"},
		},
		{
			name:      "a vendor module failing leaves the driver loaded",
			dep:       rpiModulesDep,
			errs:      map[string]error{"brcmfmac-bca": unix.EINVAL},
			wantCalls: []string{"brcmutil", "brcmfmac", "brcmfmac-wcc", "brcmfmac-cyw", "brcmfmac-bca"},
			want:      []string{"brcmutil=loaded", "brcmfmac=loaded", "brcmfmac-wcc=loaded", "brcmfmac-cyw=loaded", "brcmfmac-bca=failed"},
		},
		{
			name:      "only brcmfmac, no vendor modules (older kernels)",
			dep:       "kernel/x/brcmutil.ko:\nkernel/x/brcmfmac.ko: kernel/x/brcmutil.ko\n",
			wantCalls: []string{"brcmutil", "brcmfmac"},
			want:      []string{"brcmutil=loaded", "brcmfmac=loaded"},
		},
		{
			name:      "listed but the file is missing",
			dep:       rpiModulesDep,
			skipFiles: []string{"brcmfmac.ko"},
			wantCalls: []string{"brcmutil"},
			want:      []string{"brcmutil=loaded", "brcmfmac=failed", "brcmfmac-wcc=failed", "brcmfmac-cyw=failed", "brcmfmac-bca=failed"},
		},
		{
			name:      "compressed modules: the kernel decompresses",
			dep:       "kernel/x/brcm_util.ko.zst:\nkernel/x/brcmfmac.ko.xz: kernel/x/brcm_util.ko.zst\n",
			wantCalls: []string{"brcm-util+4", "brcmfmac+4"},
			want:      []string{"brcm-util=loaded", "brcmfmac=loaded"},
		},
		{
			name:     "built into the kernel",
			dep:      "kernel/net/other.ko:\n",
			builtin:  "kernel/drivers/net/wireless/broadcom/brcm80211/brcmfmac/brcmfmac.ko\n",
			want:     []string{"brcmfmac=built in"},
			wantLine: "modules: brcmfmac built in",
		},
		{
			name:     "VM kernel: no WiFi modules",
			dep:      "kernel/drivers/hwmon/pwm-fan.ko:\n",
			wantErr:  ErrAbsent,
			wantLine: "modules: brcmfmac not present in this kernel (no WiFi driver to load)",
		},
		{
			name:     "no /lib/modules at all",
			wantErr:  ErrAbsent,
			wantLine: "modules: brcmfmac not present in this kernel (no WiFi driver to load)",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			l := &Loader{
				dir: fakeModules(t, tt.dep, tt.builtin, tt.skipFiles...),
				finit: func(f *os.File, params string, flags int) error {
					name := modName(f.Name())
					if flags != 0 {
						name += "+" + string(rune('0'+flags))
					}
					calls = append(calls, name)
					b, _ := os.ReadFile(f.Name())
					if !strings.HasPrefix(string(b), "\x7fELF fake") {
						t.Errorf("finit on %s: wrong file", f.Name())
					}
					return tt.errs[modName(f.Name())]
				},
			}
			res, err := l.Load(WiFi())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(calls, tt.wantCalls) {
				t.Errorf("finit calls %q, want %q", calls, tt.wantCalls)
			}
			var got []string
			for _, r := range res {
				got = append(got, r.Name+"="+string(r.Status))
				if (r.Status == Failed) != (r.Err != nil) {
					t.Errorf("%s: status %s with err %v", r.Name, r.Status, r.Err)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("results %q, want %q", got, tt.want)
			}
			if tt.wantLine != "" {
				if line := Summary(res, err); line != tt.wantLine {
					t.Errorf("line %q, want %q", line, tt.wantLine)
				}
			}
		})
	}
}

// TestModulesDepOfKernelRPi checks the loader against the modules.dep that
// the Pi image really ships (kernel.rpi from the module cache, pinned by
// go.mod), so that a kernel update that renames or reorders the driver
// shows up here.
func TestModulesDepOfKernelRPi(t *testing.T) {
	dir := moduleDirOf(t, "github.com/gokrazy/kernel.rpi")
	rels, _ := filepath.Glob(filepath.Join(dir, "lib", "modules", "*"))
	if len(rels) != 1 {
		t.Fatalf("kernel.rpi has %d module trees: %q", len(rels), rels)
	}
	var calls []string
	l := &Loader{dir: rels[0], finit: func(f *os.File, _ string, _ int) error {
		calls = append(calls, modName(f.Name()))
		return nil
	}}
	if _, err := l.Load(WiFi()); err != nil {
		t.Fatal(err)
	}
	if len(calls) < 2 || calls[len(calls)-1] == "brcmutil" || indexOf(calls, "brcmutil") > indexOf(calls, "brcmfmac") || indexOf(calls, "brcmfmac") > indexOf(calls, "brcmfmac-wcc") {
		t.Errorf("load order %q: want brcmutil, brcmfmac, then the vendor modules (brcmfmac-wcc for the Pi)", calls)
	}
	t.Logf("kernel.rpi load order: %q", calls)
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return len(s)
}

// moduleDirOf returns a module's directory at the version go.mod pins.
func moduleDirOf(t *testing.T, mod string) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", mod).Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", mod, err)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		t.Fatalf("go mod download %s: %v %s", mod, err, info.Error)
	}
	return info.Dir
}
