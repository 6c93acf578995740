package sdimage

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/surveybox/surveybox/internal/cachedir"
)

// CacheDir returns $SURVEYBOX_CACHE, or $HOME/.cache/surveybox.
func CacheDir() string { return cachedir.Dir() }

// WiFi firmware for the Raspberry Pi's Broadcom/Cypress radios comes from
// Debian's firmware-brcm80211 (component non-free-firmware), the regulatory
// database from wireless-regdb (main). Both are fetched with apt-get using a
// private sources list and state directory under the cache, so the host's
// apt configuration is neither needed nor changed.
//
// firmware-brcm80211 is taken from <codename>-backports when the mirror has
// it (Debian 12: 20250410-2~bpo12+1, which adds the Zero 2 W nvram link),
// else from <codename>.
var debianFirmwarePackages = []string{"firmware-brcm80211", "wireless-regdb"}

// piFirmwareFiles selects what goes into /lib/firmware: the brcmfmac blobs,
// CLM blobs and nvram files of the Pi 3 (43430), 3B+/4 (43455) and Zero 2 W
// (43430 rev1, 43436 when a Debian release ships it), plus regulatory.db.
var piFirmwareRe = regexp.MustCompile(`^brcm/brcmfmac434(30|30b0|36|36s|55)-sdio\.`)

// firmwareStampVersion changes whenever the cache layout changes.
const firmwareStampVersion = "1"

// FetchFirmware makes sure the Debian firmware is unpacked under
// <cache>/firmware-brcm80211/root and returns that directory. A second call
// with a complete cache needs no network.
func FetchFirmware(ctx context.Context, cache string, logf func(string, ...any)) (string, error) {
	base := filepath.Join(cache, "firmware-brcm80211")
	root := filepath.Join(base, "root")
	stamp := filepath.Join(base, ".stamp-v"+firmwareStampVersion)
	if _, err := os.Stat(stamp); err == nil {
		return root, nil
	}
	for _, tool := range []string{"apt-get", "dpkg"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("fetching the Pi WiFi firmware needs %s (Debian): %v", tool, err)
		}
	}
	codename, err := osCodename()
	if err != nil {
		return "", err
	}
	mirror := debianMirror()
	logf("fetching Debian %s packages %s from %s", codename, strings.Join(debianFirmwarePackages, ", "), mirror)

	aptDir := filepath.Join(base, "apt")
	debs := filepath.Join(base, "debs")
	for _, d := range []string{filepath.Join(aptDir, "lists", "partial"), filepath.Join(aptDir, "cache", "archives", "partial"), filepath.Join(aptDir, "parts"), debs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	keyring := "/usr/share/keyrings/debian-archive-keyring.gpg"
	signedBy := ""
	if _, err := os.Stat(keyring); err == nil {
		signedBy = "[signed-by=" + keyring + "] "
	}
	sources := fmt.Sprintf("deb %s%s %s main non-free-firmware\ndeb %s%s %s-backports main non-free-firmware\n",
		signedBy, mirror, codename, signedBy, mirror, codename)
	sourceList := filepath.Join(aptDir, "sources.list")
	if err := os.WriteFile(sourceList, []byte(sources), 0o644); err != nil {
		return "", err
	}
	aptOpts := []string{
		"-o", "Dir::Etc::SourceList=" + sourceList,
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(aptDir, "parts"),
		"-o", "Dir::State::Lists=" + filepath.Join(aptDir, "lists"),
		"-o", "Dir::Cache=" + filepath.Join(aptDir, "cache"),
		"-o", "APT::Sandbox::User=root",
		"-q",
	}
	run := func(dir string, args ...string) error {
		cmd := exec.CommandContext(ctx, "apt-get", append(append([]string{}, aptOpts...), args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("apt-get %s: %v\n%s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := run(debs, "update"); err != nil {
		return "", err
	}
	matches, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
	for _, m := range matches {
		os.Remove(m)
	}
	for _, pkg := range debianFirmwarePackages {
		err := run(debs, "download", pkg+"/"+codename+"-backports")
		if err != nil {
			if err2 := run(debs, "download", pkg); err2 != nil {
				return "", fmt.Errorf("downloading Debian package %s: %w", pkg, err2)
			}
		}
	}
	if err := os.RemoveAll(root); err != nil {
		return "", err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	matches, _ = filepath.Glob(filepath.Join(debs, "*.deb"))
	var versions []string
	for _, m := range matches {
		out, err := exec.CommandContext(ctx, "dpkg", "-x", m, root).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("dpkg -x %s: %w\n%s", m, err, out)
		}
		versions = append(versions, filepath.Base(m))
	}
	if _, err := os.Stat(filepath.Join(root, "lib", "firmware", "brcm")); err != nil {
		return "", fmt.Errorf("firmware-brcm80211 unpacked without lib/firmware/brcm: %w", err)
	}
	if err := os.WriteFile(filepath.Join(base, "versions.txt"), []byte(strings.Join(versions, "\n")+"\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(stamp, nil, 0o644); err != nil {
		return "", err
	}
	logf("firmware cached in %s (%s)", root, strings.Join(versions, ", "))
	return root, nil
}

func osCodename() (string, error) {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "", fmt.Errorf("reading the Debian release: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VERSION_CODENAME="); ok {
			if v = strings.Trim(v, `"`); v != "" {
				return v, nil
			}
		}
	}
	return "", fmt.Errorf("/etc/os-release has no VERSION_CODENAME (not Debian?)")
}

// debianMirror returns the first Debian archive URI of the host's apt
// sources (deb822 or one-line format), defaulting to deb.debian.org.
func debianMirror() string {
	files := []string{"/etc/apt/sources.list"}
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append(files, more...)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			for _, fld := range fields {
				if (strings.HasPrefix(fld, "http://") || strings.HasPrefix(fld, "https://")) &&
					strings.HasSuffix(strings.TrimSuffix(fld, "/"), "/debian") {
					fh.Close()
					return strings.TrimSuffix(fld, "/")
				}
			}
		}
		fh.Close()
	}
	return "http://deb.debian.org/debian"
}

// firmwareFile is one file (or symlink) placed under /lib/firmware.
type firmwareFile struct {
	rel     string // relative to lib/firmware, e.g. brcm/brcmfmac43455-sdio.bin
	host    string // host path of a regular file
	symlink string // link target, for symlinks
}

// selectFirmware picks the Pi WiFi files from the unpacked Debian root,
// following symlinks into ../cypress so every link resolves in the image.
func selectFirmware(root string) ([]firmwareFile, error) {
	fwDir := filepath.Join(root, "lib", "firmware")
	var out []firmwareFile
	seen := map[string]bool{}
	var add func(rel string) error
	add = func(rel string) error {
		if seen[rel] {
			return nil
		}
		seen[rel] = true
		p := filepath.Join(fwDir, rel)
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if st.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, firmwareFile{rel: rel, symlink: target})
			resolved := filepath.Clean(filepath.Join(filepath.Dir(rel), target))
			if strings.HasPrefix(resolved, "..") || filepath.IsAbs(target) {
				return fmt.Errorf("firmware symlink %s -> %s leaves /lib/firmware", rel, target)
			}
			return add(resolved)
		}
		out = append(out, firmwareFile{rel: rel, host: p})
		return nil
	}
	entries, err := os.ReadDir(filepath.Join(fwDir, "brcm"))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		rel := "brcm/" + e.Name()
		if piFirmwareRe.MatchString(rel) {
			if err := add(rel); err != nil {
				return nil, err
			}
		}
	}
	for _, name := range []string{"regulatory.db", "regulatory.db.p7s"} {
		// The kernel checks the signature against the upstream
		// (wireless-regdb maintainer's) key, so ship the upstream pair.
		src := filepath.Join(fwDir, name+"-upstream")
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("wireless-regdb: %w", err)
		}
		out = append(out, firmwareFile{rel: name, host: src})
	}
	return out, nil
}
