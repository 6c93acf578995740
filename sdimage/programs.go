package sdimage

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Programs are an image's cross-compiled programs: gokrazy's system
// services, the config's packages and the generated /gokrazy/init, laid
// out as on the root file system (gokrazy/…, user/…) in a temporary
// directory. They depend on the instance config and the architecture, not
// on the per-box settings (hostname, appliance config, auth key), so one
// build serves any number of images. Remove deletes them.
type Programs struct {
	Arch  string
	Paths []string // as installed: /gokrazy/init, /user/appliance, …

	dir       string // bin: gokrazy/…, user/…
	work      string // removed by Remove
	configDir string
	pkgDirs   map[string]string // import path -> source directory
}

// Remove deletes the programs' files.
func (p *Programs) Remove() error { return os.RemoveAll(p.work) }

// ProgramsOptions are the inputs of BuildPrograms; the fields mean what
// Options' fields of the same name mean.
type ProgramsOptions struct {
	ConfigPath     string
	Arch           string
	BuildTimestamp string
	Log            io.Writer
}

// BuildPrograms cross-compiles the programs of the config for arch, for
// Options.Programs.
func BuildPrograms(ctx context.Context, o ProgramsOptions) (*Programs, error) {
	in, err := prepare(ctx, Options{ConfigPath: o.ConfigPath, Arch: o.Arch, BuildTimestamp: o.BuildTimestamp, Log: o.Log, Output: os.DevNull})
	if err != nil {
		return nil, err
	}
	return buildPrograms(ctx, in)
}

func buildPrograms(ctx context.Context, in *inputs) (*Programs, error) {
	env := crossEnv(in.arch)
	cfg := in.cfg
	gokrazyPkgs := cfg.GokrazyPackagesOrDefault()
	all := append(slices.Clone(gokrazyPkgs), cfg.Packages...)
	in.logf("checking %d packages", len(all))
	listed, err := in.g.listPackages(ctx, env, all)
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "surveyctl-programs-")
	if err != nil {
		return nil, err
	}
	p := &Programs{Arch: in.arch, dir: filepath.Join(work, "bin"), work: work, configDir: in.cfgDir, pkgDirs: map[string]string{}}
	ok := false
	defer func() {
		if !ok {
			p.Remove()
		}
	}()
	ownPkg := map[string]bool{} // packages of the module being built (the appliance)
	for _, l := range listed {
		p.pkgDirs[l.ImportPath] = l.Dir
		ownPkg[l.ImportPath] = l.Module != nil && l.Module.Dir == in.g.dir
	}
	version := sourceVersion(ctx, in.g.dir)
	if version != "" {
		in.logf("stamping the version %s into this module's programs", version)
	}

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
			out:   filepath.Join(p.dir, filepath.FromSlash(dest)),
			env:   append(append(slices.Clone(env), pc.GoBuildEnvironment...), env...),
			flags: flags,
			tags:  pc.GoBuildTags,
		})
		wait := pc.WaitForClock || slices.Contains(pc.WaitFor, "clock")
		services = append(services, service{
			Path: dest, Args: pc.CommandLineFlags, Env: pc.Environment,
			DontStart: pc.DontStart, WaitForClock: wait,
		})
		return nil
	}
	for _, pkg := range gokrazyPkgs {
		if err := addProgram("gokrazy", pkg); err != nil {
			return nil, err
		}
	}
	for _, pkg := range cfg.Packages {
		if err := addProgram("user", pkg); err != nil {
			return nil, err
		}
	}
	if _, ok := installed["/gokrazy/init"]; ok {
		return nil, fmt.Errorf("a package is named init; /gokrazy/init is reserved for the generated init")
	}
	initSrc, err := generateInit(in.timestamp, services)
	if err != nil {
		return nil, fmt.Errorf("generating init: %w", err)
	}
	initGo := filepath.Join(work, "initsrc", "init.go")
	if err := os.MkdirAll(filepath.Dir(initGo), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(initGo, initSrc, 0o644); err != nil {
		return nil, err
	}
	jobs = append(jobs, buildJob{source: initGo, out: filepath.Join(p.dir, "gokrazy", "init"), env: env})

	in.logf("cross-compiling %d programs for linux/%s", len(jobs), in.arch)
	start := time.Now()
	if err := runParallel(ctx, jobs, runtime.NumCPU(), func(j buildJob) error {
		if err := os.MkdirAll(filepath.Dir(j.out), 0o755); err != nil {
			return err
		}
		if err := in.g.build(ctx, j); err != nil {
			return err
		}
		return checkELF(j.out, in.arch)
	}); err != nil {
		return nil, err
	}
	in.logf("compiled in %.1fs", time.Since(start).Seconds())
	for _, j := range jobs {
		rel, _ := filepath.Rel(p.dir, j.out)
		p.Paths = append(p.Paths, "/"+filepath.ToSlash(rel))
	}
	ok = true
	return p, nil
}
