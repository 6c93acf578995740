package main

// Boot mode: what the appliance does when gokrazy runs it as the box's
// service (issue 4 item 3).
//
// When: -boot=auto (the default) turns boot mode on when the appliance runs
// as a service (no -once, no -cycles) AND its parent is PID 1 AND
// /gokrazy/init exists, i.e. gokrazy's init supervises it. -boot=on forces
// it (tests), -boot=off disables it. Outside boot mode the appliance is the
// plain scanner it always was.
//
// Every boot, in order:
//  1. load the brcmfmac modules when the kernel has them (finit_module,
//     dependencies first; "not present" in a VM is fine);
//  2. load the config; a broken config prints ONE console line naming the
//     file and field and the box runs in safe mode (below);
//  3. load the SSH host key from /perm/surveybox/ssh_host_ed25519_key, or
//     generate it if (and only if) there is no file there; an unusable
//     file is reported loudly and never replaced, and the box runs on
//     without SSH;
//  4. print the banner to /dev/console (hostname, version, host key
//     fingerprint as ssh-keygen -l prints it and the public key line, radio,
//     tailnet, config, /perm), and again whenever one of these changes;
//  5. check for listeners on non-tailnet addresses (listeners.go) now and
//     then periodically, printing a line whenever the result changes;
//  6. scan. A missing radio or a failing scanner is a state shown in the
//     banner and retried with backoff; boot mode never exits on its own, so
//     gokrazy never restarts it in a loop.
//
// Safe mode (broken config): the appliance keeps scanning with its built-in
// defaults and command-line flags, keeps printing the banner, but starts
// nothing that depends on the config: no tailnet, no upload, no SSH server
// (authorization comes from the config). Fixing the config file and
// rebooting leaves safe mode.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/surveybox/surveybox/config"
	"github.com/surveybox/surveybox/spool"
	"github.com/surveybox/surveybox/survey"
)

// bootEnv is what boot mode touches of the system; tests replace parts.
type bootEnv struct {
	con         *console
	hostKeyPath string
	procRoot    string // /proc
	loadModules func() ([]moduleResult, error)
	loadConfig  func() (configInfo, error)
	hostname    func() (string, error)
	firstStart  bool
	// scan runs the scanner until ctx ends; it reports radio states.
	// scanConfig is the config's scan section (nil in safe mode).
	scan func(ctx context.Context, scanConfig *config.Scan, radio func(string)) error
	// listenerEvery returns the pause before the n-th listener check.
	listenerEvery func(n int) time.Duration
	// startTailnet, when set and the config wants a tailnet, brings the
	// node up (issue 4 item 4: tsnet, the SSH server presenting key.Signer
	// on the tailnet listener only) and reports its state: "connecting",
	// then "<name> <tailnet IPs>". It must not block. nil: no tailnet in
	// this build, and the banner says "connecting" while a key is set.
	startTailnet func(ctx context.Context, cfg configInfo, key *hostKey, state func(string))
	// addrs lists the box's addresses for the listener line.
	addrs func() string
	// retryWait returns the pause after the n-th scanner failure (backoff).
	retryWait func(n int) time.Duration
	// openSpool opens the durable spool for the scan snapshots; nil: no
	// spool (tests). spool and sink are set once it is open.
	openSpool func(c config.Spool) (*spool.Spool, error)
	spool     *spool.Spool
	sink      snapshotSink

	radioMu sync.Mutex
	radio   string // the radio state last reported, for the pull API
}

// currentRadio returns the radio state last reported.
func (e *bootEnv) currentRadio() string {
	e.radioMu.Lock()
	defer e.radioMu.Unlock()
	return e.radio
}

// underGokrazy reports whether gokrazy's init supervises this process.
func underGokrazy() bool {
	if os.Getppid() != 1 {
		return false
	}
	_, err := os.Stat("/gokrazy/init")
	return err == nil
}

// bootMain runs boot mode until ctx ends.
func bootMain(ctx context.Context, o options, log *slog.Logger, stdout, stderr io.Writer) error {
	con, err := openConsole(stderr, stdout)
	if err != nil {
		log.Warn("cannot open /dev/console; the banner goes to stderr", "err", err)
	}
	env := &bootEnv{
		con:         con,
		hostKeyPath: hostKeyPath,
		procRoot:    "/proc",
		loadModules: func() ([]moduleResult, error) {
			l, err := newModuleLoader()
			if err != nil {
				return nil, err
			}
			return l.load(wifiModules)
		},
		loadConfig: loadConfig,
		addrs:      interfaceAddrs,
		hostname:   os.Hostname,
		firstStart: os.Getenv("GOKRAZY_FIRST_START") == "1",
		openSpool:  func(c config.Spool) (*spool.Spool, error) { return openSpool(c, log) },
		listenerEvery: func(n int) time.Duration {
			if n < 24 { // the first two minutes: DHCP, gokrazy's listeners
				return 5 * time.Second
			}
			return time.Minute
		},
	}
	env.startTailnet = func(ctx context.Context, cfg configInfo, key *hostKey, state func(string)) {
		startTailnet(ctx, tailnetDeps{port: wireGuardPort, cfg: cfg.Config, spool: env.spool, key: key, radio: env.currentRadio, log: log}, state)
	}
	env.scan = func(ctx context.Context, sc *config.Scan, radio func(string)) error {
		o := o
		applyScanConfig(&o, sc)
		o.sink = env.sink
		return scanMain(ctx, o, log, stdout, radio)
	}
	return env.run(ctx, log)
}

func (e *bootEnv) run(ctx context.Context, log *slog.Logger) error {
	con := e.con
	con.Printf("appliance starting (pid %d)", os.Getpid())

	// 1. The WiFi driver.
	res, err := e.loadModules()
	con.Lines(summarizeModules(res, err))

	// 2. The config.
	st := bootState{Version: appVersion(), Radio: radioSearch, Tailnet: tailnetOff}
	cfg, cfgErr := e.loadConfig()
	if cfgErr != nil {
		con.Lines(configErrorLine(cfgErr))
		st.Config = "INVALID — safe mode: scanning with defaults, no tailnet, no upload, no SSH"
	} else {
		st.Config = cfg.describe()
		if cfg.TailnetConfigured {
			// The tailnet client (tsnet) is not part of this build yet;
			// the state becomes "connecting" and then the node's name and
			// addresses once it is.
			st.Tailnet = tailnetWait
		}
	}

	// The spool keeps every observation on /perm, in safe mode too (with
	// the default location): nothing is lost while the config is fixed.
	if e.openSpool != nil {
		c := config.Default()
		if cfgErr == nil && cfg.Config != nil {
			c = *cfg.Config
		}
		spoolCfg, withSurvey := c.Spool, c.Scan.Survey
		sp, err := e.openSpool(spoolCfg)
		if err != nil {
			con.Printf("ERROR: %v — observations are not kept", err)
		} else {
			e.spool, e.sink = sp, spoolSink(sp, withSurvey, log)
			defer sp.Close()
		}
	}

	// 3. Hostname, /perm, host key.
	if h, err := e.hostname(); err == nil {
		st.Hostname = h
	} else {
		st.Hostname = "unknown (" + err.Error() + ")"
	}
	mounts, _ := os.ReadFile(e.procRoot + "/self/mounts")
	st.Perm = permState(string(mounts))
	key, err := loadOrCreateHostKey(e.hostKeyPath, "root@"+st.Hostname, rand.Reader)
	var hkErr *hostKeyError
	switch {
	case err == nil:
		st.Fingerprint, st.PublicKey = key.Fingerprint(), key.AuthorizedLine()
		if key.Created {
			con.Printf("generated a new SSH host key at %s", key.Path)
		}
	case errors.As(err, &hkErr):
		con.Printf("ERROR: %v", err)
		st.HostKeyProblem = "the key file is unusable (see the ERROR line above); SSH is off"
	default:
		con.Printf("ERROR: no SSH host key: %v", err)
		st.HostKeyProblem = "cannot store a host key (" + err.Error() + "); SSH is off"
	}

	// 4. The banner: held back until the scanner has looked for a radio
	// (at most firstRadioWait), so the first banner already says whether
	// there is one; printed again on every change after that.
	b := &banner{con: con, firstStart: e.firstStart, uptime: uptime, held: true}
	b.update(func(s *bootState) { *s = st })
	firstRadio := make(chan struct{})
	var once sync.Once
	radio := func(r string) {
		e.radioMu.Lock()
		e.radio = r
		e.radioMu.Unlock()
		b.update(func(s *bootState) { s.Radio = r })
		once.Do(func() { close(firstRadio) })
	}
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		e.scanLoop(ctx, log, cfg.Scan, radio)
	}()
	select {
	case <-firstRadio:
	case <-time.After(firstRadioWait):
	case <-ctx.Done():
	}
	b.release()

	if e.startTailnet != nil && cfgErr == nil && cfg.TailnetConfigured {
		e.startTailnet(ctx, cfg, key, func(s string) { b.update(func(st *bootState) { st.Tailnet = s }) })
	}

	// 5. Listener checks.
	go e.watchListeners(ctx)

	<-scanDone
	return nil
}

// firstRadioWait bounds how long the first banner waits for the radio state.
const firstRadioWait = 3 * time.Second

// scanLoop scans until ctx ends. Failures are radio states, retried with
// backoff: boot mode never exits on its own.
func (e *bootEnv) scanLoop(ctx context.Context, log *slog.Logger, sc *config.Scan, radio func(string)) {
	for attempt := 0; ; attempt++ {
		err := e.scan(ctx, sc, radio)
		if ctx.Err() != nil {
			return
		}
		wait := backoff(attempt)
		if e.retryWait != nil {
			wait = e.retryWait(attempt)
		}
		if err == nil {
			err = errors.New("the scanner stopped")
		}
		log.Error("scanning failed; retrying", "err", err, "retry", wait)
		radio(fmt.Sprintf("error: %v — retrying", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// backoff is the pause before the attempt+1-th try: 5 s doubling to 5 min.
func backoff(attempt int) time.Duration {
	d := 5 * time.Second
	for i := 0; i < attempt && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

func (e *bootEnv) watchListeners(ctx context.Context) {
	last := ""
	for n := 0; ; n++ {
		ls, err := readListeners(e.procRoot)
		addrs := ""
		if e.addrs != nil {
			addrs = e.addrs()
		}
		if line := listenerLine(ls, err, addrs); line != last {
			e.con.Lines(line)
			last = line
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.listenerEvery(n)):
		}
	}
}

// radioFromOpen is the radio state for survey.Open's result.
func radioFromOpen(ifc survey.Interface, err error) string {
	switch {
	case err == nil:
		return ifc.Name + " " + ifc.PHYName
	case errors.Is(err, survey.ErrNoRadio):
		return radioNone
	default:
		return "error: " + err.Error()
	}
}
