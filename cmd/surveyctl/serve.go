package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/report/web"
	"github.com/surveybox/surveybox/tailnet"
)

// serveCmd runs the live views and, with -boxes, the collector, on one
// tailnet node in one process: the process owns the store (bbolt allows
// one writer and no reader beside it), so the views see every upload the
// moment it is stored. It is the same node as `surveyctl collect` (state
// in DIR/tsnet-collect), so boxes keep pushing to the same name.
func serveCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", defaultDir(), "data directory: collector.db and the node's state (tsnet-collect/, shared with collect)")
	var tf tailnetFlags
	tf.register(fs, "collector")
	allow := fs.String("allow", "", "who may view: comma-separated users (alice@example.com), tags (tag:surveyops) and node names (required)")
	boxes := fs.String("boxes", "", "boxes allowed to upload, as collect's -allow (tag:surveybox); empty: serve what is stored, collect nothing")
	listen := fs.String("listen", ":80", "address on the tailnet for the views")
	collectListen := fs.String("collect-listen", ":8080", "address on the tailnet for uploads (with -boxes)")
	silent := fs.Int("silent-cycles", 10, "mark a box silent when nothing arrived for this many of its cycle intervals")
	maxBytes := fs.Int64("max-upload-bytes", collector.DefaultMaxUploadBytes, "largest upload accepted (with -boxes)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: surveyctl serve -allow USERS,TAGS [-boxes tag:surveybox] [flags]\n\n"+
			"Serves the fleet and every box's report in a browser, on the tailnet only\n"+
			"(http://HOSTNAME/), updating as data arrives. With -boxes it is also the\n"+
			"collector boxes push to (instead of surveyctl collect: one process owns the\n"+
			"store). Stop it before pull, export or report.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "serve: unexpected arguments %q\n", fs.Args())
		return errUsage
	}
	viewers, err := tailnet.ParseList(*allow)
	if err == nil && viewers.Empty() {
		err = errors.New("say who may view (users, tags or node names)")
	}
	if err != nil {
		fmt.Fprintf(stderr, "serve: -allow: %v\n", err)
		return errUsage
	}
	var uploaders tailnet.Policy
	if *boxes != "" {
		uploaders, err = tailnet.ParseList(*boxes)
		if err == nil && (uploaders.Empty() || len(uploaders.Users) > 0) {
			err = errors.New("give the boxes' tag (tag:surveybox) and/or node names")
		}
		if err != nil {
			fmt.Fprintf(stderr, "serve: -boxes: %v\n", err)
			return errUsage
		}
		if *maxBytes < collector.DefaultMaxUploadBytes {
			fmt.Fprintf(stderr, "serve: -max-upload-bytes: at least %d\n", collector.DefaultMaxUploadBytes)
			return errUsage
		}
	}
	if *silent < 1 {
		fmt.Fprintf(stderr, "serve: -silent-cycles must be at least 1\n")
		return errUsage
	}
	st, node, err := tf.openStoreAndJoin(ctx, *dir, "tsnet-collect", stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	defer node.Close()
	lc, err := node.LocalClient()
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	running := 0
	ln, err := node.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listening on the tailnet at %s: %w", *listen, err)
	}
	views := &web.Handler{Store: st, WhoIs: lc, Allow: viewers, SilentCycles: *silent, Version: version(), Logger: logger, Ctx: ctx}
	running++
	go func() { errc <- collector.Serve(ctx, ln, lc, views, logger) }()
	if *boxes != "" {
		cln, err := node.Listen("tcp", *collectListen)
		if err != nil {
			cancel()
			<-errc
			return fmt.Errorf("listening on the tailnet at %s: %w", *collectListen, err)
		}
		h := &collector.Handler{Store: st, WhoIs: lc, Allow: uploaders, MaxUploadBytes: *maxBytes, Logger: logger}
		running++
		go func() { errc <- collector.Serve(ctx, cln, lc, h, logger) }()
	}
	logger.Info("serving", "node", tf.hostname, "views", *listen, "viewers", *allow, "collect", *boxes, "store", st.Path())
	var first error
	for range running {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}
