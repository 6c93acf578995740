package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/surveybox/surveybox/sdimage"
)

// imageCmd implements `surveyctl image [flags]`. Progress goes to stderr.
func imageCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("surveyctl image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfgPath   = fs.String("config", "gokr-packer.json", "gokrazy instance config (inside the Go module whose go.mod pins all versions)")
		out       = fs.String("o", "surveybox.img", "image file to write")
		hostname  = fs.String("hostname", "", "per-box hostname (overrides the config's Hostname)")
		authKey   = fs.String("authkey-file", "", "per-box Tailscale auth key file, placed at /perm/"+sdimage.AuthKeyPermPath+" (0600)")
		appConfig = fs.String("appliance-config", "", "per-box appliance config (JSON), placed at "+sdimage.ApplianceConfigPath)
		size      = fs.String("size", "2G", "image size (K/M/G/T are powers of 1024); at least 1360M")
		arch      = fs.String("arch", "", "arm64 (Raspberry Pi, the default) or amd64 (PC/qemu: gokrazy/kernel.amd64, no Pi firmware)")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: surveyctl image [flags]\n\nBuilds a bootable gokrazy SD card image for the surveybox appliance.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "surveyctl image: unexpected arguments %q\n", fs.Args())
		return errUsage
	}
	n, err := sdimage.ParseSize(*size)
	if err != nil {
		return fmt.Errorf("-size: %v", err)
	}
	if *arch != "" && *arch != "arm64" && *arch != "amd64" {
		return fmt.Errorf("-arch %q: want arm64 or amd64", *arch)
	}
	_, err = sdimage.Build(ctx, sdimage.Options{
		ConfigPath:      *cfgPath,
		Output:          *out,
		Hostname:        *hostname,
		AuthKeyFile:     *authKey,
		ApplianceConfig: *appConfig,
		Size:            n,
		Arch:            *arch,
		Log:             stderr,
	})
	return err
}
