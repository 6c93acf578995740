package tailnet

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"tailscale.com/envknob"
	"tailscale.com/tsnet"
)

// NodeOptions describe a tsnet node.
type NodeOptions struct {
	// Dir holds the node's state; losing it makes a new node.
	Dir string
	// Hostname is the node's name on the tailnet.
	Hostname string
	// AuthKey logs the node in the first time; ignored once it is
	// registered. Empty: an interactive login URL is logged.
	AuthKey string
	// ControlURL is the coordination server; empty means Tailscale's.
	ControlURL string
	// Tags the node advertises (a tagged auth key sets them too).
	Tags []string
	// UserLogf receives the few user-facing lines (a login URL, say); nil
	// discards them. With Verbose it also receives Tailscale's own logs.
	UserLogf func(format string, args ...any)
	Verbose  bool
}

// NewNode returns a tsnet node for o, not yet started: not ephemeral, no
// log uploads to Tailscale (TS_NO_LOGS_NO_SUPPORT), Tailscale's verbose
// logs dropped unless o.Verbose.
func NewNode(o NodeOptions) *tsnet.Server {
	envknob.Setenv("TS_NO_LOGS_NO_SUPPORT", "1")
	userLogf := o.UserLogf
	if userLogf == nil {
		userLogf = func(string, ...any) {}
	}
	s := &tsnet.Server{
		Dir:           o.Dir,
		Hostname:      o.Hostname,
		AuthKey:       o.AuthKey,
		ControlURL:    o.ControlURL,
		AdvertiseTags: o.Tags,
		Ephemeral:     false,
		UserLogf:      userLogf,
		Logf:          func(string, ...any) {},
	}
	if o.Verbose {
		s.Logf = s.UserLogf
	}
	return s
}

// ApplyMemoryLimit sets the Go memory limit to limit bytes unless
// GOMEMLIMIT is set in the environment (which wins) or limit <= 0. The
// wireguard-go buffer pools otherwise keep 100+ MiB after a burst of
// traffic (tailscale#7272).
func ApplyMemoryLimit(limit int64) {
	if limit <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(limit)
}

// KeepUp brings the node up and keeps trying, every attempt bounded by a
// timeout, until it is up or ctx ends (golink's pattern): at boot the
// network or the clock may not be ready yet. Listeners work before this
// returns; connections arrive once the node is up. onRetry, if not nil,
// is told why each failed attempt failed.
func KeepUp(ctx context.Context, s *tsnet.Server, logger *slog.Logger, onRetry func(error)) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for {
		upCtx, cancel := context.WithTimeout(ctx, time.Minute)
		st, err := s.Up(upCtx)
		cancel()
		if err == nil {
			logger.Info("tailnet: up", "ips", st.TailscaleIPs)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		logger.Warn("tailnet: not up yet", "err", err)
		if onRetry != nil {
			onRetry(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
}

// Registered reports whether a node with its state in dir has registered
// with the coordination server before: it logs in with its state from
// then on, and needs no auth key.
func Registered(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "tailscaled.state"))
	return err == nil
}
