package collector

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/proto/pull"
	"github.com/surveybox/surveybox/proto/push"
)

// maxCycleRecords bounds the records of one cycle of the stream: no more
// than a stored batch can hold.
const maxCycleRecords = batch.MaxBSS + batch.MaxChannels

// PullResult says what Pull fetched.
type PullResult struct {
	// Spool is the ID of the box's spool the records came from. When it
	// is not PrevSpool, the spool the store held the box's highest
	// sequence for, the box's spool started over and was fetched from its
	// start (After 0).
	Spool, PrevSpool   uint64
	After              uint64 // resumed after this sequence of Spool
	Cycles, Duplicates int
	Records            uint64
	// Quarantined counts batches the box could not decode, kept apart.
	Quarantined int
	// HighSeq is the highest sequence stored for the box's spool afterwards;
	// NextSeq the box's next sequence number (from the stream's end).
	HighSeq, NextSeq uint64
	// Complete: the stream ended properly (false: it was cut; what came
	// in full is stored and the next pull resumes after it).
	Complete bool
}

// Pull fetches box's observations after the highest sequence the store
// holds for it from the pull API at baseURL (e.g. "http://acme-box-1"),
// rebuilds the scan cycles and stores every complete one under box and
// the box's spool ID, in groups of transactions. It resumes per (box,
// spool): the request names the spool the store's highest sequence
// belongs to, and a box whose spool is another one (it started over)
// streams that spool from the start. A cut stream loses nothing stored;
// run Pull again to resume.
func Pull(ctx context.Context, client *http.Client, baseURL, box string, st *Store) (PullResult, error) {
	var res PullResult
	if !ValidBoxName(box) {
		return res, fmt.Errorf("bad box name %q", box)
	}
	bs, err := st.Box(box)
	if err != nil {
		return res, err
	}
	res.PrevSpool = uint64(bs.Spool)
	res.After, res.HighSeq = bs.HighSeq, bs.HighSeq
	url := fmt.Sprintf("%s/v1/observations?after=%d&spool=%v", strings.TrimSuffix(baseURL, "/"), res.After, bs.Spool)
	// A box that stops sending (or never answers) is given up after
	// pullIdleTimeout without a byte; what came in full is kept.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(pullIdleTimeout, func() {
		cancel(fmt.Errorf("no data from %s for %v", box, pullIdleTimeout))
	})
	defer idle.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return res, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return res, fmt.Errorf("pulling from %s: %w", box, errors.Join(err, context.Cause(ctx)))
	}
	defer resp.Body.Close()
	body := &idleReader{r: resp.Body, timer: idle, d: pullIdleTimeout}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return res, fmt.Errorf("pulling from %s: %s: %s", box, resp.Status, strings.TrimSpace(string(msg)))
	}
	id, err := batch.ParseSpoolID(resp.Header.Get(pull.SpoolHeader))
	if err != nil || id == 0 {
		return res, fmt.Errorf("pulling from %s: the box does not say which spool it streams (%s %q; older box software?)", box, pull.SpoolHeader, resp.Header.Get(pull.SpoolHeader))
	}
	res.Spool = uint64(id)
	if res.Spool != res.PrevSpool {
		// The box streams its spool from the start (see the pull
		// package); nothing of it is stored yet, or what is gets
		// counted as duplicates.
		res.After, res.HighSeq = 0, 0
		for _, ss := range bs.Spools {
			if ss.ID == id {
				res.HighSeq = ss.HighSeq
			}
		}
	}

	p := &puller{st: st, box: box, spool: id, res: &res}
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, pull.MaxLineBytes)
	var streamErr error
	for sc.Scan() {
		var l pull.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			streamErr = fmt.Errorf("pulling from %s: stream cut or bad line after sequence %d (%v); run pull again to resume", box, res.HighSeq, err)
			break
		}
		var storeErr error
		if streamErr, storeErr = p.line(l); storeErr != nil {
			return res, errors.Join(storeErr, p.flush())
		}
		if streamErr != nil {
			break
		}
	}
	if streamErr == nil {
		if streamErr = sc.Err(); streamErr != nil && context.Cause(ctx) != nil {
			streamErr = fmt.Errorf("pulling from %s: %w; run pull again to resume", box, context.Cause(ctx))
		}
	}
	// A cycle with all its records is complete even if the stream was cut
	// right after it.
	if err := p.closeCycle(); err != nil {
		return res, errors.Join(err, p.flush())
	}
	if err := p.flush(); err != nil {
		return res, err
	}
	if streamErr != nil {
		return res, streamErr
	}
	if !res.Complete {
		return res, fmt.Errorf("pulling from %s: stream cut after sequence %d; run pull again to resume", box, res.HighSeq)
	}
	return res, nil
}

// puller turns a pull stream's lines into stored cycles.
type puller struct {
	st    *Store
	box   string
	spool batch.SpoolID
	res   *PullResult

	pending      []push.Entry // decoded cycles not yet stored
	pendingBytes int
	cycle        *pull.Line  // the cycle whose records are arriving
	records      []pull.Line // its records so far
}

// line takes one line of the stream. streamErr means the stream is bad
// (stop reading, keep what was stored); storeErr that storing failed.
func (p *puller) line(l pull.Line) (streamErr, storeErr error) {
	switch l.Kind {
	case pull.KindCycle, pull.KindEnd, pull.KindCorrupt:
		if l.Spool != p.spool {
			return fmt.Errorf("pulling from %s: a %s line of spool %v in a stream of spool %v", p.box, l.Kind, l.Spool, p.spool), nil
		}
	}
	switch l.Kind {
	case pull.KindCycle:
		if err := p.closeCycle(); err != nil {
			return nil, err
		}
		if l.LastSeq < l.Seq || l.Seq == 0 {
			return fmt.Errorf("pulling from %s: bad cycle %d-%d", p.box, l.Seq, l.LastSeq), nil
		}
		p.cycle, p.records = &l, p.records[:0]
	case pull.KindBSS, pull.KindChannel:
		if p.cycle == nil || l.Seq < p.cycle.Seq || l.Seq > p.cycle.LastSeq || len(p.records) >= maxCycleRecords {
			return fmt.Errorf("pulling from %s: record %d outside its cycle", p.box, l.Seq), nil
		}
		p.records = append(p.records, l)
	case pull.KindCorrupt:
		// A batch the box stored but cannot decode: kept apart, as the
		// collector keeps such uploads.
		if err := p.closeCycle(); err != nil {
			return nil, err
		}
		p.cycle = nil
		if l.LastSeq < l.Seq || l.Seq == 0 {
			return fmt.Errorf("pulling from %s: bad corrupt batch %d-%d", p.box, l.Seq, l.LastSeq), nil
		}
		if l.Seq > p.res.After {
			p.pending = append(p.pending, push.Entry{FirstSeq: l.Seq, LastSeq: l.LastSeq, Data: l.Data,
				Err: fmt.Errorf("%w %d-%d: the box says: %s", push.ErrCorrupt, l.Seq, l.LastSeq, l.Corrupt)})
			p.pendingBytes += len(l.Data)
		}
	case pull.KindEnd:
		p.res.Complete, p.res.NextSeq = true, l.NextSeq
	}
	return nil, nil
}

// flush stores the pending cycles.
func (p *puller) flush() error {
	if len(p.pending) == 0 {
		return nil
	}
	r, err := p.st.Put(p.box, p.res.Spool, SourcePull, p.pending)
	if err != nil {
		return err
	}
	p.res.Cycles += r.Stored
	p.res.Duplicates += r.Duplicates
	p.res.Quarantined += r.Quarantined
	p.res.Records += r.Records
	p.res.HighSeq = max(p.res.HighSeq, r.Acked)
	p.pending, p.pendingBytes = p.pending[:0], 0
	return nil
}

// closeCycle encodes the cycle whose records have arrived, if all of them
// did and it is after the resume point, and stores in batches.
func (p *puller) closeCycle() error {
	if p.cycle == nil {
		return nil
	}
	c := p.cycle
	p.cycle = nil
	want := c.LastSeq - c.Seq + 1
	got := uint64(len(p.records))
	if got == 0 && c.LastSeq == c.Seq {
		got = 1 // a cycle without records
	}
	if c.Seq <= p.res.After || got != want {
		return nil // partial: before our resume point or cut
	}
	b := pull.Batch(*c, p.records)
	data, err := batch.Encode(&b)
	if err != nil {
		return fmt.Errorf("cycle %d-%d: %w", c.Seq, c.LastSeq, err)
	}
	p.pending = append(p.pending, push.Entry{FirstSeq: c.Seq, LastSeq: c.LastSeq, Data: data})
	p.pendingBytes += len(data)
	if len(p.pending) >= 512 || p.pendingBytes >= 4<<20 {
		return p.flush()
	}
	return nil
}

// pullIdleTimeout bounds the wait for the next byte of a pull.
const pullIdleTimeout = 2 * time.Minute

// idleReader restarts timer after every read that returns data.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	d     time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.timer.Reset(r.d)
	}
	return n, err
}
