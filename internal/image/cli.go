package image

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// ErrUsage marks a command-line error (exit status 2).
var ErrUsage = errors.New("usage error")

// Command implements `surveyctl image [flags]`. Progress goes to stderr.
func Command(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("surveyctl image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfgPath   = fs.String("config", "gokr-packer.json", "gokrazy instance config (inside the Go module whose go.mod pins all versions)")
		out       = fs.String("o", "surveybox.img", "image file to write")
		hostname  = fs.String("hostname", "", "per-box hostname (overrides the config's Hostname)")
		authKey   = fs.String("authkey-file", "", "per-box Tailscale auth key file, placed at /perm/"+AuthKeyPermPath+" (0600)")
		appConfig = fs.String("appliance-config", "", "per-box appliance config (JSON), placed at "+ApplianceConfigPath)
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
		return ErrUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "surveyctl image: unexpected arguments %q\n", fs.Args())
		return ErrUsage
	}
	n, err := ParseSize(*size)
	if err != nil {
		return fmt.Errorf("-size: %v", err)
	}
	if *arch != "" && *arch != "arm64" && *arch != "amd64" {
		return fmt.Errorf("-arch %q: want arm64 or amd64", *arch)
	}
	_, err = Build(ctx, Options{
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
