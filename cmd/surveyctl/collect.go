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

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/tailnet"
)

// errUsage: bad flags or arguments; the message has been printed.
var errUsage = errors.New("usage")

func defaultDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "surveyctl")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "surveyctl")
	}
	return "surveyctl-data"
}

func collectCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("collect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", defaultDir(), "data directory: collector.db and the node's state (tsnet-collect/)")
	var tf tailnetFlags
	tf.register(fs, "collector")
	allow := fs.String("allow", "", "boxes allowed to upload: comma-separated tags (tag:surveybox) and node names (required)")
	listen := fs.String("listen", ":8080", "address on the tailnet to serve uploads on")
	maxBytes := fs.Int64("max-upload-bytes", collector.DefaultMaxUploadBytes, "largest upload accepted (larger: 413)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: surveyctl collect -allow tag:surveybox[,box-name...] [flags]\n\nRuns the operator's collector as a node on the tailnet: boxes push their\nobservations to http://HOSTNAME:8080 (config uploader.collector).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "collect: unexpected arguments %q\n", fs.Args())
		return errUsage
	}
	policy, err := tailnet.ParseList(*allow)
	if err == nil && (policy.Empty() || len(policy.Users) > 0) {
		err = errors.New("give the boxes' tag (tag:surveybox) and/or node names")
	}
	if err != nil {
		fmt.Fprintf(stderr, "collect: -allow: %v\n", err)
		return errUsage
	}
	if *maxBytes < collector.DefaultMaxUploadBytes {
		// Below it, a box could hold a batch it can never upload.
		fmt.Fprintf(stderr, "collect: -max-upload-bytes: at least %d (one stored batch and its framing)\n", collector.DefaultMaxUploadBytes)
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
	ln, err := node.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listening on the tailnet at %s: %w", *listen, err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	logger.Info("collecting", "node", tf.hostname, "listen", *listen, "store", st.Path(), "allow", *allow)
	h := &collector.Handler{Store: st, WhoIs: lc, Allow: policy, MaxUploadBytes: *maxBytes, Logger: logger}
	return collector.Serve(ctx, ln, lc, h, logger)
}
