package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/surveybox/surveybox/config"
	"github.com/surveybox/surveybox/spool"
	"github.com/surveybox/surveybox/uploader"
	"github.com/surveybox/surveybox/uploader/pull"
)

// tailnetDeps is what the tailnet services need from boot mode.
type tailnetDeps struct {
	cfg   *config.Config
	spool *spool.Spool
	key   *hostKey
	radio func() string
	log   *slog.Logger
}

// pullPort is the tailnet port of the pull API (plain HTTP: the tailnet
// already encrypts and authenticates every packet; WhoIs authorizes).
const pullPort = ":80"

// startTailnet brings up the box's tsnet node and, on it and nowhere else,
// the pull API and the push loop to the operator's collector. It reports
// "connecting" and then "<name> <tailnet IPs>" through state, and does not
// block. Scanning never waits for any of it.
func startTailnet(ctx context.Context, d tailnetDeps, state func(string)) {
	if d.cfg == nil || d.spool == nil {
		state("off: no config or no spool")
		return
	}
	log := d.log
	srv := uploader.NewNode(d.cfg.Tailnet, log)
	state(tailnetWait)
	go func() {
		defer srv.Close()
		if err := uploader.KeepUp(ctx, srv, log); err != nil {
			return
		}
		lc, err := srv.LocalClient()
		if err != nil {
			state("error: " + err.Error())
			return
		}
		if st, err := lc.StatusWithoutPeers(ctx); err == nil && st.Self != nil {
			var ips []string
			for _, ip := range st.Self.TailscaleIPs {
				ips = append(ips, ip.String())
			}
			state(strings.TrimSuffix(st.Self.DNSName, ".") + " " + strings.Join(ips, " "))
		}

		var uploads func() uploader.Status
		if c := d.cfg.Uploader; c.Collector != "" {
			p, err := uploader.New(uploader.Options{
				Spool: d.spool, Client: srv.HTTPClient(), Collector: c.Collector,
				BatchMaxBytes: int(c.BatchMaxBytes), BackoffMin: c.BackoffMin.D(), BackoffMax: c.BackoffMax.D(),
				Logger: log,
			})
			if err != nil {
				log.Error("uploader: not started", "err", err)
			} else {
				uploads = p.Status
				go p.Run(ctx)
			}
		}

		ln, err := srv.Listen("tcp", pullPort)
		if err != nil {
			log.Error("pull API: cannot listen on the tailnet", "err", err)
			<-ctx.Done()
			return
		}
		h := pull.NewHandler(pull.Options{
			Spool: d.spool, WhoIs: lc, Operators: d.cfg.Operators,
			Radio: func() pull.RadioState { return radioState(d.radio()) }, Uploads: uploads,
			Version: appVersion(), Hostname: d.cfg.Hostname, Logger: log,
		})
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			<-ctx.Done()
			hs.Close()
		}()
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pull API stopped", "err", err)
		}
	}()
}

// radioState turns the banner's radio line into the pull API's form.
func radioState(s string) pull.RadioState {
	r := pull.RadioState{State: s}
	switch {
	case s == radioNone || s == radioSearch || s == "":
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
