package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/surveybox/surveybox/flash"
)

// flashCmd implements `surveyctl flash -image FILE [-yes] DEVICE`.
// Progress goes to stderr; the confirmation is read from stdin.
func flashCmd(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) error {
	fs := flag.NewFlagSet("surveyctl flash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		image    = fs.String("image", "", "image file built by surveyctl image (required)")
		yes      = fs.Bool("yes", false, "overwrite the device without asking")
		noVerify = fs.Bool("no-verify", false, "do not read the card back after writing")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: surveyctl flash -image FILE [-yes] DEVICE\n\n"+
			"Writes an image built by surveyctl image to an SD card (DEVICE: the whole card,\n"+
			"e.g. /dev/sdb, /dev/mmcblk0, or /dev/disk4 on macOS; see lsblk or diskutil list),\n"+
			"grows /perm to the end of the card, and reads everything back. Refuses a\n"+
			"partition, a mounted or otherwise busy disk, the system disk and a card smaller\n"+
			"than the image. Needs root (sudo).\n\n")
		fs.PrintDefaults()
	}
	positional, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return errUsage
	}
	if len(positional) != 1 || *image == "" {
		fs.Usage()
		return errUsage
	}
	confirm := func(d *flash.Device, img *flash.Image) (bool, error) {
		fmt.Fprintf(stderr, "surveyctl flash: about to ERASE EVERYTHING on\n\n    %s\n\n"+
			"and write %s to it (%d files on /perm, which will span the card's %s).\n",
			d, img.Path, img.PermFiles(), gib(d.Size-img.PermStart))
		if *yes {
			return true, nil
		}
		fmt.Fprint(stderr, "Type yes to continue: ")
		line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return false, fmt.Errorf("reading the confirmation: %w", err)
		}
		return strings.TrimSpace(line) == "yes", nil
	}
	res, err := flash.Flash(ctx, flash.Options{
		Image: *image, Device: positional[0], Confirm: confirm, NoVerify: *noVerify,
		Progress: stderr, Log: slog.New(slog.NewTextHandler(stderr, nil)),
	})
	if err != nil {
		return err
	}
	verified := "not verified (-no-verify)"
	if !*noVerify {
		verified = "verified in " + res.Verify.Round(time.Second).String()
	}
	fmt.Fprintf(stderr, "surveyctl flash: %s is ready: boot and root written in %s, /perm (%s) in %s, %s.\n",
		res.Device.Path, res.Write.Round(time.Second), gib(res.PermSize), res.Perm.Round(time.Second), verified)
	if runtime.GOOS == "darwin" {
		fmt.Fprintf(stderr, "Eject it before removing it: diskutil eject %s\n", res.Device.Path)
	} else {
		fmt.Fprintln(stderr, "It is synced: you can remove it.")
	}
	return nil
}

func gib(n int64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }
