package sdimage

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// rootTree stages the root file system in a host directory; the squashfs
// is then made from it. Every path is added once: a second file at the same
// place is an error, as in gokrazy's packer.
type rootTree struct {
	dir string
}

type rootInputs struct {
	binDir          string // bin/gokrazy/*, bin/user/*
	kernelDir       string
	cfgDir          string // ExtraFilePaths are relative to it
	arch            string
	pkgDirs         map[string]string
	applianceConfig []byte
}

func (r *rootTree) host(dest string) (string, error) {
	clean := path.Clean("/" + dest)
	if clean != dest || clean == "/" {
		return "", fmt.Errorf("invalid root file system path %q", dest)
	}
	return filepath.Join(r.dir, filepath.FromSlash(clean[1:])), nil
}

func (r *rootTree) claim(dest string) (string, error) {
	p, err := r.host(dest)
	if err != nil {
		return "", err
	}
	if _, err := os.Lstat(p); err == nil {
		return "", fmt.Errorf("root file system: %s is installed twice", dest)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	return p, nil
}

func (r *rootTree) mkdir(dest string) error {
	p, err := r.host(dest)
	if err != nil {
		return err
	}
	return os.MkdirAll(p, 0o755)
}

func (r *rootTree) literal(dest string, content []byte, mode os.FileMode) error {
	p, err := r.claim(dest)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p, content, mode); err != nil {
		return err
	}
	return os.Chmod(p, mode) // not subject to the umask
}

func (r *rootTree) copyFile(dest, src string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return r.literal(dest, b, mode)
}

func (r *rootTree) symlink(dest, target string) error {
	p, err := r.claim(dest)
	if err != nil {
		return err
	}
	return os.Symlink(target, p)
}

// copyTree copies a host directory (files, dirs, symlinks) to dest.
func (r *rootTree) copyTree(dest, src string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := path.Join(dest, filepath.ToSlash(rel))
		switch {
		case d.IsDir():
			return r.mkdir(target)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return r.symlink(target, link)
		case d.Type().IsRegular():
			st, err := d.Info()
			if err != nil {
				return err
			}
			return r.copyFile(target, p, st.Mode().Perm())
		default:
			return fmt.Errorf("%s: unsupported file type %v", p, d.Type())
		}
	})
}

// extractTar unpacks a tar archive (files, dirs, symlinks) under dest.
func (r *rootTree) extractTar(dest, tarPath string) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", tarPath, err)
		}
		name := strings.TrimSuffix(path.Clean("/"+h.Name), "/")
		if name == "" {
			continue
		}
		target := path.Join(dest, name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = r.mkdir(target)
		case tar.TypeSymlink:
			err = r.symlink(target, h.Linkname)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				err = r.literal(target, b, os.FileMode(h.Mode).Perm())
			}
		default:
			err = fmt.Errorf("%s: %s: unsupported tar entry type %q", tarPath, h.Name, h.Typeflag)
		}
		if err != nil {
			return err
		}
	}
}

// populate lays out everything the gokrazy runtime reads.
func (r *rootTree) populate(cfg *Config, in rootInputs) error {
	for _, d := range []string{"/dev", "/etc", "/proc", "/sys", "/tmp", "/perm", "/lib", "/run", "/var"} {
		if err := r.mkdir(d); err != nil {
			return err
		}
	}
	// Programs: /gokrazy/init + system services, /user/<basename>.
	if err := r.copyTree("/gokrazy", filepath.Join(in.binDir, "gokrazy")); err != nil {
		return err
	}
	if err := r.copyTree("/user", filepath.Join(in.binDir, "user")); err != nil {
		return err
	}
	// Loadable kernel modules: the ones something on the box loads.
	if mods := filepath.Join(in.kernelDir, "lib", "modules"); dirExists(mods) {
		if _, err := r.copyModules(mods, bootModules()); err != nil {
			return fmt.Errorf("kernel modules: %w", err)
		}
	}
	// /etc as the runtime expects it. /etc/resolv.conf must exist in the
	// image: without it gokrazy mounts a tmpfs over /etc (FAT root compat
	// mode) and every file below would be hidden.
	//
	// The link is relative (../tmp/resolv.conf, i.e. /tmp/resolv.conf, which
	// gokrazy creates on its /tmp tmpfs) and an empty placeholder exists
	// under /tmp in the image, hidden by that tmpfs at run time: go-diskfs
	// v1.9.4 lists xattrs through symlinks while finalizing, so every link
	// target must exist inside the staged tree.
	if err := r.symlink("/etc/resolv.conf", "../tmp/resolv.conf"); err != nil {
		return err
	}
	if err := r.literal("/tmp/resolv.conf", nil, 0o644); err != nil {
		return err
	}
	if err := r.literal("/etc/hostname", []byte(cfg.Hostname), 0o644); err != nil {
		return err
	}
	if err := r.literal("/etc/hosts", []byte("127.0.0.1 localhost\n::1 localhost\n"), 0o644); err != nil {
		return err
	}
	// No /etc/gokr-pw.txt: its presence would make gokrazy's web UI
	// listen on the LAN (Validate requires Update.NoPassword).
	u := cfg.Update
	if u.HTTPPort != "" {
		if err := r.literal("/etc/http-port.txt", []byte(u.HTTPPort), 0o644); err != nil {
			return err
		}
	}
	if u.HTTPSPort != "" {
		if err := r.literal("/etc/https-port.txt", []byte(u.HTTPSPort), 0o644); err != nil {
			return err
		}
	}
	if u.CertPEM != "" && u.UseTLS != "off" {
		if err := r.literal("/etc/ssl/gokrazy-web.pem", []byte(u.CertPEM), 0o644); err != nil {
			return err
		}
		if err := r.literal("/etc/ssl/gokrazy-web.key.pem", []byte(u.KeyPEM), 0o400); err != nil {
			return err
		}
	}
	// CA bundle for TLS (Tailscale control): a path Go's crypto/x509 reads.
	caFound := false
	for _, ca := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"} {
		if _, err := os.Stat(ca); err == nil {
			if err := r.copyFile("/etc/ssl/ca-bundle.pem", ca, 0o644); err != nil {
				return err
			}
			caFound = true
			break
		}
	}
	if !caFound {
		return errors.New("no CA certificate bundle on this host (install Debian's ca-certificates): the appliance needs one for TLS")
	}
	if len(cfg.MountDevices) > 0 {
		b, err := json.Marshal(cfg.MountDevices)
		if err != nil {
			return err
		}
		if err := r.literal("/etc/gokrazy/mountdevices.json", b, 0o644); err != nil {
			return err
		}
	}
	if in.applianceConfig != nil {
		if err := r.literal(ApplianceConfigPath, in.applianceConfig, 0o644); err != nil {
			return err
		}
	}
	// Extra files: per package _gokrazy/extrafiles tarballs, then the
	// config's ExtraFilePaths (host paths relative to the config) and
	// ExtraFileContents.
	for _, pkg := range sortedKeys(in.pkgDirs) {
		if t := extraFilesTar(in.pkgDirs[pkg], in.arch); t != "" {
			if err := r.extractTar("/", t); err != nil {
				return fmt.Errorf("extra files of %s: %w", pkg, err)
			}
		}
	}
	for _, pkg := range sortedKeys(cfg.PackageConfig) {
		pc := cfg.PackageConfig[pkg]
		for _, dest := range sortedKeys(pc.ExtraFilePaths) {
			src := pc.ExtraFilePaths[dest]
			if !filepath.IsAbs(src) {
				src = filepath.Join(in.cfgDir, src)
			}
			if err := r.addExtraPath(dest, src, in.arch); err != nil {
				return fmt.Errorf("config field \"PackageConfig[%s].ExtraFilePaths[%s]\": %w", pkg, dest, err)
			}
		}
		for _, dest := range sortedKeys(pc.ExtraFileContents) {
			if err := r.literal(dest, []byte(pc.ExtraFileContents[dest]), 0o644); err != nil {
				return fmt.Errorf("config field \"PackageConfig[%s].ExtraFileContents[%s]\": %w", pkg, dest, err)
			}
		}
	}
	return nil
}

// addExtraPath follows gokrazy: a regular file is copied to dest; otherwise
// src_<goarch>.tar, src.tar or the directory src is unpacked under dest.
func (r *rootTree) addExtraPath(dest, src, arch string) error {
	if st, err := os.Stat(src); err == nil && st.Mode().IsRegular() {
		return r.copyFile(dest, src, st.Mode().Perm())
	}
	for _, t := range []string{src + "_" + arch + ".tar", src + ".tar"} {
		if st, err := os.Stat(t); err == nil && st.Mode().IsRegular() {
			return r.extractTar(dest, t)
		}
	}
	if dirExists(src) {
		return r.copyTree(dest, src)
	}
	return fmt.Errorf("%s: no such file, directory or .tar", src)
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
