// Package clock makes sure the box's clock is right where NTP does not get
// out. gokrazy's ntp service sets the clock when an NTP server answers;
// many sites block UDP 123, and a Pi has no battery-backed clock, so the
// box would stay in 1970 (or at the last clean shutdown) and TLS to the
// coordination server would fail. When NTP has not stepped the clock after
// a while, the box takes the time from the Date header of HTTPS servers it
// must reach anyway (the coordination server), and says which way the
// clock was set.
package clock

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Options configure Watch.
type Options struct {
	// Sources are URLs whose Date header is asked, in order, when NTP has
	// not set the clock within NTPWait. An https URL's certificate is
	// verified (chain and name; see dateFrom for the time); an http URL
	// is believed as it is, so use one only over a trusted path.
	Sources []string
	// NTPWait is how long gokrazy's NTP client gets first.
	NTPWait time.Duration
	// Floor: no correct time is earlier (the program's build time). A
	// clock before it is not set; a Date before it is refused.
	Floor time.Time
	// Roots verify https sources; nil means the system's.
	Roots *x509.CertPool
	// Set sets the system clock (settimeofday).
	Set func(time.Time) error
	// Retry is the pause between rounds of failed sources; 0 means 1m.
	Retry time.Duration
	// Poll is how often a step of the clock is looked for; 0 means 1s.
	Poll time.Duration
	Log  *slog.Logger
}

// Lines Watch reports.
const (
	waitingNTP = "waiting for NTP"
	notSet     = "NOT SET (%s): waiting for NTP"
	byNTP      = "set by NTP"
)

// stepped reports whether the wall clock moved by more than a little
// against the monotonic one between start and now: someone (NTP) set it.
func stepped(start, now time.Time) bool {
	d := now.Round(0).Sub(start.Round(0)) - now.Sub(start)
	return d > 2*time.Second || d < -2*time.Second
}

// Watch reports the clock's state through report until it is known to be
// right: set by NTP, or set from (or checked against) a source's Date.
func Watch(ctx context.Context, o Options, report func(string)) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	poll, retry := o.Poll, o.Retry
	if poll <= 0 {
		poll = time.Second
	}
	if retry <= 0 {
		retry = time.Minute
	}
	start := time.Now()
	if start.Before(o.Floor) {
		report(fmt.Sprintf(notSet, start.UTC().Format("2006-01-02")))
	} else {
		report(waitingNTP)
	}
	next := start.Add(o.NTPWait)
	for {
		now := time.Now()
		if stepped(start, now) {
			log.Info("clock: stepped, by NTP", "now", now.UTC())
			report(byNTP)
			return
		}
		if now.Sub(next) >= 0 {
			line, done := tryDates(ctx, o, log)
			report(line)
			if done {
				return
			}
			next = time.Now().Add(retry)
			start = time.Now() // a step from here on is NTP's again
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(poll):
		}
	}
}

// tryDates asks the sources in turn and sets the clock from the first
// that answers; done says whether the clock is now known right.
func tryDates(ctx context.Context, o Options, log *slog.Logger) (line string, done bool) {
	var errs []error
	for _, src := range o.Sources {
		u, err := url.Parse(src)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t0 := time.Now()
		d, err := dateFrom(ctx, u, o.Roots, o.Floor)
		if err != nil {
			log.Warn("clock: no time from a date source", "source", u.Redacted(), "err", err)
			// The console line has room for the cause, not for the
			// method and URL that url.Error repeats.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			errs = append(errs, fmt.Errorf("%s: %w", u.Host, err))
			continue
		}
		// The Date was stamped somewhere in the round trip, to the second.
		d = d.Add(time.Since(t0) / 2)
		off := d.Sub(time.Now())
		how := "HTTPS Date"
		if u.Scheme == "http" {
			how = "HTTP Date"
		}
		if off > 10*time.Second || off < -10*time.Second {
			if err := o.Set(d); err != nil {
				errs = append(errs, fmt.Errorf("setting the clock: %w", err))
				break
			}
			log.Info("clock: set from a date source (NTP did not set it)", "source", u.Redacted(), "offset", off)
			return fmt.Sprintf("set from the %s of %s (no NTP)", how, u.Host), true
		}
		log.Info("clock: agrees with a date source", "source", u.Redacted(), "offset", off)
		return fmt.Sprintf("ok (agrees with the %s of %s)", how, u.Host), true
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("no date source configured"))
	}
	log.Warn("clock: not checked", "err", errors.Join(errs...))
	if time.Now().Before(o.Floor) {
		return "NOT SET: no NTP, " + errs[0].Error(), false
	}
	return "unchecked: no NTP, " + errs[0].Error(), false
}

// dateFrom asks u for its Date header. For https, the certificate chain
// and name are verified as usual except for the time, which the box does
// not know yet (that is the point): the chain is checked at a moment all
// its certificates were valid, and the Date must then fall within the
// server certificate's validity and after floor. A LAN that lies about DNS
// cannot get a time in without a certificate for the name.
func dateFrom(ctx context.Context, u *url.URL, roots *x509.CertPool, floor time.Time) (time.Time, error) {
	var leaf *x509.Certificate
	tr := &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{
			RootCAs: roots,
			// Verification is done in VerifyConnection, at the
			// certificates' own time.
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				c, err := verifyTimeless(cs, roots)
				leaf = c
				return err
			},
		},
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u.String(), nil)
	if err != nil {
		return time.Time{}, err
	}
	res, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		return time.Time{}, err
	}
	res.Body.Close()
	d, err := http.ParseTime(res.Header.Get("Date"))
	if err != nil {
		return time.Time{}, fmt.Errorf("no usable Date header (%q)", res.Header.Get("Date"))
	}
	if d.Before(floor) {
		return time.Time{}, fmt.Errorf("the Date %s is before this software was built", d.UTC().Format(time.RFC3339))
	}
	if leaf != nil && (d.Before(leaf.NotBefore) || d.After(leaf.NotAfter)) {
		return time.Time{}, fmt.Errorf("the Date %s is outside the certificate's validity (%s to %s)",
			d.UTC().Format(time.RFC3339), leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return d, nil
}

// verifyTimeless verifies the server's chain and name at the latest
// moment every certificate in it started being valid.
func verifyTimeless(cs tls.ConnectionState, roots *x509.CertPool) (*x509.Certificate, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, errors.New("no server certificate")
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	at := leaf.NotBefore
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
		if c.NotBefore.After(at) {
			at = c.NotBefore
		}
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		DNSName:       cs.ServerName,
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   at.Add(time.Minute),
	})
	if err != nil {
		return leaf, fmt.Errorf("verifying the server's certificate: %w", err)
	}
	return leaf, nil
}
