// Package cycles reads a box's stored scan cycles back out of the
// collector's store for the operator's reports and exports: the cycles
// that started in a time range, decoded on every core but handed out in
// stored order (spool, then sequence), so that per-spool counters can be
// followed from one cycle to the next.
package cycles

import (
	"context"
	"fmt"
	"iter"
	"runtime"
	"time"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/proto/batch"
)

// Range selects cycles by the time they started (box clock): From
// inclusive, To exclusive; a zero bound is open.
type Range struct {
	From, To time.Time
}

// Contains reports whether t is in the range.
func (r Range) Contains(t time.Time) bool {
	return (r.From.IsZero() || !t.Before(r.From)) && (r.To.IsZero() || t.Before(r.To))
}

// Cycle is one stored scan cycle.
type Cycle struct {
	Spool             uint64
	FirstSeq, LastSeq uint64
	Received          time.Time
	// Pulled: the cycle came by surveyctl pull, not by the box's push.
	Pulled bool
	// Started is the cycle's start (from the stored header, also when
	// the rest does not decode).
	Started time.Time
	Batch   batch.Batch
	// Err says why the stored cycle could not be decoded; Batch is then
	// empty. Readers count such cycles and go on.
	Err error
}

// Plan is what a first, cheap pass (headers only, nothing decompressed)
// finds in the range.
type Plan struct {
	// Cycles counts the stored cycles in the range; Corrupt those whose
	// header does not decode (their time is unknown, so they are in no
	// range and not counted in Cycles).
	Cycles, Corrupt int
	// First and Last are the earliest and latest start among them.
	First, Last time.Time
}

// Survey makes the first pass over box's cycles in r.
func Survey(ctx context.Context, st *collector.Store, box string, r Range) (Plan, error) {
	var p Plan
	for e, err := range st.Entries(box, 0) {
		if err != nil {
			return p, err
		}
		if err := ctx.Err(); err != nil {
			return p, err
		}
		h, err := batch.ReadHeader(e.Data)
		if err != nil {
			p.Corrupt++
			continue
		}
		if !r.Contains(h.Started) {
			continue
		}
		p.Cycles++
		if p.First.IsZero() || h.Started.Before(p.First) {
			p.First = h.Started
		}
		if h.Started.After(p.Last) {
			p.Last = h.Started
		}
	}
	return p, nil
}

// Options tune Read.
type Options struct {
	Range Range
	// Workers decode in parallel; 0: GOMAXPROCS.
	Workers int
	// IncludeCorrupt also yields the cycles whose header does not decode
	// (Err set, Started zero), which are in no range.
	IncludeCorrupt bool
}

type job struct {
	e   collector.Entry
	h   batch.Header
	err error
	out chan Cycle
}

// Read yields box's cycles in opt.Range in stored order, decoding them on
// opt.Workers goroutines. A cycle that does not decode is yielded with Err
// set; an error reading the store ends the sequence with that error.
// Breaking out of the loop stops the readers.
func Read(ctx context.Context, st *collector.Store, box string, opt Options) iter.Seq2[Cycle, error] {
	return func(yield func(Cycle, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		workers := opt.Workers
		if workers <= 0 {
			workers = runtime.GOMAXPROCS(0)
		}
		jobs := make(chan *job)
		// order holds the jobs in stored order; its capacity bounds how
		// many decoded cycles wait in memory.
		order := make(chan *job, 4*workers)
		readErr := make(chan error, 1)
		go func() {
			defer close(jobs)
			defer close(order)
			readErr <- dispatch(ctx, st, box, opt, jobs, order)
		}()
		for range workers {
			go func() {
				for j := range jobs {
					j.out <- decode(j)
				}
			}()
		}
		for j := range order {
			var c Cycle
			select {
			case c = <-j.out:
			case <-ctx.Done():
				yield(Cycle{}, ctx.Err())
				return
			}
			if !yield(c, nil) {
				return
			}
		}
		if err := <-readErr; err != nil {
			yield(Cycle{}, err)
		}
	}
}

// dispatch reads the store and hands each selected entry to the workers
// and, in the same order, to the consumer.
func dispatch(ctx context.Context, st *collector.Store, box string, opt Options, jobs, order chan<- *job) error {
	for e, err := range st.Entries(box, 0) {
		if err != nil {
			return err
		}
		h, herr := batch.ReadHeader(e.Data)
		if herr != nil && !opt.IncludeCorrupt {
			continue
		}
		if herr == nil && !opt.Range.Contains(h.Started) {
			continue
		}
		j := &job{e: e, h: h, err: herr, out: make(chan Cycle, 1)}
		select {
		case order <- j:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case jobs <- j:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func decode(j *job) Cycle {
	c := Cycle{Spool: j.e.Spool, FirstSeq: j.e.FirstSeq, LastSeq: j.e.LastSeq, Received: j.e.Received,
		Pulled: j.e.Source == collector.SourcePull, Started: j.h.Started}
	if j.err != nil {
		c.Err = fmt.Errorf("box %s spool %v entry %d-%d: %w", j.e.Box, batch.SpoolID(j.e.Spool), j.e.FirstSeq, j.e.LastSeq, j.err)
		return c
	}
	b, err := j.e.Decode()
	if err != nil {
		c.Err = err
		return c
	}
	c.Batch = b
	return c
}
