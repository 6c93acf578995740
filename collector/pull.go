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

	"github.com/surveybox/surveybox/collector/wire"
	"github.com/surveybox/surveybox/spool"
	"github.com/surveybox/surveybox/uploader/pull"
)

// PullResult says what Pull fetched.
type PullResult struct {
	After              uint64 // resumed after this sequence
	Cycles, Duplicates int
	Records            uint64
	// HighSeq is the highest sequence stored for the box afterwards;
	// NextSeq the box's next sequence number (from the stream's end).
	HighSeq, NextSeq uint64
	// Complete: the stream ended properly (false: it was cut; what came
	// in full is stored and the next pull resumes after it).
	Complete bool
}

// Pull fetches box's observations after the highest sequence the store
// holds for it from the pull API at baseURL (e.g. "http://acme-box-1"),
// rebuilds the scan cycles and stores every complete one under box, in
// groups of transactions. A cut stream loses nothing stored; run Pull
// again to resume.
func Pull(ctx context.Context, client *http.Client, baseURL, box string, st *Store) (PullResult, error) {
	var res PullResult
	if !ValidBoxName(box) {
		return res, fmt.Errorf("bad box name %q", box)
	}
	bs, err := st.Box(box)
	if err != nil {
		return res, err
	}
	res.After, res.HighSeq = bs.HighSeq, bs.HighSeq
	url := fmt.Sprintf("%s/v1/observations?after=%d", strings.TrimSuffix(baseURL, "/"), res.After)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return res, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return res, fmt.Errorf("pulling from %s: %w", box, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return res, fmt.Errorf("pulling from %s: %s: %s", box, resp.Status, strings.TrimSpace(string(msg)))
	}

	var pending []wire.Entry
	pendingBytes := 0
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		r, err := st.Put(box, SourcePull, pending)
		if err != nil {
			return err
		}
		res.Cycles += r.Stored
		res.Duplicates += r.Duplicates
		res.Records += r.Records
		res.HighSeq = max(res.HighSeq, r.Acked)
		pending, pendingBytes = pending[:0], 0
		return nil
	}
	var cycle *pull.Line
	var records []pull.Line
	closeCycle := func() error {
		if cycle == nil {
			return nil
		}
		c := cycle
		cycle = nil
		want := c.LastSeq - c.Seq + 1
		got := uint64(len(records))
		if got == 0 && c.LastSeq == c.Seq {
			got = 1 // a cycle without records
		}
		if c.Seq <= res.After || got != want {
			return nil // partial: before our resume point or cut
		}
		b := pull.Batch(*c, records)
		data, err := spool.Encode(&b)
		if err != nil {
			return fmt.Errorf("cycle %d-%d: %w", c.Seq, c.LastSeq, err)
		}
		pending = append(pending, wire.Entry{FirstSeq: c.Seq, LastSeq: c.LastSeq, Data: data})
		pendingBytes += len(data)
		if len(pending) >= 512 || pendingBytes >= 4<<20 {
			return flush()
		}
		return nil
	}

	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 16<<20)
	var streamErr error
	for sc.Scan() {
		var l pull.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			streamErr = fmt.Errorf("pulling from %s: stream cut or bad line after sequence %d (%v); run pull again to resume", box, res.HighSeq, err)
			break
		}
		switch l.Kind {
		case pull.KindCycle:
			if err := closeCycle(); err != nil {
				return res, errors.Join(err, flush())
			}
			if l.LastSeq < l.Seq || l.Seq == 0 {
				streamErr = fmt.Errorf("pulling from %s: bad cycle %d-%d", box, l.Seq, l.LastSeq)
				break
			}
			lc := l
			cycle, records = &lc, records[:0]
		case pull.KindBSS, pull.KindChannel:
			if cycle == nil || l.Seq < cycle.Seq || l.Seq > cycle.LastSeq {
				streamErr = fmt.Errorf("pulling from %s: record %d outside its cycle", box, l.Seq)
				break
			}
			records = append(records, l)
		case pull.KindEnd:
			res.Complete, res.NextSeq = true, l.NextSeq
		}
		if streamErr != nil {
			break
		}
	}
	if streamErr == nil {
		streamErr = sc.Err()
	}
	// A cycle with all its records is complete even if the stream was cut
	// right after it.
	if err := closeCycle(); err != nil {
		return res, errors.Join(err, flush())
	}
	if err := flush(); err != nil {
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
