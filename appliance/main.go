// Command appliance is the surveybox service that gokrazy runs on the
// Raspberry Pi. Today it scans with nl80211 and prints what it finds; see
// run for the flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
