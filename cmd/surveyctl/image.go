package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/surveybox/surveybox/authkeys"
	"github.com/surveybox/surveybox/config"
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
		authKey   = fs.String("authkey-file", "", "per-box Tailscale auth key file (0600), placed at /perm/"+sdimage.AuthKeyPermPath+"; use a one-off, pre-approved, tagged key per card")
		appConfig = fs.String("appliance-config", "", "per-box appliance config (JSON), placed at "+sdimage.ApplianceConfigPath)
		size      = fs.String("size", "2G", "image size (K/M/G/T are powers of 1024); at least 1360M")
		arch      = fs.String("arch", "", "arm64 (Raspberry Pi, the default) or amd64 (PC/qemu: gokrazy/kernel.amd64, no Pi firmware)")
		mintTags  = fs.String("mint-authkey", "", "mint this card's auth key through the Tailscale API: single-use, pre-approved, with these comma-separated tags (e.g. tag:surveybox); needs -tailscale-api-credential-file")
		apiCred   = fs.String("tailscale-api-credential-file", "", "file (0600) with an OAuth client secret (tskey-client-…, scope auth_keys) or an API access token (tskey-api-…), to mint keys or to check -authkey-file")
		apiURL    = fs.String("tailscale-api-url", authkeys.DefaultAPI, "Tailscale API address")
		tailnetID = fs.String("tailnet", "", "tailnet for the API (default: the credential's own)")
		rootPart  = fs.Int("root-partition", 2, "root partition the boot partition names: 2 (for flashing) or 3 (an update image for a box running root 2, for surveyctl update -image)")
		keyExpiry = fs.Duration("mint-authkey-expiry", 30*24*time.Hour, "how long a minted key stays usable (the card's time in the mail)")
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
		return fmt.Errorf("-size: %w", err)
	}
	if *arch != "" && *arch != "arm64" && *arch != "amd64" {
		return fmt.Errorf("-arch %q: want arm64 or amd64", *arch)
	}
	if *mintTags != "" && *authKey != "" {
		fmt.Fprintln(stderr, "surveyctl image: -mint-authkey and -authkey-file exclude each other")
		return errUsage
	}
	opts := sdimage.Options{
		ConfigPath: *cfgPath, Output: *out, Hostname: *hostname, AuthKeyFile: *authKey,
		ApplianceConfig: *appConfig, Size: n, Arch: *arch, RootPartition: *rootPart, Log: stderr,
	}
	var api *authkeys.Client
	if *apiCred != "" {
		cred, err := config.ReadAuthKeyFile(*apiCred) // same rules: 0600, one line
		if err != nil {
			return fmt.Errorf("-tailscale-api-credential-file: %w", err)
		}
		if api, err = authkeys.New(*apiURL, *tailnetID, cred.Reveal()); err != nil {
			return err
		}
	}
	switch {
	case *mintTags != "":
		if api == nil {
			fmt.Fprintln(stderr, "surveyctl image: -mint-authkey needs -tailscale-api-credential-file")
			return errUsage
		}
		var tags []string
		for _, t := range strings.Split(*mintTags, ",") {
			if t = strings.TrimSpace(t); !strings.HasPrefix(t, "tag:") || len(t) == len("tag:") {
				return fmt.Errorf("-mint-authkey: %q is not a tag (tag:NAME)", t)
			}
			tags = append(tags, t)
		}
		name := *hostname
		if name == "" {
			name = "(config hostname)"
		}
		key, err := api.Mint(ctx, tags, "surveybox card "+name, *keyExpiry)
		if err != nil {
			return err
		}
		opts.AuthKey = []byte(key + "\n")
		id, _ := authkeys.KeyID(key)
		fmt.Fprintf(stderr, "surveyctl image: minted single-use auth key %s (%s) for this card\n", id, strings.Join(tags, ","))
	case *authKey != "" && api != nil:
		key, err := config.ReadAuthKeyFile(*authKey)
		if err != nil {
			return fmt.Errorf("-authkey-file: %w", err)
		}
		problems, err := api.Check(ctx, key.Reveal())
		if err != nil {
			return err
		}
		for _, p := range problems {
			fmt.Fprintf(stderr, "surveyctl image: WARNING: the auth key %s\n", p)
		}
	case *authKey != "":
		fmt.Fprintln(stderr, "surveyctl image: note: whoever holds the card can copy its auth key until the box's first login spends it;"+
			" use a one-off, pre-approved, tagged key per card (or -mint-authkey), which this cannot check without -tailscale-api-credential-file")
	}
	_, err = sdimage.Build(ctx, opts)
	return err
}
