package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/surveybox/surveybox/remoteupdate"
	"github.com/surveybox/surveybox/sdimage"
)

// updateCmd implements `surveyctl update [flags] BOX...`.
func updateCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("surveyctl update", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		dir       = fs.String("dir", defaultDir(), "data directory: with -tailnet tsnet, the node's state (tsnet-update/)")
		cfgPath   = fs.String("config", "gokr-packer.json", "gokrazy instance config the images are built from")
		appConfig = fs.String("appliance-config", "", "the boxes' appliance config (JSON): the root file system carries it, so the update replaces it (required unless -image)")
		arch      = fs.String("arch", "", "arm64 or amd64 (default: what the box runs)")
		image     = fs.String("image", "", "send this image (built by surveyctl image for this box, with -root-partition naming its inactive root) instead of building one; one BOX only")
		wait      = fs.Duration("wait", 5*time.Minute, "how long a box may take to come back after its reboot")
	)
	var pf peerFlags
	pf.register(fs, "surveyctl-update")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: surveyctl update [flags] BOX...\n\n"+
			"Updates boxes over the tailnet the way gokrazy's updater does: for each BOX,\n"+
			"builds an image for it (its hostname and disk ID, the boot partition naming its\n"+
			"inactive root), writes the root file system, the boot partition (kernel, device\n"+
			"trees, firmware, cmdline) and the MBR's boot code, switches the root, reboots,\n"+
			"waits for the box to come back from the new root and checks its build and its\n"+
			"SSH host key. A box whose host key changed is reported and not trusted; /perm\n"+
			"(the spool, the host key, the auth key) is never written. This machine must be\n"+
			"an operator in the boxes' config.\n\n")
		fs.PrintDefaults()
	}
	boxes, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return errUsage
	}
	switch {
	case len(boxes) == 0:
		fs.Usage()
		return errUsage
	case *image != "" && len(boxes) > 1:
		fmt.Fprintln(stderr, "surveyctl update: -image is one box's image (its disk ID): give one BOX")
		return errUsage
	case *image == "" && *appConfig == "":
		fmt.Fprintln(stderr, "surveyctl update: -appliance-config is required: the new root file system carries the boxes' config, and a box without one would not rejoin the tailnet")
		return errUsage
	case *arch != "" && *arch != "arm64" && *arch != "amd64":
		return fmt.Errorf("-arch %q: want arm64 or amd64", *arch)
	}
	if err := pf.valid(); err != nil {
		fmt.Fprintf(stderr, "surveyctl update: %v\n", err)
		return errUsage
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	pc, err := pf.connect(ctx, fs, filepath.Join(*dir, "tsnet-update"), stderr)
	if err != nil {
		return err
	}
	defer pc.close()
	fmt.Fprintf(stderr, "surveyctl update: on the tailnet through %s\n", pc.via)

	work, err := os.MkdirTemp("", "surveyctl-update-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	u := &updater{
		cfgPath: *cfgPath, appConfig: *appConfig, arch: *arch, image: *image, wait: *wait,
		work: work, stamp: time.Now().UTC().Format(time.RFC3339),
		programs: map[string]*sdimage.Programs{}, pc: pc, stderr: stderr,
	}
	defer u.removePrograms()
	var failed []string
	for _, name := range boxes {
		if err := u.update(ctx, name); err != nil {
			fmt.Fprintf(stderr, "surveyctl update %s: FAILED: %v\n", name, err)
			failed = append(failed, name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d boxes not updated: %s", len(failed), len(boxes), strings.Join(failed, ", "))
	}
	return nil
}

// updater updates boxes one after the other; images of the same
// architecture share one cross-compile.
type updater struct {
	cfgPath, appConfig, arch, image string
	wait                            time.Duration
	work, stamp                     string
	programs                        map[string]*sdimage.Programs
	pc                              *peerConn
	stderr                          io.Writer
}

func (u *updater) removePrograms() {
	for _, p := range u.programs {
		p.Remove()
	}
}

func (u *updater) update(ctx context.Context, name string) error {
	box := remoteupdate.Box{Name: name, HTTP: u.pc.httpClient(), Dial: u.pc.dialer.DialContext}
	before, err := remoteupdate.Inspect(ctx, box)
	if err != nil {
		return err
	}
	fmt.Fprintf(u.stderr, "surveyctl update %s: runs build %s (%s), root %d, kernel %s; SSH host key %s\n",
		name, before.Build, before.Version, before.Root, before.Kernel, before.HostKey)
	path, build := u.image, ""
	if path == "" {
		if path, build, err = u.build(ctx, name, before); err != nil {
			return err
		}
	}
	img, err := remoteupdate.OpenImage(path)
	if err != nil {
		return err
	}
	defer img.Close()
	fmt.Fprintf(u.stderr, "surveyctl update %s: sending root %d (%d MiB) and the boot partition (%d MiB)\n",
		name, img.RootPartition, img.RootBytes>>20, img.BootBytes>>20)
	res, err := remoteupdate.Update(ctx, box, before, img, remoteupdate.Options{
		Build: build, Wait: u.wait, Progress: u.stderr,
		Log: slog.New(slog.NewTextHandler(u.stderr, nil)),
	})
	if errors.Is(err, remoteupdate.ErrHostKeyChanged) {
		fmt.Fprintf(u.stderr, "surveyctl update %s: NOT TRUSTED: %v.\n"+
			"  Something else may answer in the box's name, or its /perm was replaced. Verify the\n"+
			"  fingerprint on the box's console before using it again.\n", name, err)
		return err
	}
	if err != nil {
		return err
	}
	a := res.After
	fmt.Fprintf(u.stderr, "surveyctl update %s: done: build %s (%s), root %d, kernel %s, same SSH host key; sent %d MiB in %s, back after %s\n",
		name, a.Build, a.Version, a.Root, a.Kernel, res.Sent>>20, res.Send.Round(time.Second), res.Back.Round(time.Second))
	return nil
}

// build builds the box's image: its hostname and disk ID, its
// architecture, naming its inactive root.
func (u *updater) build(ctx context.Context, name string, before *remoteupdate.State) (path, stamp string, err error) {
	arch := u.arch
	if arch == "" {
		if arch = before.Arch; arch == "" {
			return "", "", fmt.Errorf("cannot tell %s's architecture from its kernel %q: give -arch", name, before.Kernel)
		}
	}
	progs := u.programs[arch]
	if progs == nil {
		progs, err = sdimage.BuildPrograms(ctx, sdimage.ProgramsOptions{ConfigPath: u.cfgPath, Arch: arch, BuildTimestamp: u.stamp, Log: u.stderr})
		if err != nil {
			return "", "", err
		}
		u.programs[arch] = progs
	}
	path = filepath.Join(u.work, name+".img")
	res, err := sdimage.Build(ctx, sdimage.Options{
		ConfigPath: u.cfgPath, Output: path, Hostname: before.Hostname, ApplianceConfig: u.appConfig,
		Arch: arch, BuildTimestamp: u.stamp, DiskID: before.DiskID, RootPartition: 5 - before.Root,
		Programs: progs, Log: u.stderr,
	})
	if err != nil {
		return "", "", fmt.Errorf("building %s's image: %w", name, err)
	}
	return path, res.BuildTimestamp, nil
}
