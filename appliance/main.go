// Command appliance is the surveybox service that gokrazy runs on the box.
// It wires the box's parts together and does nothing else. It takes no
// flags: every setting comes from the config file (package config), the
// one place that defines defaults. The survey explorer for developers is
// cmd/surveyscan.
//
// Every boot, in order:
//  1. load the WiFi driver (package kmod; "not present" in a VM is fine);
//  2. load the config; a broken config prints ONE console line naming the
//     file and field, and the box runs in safe mode (below);
//  3. open the spool on /perm (in safe mode too, at the default path:
//     nothing is lost while the config is fixed);
//  4. load the SSH host key, or make it if there is none (package hostkey);
//     an unusable key file is reported and never replaced, and SSH stays
//     off;
//  5. print the banner (package banner), held back until the scanner has
//     looked for a radio, and again whenever what it shows changes;
//  6. scan into the spool (package scanloop), for good;
//  7. when the config wants a tailnet, bring up the tailnet services
//     (package tailsvc);
//  8. check for listeners reachable from the LAN (package listeners), now
//     and then periodically, printing a line whenever the result changes.
//
// Build it with -tags ts_omit_peerapiserver (gokr-packer.json does): with
// netstack, Tailscale's peer API would otherwise listen on every kernel
// address, the LAN's too.
//
// Safe mode (broken config): the box scans with the built-in defaults and
// prints the banner, but starts nothing that depends on the config: no
// tailnet, no upload, no SSH (authorization comes from the config). Fixing
// the config file and rebooting leaves safe mode.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/surveybox/surveybox/appliance/banner"
	"github.com/surveybox/surveybox/appliance/clock"
	"github.com/surveybox/surveybox/appliance/hostkey"
	"github.com/surveybox/surveybox/appliance/kmod"
	"github.com/surveybox/surveybox/appliance/listeners"
	"github.com/surveybox/surveybox/appliance/netstate"
	"github.com/surveybox/surveybox/appliance/scanloop"
	"github.com/surveybox/surveybox/appliance/tailsvc"
	"github.com/surveybox/surveybox/config"
	"github.com/surveybox/surveybox/proto/pull"
	"github.com/surveybox/surveybox/spool"
	"github.com/surveybox/surveybox/tailnet"
	"tailscale.com/feature/buildfeatures"
)

// version is stamped at link time by the image builder (-ldflags -X).
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	con, consoles, err := banner.OpenConsoles("/proc", "/dev", os.Stderr, os.Stdout)
	if err != nil {
		log.Warn("not every console opened", "opened", consoles, "err", err)
	}
	log.Info("console lines go to", "consoles", consoles)
	e := &env{
		con:         con,
		log:         log,
		hostKeyPath: hostkey.DefaultPath,
		procRoot:    "/proc",
		hostname:    os.Hostname,
		firstStart:  os.Getenv("GOKRAZY_FIRST_START") == "1",
		loadModules: func() ([]kmod.Result, error) {
			l, err := kmod.NewLoader()
			if err != nil {
				return nil, err
			}
			return l.Load(kmod.WiFi())
		},
		loadConfig:   func() (*config.Config, error) { return config.Load() },
		openSpool:    openSpool,
		startTailnet: tailsvc.Start,
		addrs:        listeners.InterfaceAddrs,
		watchNetwork: func(ctx context.Context, report func(string)) {
			netstate.Watch(ctx, "/sys", "/proc", 2*time.Second, report)
		},
		watchClock: func(ctx context.Context, cfg *config.Config, report func(string)) {
			clock.Watch(ctx, clock.Options{Sources: cfg.DateSources(), NTPWait: cfg.Clock.NTPWait.D(),
				Floor: clock.BuildTime(), Set: clock.SetSystem, Log: log}, report)
		},
		listenerEvery: func(n int) time.Duration {
			if n < 24 { // the first two minutes: DHCP, gokrazy's listeners
				return 5 * time.Second
			}
			return time.Minute
		},
	}
	e.run(ctx)
}

// env is what the service touches of the system; tests replace parts.
type env struct {
	con          *banner.Console
	log          *slog.Logger
	hostKeyPath  string
	procRoot     string // /proc
	hostname     func() (string, error)
	firstStart   bool
	loadModules  func() ([]kmod.Result, error)
	loadConfig   func() (*config.Config, error)
	openSpool    func(config.Spool, *slog.Logger, func(note string)) (*spool.Spool, error) // nil: no spool
	scanner      func(ctx context.Context, radio func(string)) error                       // nil: nl80211
	retryWait    func(n int) time.Duration                                                 // nil: scanloop.Backoff
	startTailnet func(ctx context.Context, d tailsvc.Deps, state func(string))
	addrs        func() string // the box's addresses, for the listener line
	// watchNetwork and watchClock report the uplink's and the clock's
	// state until ctx ends; nil: not watched.
	watchNetwork func(ctx context.Context, report func(string))
	watchClock   func(ctx context.Context, cfg *config.Config, report func(string))
	// listenerEvery returns the pause before the n-th listener check.
	listenerEvery func(n int) time.Duration
}

// run runs the service until ctx ends.
func (e *env) run(ctx context.Context) {
	con := e.con
	con.Printf("appliance starting (pid %d)", os.Getpid())
	if buildfeatures.HasPeerAPIServer {
		// With netstack, Tailscale's peer API listens on every kernel
		// address: the LAN too. The image builds without it.
		con.Printf("WARNING: built without -tags ts_omit_peerapiserver: Tailscale's peer API would listen on the LAN")
	}
	res, err := e.loadModules()
	con.Lines(kmod.Summary(res, err))

	st := banner.State{Version: banner.Version(version), Radio: scanloop.RadioSearch, Tailnet: "not configured"}
	cfg, cfgErr := e.loadConfig()
	wantTailnet := false
	if cfgErr != nil {
		con.Lines(configErrorLine(cfgErr))
		st.Config = "INVALID - safe mode: scanning with defaults, no tailnet, no upload, no SSH"
		d := config.Default()
		cfg = &d
	} else {
		st.Config = cfg.Source
		if st.Config == "" {
			st.Config = "defaults (no config file)"
		}
		if wantTailnet = cfg.Tailnet.AuthKey.Reveal() != "" || tailnet.Registered(cfg.Tailnet.StateDir); wantTailnet {
			st.Tailnet = tailsvc.Connecting
		}
	}

	var sp *spool.Spool
	if e.openSpool != nil {
		recovered := func(note string) { con.Printf("SPOOL RECOVERED: %s", note) }
		if sp, err = e.openSpool(cfg.Spool, e.log, recovered); err != nil {
			con.Printf("ERROR: %v - observations are not kept", err)
		} else {
			defer sp.Close()
		}
	}

	if h, err := e.hostname(); err == nil {
		st.Hostname = h
	} else {
		st.Hostname = "unknown (" + err.Error() + ")"
	}
	mounts, _ := os.ReadFile(e.procRoot + "/self/mounts")
	st.Perm = banner.PermState(string(mounts))
	key := e.hostKey(&st)

	b := banner.New(con, e.firstStart, banner.Uptime)
	b.Update(func(s *banner.State) { *s = st })
	e.watchState(ctx, b, cfg, sp)
	var radio atomic.Value // the radio state last reported, for the pull API
	radio.Store("")
	firstRadio := make(chan struct{})
	var once sync.Once
	report := func(r string) {
		radio.Store(r)
		b.Update(func(s *banner.State) { s.Radio = r })
		once.Do(func() { close(firstRadio) })
	}
	scanDone := make(chan struct{})
	counts := &scanloop.Counters{}
	go func() {
		defer close(scanDone)
		scanloop.Run(ctx, scanloop.Options{Scan: cfg.Scan, Spool: sp, Logger: e.log, Radio: report,
			Scanner: e.scanner, RetryWait: e.retryWait, Counters: counts})
	}()
	select {
	case <-firstRadio:
	case <-time.After(firstRadioWait):
	case <-ctx.Done():
	}
	b.Release()

	if wantTailnet && sp != nil {
		e.startTailnet(ctx, tailsvc.Deps{Port: tailsvc.WireGuardPort, Config: cfg, Spool: sp, Key: key,
			Radio: func() string { return radio.Load().(string) }, Scan: counts.Snapshot, Version: st.Version, Boot: pull.ReadBoot(e.procRoot), Log: e.log, Notef: con.Printf},
			func(s string) { b.Update(func(st *banner.State) { st.Tailnet = s }) })
	}
	go e.watchListeners(ctx)
	<-scanDone
}

// firstRadioWait bounds how long the first banner waits for the radio state.
const firstRadioWait = 3 * time.Second

// hostKey loads or makes the host key and fills in what the banner shows
// of it; nil when there is none (SSH stays off).
func (e *env) hostKey(st *banner.State) *hostkey.Key {
	key, err := hostkey.LoadOrCreate(e.hostKeyPath, "root@"+st.Hostname, rand.Reader)
	var unusable *hostkey.UnusableError
	switch {
	case err == nil:
		st.Fingerprint = key.Fingerprint()
		// The public key is too long for a screen line; the ring buffer
		// (gokrazy's web UI) has it.
		e.log.Info("ssh host key", "fingerprint", st.Fingerprint, "public_key", key.AuthorizedLine())
		if key.Created {
			e.con.Printf("generated a new SSH host key at %s", key.Path)
		}
		return key
	case errors.As(err, &unusable):
		e.con.Printf("ERROR: %v", err)
		st.HostKeyProblem = "the key file is unusable (see the ERROR line above); SSH is off"
	default:
		e.con.Printf("ERROR: no SSH host key: %v", err)
		st.HostKeyProblem = "cannot store a host key (" + err.Error() + "); SSH is off"
	}
	return nil
}

// watchState keeps the banner's network, clock and spool lines current.
func (e *env) watchState(ctx context.Context, b *banner.Banner, cfg *config.Config, sp *spool.Spool) {
	if e.watchNetwork != nil {
		go e.watchNetwork(ctx, func(s string) { b.Update(func(st *banner.State) { st.Network = s }) })
	}
	if e.watchClock != nil {
		go e.watchClock(ctx, cfg, func(s string) { b.Update(func(st *banner.State) { st.Clock = s }) })
	}
	b.Update(func(st *banner.State) { st.Spool = sp.HealthLine(time.Now()) })
	go func() {
		t := time.NewTicker(spoolCheckEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				b.Update(func(st *banner.State) { st.Spool = sp.HealthLine(now) })
			}
		}
	}()
}

// spoolCheckEvery is how often the banner's spool line is brought up to
// date.
const spoolCheckEvery = 30 * time.Second

func (e *env) watchListeners(ctx context.Context) {
	allowed := append(listeners.GokrazyDHCP(),
		listeners.Allowed{Proto: "udp", Port: tailsvc.WireGuardPort, Owner: "/user/appliance", Why: "tailnet WireGuard"})
	listeners.Watch(ctx, e.procRoot, e.addrs, allowed, e.listenerEvery, func(line string) { e.con.Lines(line) })
}

// configErrorLine is the one console line for a broken config. The config
// package's errors name the file and the field's JSON path (several
// problems are joined on one line).
func configErrorLine(err error) string {
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
	return "CONFIG ERROR: " + msg + " - running in safe mode (scanning with defaults, no tailnet, no upload, no SSH)"
}

// openSpool opens the durable spool the config names, creating its
// directory (0700: observations are the customer's data). onRecover is
// told when a corrupt database was moved aside for a new one.
func openSpool(c config.Spool, log *slog.Logger, onRecover func(string)) (*spool.Spool, error) {
	if err := os.MkdirAll(filepath.Dir(c.Path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the spool directory: %w", err)
	}
	sp, err := spool.Open(c.Path, spool.Options{QuotaBytes: int64(c.QuotaBytes), Logger: log, OnRecover: onRecover})
	if err != nil {
		return nil, fmt.Errorf("opening the spool %s: %w", c.Path, err)
	}
	return sp, nil
}
