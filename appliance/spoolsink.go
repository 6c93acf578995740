package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/surveybox/surveybox/config"
	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/spool"
	"github.com/surveybox/surveybox/survey"
)

// snapshotSink receives every scan snapshot of the service loop together
// with the scanner, e.g. to read the channel survey right after a cycle.
type snapshotSink func(ctx context.Context, sc *survey.Scanner, s survey.Snapshot)

// openSpool opens the durable spool the config names, creating its
// directory (0700: observations are the customer's data).
func openSpool(c config.Spool, log *slog.Logger) (*spool.Spool, error) {
	if err := os.MkdirAll(filepath.Dir(c.Path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the spool directory: %w", err)
	}
	sp, err := spool.Open(c.Path, spool.Options{QuotaBytes: int64(c.QuotaBytes), Logger: log})
	if err != nil {
		return nil, fmt.Errorf("opening the spool %s: %w", c.Path, err)
	}
	return sp, nil
}

// spoolSink commits each snapshot to sp as one batch. With withSurvey, each
// own cycle also carries the channel survey read right after it. A failed
// append is logged and the scanner goes on: the spool evicts or reports a
// full disk itself, and scanning never waits for anything but the radio.
func spoolSink(sp *spool.Spool, withSurvey bool, log *slog.Logger) snapshotSink {
	return func(ctx context.Context, sc *survey.Scanner, s survey.Snapshot) {
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

// batchOf turns a snapshot into a spool batch.
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
