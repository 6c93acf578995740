// Package tailsvc runs the box's services on its tailnet node and nowhere
// else: the pull API and gokrazy's web UI (for operators) on :80, the
// operator's SSH service on :22, and the push loop to the operator's
// collector. Every request is authorized by the caller's tailnet identity
// against the config's operators.
package tailsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/surveybox/surveybox/appliance/hostkey"
	"github.com/surveybox/surveybox/appliance/scanloop"
	"github.com/surveybox/surveybox/config"
	"github.com/surveybox/surveybox/connlimit"
	"github.com/surveybox/surveybox/gokrazyproxy"
	"github.com/surveybox/surveybox/proto/pull"
	"github.com/surveybox/surveybox/pullapi"
	"github.com/surveybox/surveybox/spool"
	"github.com/surveybox/surveybox/sshserver"
	"github.com/surveybox/surveybox/tailnet"
	"github.com/surveybox/surveybox/uploader"
)

// Deps is what the tailnet services need from the service.
type Deps struct {
	Port    uint16 // WireGuard UDP port; 0 picks one (tests)
	Config  *config.Config
	Spool   *spool.Spool
	Key     *hostkey.Key // nil: no SSH
	Radio   func() string
	Scan    func() scanloop.Counts // nil: no counts
	Version string
	// Boot is what the box booted, for the status (the update tool).
	Boot *pull.Boot
	Log  *slog.Logger
	// GokrazySocket is gokrazy's web interface; "" means
	// gokrazyproxy.DefaultSocket.
	GokrazySocket string
	// PeerWait bounds the push loop's wait for the collector to appear
	// among the node's peers; 0 means tailnet.Dialer's default.
	PeerWait time.Duration
	// Notef, if set, puts a line on the console (the auth key's
	// deletion).
	Notef func(format string, args ...any)
}

// Tailnet ports. The pull API and gokrazy's web UI share :80 (plain HTTP:
// the tailnet already encrypts and authenticates every packet, and WhoIs
// authorizes each request), so gokrazy's update tooling works on its
// default port. SSH is on :22. wireGuardPort is the one UDP port on the
const (
	// Connecting is the first state Start reports.
	Connecting = "connecting"

	httpPort = ":80"
	sshPort  = ":22"
	// WireGuardPort is the one UDP port on the LAN side: the tailnet's own
	// transport (see package listeners).
	WireGuardPort = 41641
)

// Start brings up the box's tsnet node and, on it and nowhere else,
// the pull API, gokrazy's web UI (for operators), the SSH service and the
// push loop to the operator's collector. It reports
// "connecting" and then "<name> <tailnet IPs>" through state, and does not
// block. Scanning never waits for any of it.
func Start(ctx context.Context, d Deps, state func(string)) {
	if d.Config == nil || d.Spool == nil {
		state("off: no config or no spool")
		return
	}
	log := d.Log
	tc := d.Config.Tailnet
	tailnet.ApplyMemoryLimit(int64(tc.MemoryLimit))
	authKey := tc.AuthKey.Reveal()
	if tailnet.Registered(tc.StateDir) {
		// The node logs in with its state; a key passed anyway only
		// makes tsnet log that it ignores it.
		authKey = ""
	}
	srv := tailnet.NewNode(tailnet.NodeOptions{
		Dir: tc.StateDir, Hostname: tc.Hostname, AuthKey: authKey, ControlURL: tc.ControlURL, Tags: tc.AdvertiseTags,
		UserLogf: func(format string, args ...any) { log.Info("tailnet: " + fmt.Sprintf(format, args...)) },
	})
	srv.Port = d.Port
	started := time.Now()
	state(Connecting)
	go func() {
		defer srv.Close()
		retry := func(err error) {
			bs := ""
			if lc, lerr := srv.LocalClient(); lerr == nil {
				if st, serr := lc.StatusWithoutPeers(ctx); serr == nil {
					bs = st.BackendState
				}
			}
			state(LoginProblem(err, bs))
		}
		if err := tailnet.KeepUp(ctx, srv, log, retry); err != nil {
			return
		}
		lc, err := srv.LocalClient()
		if err != nil {
			state("error: " + err.Error())
			return
		}
		forgetAuthKey(d)
		if st, err := lc.StatusWithoutPeers(ctx); err == nil && st.Self != nil {
			var ips []string
			for _, ip := range st.Self.TailscaleIPs {
				ips = append(ips, ip.String())
			}
			state(strings.TrimSuffix(st.Self.DNSName, ".") + " " + strings.Join(ips, " "))
		}

		var uploads func() uploader.Status
		if c := d.Config.Uploader; c.Collector != "" {
			// The collector is a tailnet peer, found in the peer list
			// (never in the LAN's DNS) and asked who it is before
			// anything is sent.
			allow, err := tailnet.PolicyOf(c.CollectorPeers)
			if allow.Empty() {
				allow = tailnet.Policy{Users: d.Config.Operators.Users, Tags: d.Config.Operators.Tags}
			}
			client := (&tailnet.Dialer{Peers: lc, Dial: srv.Dial, Allow: allow, Wait: d.PeerWait}).HTTPClient()
			p, perr := uploader.New(uploader.Options{
				Spool: d.Spool, Client: client, Collector: c.Collector,
				BatchMaxBytes: int(c.BatchMaxBytes), BackoffMin: c.BackoffMin.D(), BackoffMax: c.BackoffMax.D(),
				Logger: log,
			})
			if err = errors.Join(err, perr); err != nil {
				log.Error("uploader: not started", "err", err)
			} else {
				uploads = p.Status
				go p.Run(ctx)
			}
		}

		popt := pullapi.Options{
			Spool: d.Spool, WhoIs: lc, Operators: d.Config.Operators,
			Radio: func() pullapi.RadioState {
				r := radioState(d.Radio())
				if d.Scan != nil {
					c := d.Scan()
					r.Cycles, r.FailedCycles, r.FollowUps, r.LastScan = c.Cycles, c.FailedCycles, c.FollowUps, c.LastScan
					r.MaxCycleMs, r.TriggerBusy, r.Redials = c.MaxCycle.Milliseconds(), c.Scanner.TriggerBusy, c.Scanner.Redials
					r.DumpRetries, r.EventsLost = c.Scanner.DumpRetries, c.Scanner.EventsLost
				}
				return r
			}, Uploads: uploads,
			Version: d.Version, Hostname: d.Config.Hostname, Boot: d.Boot, Logger: log,
		}
		if d.Key != nil {
			if ln, err := srv.Listen("tcp", sshPort); err != nil {
				log.Error("ssh: cannot listen on the tailnet", "err", err)
			} else {
				go serveSSH(ctx, ln, d, lc, popt, started)
			}
		}
		ln, err := srv.Listen("tcp", httpPort)
		if err != nil {
			log.Error("pull API: cannot listen on the tailnet", "err", err)
			<-ctx.Done()
			return
		}
		mux := http.NewServeMux()
		api := pullapi.NewHandler(popt)
		mux.Handle("/v1/", api)
		mux.Handle("/metrics", api)
		isOperator := operatorCheck(lc, d.Config.Operators)
		mux.Handle("/", gokrazyproxy.NewHandler(gokrazyproxy.Options{
			Socket: d.GokrazySocket,
			Authorize: func(r *http.Request) error {
				_, err := isOperator(r.Context(), r.RemoteAddr)
				return err
			},
			Logger: log,
		}))
		// No read or write timeout: updates upload a whole root file
		// system; the idle timeout bounds a stalled one.
		// Strangers on the tailnet get 403, but could still hold
		// connections: a few per peer, a bounded total, none idle.
		ln = connlimit.Listen(ln, connlimit.Options{PerPeer: 32, Total: 128, Idle: 2 * time.Minute, Logger: log})
		hs := &http.Server{
			Handler:           tailnet.BrowserGuard(lc, log, mux),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       time.Minute,
			MaxHeaderBytes:    16 << 10,
		}
		go func() {
			<-ctx.Done()
			hs.Close()
		}()
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("tailnet HTTP server stopped", "err", err)
		}
	}()
}

// serveSSH runs the operator's SSH service (status, export) on the tailnet
// listener, presenting the host key the console banner shows.
func serveSSH(ctx context.Context, ln net.Listener, d Deps, lc tailnet.WhoIser, popt pullapi.Options, started time.Time) {
	err := sshserver.Serve(ctx, ln, sshserver.Config{
		HostKey:        d.Key.Signer,
		AuthorizedKeys: d.Config.SSH.AuthorizedKeys,
		Authorize:      operatorCheck(lc, d.Config.Operators),
		Status: func(ctx context.Context) ([]byte, error) {
			st, err := pullapi.StatusOf(popt, started)
			if err != nil {
				return nil, err
			}
			return json.MarshalIndent(st, "", "  ")
		},
		Export: func(ctx context.Context, w io.Writer, after uint64) error {
			_, err := pullapi.Stream(ctx, w, d.Spool, after, nil)
			return err
		},
		Logger: d.Log,
	})
	if err != nil && ctx.Err() == nil {
		d.Log.Error("ssh server stopped", "err", err)
	}
}

// operatorCheck asks the tailnet who is at remoteAddr and allows the
// operators of the config: the one policy (tsauth's) behind the pull API,
// gokrazy's UI and SSH.
func operatorCheck(lc tailnet.WhoIser, ops config.Operators) func(ctx context.Context, remoteAddr string) (string, error) {
	policy := tailnet.Policy{Users: ops.Users, Tags: ops.Tags}
	return func(ctx context.Context, remoteAddr string) (string, error) {
		id, err := tailnet.Identify(ctx, lc, remoteAddr)
		if err != nil {
			return "", err
		}
		if !policy.Allows(id) {
			return id.String(), fmt.Errorf("%v is not an operator", id)
		}
		return id.String(), nil
	}
}

// radioState turns the banner's radio line into the pull API's form.
func radioState(s string) pullapi.RadioState {
	r := pullapi.RadioState{State: s}
	switch {
	case s == scanloop.RadioNone || s == scanloop.RadioSearch || s == "":
		r.State = "waiting for radio"
	case strings.HasPrefix(s, "error: "):
		r.Error = strings.TrimPrefix(s, "error: ")
	default:
		r.Present = true
		r.Interface, _, _ = strings.Cut(s, " ")
		r.State = "scanning"
	}
	return r
}

// forgetAuthKey deletes the auth key file once the node has registered:
// the key is needed for the first login only, and whoever holds the card
// could copy it off /perm and join the tailnet as a box.
func forgetAuthKey(d Deps) {
	tc := d.Config.Tailnet
	if tc.AuthKeyFile == "" || os.Getenv(config.AuthKeyEnv) != "" {
		return
	}
	for range 50 { // the state is written as the login completes
		if tailnet.Registered(tc.StateDir) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !tailnet.Registered(tc.StateDir) {
		return
	}
	err := os.Remove(tc.AuthKeyFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case err != nil:
		d.Log.Error("tailnet: cannot delete the auth key after registering", "path", tc.AuthKeyFile, "err", err)
		return
	}
	syncDir(filepath.Dir(tc.AuthKeyFile))
	d.Log.Info("tailnet: registered; deleted the auth key", "path", tc.AuthKeyFile)
	if d.Notef != nil {
		d.Notef("tailnet: registered; deleted the one-time auth key %s (the node logs in with its state from now on)", tc.AuthKeyFile)
	}
}

// syncDir makes a deletion in dir durable.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

// LoginProblem says why the node is not on the tailnet, in words a
// customer can read out to the operator on the phone (short enough for
// the banner's line), from the failed attempt's error and the backend's
// state.
func LoginProblem(err error, backendState string) string {
	msg := strings.ToLower(err.Error())
	has := func(subs ...string) bool {
		return slices.ContainsFunc(subs, func(s string) bool { return strings.Contains(msg, s) })
	}
	switch {
	case has("authkey", "auth key", "invalid key", "api key", "key expired", "expired key", "already used"):
		return "KEY REFUSED (expired or used) - call the operator"
	case has("x509", "certificate"):
		return "TLS FAILED to the coordination server - clock wrong?"
	case has("no such host", "server misbehaving", "lookup "):
		return "DNS cannot find the coordination server"
	case has("connection refused", "network is unreachable", "no route to host", "i/o timeout", "connection reset"):
		return "CANNOT REACH the coordination server - firewall?"
	case backendState == "NeedsLogin":
		return "NO KEY: not logged in, no auth key - call the operator"
	case backendState == "NeedsMachineAuth":
		return "WAITING for the operator to approve this box"
	}
	return "connecting, retrying: " + err.Error()
}
