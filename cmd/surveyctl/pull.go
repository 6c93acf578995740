package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/proto/batch"
)

func pullCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("pull", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", defaultDir(), "data directory: collector.db and, with -tailnet tsnet, the node's state (tsnet-pull/)")
	var pf peerFlags
	pf.register(fs, "surveyctl-pull")
	url := fs.String("url", "", "the box's pull API (default http://BOX)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: surveyctl pull BOX [flags]\n\nFetches the box's observations over the tailnet into DIR/collector.db, after\nthe last one stored; run it again to resume. This machine must be an operator\nin the box's config (operators.users or operators.tags). When this machine\nruns Tailscale, pull goes through it (the box sees this machine and its user);\notherwise it joins the tailnet as a node of its own (-tailnet).\n\n")
		fs.PrintDefaults()
	}
	// Accept flags before and after BOX.
	var box string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		box, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if box == "" && fs.NArg() > 0 {
		box = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pull: unexpected arguments %q\n", fs.Args())
		return errUsage
	}
	if box == "" {
		fs.Usage()
		return errUsage
	}
	if err := pf.valid(); err != nil {
		fmt.Fprintf(stderr, "pull: %v\n", err)
		return errUsage
	}
	name, _, _ := strings.Cut(box, ".")
	if !collector.ValidBoxName(name) {
		return fmt.Errorf("%q is not a box name (a tailnet node name)", box)
	}
	base := *url
	if base == "" {
		base = "http://" + box
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	st, err := collector.Open(filepath.Join(*dir, "collector.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	pc, err := pf.connect(ctx, fs, filepath.Join(*dir, "tsnet-pull"), stderr)
	if err != nil {
		return err
	}
	defer pc.close()
	fmt.Fprintf(stderr, "pull %s: on the tailnet through %s\n", name, pc.via)
	// The box is a tailnet peer: its name is looked up in the node's
	// peer list (waiting for it to arrive), never in this machine's DNS,
	// and an address must be a peer's.
	res, err := collector.Pull(ctx, pc.httpClient(), base, name, st)
	if res.Spool != 0 && res.PrevSpool != 0 && res.Spool != res.PrevSpool {
		fmt.Fprintf(stderr, "pull %s: the box's spool started over (ID %v, was %v: card re-flashed or spool lost); fetching it from its start\n",
			name, batch.SpoolID(res.Spool), batch.SpoolID(res.PrevSpool))
	}
	switch {
	case err != nil && res.Records == 0:
		return err
	case err != nil:
		// A cut stream keeps the complete cycles it carried.
		fmt.Fprintf(stderr, "pull %s: kept %d complete cycles (%d records) after sequence %d before the error\n",
			name, res.Cycles, res.Records, res.After)
		return err
	}
	fmt.Fprintf(stderr, "pull %s: %d cycles, %d records stored after sequence %d; now at %d (box's next: %d; spool %v)\n",
		name, res.Cycles, res.Records, res.After, res.HighSeq, res.NextSeq, batch.SpoolID(res.Spool))
	return nil
}
