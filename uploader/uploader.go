// Package uploader pushes the box's spooled observations to the
// operator's collector over the tailnet. The push loop is separate from
// scanning: the scanner appends to the spool and never waits for the
// network; the loop reads what is there after the last acknowledgement,
// POSTs it (package proto/push's format), and acknowledges (deletes) in the
// spool only what the collector acknowledged. Failures back off
// exponentially with jitter between BackoffMin and BackoffMax; an idle
// loop waits for the spool's next append. After a restart it resumes from
// the spool's LastAck; anything delivered but not yet acknowledged is sent
// again and the collector's deduplication skips it. Every upload carries
// the spool's ID, so a box whose spool starts over (numbering from 1
// again) has its new records stored apart from the old ones.
package uploader

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/surveybox/surveybox/proto/push"
	"github.com/surveybox/surveybox/spool"
)

// Options configure a Pusher.
type Options struct {
	Spool *spool.Spool
	// Client sends the uploads: tsnet.Server.HTTPClient() on the box.
	Client *http.Client
	// Collector is the collector's base URL, e.g. "http://collector:8080".
	Collector string
	// BatchMaxBytes bounds one upload's stored data (at least one spool
	// entry is sent). 0: 1 MiB.
	BatchMaxBytes int
	// BackoffMin and BackoffMax bound the wait after a failure. 0: 1s, 5m.
	BackoffMin, BackoffMax time.Duration
	// RequestTimeout bounds one upload. 0: 2 minutes.
	RequestTimeout time.Duration
	Logger         *slog.Logger
}

// Status is the push loop's state, for the status API and metrics.
type Status struct {
	Collector string `json:"collector"`
	// LastUpload is the time of the last acknowledged upload.
	LastUpload  time.Time `json:"last_upload"`
	LastAttempt time.Time `json:"last_attempt"`
	LastError   string    `json:"last_error,omitempty"`
	// AckedSeq is the highest sequence the collector acknowledged.
	AckedSeq uint64 `json:"acked_seq"`
	// Uploads, Failures count requests; Entries, Records, Bytes what the
	// acknowledged uploads carried (Bytes: request bodies).
	Uploads  uint64 `json:"uploads"`
	Failures uint64 `json:"failures"`
	Entries  uint64 `json:"entries"`
	Records  uint64 `json:"records"`
	Bytes    uint64 `json:"bytes"`
	// ConsecutiveFailures since the last success; NextAttempt when the
	// loop is backing off.
	ConsecutiveFailures int       `json:"consecutive_failures"`
	NextAttempt         time.Time `json:"next_attempt,omitzero"`
}

// Pusher is the push loop.
type Pusher struct {
	opt Options
	url string
	log *slog.Logger

	mu sync.Mutex
	st Status
}

// New checks the options and returns a Pusher; Run starts it.
func New(opt Options) (*Pusher, error) {
	if opt.Spool == nil || opt.Client == nil {
		return nil, errors.New("uploader: Spool and Client are required")
	}
	if !strings.HasPrefix(opt.Collector, "http://") && !strings.HasPrefix(opt.Collector, "https://") {
		return nil, fmt.Errorf("uploader: collector %q is not an http(s) URL", opt.Collector)
	}
	if opt.BatchMaxBytes <= 0 {
		opt.BatchMaxBytes = 1 << 20
	}
	if opt.BackoffMin <= 0 {
		opt.BackoffMin = time.Second
	}
	if opt.BackoffMax < opt.BackoffMin {
		opt.BackoffMax = max(opt.BackoffMin, 5*time.Minute)
	}
	if opt.RequestTimeout <= 0 {
		opt.RequestTimeout = 2 * time.Minute
	}
	p := &Pusher{opt: opt, url: strings.TrimSuffix(opt.Collector, "/") + push.UploadPath, log: opt.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.st.Collector = opt.Collector
	return p, nil
}

// Status returns a snapshot of the loop's state.
func (p *Pusher) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st
}

// Run pushes until ctx ends and returns ctx's error, or a spool error
// that retrying cannot fix (the spool was closed).
func (p *Pusher) Run(ctx context.Context) error {
	st, err := p.opt.Spool.Stats()
	if err != nil {
		return fmt.Errorf("uploader: %w", err)
	}
	after := st.LastAck
	p.mu.Lock()
	p.st.AckedSeq = after
	p.mu.Unlock()
	maxBytes := p.opt.BatchMaxBytes
	fails := 0
	for {
		appended := p.opt.Spool.Appended() // before Read: no append slips between
		entries, err := p.opt.Spool.Read(ctx, after, maxBytes)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			p.log.Error("uploader: reading spool", "err", err)
			if err := p.sleep(ctx, &fails, err); err != nil {
				return err
			}
			continue
		}
		if len(entries) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-appended:
			}
			continue
		}
		acked, err := p.push(ctx, entries)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var te tooLarge
			switch {
			case errors.As(err, &te) && len(entries) > 1:
				// Send less next time; the collector's limit is lower
				// than ours.
				maxBytes = max(1, te.sent/2)
			case errors.As(err, &te):
				// One batch cannot be split: say what the operator
				// must change; it stays in the spool meanwhile.
				err = fmt.Errorf("the collector refuses one stored batch (sequence %d-%d, %d bytes) as too large: its upload limit is below the largest batch (surveyctl collect -max-upload-bytes); the batch stays here, and surveyctl pull can fetch it",
					entries[0].FirstSeq, entries[0].LastSeq, te.sent)
			}
			p.log.Warn("uploader: upload failed", "entries", len(entries), "first_seq", entries[0].FirstSeq, "err", err)
			if err := p.sleep(ctx, &fails, err); err != nil {
				return err
			}
			continue
		}
		// The collector has it: now, and only now, delete it.
		if err := p.opt.Spool.Ack(ctx, acked); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			p.log.Error("uploader: acknowledging spool", "seq", acked, "err", err)
			if err := p.sleep(ctx, &fails, err); err != nil {
				return err
			}
			continue
		}
		after = acked
		fails = 0
		p.mu.Lock()
		p.st.AckedSeq = acked
		p.st.ConsecutiveFailures = 0
		p.st.NextAttempt = time.Time{}
		p.st.LastError = ""
		p.mu.Unlock()
	}
}

type tooLarge struct{ sent int }

func (t tooLarge) Error() string {
	return fmt.Sprintf("collector refused %d bytes as too large (413)", t.sent)
}

// push sends one upload and returns the sequence the collector
// acknowledged.
func (p *Pusher) push(ctx context.Context, entries []spool.Entry) (uint64, error) {
	for _, e := range entries {
		// A batch the card garbled still goes, as bytes: the collector
		// keeps it apart for diagnosis and acknowledges it, so it never
		// blocks what comes after it.
		if _, err := e.Decode(); err != nil {
			p.opt.Spool.ReportCorrupt(e, err)
		}
	}
	pe := PushEntries(entries)
	body := push.Append(make([]byte, 0, push.Size(pe)), p.opt.Spool.ID(), pe)
	now := time.Now()
	p.mu.Lock()
	p.st.LastAttempt = now
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, p.opt.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", push.ContentType)
	resp, err := p.opt.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusRequestEntityTooLarge:
		return 0, tooLarge{sent: len(body)}
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("collector answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	var ack push.Ack
	if err := json.Unmarshal(msg, &ack); err != nil {
		return 0, fmt.Errorf("collector's acknowledgement: %w", err)
	}
	first, last := entries[0].FirstSeq, entries[len(entries)-1].LastSeq
	if ack.AckedSeq < first || ack.AckedSeq > last {
		return 0, fmt.Errorf("collector acknowledged %d for an upload of %d-%d", ack.AckedSeq, first, last)
	}
	var records uint64
	for _, e := range entries {
		if e.LastSeq <= ack.AckedSeq {
			records += e.LastSeq - e.FirstSeq + 1
		}
	}
	p.mu.Lock()
	p.st.LastUpload = time.Now()
	p.st.Uploads++
	p.st.Entries += uint64(len(entries))
	p.st.Records += records
	p.st.Bytes += uint64(len(body))
	p.mu.Unlock()
	p.log.Debug("uploader: delivered", "first_seq", first, "acked_seq", ack.AckedSeq, "entries", len(entries),
		"bytes", len(body), "duplicates", ack.Duplicates, "quarantined", ack.Quarantined, "took", time.Since(now))
	return ack.AckedSeq, nil
}

// sleep records a failure and waits the backoff: BackoffMin doubled per
// consecutive failure up to BackoffMax, with jitter (a uniform pick in the
// upper half), so that many boxes do not retry in step.
func (p *Pusher) sleep(ctx context.Context, fails *int, cause error) error {
	*fails++
	d := Backoff(*fails, p.opt.BackoffMin, p.opt.BackoffMax)
	p.mu.Lock()
	p.st.Failures++
	p.st.ConsecutiveFailures = *fails
	p.st.LastError = cause.Error()
	p.st.NextAttempt = time.Now().Add(d)
	p.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Backoff returns the wait after the n-th consecutive failure (n >= 1):
// min·2^(n-1) capped at max, then a uniform pick in [d/2, d].
func Backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(d-half+1)
}

// PushEntries returns the spool entries as an upload carries them; Data is
// shared, not copied.
func PushEntries(entries []spool.Entry) []push.Entry {
	pe := make([]push.Entry, len(entries))
	for i, e := range entries {
		pe[i] = push.Entry{FirstSeq: e.FirstSeq, LastSeq: e.LastSeq, Data: e.Data}
	}
	return pe
}
