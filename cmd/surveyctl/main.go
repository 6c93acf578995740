// Command surveyctl is the surveybox operator's tool. Subcommands:
//
//	surveyctl image [flags]   build the appliance's bootable SD card image
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/surveybox/surveybox/internal/image"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch args[0] {
	case "image":
		err = image.Command(ctx, args[1:], stderr)
	case "help", "-h", "-help", "--help":
		usage(stderr)
		return 0
	default:
		fmt.Fprintf(stderr, "surveyctl: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, image.ErrUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "surveyctl %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: surveyctl <command> [flags]\n\ncommands:\n  image   build the appliance's bootable SD card image (surveyctl image -h)\n")
}
