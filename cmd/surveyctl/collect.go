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
	"strings"
	"time"

	"tailscale.com/tsnet"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/config"
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

// tailnetFlags are the flags of the subcommands that join the tailnet.
type tailnetFlags struct {
	hostname, authKeyFile, controlURL string
	tags                              []string
	verbose                           bool
}

func (tf *tailnetFlags) register(fs *flag.FlagSet, hostname string) {
	fs.StringVar(&tf.hostname, "hostname", hostname, "node name on the tailnet")
	fs.StringVar(&tf.authKeyFile, "authkey-file", "", "file holding a Tailscale auth key (mode 0600); default: $TS_AUTHKEY, or an interactive login URL on first start")
	fs.StringVar(&tf.controlURL, "control-url", "", "coordination server URL (headscale); default: Tailscale's")
	fs.Func("advertise-tags", "comma-separated ACL tags for this node (e.g. tag:surveyops, matching the boxes' operators.tags); a tagged auth key sets them too", func(v string) error {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				if !strings.HasPrefix(t, "tag:") || len(t) == len("tag:") {
					return fmt.Errorf("%q is not a tag (want tag:NAME)", t)
				}
				tf.tags = append(tf.tags, t)
			}
		}
		return nil
	})
	fs.BoolVar(&tf.verbose, "verbose", false, "log Tailscale's own messages")
}

// openStoreAndJoin opens DIR/collector.db (creating DIR, 0700) and joins
// the tailnet with the node's state in DIR/stateName.
func (tf *tailnetFlags) openStoreAndJoin(ctx context.Context, dir, stateName string, stderr io.Writer) (*collector.Store, *tsnet.Server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	st, err := collector.Open(filepath.Join(dir, "collector.db"))
	if err != nil {
		return nil, nil, err
	}
	node, err := tf.startNode(ctx, filepath.Join(dir, stateName), stderr)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, node, nil
}

// startNode starts a tsnet node with its state in stateDir and waits until
// it is up.
func (tf *tailnetFlags) startNode(ctx context.Context, stateDir string, stderr io.Writer) (*tsnet.Server, error) {
	key := config.Secret(os.Getenv(config.AuthKeyEnv))
	if tf.authKeyFile != "" {
		var err error
		if key, err = config.ReadAuthKeyFile(tf.authKeyFile); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	s := tailnet.NewNode(tailnet.NodeOptions{
		Dir: stateDir, Hostname: tf.hostname, AuthKey: key.Reveal(), ControlURL: tf.controlURL, Tags: tf.tags,
		Verbose:  tf.verbose,
		UserLogf: func(f string, a ...any) { fmt.Fprintf(stderr, "tailnet: "+f+"\n", a...) },
	})
	upCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := s.Up(upCtx); err != nil {
		s.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("joining the tailnet as %s (state in %s): %w", tf.hostname, stateDir, err)
	}
	return s, nil
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
