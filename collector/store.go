// Package collector is the operator's side of store-and-forward: a bbolt
// store of what boxes delivered, kept per box and keyed by sequence range,
// and the HTTP handler boxes upload to over the tailnet (the format is
// package proto/push's). `surveyctl collect` runs it on a tsnet node;
// `surveyctl pull` stores what it fetches in the same store, and
// `surveyctl export` reads it.
//
// A box is identified by its tailnet node name (WhoIs), never by what it
// declares. Sequence numbers are unique only within one of the box's
// spools: a box whose spool starts over (SD card re-flashed, /perm lost)
// numbers from 1 again under a new spool ID. The store therefore keeps
// each (box, spool ID) apart: redelivery stores nothing twice (an entry
// whose sequence range is already stored for that box and spool is
// counted as a duplicate and skipped), and a new spool's records are
// stored alongside the old ones.
//
// Layout: boxes/BOX/meta holds the ID of the spool the box delivered
// from last; boxes/BOX/spools/ID (8 bytes big-endian) holds that spool's
// entries (key LastSeq) and counters. Data stored before spool IDs
// existed is moved under spool ID 0 when the store is opened.
package collector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"regexp"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/surveybox/surveybox/internal/boltkv"
	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/proto/push"
)

// Source says how an entry reached the store.
type Source byte

const (
	SourceUpload Source = 1 // pushed by the box (POST /v1/upload)
	SourcePull   Source = 2 // fetched by surveyctl pull
)

func (s Source) String() string {
	switch s {
	case SourceUpload:
		return "upload"
	case SourcePull:
		return "pull"
	}
	return fmt.Sprintf("source(%d)", byte(s))
}

// ErrConflict: an entry overlaps a stored one of the same spool without
// being the same sequence range (the data is bogus).
var ErrConflict = errors.New("sequence range overlaps stored data")

var (
	bucketBoxes  = []byte("boxes")
	bucketSpools = []byte("spools")  // per box: key spool ID (8 bytes BE) -> bucket
	bucketData   = []byte("entries") // per spool: key LastSeq (8 bytes BE) -> value
	bucketMeta   = []byte("meta")    // per spool: counters; per box: metaSpool
	// per spool: entries that arrived but are no batch (corrupt on the
	// box, or from newer software): key LastSeq -> value as in bucketData,
	// with the reason before the data
	bucketQuarantine = []byte("quarantine")

	metaSpool = []byte("spool") // per box: ID of the spool of the last Put

	metaHigh       = []byte("high")
	metaEntries    = []byte("entries")
	metaRecords    = []byte("records")
	metaBytes      = []byte("bytes")
	metaDuplicates = []byte("duplicates")
	metaMissing    = []byte("missing")
	metaLastPut    = []byte("last_put")
	metaQuarantine = []byte("quarantined")
)

var boxName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,62}$`)

// ValidBoxName reports whether name can name a box (a DNS label).
func ValidBoxName(name string) bool { return boxName.MatchString(name) }

// Store is the collector's database. Safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
}

// Open opens or creates the store at path.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("opening collector store %s: locked by another process (is a collector or pull running?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("opening collector store %s: %w", path, err)
	}
	if err := db.Update(migrate); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening collector store %s: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// migrate creates the boxes bucket and moves each box's data from before
// spool IDs (entries and meta right under the box) to spool ID 0.
func migrate(tx *bolt.Tx) error {
	boxes, err := tx.CreateBucketIfNotExists(bucketBoxes)
	if err != nil {
		return err
	}
	var old [][]byte
	err = boxes.ForEachBucket(func(k []byte) error {
		if boxes.Bucket(k).Bucket(bucketData) != nil {
			old = append(old, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range old {
		bb := boxes.Bucket(k)
		sps, err := bb.CreateBucketIfNotExists(bucketSpools)
		if err != nil {
			return err
		}
		dst, err := sps.CreateBucketIfNotExists(boltkv.SeqKey(0))
		if err != nil {
			return err
		}
		if err := tx.MoveBucket(bucketData, bb, dst); err != nil {
			return fmt.Errorf("box %s: %w", k, err)
		}
		if bb.Bucket(bucketMeta) != nil {
			if err := tx.MoveBucket(bucketMeta, bb, dst); err != nil {
				return fmt.Errorf("box %s: %w", k, err)
			}
		}
		m, err := bb.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := boltkv.PutU64(m, metaSpool, 0); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Path is the database file.
func (s *Store) Path() string { return s.path }

// PutResult says what Put did.
type PutResult struct {
	Stored, Duplicates int
	Records            uint64 // records stored now
	// Acked is the LastSeq of the last entry: everything given is stored.
	Acked uint64
	// Missing counts sequence numbers skipped before these entries (the
	// box evicted them before delivery, or delivered them elsewhere).
	Missing uint64
	// Quarantined counts entries stored apart because their data is no
	// batch (push.Entry.Err); they are acknowledged with the rest.
	Quarantined int
}

// Put stores the entries of box's spool spoolID (non-zero) in one
// transaction: all or nothing. Entries already stored for that box and
// spool (same sequence range) are skipped as duplicates; an entry that
// overlaps a stored one of that spool otherwise is ErrConflict. Entries of
// another spool of the box never clash. An entry with Err set is kept, with
// its reason, in the spool's quarantine (Quarantined) instead of among the
// records. The spool becomes the box's current one (BoxStats.Spool).
func (s *Store) Put(box string, spoolID uint64, src Source, entries []push.Entry) (PutResult, error) {
	var res PutResult
	if !ValidBoxName(box) {
		return res, fmt.Errorf("bad box name %q", box)
	}
	if spoolID == 0 {
		return res, fmt.Errorf("storing entries for box %s: no spool ID", box)
	}
	if len(entries) == 0 {
		return res, nil
	}
	now := uint64(time.Now().UnixNano())
	err := s.db.Update(func(tx *bolt.Tx) error {
		res = PutResult{}
		bb, err := tx.Bucket(bucketBoxes).CreateBucketIfNotExists([]byte(box))
		if err != nil {
			return err
		}
		bm, err := bb.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		sps, err := bb.CreateBucketIfNotExists(bucketSpools)
		if err != nil {
			return err
		}
		sb, err := sps.CreateBucketIfNotExists(boltkv.SeqKey(spoolID))
		if err != nil {
			return err
		}
		data, err := sb.CreateBucketIfNotExists(bucketData)
		if err != nil {
			return err
		}
		m, err := sb.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		high := boltkv.GetU64(m, metaHigh)
		c := data.Cursor()
		for _, e := range entries {
			if e.FirstSeq == 0 || e.LastSeq < e.FirstSeq {
				return fmt.Errorf("bad sequence range %d-%d", e.FirstSeq, e.LastSeq)
			}
			if k, v := c.Seek(boltkv.SeqKey(e.FirstSeq)); k != nil {
				first, _, _, err := splitValue(v)
				if err != nil {
					return err
				}
				last := binary.BigEndian.Uint64(k)
				if first == e.FirstSeq && last == e.LastSeq {
					res.Duplicates++
					continue
				}
				if first <= e.LastSeq {
					return fmt.Errorf("%w: %d-%d against stored %d-%d for box %s spool %v", ErrConflict, e.FirstSeq, e.LastSeq, first, last, box, batch.SpoolID(spoolID))
				}
			}
			if e.FirstSeq > high+1 {
				res.Missing += e.FirstSeq - high - 1
			}
			v := binary.AppendUvarint(nil, e.FirstSeq)
			v = append(v, byte(src))
			v = binary.AppendUvarint(v, now)
			high = max(high, e.LastSeq)
			if e.Err != nil {
				q, err := sb.CreateBucketIfNotExists(bucketQuarantine)
				if err != nil {
					return err
				}
				if q.Get(boltkv.SeqKey(e.LastSeq)) != nil {
					res.Duplicates++
					continue
				}
				v = binary.AppendUvarint(v, uint64(len(e.Err.Error())))
				v = append(append(v, e.Err.Error()...), e.Data...)
				if err := q.Put(boltkv.SeqKey(e.LastSeq), v); err != nil {
					return err
				}
				res.Quarantined++
				continue
			}
			v = append(v, e.Data...)
			if err := data.Put(boltkv.SeqKey(e.LastSeq), v); err != nil {
				return err
			}
			c = data.Cursor() // Put invalidates cursors
			res.Stored++
			res.Records += e.LastSeq - e.FirstSeq + 1
			if err := boltkv.AddU64(m, metaBytes, uint64(8+len(v))); err != nil {
				return err
			}
		}
		res.Acked = entries[len(entries)-1].LastSeq
		return errors.Join(
			boltkv.PutU64(bm, metaSpool, spoolID),
			boltkv.PutU64(m, metaHigh, high),
			boltkv.AddU64(m, metaEntries, uint64(res.Stored)),
			boltkv.AddU64(m, metaRecords, res.Records),
			boltkv.AddU64(m, metaDuplicates, uint64(res.Duplicates)),
			boltkv.AddU64(m, metaMissing, res.Missing),
			boltkv.AddU64(m, metaQuarantine, uint64(res.Quarantined)),
			boltkv.PutU64(m, metaLastPut, now),
		)
	})
	if err != nil {
		return PutResult{}, fmt.Errorf("storing %d entries for box %s spool %v: %w", len(entries), box, batch.SpoolID(spoolID), err)
	}
	return res, nil
}

// SpoolStats describes what the store holds for one spool of a box.
type SpoolStats struct {
	// ID is the spool's ID; 0 for data stored before spool IDs.
	ID batch.SpoolID `json:"id"`
	// HighSeq is the highest sequence number stored.
	HighSeq uint64 `json:"high_seq"`
	Entries uint64 `json:"entries"`
	Records uint64 `json:"records"`
	Bytes   uint64 `json:"bytes"`
	// Duplicates counts redelivered entries that were skipped.
	Duplicates uint64 `json:"duplicates"`
	// Missing counts sequence numbers never delivered (gaps).
	Missing uint64 `json:"missing"`
	// Quarantined counts entries kept apart because their data is no
	// batch.
	Quarantined uint64    `json:"quarantined,omitempty"`
	LastPut     time.Time `json:"last_put"`
}

// BoxStats describes what the store holds for one box: the counters sum
// over its spools.
type BoxStats struct {
	Box string `json:"box"`
	// Spool is the ID of the spool the box delivered from last (0: none,
	// or only data from before spool IDs), HighSeq the highest sequence
	// number stored of it: where a pull resumes.
	Spool   batch.SpoolID `json:"spool"`
	HighSeq uint64        `json:"high_seq"`
	Entries uint64        `json:"entries"`
	Records uint64        `json:"records"`
	Bytes   uint64        `json:"bytes"`
	// Duplicates counts redelivered entries that were skipped.
	Duplicates uint64 `json:"duplicates"`
	// Missing counts sequence numbers never delivered (gaps).
	Missing uint64 `json:"missing"`
	// Quarantined counts entries kept apart because their data is no
	// batch.
	Quarantined uint64    `json:"quarantined,omitempty"`
	LastPut     time.Time `json:"last_put"`
	// Spools are the box's spools, by ID.
	Spools []SpoolStats `json:"spools"`
}

// Boxes returns the stats of every box in the store, by name.
func (s *Store) Boxes() ([]BoxStats, error) {
	var out []BoxStats
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBoxes).ForEachBucket(func(k []byte) error {
			out = append(out, boxStats(string(k), tx.Bucket(bucketBoxes).Bucket(k)))
			return nil
		})
	})
	return out, err
}

// Box returns the stats of one box (zero Spool and HighSeq if unknown).
func (s *Store) Box(box string) (BoxStats, error) {
	var st BoxStats
	err := s.db.View(func(tx *bolt.Tx) error {
		st = boxStats(box, tx.Bucket(bucketBoxes).Bucket([]byte(box)))
		return nil
	})
	return st, err
}

func boxStats(name string, bb *bolt.Bucket) BoxStats {
	st := BoxStats{Box: name}
	if bb == nil {
		return st
	}
	if m := bb.Bucket(bucketMeta); m != nil {
		st.Spool = batch.SpoolID(boltkv.GetU64(m, metaSpool))
	}
	sps := bb.Bucket(bucketSpools)
	if sps == nil {
		return st
	}
	sps.ForEachBucket(func(k []byte) error {
		ss := spoolStats(binary.BigEndian.Uint64(k), sps.Bucket(k))
		st.Spools = append(st.Spools, ss)
		if ss.ID == st.Spool {
			st.HighSeq = ss.HighSeq
		}
		st.Entries += ss.Entries
		st.Records += ss.Records
		st.Bytes += ss.Bytes
		st.Duplicates += ss.Duplicates
		st.Missing += ss.Missing
		st.Quarantined += ss.Quarantined
		if ss.LastPut.After(st.LastPut) {
			st.LastPut = ss.LastPut
		}
		return nil
	})
	return st
}

func spoolStats(id uint64, sb *bolt.Bucket) SpoolStats {
	st := SpoolStats{ID: batch.SpoolID(id)}
	m := sb.Bucket(bucketMeta)
	if m == nil {
		return st
	}
	st.HighSeq = boltkv.GetU64(m, metaHigh)
	st.Entries = boltkv.GetU64(m, metaEntries)
	st.Records = boltkv.GetU64(m, metaRecords)
	st.Bytes = boltkv.GetU64(m, metaBytes)
	st.Duplicates = boltkv.GetU64(m, metaDuplicates)
	st.Missing = boltkv.GetU64(m, metaMissing)
	st.Quarantined = boltkv.GetU64(m, metaQuarantine)
	if v := boltkv.GetU64(m, metaLastPut); v != 0 {
		st.LastPut = time.Unix(0, int64(v)).UTC()
	}
	return st
}

// Entry is one stored batch.
type Entry struct {
	Box               string
	Spool             uint64 // the box's spool ID; 0: stored before spool IDs
	FirstSeq, LastSeq uint64
	Source            Source
	Received          time.Time
	Data              []byte // spool's stored form; batch.Decode
}

// Decode decodes the entry's batch.
func (e Entry) Decode() (batch.Batch, error) {
	b, err := batch.Decode(e.Data)
	if err != nil {
		return b, fmt.Errorf("box %s spool %v entry %d-%d: %w", e.Box, batch.SpoolID(e.Spool), e.FirstSeq, e.LastSeq, err)
	}
	return b, nil
}

// Entries yields box's stored entries of every spool, ordered by (spool
// ID, sequence), with records after afterSeq in each spool, reading in
// chunks of short transactions.
func (s *Store) Entries(box string, afterSeq uint64) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		var ids []uint64
		err := s.db.View(func(tx *bolt.Tx) error {
			bb := tx.Bucket(bucketBoxes).Bucket([]byte(box))
			if bb == nil || bb.Bucket(bucketSpools) == nil {
				return nil
			}
			return bb.Bucket(bucketSpools).ForEachBucket(func(k []byte) error {
				ids = append(ids, binary.BigEndian.Uint64(k))
				return nil
			})
		})
		if err != nil {
			yield(Entry{}, fmt.Errorf("reading collector store: %w", err))
			return
		}
		for _, id := range ids {
			for e, err := range s.SpoolEntries(box, id, afterSeq) {
				if !yield(e, err) || err != nil {
					return
				}
			}
		}
	}
}

// SpoolEntries yields the stored entries of box's spool spoolID with
// records after afterSeq, in sequence order, reading in chunks of short
// transactions.
func (s *Store) SpoolEntries(box string, spoolID, afterSeq uint64) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		for {
			var chunk []Entry
			err := s.db.View(func(tx *bolt.Tx) error {
				bb := tx.Bucket(bucketBoxes).Bucket([]byte(box))
				if bb == nil || bb.Bucket(bucketSpools) == nil {
					return nil
				}
				sb := bb.Bucket(bucketSpools).Bucket(boltkv.SeqKey(spoolID))
				if sb == nil || sb.Bucket(bucketData) == nil {
					return nil
				}
				c := sb.Bucket(bucketData).Cursor()
				size := 0
				for k, v := c.Seek(boltkv.SeqKey(afterSeq + 1)); k != nil && size < 4<<20; k, v = c.Next() {
					first, src, recv, err := splitValue(v)
					if err != nil {
						return err
					}
					data := v[len(v)-len(recv):]
					e := Entry{Box: box, Spool: spoolID, FirstSeq: first, LastSeq: binary.BigEndian.Uint64(k), Source: src}
					ns, n := binary.Uvarint(data)
					if n <= 0 {
						return fmt.Errorf("box %s spool %v entry %x: bad receive time", box, batch.SpoolID(spoolID), k)
					}
					e.Received = time.Unix(0, int64(ns)).UTC()
					e.Data = append([]byte(nil), data[n:]...)
					chunk = append(chunk, e)
					size += len(v)
				}
				return nil
			})
			if err != nil {
				yield(Entry{}, fmt.Errorf("reading collector store: %w", err))
				return
			}
			if len(chunk) == 0 {
				return
			}
			for _, e := range chunk {
				if !yield(e, nil) {
					return
				}
			}
			afterSeq = chunk[len(chunk)-1].LastSeq
		}
	}
}

// splitValue returns the first sequence, the source and the rest (receive
// time uvarint + data) of a stored value.
func splitValue(v []byte) (first uint64, src Source, rest []byte, err error) {
	first, n := binary.Uvarint(v)
	if n <= 0 || len(v) < n+1 {
		return 0, 0, nil, fmt.Errorf("corrupt collector entry")
	}
	return first, Source(v[n]), v[n+1:], nil
}
