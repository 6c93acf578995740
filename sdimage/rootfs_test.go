package sdimage

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/filesystem"
)

// checkRootFS checks the root squashfs p2 with squashfs-tools: compressed
// as both kernels read it, its size as Build reported, and extracted
// byte-exact: every file equal to what go-diskfs reads back and to its
// source (the programs, the kernel module's modules, the Debian firmware).
// On a Pi image, every file brcmfmac will ask for on a supported board is
// there, and the kernel modules are those bootModules needs.
func checkRootFS(t *testing.T, p2 string, rootFS filesystem.FileSystem, res *Result, progs *Programs, pi bool) {
	t.Helper()
	sb := run(t, "unsquashfs", "-s", p2)
	for _, w := range []string{"Compression gzip\n", "Data is compressed\n", "Inodes are compressed\n", "Fragments are compressed\n"} {
		if !strings.Contains(sb, w) {
			t.Errorf("unsquashfs -s lacks %q:\n%s", w, sb)
		}
	}
	if m := regexp.MustCompile(`Filesystem size (\d+) bytes`).FindStringSubmatch(sb); m == nil || m[1] != strconv.FormatInt(res.RootBytes, 10) {
		t.Errorf("unsquashfs -s: size %q, Build reported %d bytes", m, res.RootBytes)
	}
	dir := filepath.Join(t.TempDir(), "root")
	run(t, "unsquashfs", "-q", "-n", "-d", dir, p2)

	release := moduleRelease(t, res.KernelDir)
	sources := map[string]string{ // image dir -> host dir with the same files
		"gokrazy":                               filepath.Join(progs.dir, "gokrazy"),
		"user":                                  filepath.Join(progs.dir, "user"),
		"lib/modules/" + filepath.Base(release): release,
	}
	if pi {
		fw, err := FetchFirmware(context.Background(), CacheDir(), t.Logf)
		if err != nil {
			t.Fatal(err)
		}
		sources["lib/firmware/brcm"] = filepath.Join(firmwareDir(fw), "brcm")
		sources["lib/firmware/cypress"] = filepath.Join(firmwareDir(fw), "cypress")
	}
	files, kos := 0, map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		files++
		got, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if want := readAll(t, rootFS, rel); !bytes.Equal(got, want) {
			t.Errorf("%s: unsquashfs extracted %d bytes, go-diskfs reads %d, not the same", rel, len(got), len(want))
		}
		for img, host := range sources {
			if sub, ok := strings.CutPrefix(rel, img+"/"); ok {
				want, err := os.ReadFile(filepath.Join(host, filepath.FromSlash(sub)))
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes, not %s/%s (%v)", rel, len(got), host, sub, err)
				}
			}
		}
		if strings.HasSuffix(rel, ".ko") || strings.Contains(rel, ".ko.") {
			kos[strings.TrimPrefix(rel, "lib/modules/"+filepath.Base(release)+"/")] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 {
		t.Fatalf("unsquashfs extracted %d files", files)
	}
	checkImageModules(t, release, kos)
	if !pi {
		return
	}
	fw, err := FetchFirmware(context.Background(), CacheDir(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	checkFirmwareResolution(t, resolveWiFiFirmware(firmwareDir(fw)), func(name string) bool {
		got, err := os.ReadFile(filepath.Join(dir, "lib", "firmware", filepath.FromSlash(name)))
		if err != nil {
			return false
		}
		want, err := os.ReadFile(filepath.Join(firmwareDir(fw), filepath.FromSlash(name)))
		return err == nil && bytes.Equal(got, want)
	})
}

// checkImageModules checks that the image's .ko files are exactly the
// boot modules that the kernel has as files, with their dependencies.
func checkImageModules(t *testing.T, release string, kos map[string]bool) {
	t.Helper()
	f, err := os.Open(filepath.Join(release, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	deps, byName, err := readModulesDep(f)
	if err != nil {
		t.Fatal(err)
	}
	want := moduleClosure(deps, byName, bootModules())
	var got []string
	for k := range kos {
		got = append(got, k)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("kernel modules in the image:\n%s\nwant (bootModules and their dependencies):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("kernel modules in the image: %q", got)
}

func TestPiFirmwareGlobs(t *testing.T) {
	for _, tt := range []struct {
		configTxt string
		all       bool
	}{
		{"arm_64bit=1\nkernel=vmlinuz\nenable_uart=1\n", false},
		{"arm_64bit=1\nstart_x=1\n", true},
		{"[pi4]\ngpu_mem=16\n", true},
		{"start_file=start_cd.elf\nfixup_file=fixup_cd.dat\n", true},
		{"# start_x=1 would need the camera firmware\n", false},
	} {
		globs := piFirmwareGlobs(tt.configTxt)
		if got := slices.Contains(globs, "*.elf"); got != tt.all {
			t.Errorf("piFirmwareGlobs(%q) = %q: all firmware variants %v, want %v", tt.configTxt, globs, got, tt.all)
		}
		for _, f := range []string{"bootcode.bin", "start.elf", "fixup.dat", "start4.elf", "fixup4.dat"} {
			if !slices.ContainsFunc(globs, func(g string) bool { m, _ := filepath.Match(g, f); return m }) {
				t.Errorf("piFirmwareGlobs(%q) = %q: no %s", tt.configTxt, globs, f)
			}
		}
	}
}
