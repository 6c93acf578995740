package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"tailscale.com/tsnet"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/config"
	"github.com/surveybox/surveybox/tailnet"
)

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

// tsnetOnly are the flags that describe a tsnet node of surveyctl's own;
// given to a command that can also use this machine's Tailscale, they
// choose tsnet.
var tsnetOnly = []string{"hostname", "authkey-file", "control-url", "advertise-tags"}

// peerFlags choose how a command that connects to boxes reaches the
// tailnet: through this machine's Tailscale, or as a tsnet node of its own.
type peerFlags struct {
	tailnetFlags
	mode   string
	socket string
}

// valid says whether -tailnet names a way (after parsing).
func (pf *peerFlags) valid() error {
	switch pf.mode {
	case "auto", "system", "tsnet":
		return nil
	}
	return fmt.Errorf("-tailnet %q: want auto, system or tsnet", pf.mode)
}

func (pf *peerFlags) register(fs *flag.FlagSet, hostname string) {
	pf.tailnetFlags.register(fs, hostname)
	fs.StringVar(&pf.mode, "tailnet", "auto", "how to reach the boxes: system (this machine's Tailscale), tsnet (a node of surveyctl's own, state in DIR), or auto: system when it is running and no tsnet flag (-hostname, -authkey-file, -control-url, -advertise-tags) is given, else tsnet")
	fs.StringVar(&pf.socket, "tailscale-socket", "", "tailscaled's LocalAPI socket (default: the platform's; the app's on macOS and Windows)")
}

// peerConn is a way onto the tailnet for reaching boxes.
type peerConn struct {
	dialer *tailnet.Dialer
	via    string // for messages: which node, as whom
	close  func()
}

// connect reaches the tailnet as pf says (after fs is parsed), with a
// tsnet node's state in stateDir. It says on stderr which way it went.
func (pf *peerFlags) connect(ctx context.Context, fs *flag.FlagSet, stateDir string, stderr io.Writer) (*peerConn, error) {
	var explicit []string
	fs.Visit(func(f *flag.Flag) {
		for _, n := range tsnetOnly {
			if f.Name == n {
				explicit = append(explicit, "-"+n)
			}
		}
	})
	switch pf.mode {
	case "tsnet":
		return pf.joinTsnet(ctx, stateDir, stderr)
	case "system":
		if len(explicit) > 0 {
			return nil, fmt.Errorf("%s: only for a node of surveyctl's own (-tailnet tsnet); -tailnet system uses this machine's Tailscale as it is", strings.Join(explicit, ", "))
		}
		pc, err := pf.useSystem(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w (or use -tailnet tsnet)", err)
		}
		return pc, nil
	case "auto":
		if len(explicit) > 0 {
			return pf.joinTsnet(ctx, stateDir, stderr)
		}
		pc, err := pf.useSystem(ctx)
		if err == nil {
			return pc, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		fmt.Fprintf(stderr, "tailnet: not using this machine's Tailscale (%v); joining as a node of our own\n", err)
		return pf.joinTsnet(ctx, stateDir, stderr)
	default:
		return nil, pf.valid()
	}
}

// useSystem reaches the tailnet through this machine's Tailscale, when it
// answers and is running.
func (pf *peerFlags) useSystem(ctx context.Context) (*peerConn, error) {
	lc := tailnet.SystemClient(pf.socket)
	st, err := tailnet.SystemRunning(ctx, lc)
	if err != nil {
		return nil, err
	}
	return &peerConn{
		dialer: tailnet.SystemDialer(lc, tailnet.Policy{}, 10*time.Second),
		via:    "this machine's Tailscale, as " + tailnet.SelfName(st),
		close:  func() {},
	}, nil
}

func (pf *peerFlags) joinTsnet(ctx context.Context, stateDir string, stderr io.Writer) (*peerConn, error) {
	node, err := pf.startNode(ctx, stateDir, stderr)
	if err != nil {
		return nil, err
	}
	lc, err := node.LocalClient()
	if err != nil {
		node.Close()
		return nil, err
	}
	via := "node " + pf.hostname + " (state in " + stateDir + ")"
	if st, err := lc.StatusWithoutPeers(ctx); err == nil {
		via = tailnet.SelfName(st) + ", state in " + stateDir
	}
	return &peerConn{
		dialer: &tailnet.Dialer{Peers: lc, Dial: node.Dial, Wait: 10 * time.Second},
		via:    via,
		close:  func() { node.Close() },
	}, nil
}

// httpClient reaches tailnet peers only (tailnet.Dialer).
func (pc *peerConn) httpClient() *http.Client { return pc.dialer.HTTPClient() }
