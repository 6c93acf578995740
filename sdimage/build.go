package sdimage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Options are the inputs of one image build. Zero values mean defaults.
type Options struct {
	ConfigPath      string // gokr-packer.json; its directory must be inside the Go module
	Output          string // image file to write (replaced atomically)
	Hostname        string // overrides Config.Hostname
	AuthKeyFile     string // copied to /perm/surveybox/authkey (0600)
	AuthKey         []byte // or the key itself (minted for this card)
	ApplianceConfig string // copied to /etc/surveybox/config.json
	Size            int64  // image size in bytes
	Arch            string // "arm64" (Raspberry Pi) or "amd64" (PC/qemu); "" = config's GOARCH or arm64
	CacheDir        string // for the Debian firmware; "" = CacheDir()
	BuildTimestamp  string // "" = now (RFC 3339, UTC)
	// DiskID is the MBR disk signature that root=PARTUUID= names; 0
	// derives it from the hostname. An update must keep the box's.
	DiskID uint32
	Log    io.Writer
	// Programs, when set, are the image's programs, built before with
	// BuildPrograms for the same config and architecture, so that many
	// images (one per box) share one cross-compile.
	Programs *Programs
	// RootPartition is the root partition cmdline.txt names: 2 (root A,
	// the default) or 3. An update for a box running root A writes root
	// B and a boot partition that already names it, so that a power cut
	// between writing the boot partition and switching cannot leave the
	// new kernel booting the old root. The root file system is written
	// to root A either way, where the update tool takes it from: an image
	// naming root B is for updates only, not for flashing.
	RootPartition int
}

// Paths inside the image that the appliance relies on.
const (
	ApplianceConfigPath = "/etc/surveybox/config.json" // on the read-only root
	PermDir             = "surveybox"                  // /perm/surveybox, created empty
	AuthKeyPermPath     = "surveybox/authkey"          // /perm/surveybox/authkey, 0600
)

// Result describes a built image.
type Result struct {
	Path   string
	Arch   string
	DiskID uint32 // MBR disk signature; PARTUUID=<%08x>-NN
	// BuildTimestamp is gokrazy's build timestamp, which a box reports.
	BuildTimestamp string
	Cmdline        string // kernel command line as written to cmdline.txt (unpadded)
	KernelDir      string // module directory holding vmlinuz
	Layout         Layout
	RootBytes      int64 // size of the squashfs
	Kernel         string
	Firmware       string
	EEPROM         string
	WiFiFiles      int
	Duration       time.Duration
	GoPrograms     []string
}

// Build builds the image described by opts, in four steps: the modules
// (kernel, firmware, EEPROM) at the versions go.mod pins, the programs
// (cross-compiled, or opts.Programs), the root file system, and the disk.
func Build(ctx context.Context, opts Options) (*Result, error) {
	start := time.Now()
	in, err := prepare(ctx, opts)
	if err != nil {
		return nil, err
	}
	res := &Result{Path: opts.Output, Arch: in.arch, Layout: in.layout}
	in.logf("config %s: hostname %q, GOARCH=%s, size %s", opts.ConfigPath, in.cfg.Hostname, in.arch, humanBytes(in.size))
	mods, err := in.modules(ctx, res)
	if err != nil {
		return nil, err
	}
	progs := opts.Programs
	if progs == nil {
		if progs, err = buildPrograms(ctx, in); err != nil {
			return nil, err
		}
		defer progs.Remove()
	} else if progs.Arch != in.arch || progs.configDir != in.cfgDir {
		return nil, fmt.Errorf("programs built for %s from %s, not for %s from %s", progs.Arch, progs.configDir, in.arch, in.cfgDir)
	}
	res.GoPrograms = progs.Paths

	work, err := os.MkdirTemp("", "surveyctl-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	rt := &rootTree{dir: filepath.Join(work, "root")}
	if res.WiFiFiles, err = in.rootFS(ctx, rt, mods, progs); err != nil {
		return nil, err
	}
	if err := in.writeDisk(rt, mods, res); err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	in.logf("wrote %s in %.1fs: root squashfs %s, disk ID %08x", opts.Output, res.Duration.Seconds(), humanBytes(res.RootBytes), res.DiskID)
	in.logf("kernel command line: %s", res.Cmdline)
	return res, nil
}

// inputs are an image's options, checked and resolved.
type inputs struct {
	cfg             *Config
	arch            string
	size            int64
	layout          Layout
	applianceConfig []byte
	authKey         []byte
	output          string
	cacheDir        string
	timestamp       string
	cfgDir          string // the config's directory, inside the Go module
	g               *goTool
	rootPartition   int // 2 or 3
	diskID          uint32
	logf            func(format string, args ...any)
}

// prepare checks the options and reads the per-box files.
func prepare(ctx context.Context, opts Options) (*inputs, error) {
	in := &inputs{output: opts.Output, cacheDir: opts.CacheDir, timestamp: opts.BuildTimestamp, size: opts.Size, diskID: opts.DiskID}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	in.logf = func(format string, args ...any) {
		fmt.Fprintf(logw, "surveyctl image: "+format+"\n", args...)
	}
	var err error
	if in.cfg, err = LoadConfig(opts.ConfigPath); err != nil {
		return nil, err
	}
	if opts.Hostname != "" {
		if err := ValidHostname(opts.Hostname); err != nil {
			return nil, fmt.Errorf("hostname: %w", err)
		}
		in.cfg.Hostname = opts.Hostname
	}
	if in.arch, err = resolveArch(in.cfg, opts.Arch); err != nil {
		return nil, err
	}
	if in.size == 0 {
		in.size = 2 << 30
	}
	switch in.rootPartition = opts.RootPartition; in.rootPartition {
	case 0:
		in.rootPartition = 2
	case 2, 3:
	default:
		return nil, fmt.Errorf("root partition %d: want 2 or 3", opts.RootPartition)
	}
	if in.layout, err = NewLayout(in.size); err != nil {
		return nil, err
	}
	if opts.ApplianceConfig != "" {
		if in.applianceConfig, err = os.ReadFile(opts.ApplianceConfig); err != nil {
			return nil, fmt.Errorf("reading the appliance config: %w", err)
		}
		if !json.Valid(in.applianceConfig) {
			return nil, fmt.Errorf("appliance config %s: not valid JSON", opts.ApplianceConfig)
		}
	}
	if opts.AuthKeyFile != "" && opts.AuthKey != nil {
		return nil, errors.New("both an auth key and an auth key file given")
	}
	in.authKey = opts.AuthKey
	if opts.AuthKeyFile != "" {
		if in.authKey, err = os.ReadFile(opts.AuthKeyFile); err != nil {
			return nil, fmt.Errorf("reading the auth key: %w", err)
		}
		if len(strings.TrimSpace(string(in.authKey))) == 0 {
			return nil, fmt.Errorf("auth key file %s is empty", opts.AuthKeyFile)
		}
	}
	if in.output == "" {
		return nil, fmt.Errorf("no output file given")
	}
	if in.cacheDir == "" {
		in.cacheDir = CacheDir()
	}
	if in.timestamp == "" {
		in.timestamp = time.Now().UTC().Format(time.RFC3339)
	}
	if _, err := time.Parse(time.RFC3339, in.timestamp); err != nil {
		return nil, fmt.Errorf("build timestamp %q: %w", in.timestamp, err)
	}
	// The go command runs where the config is, so the module's go.mod and
	// go.sum pin every package, the kernel, firmware and EEPROM.
	if in.cfgDir, err = filepath.Abs(filepath.Dir(opts.ConfigPath)); err != nil {
		return nil, err
	}
	in.g = &goTool{dir: in.cfgDir, env: os.Environ(), logf: in.logf}
	gomod, err := in.g.run(ctx, nil, "env", "GOMOD")
	if err != nil {
		return nil, err
	}
	m := strings.TrimSpace(string(gomod))
	if m == "" || m == os.DevNull {
		return nil, fmt.Errorf("%s is not inside a Go module: surveyctl image builds with the module's go.mod", in.cfgDir)
	}
	// From the module root, so that its own programs are told apart (and
	// stamped with its version) whichever folder holds the config.
	in.g.dir = filepath.Dir(m)
	return in, nil
}

// resolveArch picks the image's architecture (arch, else the config's
// GOARCH, else arm64) and adapts the config to it.
func resolveArch(cfg *Config, arch string) (string, error) {
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
		return "", fmt.Errorf("architecture %q: want arm64 (Raspberry Pi) or amd64 (PC/qemu)", arch)
	}
	return arch, nil
}

// moduleDirs are the module cache directories of the kernel, firmware and
// EEPROM modules; firmware and eeprom are empty for an amd64 image.
type moduleDirs struct{ kernel, firmware, eeprom string }

// modules resolves the kernel, firmware and EEPROM modules at the versions
// go.mod pins.
func (in *inputs) modules(ctx context.Context, res *Result) (moduleDirs, error) {
	var m moduleDirs
	kernelDir, kv, err := in.g.moduleDir(ctx, "KernelPackage", in.cfg.KernelPackageOrDefault())
	if err != nil {
		return m, err
	}
	m.kernel = kernelDir
	res.Kernel, res.KernelDir = in.cfg.KernelPackageOrDefault()+"@"+kv, kernelDir
	in.logf("kernel   %s", res.Kernel)
	if fw := in.cfg.FirmwarePackageOrDefault(); fw != "" {
		var v string
		if m.firmware, v, err = in.g.moduleDir(ctx, "FirmwarePackage", fw); err != nil {
			return m, err
		}
		res.Firmware = fw + "@" + v
		in.logf("firmware %s", res.Firmware)
	}
	if ee := in.cfg.EEPROMPackageOrDefault(); ee != "" {
		var v string
		if m.eeprom, v, err = in.g.moduleDir(ctx, "EEPROMPackage", ee); err != nil {
			return m, err
		}
		res.EEPROM = ee + "@" + v
		in.logf("eeprom   %s", res.EEPROM)
	}
	return m, nil
}

// rootFS stages the root file system: what the gokrazy runtime reads, the
// programs, the kernel's modules and, on a Pi image, the WiFi firmware. It
// returns the number of firmware files.
func (in *inputs) rootFS(ctx context.Context, rt *rootTree, mods moduleDirs, progs *Programs) (int, error) {
	if err := rt.populate(in.cfg, rootInputs{
		binDir:          progs.dir,
		kernelDir:       mods.kernel,
		cfgDir:          in.cfgDir,
		arch:            in.arch,
		pkgDirs:         progs.pkgDirs,
		applianceConfig: in.applianceConfig,
	}); err != nil {
		return 0, err
	}
	if mods.firmware == "" {
		return 0, nil
	}
	fwRoot, err := FetchFirmware(ctx, in.cacheDir, in.logf)
	if err != nil {
		return 0, err
	}
	files, err := selectFirmware(fwRoot, in.logf)
	if err != nil {
		return 0, fmt.Errorf("Pi WiFi firmware in %s: %w", fwRoot, err)
	}
	for _, f := range files {
		dest := "/lib/firmware/" + f.rel
		if f.symlink != "" {
			err = rt.symlink(dest, f.symlink)
		} else {
			err = rt.copyFile(dest, f.host, 0o644)
		}
		if err != nil {
			return 0, err
		}
	}
	in.logf("WiFi firmware: %d files under /lib/firmware", len(files))
	return len(files), nil
}

// writeDisk writes the partition table, the boot partition, the root and
// /perm to a temporary file and renames it to the output.
func (in *inputs) writeDisk(rt *rootTree, mods moduleDirs, res *Result) error {
	res.DiskID = in.diskID
	if res.DiskID == 0 {
		h := fnv.New32a()
		h.Write([]byte(in.cfg.Hostname))
		res.DiskID = max(h.Sum32(), 1)
	}
	res.BuildTimestamp = in.timestamp
	var err error
	if res.Cmdline, err = kernelCmdline(in.cfg, mods.kernel, res.DiskID, in.rootPartition); err != nil {
		return err
	}
	tmpOut := in.output + ".tmp"
	os.Remove(tmpOut)
	defer os.Remove(tmpOut)
	w := &diskWriter{path: tmpOut, layout: in.layout, diskID: res.DiskID, logf: in.logf}
	boot := bootFiles{
		kernelDir: mods.kernel, firmwareDir: mods.firmware, eepromDir: mods.eeprom,
		cmdline: res.Cmdline, configTxt: configTxt(in.cfg),
	}
	boot.modTime, _ = time.Parse(time.RFC3339, in.timestamp) // checked by prepare
	if res.RootBytes, err = w.write(boot, rt.dir, in.authKey); err != nil {
		return err
	}
	return os.Rename(tmpOut, in.output)
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
// cmdline.txt with root= pointing at PARTUUID=<diskid>-<rootPart>, extra
// args.
func kernelCmdline(cfg *Config, kernelDir string, diskID uint32, rootPart int) (string, error) {
	b, err := os.ReadFile(filepath.Join(kernelDir, "cmdline.txt"))
	if err != nil {
		return "", fmt.Errorf("kernel module has no cmdline.txt: %w", err)
	}
	args := []string{"console=tty1"}
	if sc := cfg.SerialConsoleOrDefault(); sc != "disabled" && sc != "off" {
		if sc == "UART0" {
			sc = "serial0,115200"
		}
		args = append(args, "console="+sc)
	}
	root := fmt.Sprintf("root=PARTUUID=%08x-%02d", diskID, rootPart)
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
