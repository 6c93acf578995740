package uploader

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"tailscale.com/envknob"
	"tailscale.com/tsnet"

	"github.com/surveybox/surveybox/config"
)

// NewNode returns the box's tsnet node for the config: state in StateDir
// (on /perm: losing it makes a new node), not ephemeral, the auth key
// from the config (AuthKeyFile or TS_AUTHKEY; ignored once the node is
// registered), and no log uploads to Tailscale (TS_NO_LOGS_NO_SUPPORT).
// Tailscale's verbose logs are dropped; the few user-facing lines (e.g. a
// login URL when no key is set) go to logger. It also applies the memory
// limit (ApplyMemoryLimit). The node is not started.
func NewNode(c config.Tailnet, logger *slog.Logger) *tsnet.Server {
	envknob.Setenv("TS_NO_LOGS_NO_SUPPORT", "1")
	ApplyMemoryLimit(int64(c.MemoryLimit))
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &tsnet.Server{
		Dir:        c.StateDir,
		Hostname:   c.Hostname,
		AuthKey:    c.AuthKey.Reveal(),
		ControlURL: c.ControlURL,
		Ephemeral:  false,
		UserLogf: func(format string, args ...any) {
			logger.Info("tailnet: " + sprintf(format, args...))
		},
		Logf: func(string, ...any) {},
	}
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
// returns; connections arrive once the node is up.
func KeepUp(ctx context.Context, s *tsnet.Server, logger *slog.Logger) error {
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
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
