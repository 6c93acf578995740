// Command surveyctl is the surveybox operator's tool. Subcommands:
//
//	surveyctl image [flags]     build the appliance's bootable SD card image
//	surveyctl flash -image FILE DEVICE  write an image to an SD card, /perm spanning the card
//	surveyctl update [flags] BOX...     update boxes over the tailnet (boot, root, MBR), reboot, check
//	surveyctl collect [flags]   run the collector boxes push to (a tailnet node)
//	surveyctl pull BOX [flags]  fetch a box's observations over the tailnet
//	surveyctl export [flags]    write what was collected or pulled as JSON lines, CSV, WiGLE CSV or pcapng
//	surveyctl report [flags]    write a box's site-survey report as one self-contained HTML file
//	surveyctl serve [flags]     the fleet and the reports live in a browser on the tailnet (and collect)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch args[0] {
	case "image":
		err = imageCmd(ctx, args[1:], stderr)
	case "flash":
		err = flashCmd(ctx, args[1:], os.Stdin, stderr)
	case "update":
		err = updateCmd(ctx, args[1:], stderr)
	case "collect":
		err = collectCmd(ctx, args[1:], stderr)
	case "pull":
		err = pullCmd(ctx, args[1:], stderr)
	case "export":
		err = exportCmd(ctx, args[1:], stdout, stderr)
	case "report":
		err = reportCmd(ctx, args[1:], stderr)
	case "serve":
		err = serveCmd(ctx, args[1:], stderr)
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
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "surveyctl %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: surveyctl <command> [flags]\n\ncommands:\n"+
		"  image    build the appliance's bootable SD card image (surveyctl image -h)\n"+
		"  flash    write an image to an SD card, /perm spanning the card (surveyctl flash -h)\n"+
		"  update   update boxes over the tailnet: build, send, switch, reboot, check (surveyctl update -h)\n"+
		"  collect  run the collector that boxes push to, on the tailnet (surveyctl collect -h)\n"+
		"  pull     fetch a box's observations over the tailnet (surveyctl pull -h)\n"+
		"  export   write collected/pulled observations as JSON lines or CSV (surveyctl export -h)\n"+
		"  report   write a box's site-survey report as one HTML file (surveyctl report -h)\n"+
		"  serve    the fleet and the reports live in a browser, on the tailnet; also collects (surveyctl serve -h)\n")
}

// parseInterspersed parses fs's flags wherever they stand among the
// positional arguments (surveyctl update -wait 2m box1 -arch arm64 box2),
// which it returns in order. -h gives flag.ErrHelp.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
