package survey

import (
	"context"
	"time"
)

// Run scans in cycles until ctx ends (or opt.Cycles are done), calling fn
// with every snapshot. Between cycles it also follows scans that others
// trigger: their end-of-scan events mark the cache dirty, and any number of
// events that arrive while a dump runs collapse into a single follow-up
// dump. Errors of a cycle are delivered in Snapshot.Err and do not stop
// Run; only ctx does.
func (s *Scanner) Run(ctx context.Context, opt RunOptions, fn func(Snapshot)) error {
	events, cancel := s.Subscribe()
	defer cancel()
	dirty := make(chan struct{}, 1)
	markDirty := func() {
		select {
		case dirty <- struct{}{}:
		default:
		}
	}
	// Forward foreign end-of-scan events into the one-slot dirty channel.
	fwdCtx, stopFwd := context.WithCancel(ctx)
	defer stopFwd()
	go func() {
		for {
			select {
			case <-fwdCtx.Done():
				return
			case e := <-events:
				switch e.Kind {
				case EventScanResults, EventScanAborted, EventSchedResults, EventLost:
					markDirty()
				}
			}
		}
	}()

	for cycle := 1; opt.Cycles == 0 || cycle <= opt.Cycles; cycle++ {
		res, err := s.Scan(ctx, opt.Request)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The events of our own scan are reflected in this result.
		select {
		case <-dirty:
		default:
		}
		fn(Snapshot{Cycle: cycle, Own: true, Result: res, Err: err})
		if opt.Cycles != 0 && cycle == opt.Cycles {
			break
		}
		next := time.NewTimer(opt.Interval)
	wait:
		for {
			select {
			case <-ctx.Done():
				next.Stop()
				return ctx.Err()
			case <-next.C:
				break wait
			case <-dirty:
				started := time.Now()
				bsses, decErrs, err := s.Dump(ctx)
				fn(Snapshot{Result: ScanResult{BSSes: bsses, DecodeErrors: decErrs, Started: started, Finished: time.Now()}, Err: err})
			}
		}
	}
	return nil
}
