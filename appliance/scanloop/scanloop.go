// Package scanloop runs the box's scanner for as long as the service runs:
// it waits for a radio, scans in cycles as the config's scan section says,
// commits every cycle (with the channel survey read right after it) to the
// spool, and reports the radio's state. A missing radio or a failing
// scanner is a state, retried with backoff; the loop never ends on its own,
// so gokrazy never restarts the service in a loop.
package scanloop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/surveybox/surveybox/config"
	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/spool"
	"github.com/surveybox/surveybox/survey"
)

// Radio states reported besides "<interface> <phy>" and errors.
const (
	RadioNone   = "none (no wireless interface) - still running"
	RadioSearch = "searching"
)

// Options configure Run.
type Options struct {
	Scan config.Scan
	// Spool keeps every cycle; nil: cycles are scanned and dropped (the
	// spool could not be opened, which the caller has said).
	Spool  *spool.Spool
	Logger *slog.Logger
	// Radio is told the radio state whenever the loop learns it: "wlan0
	// phy0", RadioNone or "error: …".
	Radio func(string)
	// Scanner, when set, replaces the nl80211 scanner: it runs until ctx
	// ends, reporting radio states (tests). Its error is retried.
	Scanner func(ctx context.Context, radio func(string)) error
	// RetryWait returns the pause after the n-th failure (0-based); nil
	// means Backoff.
	RetryWait func(n int) time.Duration
	// Counters, if set, count what the loop does (the box's status).
	Counters *Counters
}

// Counters count the loop's cycles and the scanner's recoveries. Safe for
// concurrent use.
type Counters struct {
	mu sync.Mutex
	s  Counts
}

// Counts is a snapshot of Counters.
type Counts struct {
	// Cycles are the loop's own scan cycles, FailedCycles those that
	// ended in an error; FollowUps the dumps after scans others triggered.
	Cycles, FailedCycles, FollowUps uint64
	// LastCycle and MaxCycle are the last and the longest own cycle,
	// trigger to dump; LastScan when the last one ended.
	LastCycle, MaxCycle time.Duration
	LastScan            time.Time
	// Scanner is the nl80211 scanner's own recoveries (EBUSY waits,
	// redials, retried dumps, lost events), summed over its lifetimes.
	Scanner survey.Stats
}

// Snapshot returns the counts so far.
func (c *Counters) Snapshot() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s
}

func (c *Counters) cycle(s survey.Snapshot, scanner, base survey.Stats) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.Own {
		c.s.Cycles++
		if s.Err != nil {
			c.s.FailedCycles++
		}
		if !s.Result.Finished.IsZero() {
			d := s.Result.Finished.Sub(s.Result.Started)
			c.s.LastCycle, c.s.MaxCycle = d, max(c.s.MaxCycle, d)
			c.s.LastScan = s.Result.Finished
		}
	} else {
		c.s.FollowUps++
	}
	c.s.Scanner = addStats(base, scanner)
}

// addStats sums the counters of two scanner lifetimes.
func addStats(a, b survey.Stats) survey.Stats {
	return survey.Stats{
		Scans: a.Scans + b.Scans, Dumps: a.Dumps + b.Dumps, DumpRetries: a.DumpRetries + b.DumpRetries,
		Redials: a.Redials + b.Redials, TriggerBusy: a.TriggerBusy + b.TriggerBusy,
		EventsLost: a.EventsLost + b.EventsLost, ForeignResults: a.ForeignResults + b.ForeignResults,
	}
}

// Run scans until ctx ends.
func Run(ctx context.Context, o Options) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Radio == nil {
		o.Radio = func(string) {}
	}
	if o.RetryWait == nil {
		o.RetryWait = Backoff
	}
	scan := o.Scanner
	if scan == nil {
		scan = func(ctx context.Context, radio func(string)) error { return scanRadio(ctx, o, radio) }
	}
	for attempt := 0; ; attempt++ {
		err := scan(ctx, o.Radio)
		if ctx.Err() != nil {
			return
		}
		wait := o.RetryWait(attempt)
		if err == nil {
			err = errors.New("the scanner stopped")
		}
		o.Logger.Error("scanning failed; retrying", "err", err, "retry", wait)
		o.Radio(fmt.Sprintf("error: %v - retrying", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Backoff is the pause after the attempt-th failure: 5 s doubling to 5 min.
func Backoff(attempt int) time.Duration {
	d := 5 * time.Second
	for i := 0; i < attempt && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// noRadioRetry is how often the loop looks for a radio that is missing.
const noRadioRetry = 30 * time.Second

// scanRadio opens the radio (waiting for one to appear) and scans in cycles
// until ctx ends or the scanner fails.
func scanRadio(ctx context.Context, o Options, radio func(string)) error {
	cfg := survey.Config{Interface: o.Scan.Interface, Logger: o.Logger, ScanTimeout: o.Scan.Timeout.D()}
	sc, err := survey.Open(ctx, cfg)
	radio(RadioState(interfaceOf(sc), err))
	// The radio may still be coming up (brcmfmac probes and loads its
	// firmware after the module is loaded), so look more often at first.
	start := time.Now()
	for errors.Is(err, survey.ErrNoRadio) {
		retry := noRadioRetry
		if time.Since(start) < time.Minute {
			retry = 5 * time.Second
		}
		o.Logger.Warn("no radio; scanning will start when one appears", "err", err, "retry", retry)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retry):
		}
		sc, err = survey.Open(ctx, cfg)
		radio(RadioState(interfaceOf(sc), err))
	}
	if err != nil {
		return err
	}
	defer sc.Close()
	ifc := sc.Interface()
	if err := survey.BringUp(ifc.Name); err != nil {
		return err
	}
	req := survey.ScanRequest{Passive: o.Scan.Passive, Frequencies: o.Scan.Frequencies}
	for _, s := range o.Scan.SSIDs {
		req.SSIDs = append(req.SSIDs, []byte(s))
	}
	commit := Sink(o.Spool, o.Scan.Survey, o.Logger)
	var base survey.Stats // earlier scanners' counts
	if o.Counters != nil {
		base = o.Counters.Snapshot().Scanner
	}
	err = sc.Run(ctx, survey.RunOptions{Request: req, Interval: o.Scan.Interval.D()}, func(s survey.Snapshot) {
		o.Counters.cycle(s, sc.Stats(), base)
		if s.Err != nil {
			o.Logger.Warn("scan cycle failed", "cycle", s.Cycle, "err", s.Err)
		}
		o.Logger.Debug("scan", "own", s.Own, "cycle", s.Cycle, "bss", len(s.Result.BSSes), "ok", s.Err == nil)
		commit(ctx, sc, s)
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func interfaceOf(sc *survey.Scanner) survey.Interface {
	if sc == nil {
		return survey.Interface{}
	}
	return sc.Interface()
}

// RadioState is the radio state for survey.Open's result.
func RadioState(ifc survey.Interface, err error) string {
	switch {
	case err == nil:
		return ifc.Name + " " + ifc.PHYName
	case errors.Is(err, survey.ErrNoRadio):
		return RadioNone
	default:
		return "error: " + err.Error()
	}
}

// Sink returns what commits each snapshot to sp as one batch. With
// withSurvey, each own cycle also carries the channel survey read right
// after it. A failed append is logged and scanning goes on: the spool
// evicts or reports a full disk itself, and scanning never waits for
// anything but the radio. A nil sp drops the snapshots.
func Sink(sp *spool.Spool, withSurvey bool, log *slog.Logger) func(ctx context.Context, sc *survey.Scanner, s survey.Snapshot) {
	return func(ctx context.Context, sc *survey.Scanner, s survey.Snapshot) {
		if sp == nil {
			return
		}
		b := batchOf(interfaceOf(sc).Name, s)
		if withSurvey && s.Own && sc != nil {
			chans, decErrs, err := sc.SurveyDump(ctx)
			if err != nil {
				b.Problems = append(b.Problems, "channel survey: "+err.Error())
			}
			for _, e := range decErrs {
				b.Problems = append(b.Problems, "channel survey: "+e.Error())
			}
			for i := range chans {
				b.Channels = append(b.Channels, chans[i].Record())
			}
		}
		first, last, err := sp.Append(ctx, b)
		if err != nil {
			log.Error("spooling a scan cycle", "cycle", s.Cycle, "records", b.Records(), "err", err)
			return
		}
		log.Debug("spooled a scan cycle", "cycle", s.Cycle, "first", first, "last", last)
	}
}

// batchOf turns a snapshot into a batch.
func batchOf(iface string, s survey.Snapshot) batch.Batch {
	r := s.Result
	b := batch.Batch{
		Started: r.Started, Finished: r.Finished, Interface: iface,
		Triggered: r.Triggered, Aborted: r.Aborted, EventsLost: r.EventsLost,
	}
	if s.Err != nil {
		b.Problems = append(b.Problems, "scan: "+s.Err.Error())
	}
	for _, e := range r.DecodeErrors {
		b.Problems = append(b.Problems, e.Error())
	}
	for i := range r.BSSes {
		b.BSS = append(b.BSS, r.BSSes[i].Record())
	}
	return b
}
