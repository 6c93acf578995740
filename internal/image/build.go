package image

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Options are the inputs of one image build. Zero values mean defaults.
type Options struct {
	ConfigPath      string // gokr-packer.json; its directory must be inside the Go module
	Output          string // image file to write (replaced atomically)
	Hostname        string // overrides Config.Hostname
	AuthKeyFile     string // copied to /perm/surveybox/authkey (0600)
	ApplianceConfig string // copied to /etc/surveybox/config.json
	Size            int64  // image size in bytes
	Arch            string // "arm64" (Raspberry Pi) or "amd64" (PC/qemu); "" = config's GOARCH or arm64
	CacheDir        string // for the Debian firmware; "" = CacheDir()
	BuildTimestamp  string // "" = now (RFC 3339, UTC)
	Log             io.Writer
}

// Paths inside the image that the appliance relies on.
const (
	ApplianceConfigPath = "/etc/surveybox/config.json" // on the read-only root
	PermDir             = "surveybox"                  // /perm/surveybox, created empty
	AuthKeyPermPath     = "surveybox/authkey"          // /perm/surveybox/authkey, 0600
)

// Result describes a built image.
type Result struct {
	Path       string
	Arch       string
	DiskID     uint32 // MBR disk signature; PARTUUID=<%08x>-NN
	Cmdline    string // kernel command line as written to cmdline.txt (unpadded)
	KernelDir  string // module directory holding vmlinuz
	Layout     Layout
	RootBytes  int64 // size of the squashfs
	Kernel     string
	Firmware   string
	EEPROM     string
	WiFiFiles  int
	Duration   time.Duration
	GoPrograms []string
}

// Build builds the image described by opts.
func Build(ctx context.Context, opts Options) (*Result, error) {
	start := time.Now()
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(logw, "surveyctl image: "+format+"\n", args...)
	}

	cfg, err := LoadConfig(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	if opts.Hostname != "" {
		if err := ValidHostname(opts.Hostname); err != nil {
			return nil, fmt.Errorf("-hostname: %v", err)
		}
		cfg.Hostname = opts.Hostname
	}
	arch := opts.Arch
	if arch == "" {
		arch = "arm64"
		for _, kv := range cfg.Environment {
			if v, ok := strings.CutPrefix(kv, "GOARCH="); ok {
				arch = v
			}
		}
	}
	switch arch {
	case "arm64":
	case "amd64":
		// The PC/qemu variant: gokrazy's amd64 kernel, no Pi firmware,
		// no EEPROM, serial console on the first UART.
		k := AMD64KernelPackage
		none := ""
		cfg.KernelPackage, cfg.FirmwarePackage, cfg.EEPROMPackage = &k, &none, &none
		if sc := cfg.SerialConsoleOrDefault(); sc != "disabled" && sc != "off" && !strings.HasPrefix(sc, "ttyS") {
			cfg.SerialConsole = "ttyS0,115200"
		}
	default:
		return nil, fmt.Errorf("-arch %q: want arm64 (Raspberry Pi) or amd64 (PC/qemu)", arch)
	}
	if opts.Size == 0 {
		opts.Size = 2 << 30
	}
	layout, err := NewLayout(opts.Size)
	if err != nil {
		return nil, err
	}
	var applianceConfig []byte
	if opts.ApplianceConfig != "" {
		applianceConfig, err = os.ReadFile(opts.ApplianceConfig)
		if err != nil {
			return nil, fmt.Errorf("-appliance-config: %v", err)
		}
		if !json.Valid(applianceConfig) {
			return nil, fmt.Errorf("-appliance-config %s: not valid JSON", opts.ApplianceConfig)
		}
	}
	var authKey []byte
	if opts.AuthKeyFile != "" {
		authKey, err = os.ReadFile(opts.AuthKeyFile)
		if err != nil {
			return nil, fmt.Errorf("-authkey-file: %v", err)
		}
		if len(strings.TrimSpace(string(authKey))) == 0 {
			return nil, fmt.Errorf("-authkey-file %s is empty", opts.AuthKeyFile)
		}
	}
	if opts.Output == "" {
		return nil, fmt.Errorf("no output file given")
	}
	cacheDir := opts.CacheDir
	if cacheDir == "" {
		cacheDir = CacheDir()
	}
	ts := opts.BuildTimestamp
	if ts == "" {
		ts = time.Now().UTC().Format(time.RFC3339)
	}

	// The go command runs where the config is, so the module's go.mod and
	// go.sum pin every package, the kernel, firmware and EEPROM.
	cfgDir, err := filepath.Abs(filepath.Dir(opts.ConfigPath))
	if err != nil {
		return nil, err
	}
	g := &goTool{dir: cfgDir, env: os.Environ(), logf: logf}
	gomod, err := g.run(ctx, nil, "env", "GOMOD")
	if err != nil {
		return nil, err
	}
	if m := strings.TrimSpace(string(gomod)); m == "" || m == os.DevNull {
		return nil, fmt.Errorf("%s is not inside a Go module: surveyctl image builds with the module's go.mod", cfgDir)
	}

	res := &Result{Path: opts.Output, Arch: arch, Layout: layout}
	logf("config %s: hostname %q, GOARCH=%s, size %s", opts.ConfigPath, cfg.Hostname, arch, humanBytes(opts.Size))

	// Modules from the proxy, at the versions go.mod pins.
	kernelDir, kv, err := g.moduleDir(ctx, "KernelPackage", cfg.KernelPackageOrDefault())
	if err != nil {
		return nil, err
	}
	res.Kernel, res.KernelDir = cfg.KernelPackageOrDefault()+"@"+kv, kernelDir
	logf("kernel   %s", res.Kernel)
	var firmwareDir, eepromDir string
	if fw := cfg.FirmwarePackageOrDefault(); fw != "" {
		var v string
		if firmwareDir, v, err = g.moduleDir(ctx, "FirmwarePackage", fw); err != nil {
			return nil, err
		}
		res.Firmware = fw + "@" + v
		logf("firmware %s", res.Firmware)
	}
	if ee := cfg.EEPROMPackageOrDefault(); ee != "" {
		var v string
		if eepromDir, v, err = g.moduleDir(ctx, "EEPROMPackage", ee); err != nil {
			return nil, err
		}
		res.EEPROM = ee + "@" + v
		logf("eeprom   %s", res.EEPROM)
	}

	// Programs.
	env := crossEnv(arch)
	gokrazyPkgs := cfg.GokrazyPackagesOrDefault()
	all := append(append([]string{}, gokrazyPkgs...), cfg.Packages...)
	logf("checking %d packages", len(all))
	listed, err := g.listPackages(ctx, env, all)
	if err != nil {
		return nil, err
	}
	pkgDirs := map[string]string{}
	ownPkg := map[string]bool{} // packages of the module being built (the appliance)
	for _, p := range listed {
		pkgDirs[p.ImportPath] = p.Dir
		ownPkg[p.ImportPath] = p.Module != nil && p.Module.Dir == g.dir
	}
	version := sourceVersion(ctx, g.dir)
	if version != "" {
		logf("stamping the version %s into this module's programs", version)
	}

	work, err := os.MkdirTemp("", "surveyctl-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "bin")

	var jobs []buildJob
	var services []service
	installed := map[string]string{} // image path -> package
	addProgram := func(dir, pkg string) error {
		pc := cfg.PackageConfig[pkg]
		dest := "/" + dir + "/" + basenameFor(pkg, pc)
		if other, ok := installed[dest]; ok {
			return fmt.Errorf("packages %q and %q would both be installed as %s (set PackageConfig.Basename)", other, pkg, dest)
		}
		installed[dest] = pkg
		flags := pc.GoBuildFlags
		if ownPkg[pkg] && version != "" && !slices.ContainsFunc(flags, func(f string) bool { return strings.HasPrefix(f, "-ldflags") }) {
			// The banner shows it (main.version); VCS stamping is not
			// reliable (-buildvcs=false, builds from a tarball).
			flags = append(slices.Clip(flags), "-ldflags=-X main.version="+version)
		}
		jobs = append(jobs, buildJob{
			pkg:   pkg,
			out:   filepath.Join(bin, filepath.FromSlash(dest)),
			env:   append(append(append([]string{}, env...), pc.GoBuildEnvironment...), env...),
			flags: flags,
			tags:  pc.GoBuildTags,
		})
		wait := pc.WaitForClock
		for _, w := range pc.WaitFor {
			if w == "clock" {
				wait = true
			}
		}
		services = append(services, service{
			Path: dest, Args: pc.CommandLineFlags, Env: pc.Environment,
			DontStart: pc.DontStart, WaitForClock: wait,
		})
		return nil
	}
	for _, p := range gokrazyPkgs {
		if err := addProgram("gokrazy", p); err != nil {
			return nil, err
		}
	}
	for _, p := range cfg.Packages {
		if err := addProgram("user", p); err != nil {
			return nil, err
		}
	}
	if _, ok := installed["/gokrazy/init"]; ok {
		return nil, fmt.Errorf("a package is named init; /gokrazy/init is reserved for the generated init")
	}
	initSrc, err := generateInit(ts, services)
	if err != nil {
		return nil, fmt.Errorf("generating init: %v", err)
	}
	initDir := filepath.Join(work, "initsrc")
	if err := os.MkdirAll(initDir, 0o755); err != nil {
		return nil, err
	}
	initGo := filepath.Join(initDir, "init.go")
	if err := os.WriteFile(initGo, initSrc, 0o644); err != nil {
		return nil, err
	}
	jobs = append(jobs, buildJob{source: initGo, out: filepath.Join(bin, "gokrazy", "init"), env: env})

	logf("cross-compiling %d programs for linux/%s", len(jobs), arch)
	if err := runParallel(ctx, jobs, runtime.NumCPU(), func(j buildJob) error {
		if err := os.MkdirAll(filepath.Dir(j.out), 0o755); err != nil {
			return err
		}
		if err := g.build(ctx, j); err != nil {
			return err
		}
		return checkELF(j.out, arch)
	}); err != nil {
		return nil, err
	}
	for _, j := range jobs {
		rel, _ := filepath.Rel(bin, j.out)
		res.GoPrograms = append(res.GoPrograms, "/"+filepath.ToSlash(rel))
	}

	// Root file system contents.
	rt := &rootTree{dir: filepath.Join(work, "root")}
	if err := rt.populate(cfg, rootInputs{
		binDir:          bin,
		kernelDir:       kernelDir,
		cfgDir:          cfgDir,
		arch:            arch,
		pkgDirs:         pkgDirs,
		applianceConfig: applianceConfig,
	}); err != nil {
		return nil, err
	}
	if firmwareDir != "" { // a Raspberry Pi image: ship the WiFi firmware
		fwRoot, err := FetchFirmware(ctx, cacheDir, logf)
		if err != nil {
			return nil, err
		}
		files, err := selectFirmware(fwRoot)
		if err != nil {
			return nil, fmt.Errorf("Pi WiFi firmware in %s: %v", fwRoot, err)
		}
		for _, f := range files {
			dest := "/lib/firmware/" + f.rel
			if f.symlink != "" {
				err = rt.symlink(dest, f.symlink)
			} else {
				err = rt.copyFile(dest, f.host, 0o644)
			}
			if err != nil {
				return nil, err
			}
		}
		res.WiFiFiles = len(files)
		logf("WiFi firmware: %d files under /lib/firmware", len(files))
	}

	// Disk.
	h := fnv.New32a()
	h.Write([]byte(cfg.Hostname))
	res.DiskID = h.Sum32()
	if res.DiskID == 0 {
		res.DiskID = 1
	}
	res.Cmdline, err = kernelCmdline(cfg, kernelDir, res.DiskID)
	if err != nil {
		return nil, err
	}
	tmpOut := opts.Output + ".tmp"
	os.Remove(tmpOut)
	defer os.Remove(tmpOut)
	w := &diskWriter{
		path: tmpOut, layout: layout, diskID: res.DiskID, logf: logf,
	}
	boot := bootFiles{
		kernelDir: kernelDir, firmwareDir: firmwareDir, eepromDir: eepromDir,
		cmdline: res.Cmdline, configTxt: configTxt(cfg),
	}
	if boot.modTime, err = time.Parse(time.RFC3339, ts); err != nil {
		return nil, fmt.Errorf("build timestamp %q: %v", ts, err)
	}
	if res.RootBytes, err = w.write(boot, rt.dir, authKey); err != nil {
		return nil, err
	}
	if err := os.Rename(tmpOut, opts.Output); err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	logf("wrote %s in %.1fs: root squashfs %s, disk ID %08x", opts.Output, res.Duration.Seconds(), humanBytes(res.RootBytes), res.DiskID)
	logf("kernel command line: %s", res.Cmdline)
	return res, nil
}

// runParallel runs f for each job, at most n at a time, and returns the
// first error.
func runParallel[J any](ctx context.Context, jobs []J, n int, f func(J) error) error {
	if n < 1 {
		n = 1
	}
	sem := make(chan struct{}, n)
	errs := make(chan error, len(jobs))
	for _, j := range jobs {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- f(j)
		}()
	}
	var first error
	for range jobs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// kernelCmdline builds cmdline.txt: consoles, the kernel module's
// cmdline.txt with root= pointing at PARTUUID=<diskid>-02, extra args.
func kernelCmdline(cfg *Config, kernelDir string, diskID uint32) (string, error) {
	b, err := os.ReadFile(filepath.Join(kernelDir, "cmdline.txt"))
	if err != nil {
		return "", fmt.Errorf("kernel module has no cmdline.txt: %v", err)
	}
	args := []string{"console=tty1"}
	if sc := cfg.SerialConsoleOrDefault(); sc != "disabled" && sc != "off" {
		if sc == "UART0" {
			sc = "serial0,115200"
		}
		args = append(args, "console="+sc)
	}
	root := fmt.Sprintf("root=PARTUUID=%08x-02", diskID)
	replaced := false
	for _, f := range strings.Fields(string(b)) {
		if strings.HasPrefix(f, "root=") {
			f, replaced = root, true
		}
		args = append(args, f)
	}
	if !replaced {
		args = append(args, root)
	}
	args = append(args, cfg.KernelExtraArgs...)
	return strings.Join(args, " "), nil
}

// configTxt is the Raspberry Pi firmware configuration. One file serves the
// Pi 3, 3B+, 4 and Zero 2 W: the firmware picks the board's DTB itself.
func configTxt(cfg *Config) string {
	uart := "1"
	if cfg.SerialConsoleOrDefault() == "off" {
		uart = "0"
	}
	lines := []string{
		"# Generated by surveyctl image for the Raspberry Pi 3, 3B+, 4 and Zero 2 W.",
		"# Boot the 64-bit kernel (arm_control=0x200 for older firmware).",
		"arm_64bit=1",
		"arm_control=0x200",
		"kernel=vmlinuz",
		"# UART for the serial console (mini UART on Pi 3/Zero 2 W, fixed core clock).",
		"enable_uart=" + uart,
		"disable_splash=1",
	}
	lines = append(lines, cfg.BootloaderExtraLines...)
	return strings.Join(lines, "\n") + "\n"
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
