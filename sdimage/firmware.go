package sdimage

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/surveybox/surveybox/internal/cachedir"
)

// CacheDir returns $SURVEYBOX_CACHE, or $HOME/.cache/surveybox.
func CacheDir() string { return cachedir.Dir() }

// debPackage is a Debian package that part of /lib/firmware comes from.
type debPackage struct {
	name, suite string
	// version and sha256 pin the package. An unpinned package is the
	// suite's current one, which apt checks against the signed archive.
	version, sha256 string
}

// firmwareDebs are the packages /lib/firmware is made of, all from Debian
// 13 (trixie): a stable release keeps its versions in the archive, so the
// pins stay fetchable. They are fetched with apt-get using a private
// sources list and state directory under the cache, so the host's apt
// configuration is neither needed nor changed, and the host may be any
// Debian release.
func firmwareDebs() []debPackage {
	return []debPackage{
		// The brcmfmac firmware, CLM blobs and board NVRAM files of every
		// supported Pi but the 400.
		{name: "firmware-brcm80211", suite: "trixie", version: "20250410-2", sha256: "266cc703e2299f5253fd1ff9a1fd625d85a2c8e5a88b1a65fcc190ac384ce3d7"},
		// The Pi 400's CYW43456 firmware, CLM blob and NVRAM (no other
		// Debian package has them). Its boot firmware is not used: the
		// boot partition's comes from gokrazy's firmware module.
		{name: "raspi-firmware", suite: "trixie", version: "1.20240424+ds-6", sha256: "f95a3d3c41df10bac33580be91b595efa1e126ad5e4b7eca75ce26fbbc69af06"},
		// The regulatory database follows the law: Debian's stable updates
		// replace it and the archive keeps only the newest, so a pinned
		// version would soon be gone.
		{name: "wireless-regdb", suite: "trixie"},
	}
}

// firmwareCacheKey names the cache's layout and the packages in it; a
// cache made for other packages is fetched anew.
func firmwareCacheKey(debs []debPackage) string {
	var b strings.Builder
	b.WriteString("layout 2\n")
	for _, d := range debs {
		fmt.Fprintf(&b, "%s %s %s %s\n", d.name, d.suite, d.version, d.sha256)
	}
	return b.String()
}

// FetchFirmware makes sure the Debian firmware packages are unpacked under
// <cache>/pi-firmware/root and returns that directory. A second call
// with a complete cache needs no network.
func FetchFirmware(ctx context.Context, cache string, logf func(string, ...any)) (string, error) {
	debs := firmwareDebs()
	base := filepath.Join(cache, "pi-firmware")
	root := filepath.Join(base, "root")
	stamp := filepath.Join(base, ".stamp")
	key := firmwareCacheKey(debs)
	if b, err := os.ReadFile(stamp); err == nil && string(b) == key {
		return root, nil
	}
	for _, tool := range []string{"apt-get", "dpkg"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("fetching the Pi WiFi firmware needs %s (Debian): %w", tool, err)
		}
	}
	mirror := debianMirror()
	debsDir := filepath.Join(base, "debs")
	apt, err := newAptDir(filepath.Join(base, "apt"), mirror, debs)
	if err != nil {
		return "", err
	}
	logf("fetching Debian packages %s from %s", debNames(debs), mirror)
	if err := os.RemoveAll(debsDir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(debsDir, 0o755); err != nil {
		return "", err
	}
	if err := apt.run(ctx, debsDir, "update"); err != nil {
		return "", err
	}
	if err := os.RemoveAll(root); err != nil {
		return "", err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	var versions []string
	for _, d := range debs {
		deb, sum, err := apt.download(ctx, debsDir, d)
		if err != nil {
			return "", err
		}
		out, err := exec.CommandContext(ctx, "dpkg", "-x", deb, root).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("dpkg -x %s: %w\n%s", deb, err, out)
		}
		versions = append(versions, filepath.Base(deb)+" sha256:"+sum)
	}
	if _, err := os.Stat(filepath.Join(firmwareDir(root), "brcm")); err != nil {
		return "", fmt.Errorf("firmware-brcm80211 unpacked without lib/firmware/brcm: %w", err)
	}
	if err := os.WriteFile(filepath.Join(base, "versions.txt"), []byte(strings.Join(versions, "\n")+"\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(stamp, []byte(key), 0o644); err != nil {
		return "", err
	}
	logf("firmware cached in %s (%s)", root, strings.Join(versions, ", "))
	return root, nil
}

func debNames(debs []debPackage) string {
	var names []string
	for _, d := range debs {
		names = append(names, d.name)
	}
	return strings.Join(names, ", ")
}

// aptDir is apt-get's private configuration and state for the fetch.
type aptDir struct {
	dir  string
	opts []string
}

func newAptDir(dir, mirror string, debs []debPackage) (*aptDir, error) {
	for _, d := range []string{filepath.Join(dir, "lists", "partial"), filepath.Join(dir, "cache", "archives", "partial"), filepath.Join(dir, "parts")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	signedBy := ""
	if keyring := "/usr/share/keyrings/debian-archive-keyring.gpg"; fileExists(keyring) {
		signedBy = "[signed-by=" + keyring + "] "
	}
	var sources strings.Builder
	seen := map[string]bool{}
	for _, d := range debs {
		if !seen[d.suite] {
			seen[d.suite] = true
			fmt.Fprintf(&sources, "deb %s%s %s main non-free-firmware\n", signedBy, mirror, d.suite)
		}
	}
	sourceList := filepath.Join(dir, "sources.list")
	if err := os.WriteFile(sourceList, []byte(sources.String()), 0o644); err != nil {
		return nil, err
	}
	return &aptDir{dir: dir, opts: []string{
		"-o", "Dir::Etc::SourceList=" + sourceList,
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(dir, "parts"),
		"-o", "Dir::State::Lists=" + filepath.Join(dir, "lists"),
		"-o", "Dir::Cache=" + filepath.Join(dir, "cache"),
		"-o", "APT::Sandbox::User=root",
		"-q",
	}}, nil
}

func (a *aptDir) run(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "apt-get", append(append([]string{}, a.opts...), args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// download fetches one package into dir and returns its path and SHA-256,
// which must be the pinned one.
func (a *aptDir) download(ctx context.Context, dir string, d debPackage) (string, string, error) {
	arg := d.name + "/" + d.suite
	if d.version != "" {
		arg = d.name + "=" + d.version
	}
	if err := a.run(ctx, dir, "download", arg); err != nil {
		if d.version != "" {
			return "", "", fmt.Errorf("Debian package %s %s (pinned in sdimage/firmware.go) is not in %s any more: pin the version %s has now: %w", d.name, d.version, d.suite, d.suite, err)
		}
		return "", "", fmt.Errorf("downloading Debian package %s: %w", arg, err)
	}
	matches, err := filepath.Glob(filepath.Join(dir, d.name+"_*.deb"))
	if err != nil || len(matches) != 1 {
		return "", "", fmt.Errorf("apt-get download %s left %d .deb files in %s", arg, len(matches), dir)
	}
	sum, err := fileSHA256(matches[0])
	if err != nil {
		return "", "", err
	}
	if d.sha256 != "" && sum != d.sha256 {
		return "", "", fmt.Errorf("%s: SHA-256 %s, want %s (pinned in sdimage/firmware.go)", matches[0], sum, d.sha256)
	}
	return matches[0], sum, nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// firmwareDir is where an unpacked root keeps its firmware: /usr/lib on
// a merged-/usr release (Debian 13), else /lib.
func firmwareDir(root string) string {
	if p := filepath.Join(root, "usr", "lib", "firmware"); dirExists(p) {
		return p
	}
	return filepath.Join(root, "lib", "firmware")
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

// fwResolution is what the firmware loader finds for one request of one
// radio on one board.
type fwResolution struct {
	board piBoard
	radio wifiRadio
	req   fwRequest
	found string // the first of req.names present, "" if none is
}

// resolveWiFiFirmware finds, in an unpacked firmware directory, the file
// brcmfmac will load for each request of every supported board's radios.
func resolveWiFiFirmware(fwDir string) []fwResolution {
	var out []fwResolution
	for _, b := range piBoards() {
		for _, r := range b.radios {
			for _, req := range driverRequests(r, b.compatible) {
				res := fwResolution{board: b, radio: r, req: req}
				for _, name := range req.names {
					// Stat follows links, as the kernel does: a dangling
					// link is no file.
					if st, err := os.Stat(filepath.Join(fwDir, filepath.FromSlash(name))); err == nil && st.Mode().IsRegular() {
						res.found = name
						break
					}
				}
				out = append(out, res)
			}
		}
	}
	return out
}

// selectFirmware picks what goes into /lib/firmware from the unpacked
// Debian root: the files brcmfmac will load on the supported boards
// (following symlinks, e.g. into ../cypress, so every link resolves in the
// image) and the regulatory database. It logs each radio that will lack a
// file.
func selectFirmware(root string, logf func(string, ...any)) ([]firmwareFile, error) {
	fwDir := firmwareDir(root)
	var out []firmwareFile
	seen := map[string]bool{}
	var add func(rel string) error
	add = func(rel string) error {
		if seen[rel] {
			return nil
		}
		seen[rel] = true
		p := filepath.Join(fwDir, filepath.FromSlash(rel))
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if st.Mode()&os.ModeSymlink == 0 {
			out = append(out, firmwareFile{rel: rel, host: p})
			return nil
		}
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		resolved := path.Clean(path.Join(path.Dir(rel), target))
		if strings.HasPrefix(resolved, "..") || path.IsAbs(target) {
			return fmt.Errorf("firmware symlink %s -> %s leaves /lib/firmware", rel, target)
		}
		out = append(out, firmwareFile{rel: rel, symlink: target})
		return add(resolved)
	}
	var missing []string // of the radio in lack
	lacks := map[string][]string{}
	for _, res := range resolveWiFiFirmware(fwDir) {
		if res.found == "" {
			radio := fmt.Sprintf("a %s with %s (%s)", res.board.name, res.radio, res.radio.fwBase)
			if lacks[radio] == nil {
				missing = append(missing, radio)
			}
			lacks[radio] = append(lacks[radio], res.req.kind)
			continue
		}
		if err := add(res.found); err != nil {
			return nil, err
		}
	}
	for _, radio := range missing {
		logf("WiFi firmware: %s will have no WiFi: no %s file in the Debian packages", radio, strings.Join(lacks[radio], ", "))
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
