// Package collector is the operator's side of store-and-forward: a bbolt
// store of what boxes delivered, kept per box and keyed by sequence range,
// and the HTTP handler boxes upload to over the tailnet (see the wire
// package for the format). `surveyctl collect` runs it on a tsnet node;
// `surveyctl pull` stores what it fetches in the same store, and
// `surveyctl export` reads it.
//
// A box is identified by its tailnet node name (WhoIs), never by what it
// declares. Redelivery stores nothing twice: an entry whose sequence range
// is already stored for that box is counted as a duplicate and skipped.
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

	"github.com/surveybox/surveybox/collector/wire"
	"github.com/surveybox/surveybox/internal/boltkv"
	"github.com/surveybox/surveybox/spool"
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

// ErrConflict: an entry overlaps a stored one without being the same
// sequence range (the box's spool was replaced, or the data is bogus).
var ErrConflict = errors.New("sequence range overlaps stored data")

var (
	bucketBoxes = []byte("boxes")
	bucketData  = []byte("entries") // per box: key LastSeq (8 bytes BE) -> value
	bucketMeta  = []byte("meta")

	metaHigh       = []byte("high")
	metaEntries    = []byte("entries")
	metaRecords    = []byte("records")
	metaBytes      = []byte("bytes")
	metaDuplicates = []byte("duplicates")
	metaMissing    = []byte("missing")
	metaLastPut    = []byte("last_put")
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
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketBoxes)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening collector store %s: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
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
}

// Put stores the entries for box in one transaction: all or nothing.
// Entries already stored (same sequence range) are skipped as duplicates;
// an entry that overlaps a stored one otherwise is ErrConflict.
func (s *Store) Put(box string, src Source, entries []wire.Entry) (PutResult, error) {
	var res PutResult
	if !ValidBoxName(box) {
		return res, fmt.Errorf("bad box name %q", box)
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
		data, err := bb.CreateBucketIfNotExists(bucketData)
		if err != nil {
			return err
		}
		m, err := bb.CreateBucketIfNotExists(bucketMeta)
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
					return fmt.Errorf("%w: %d-%d against stored %d-%d for box %s", ErrConflict, e.FirstSeq, e.LastSeq, first, last, box)
				}
			}
			if e.FirstSeq > high+1 {
				res.Missing += e.FirstSeq - high - 1
			}
			v := binary.AppendUvarint(nil, e.FirstSeq)
			v = append(v, byte(src))
			v = binary.AppendUvarint(v, now)
			v = append(v, e.Data...)
			if err := data.Put(boltkv.SeqKey(e.LastSeq), v); err != nil {
				return err
			}
			c = data.Cursor() // Put invalidates cursors
			res.Stored++
			res.Records += e.LastSeq - e.FirstSeq + 1
			high = max(high, e.LastSeq)
			if err := boltkv.AddU64(m, metaBytes, uint64(8+len(v))); err != nil {
				return err
			}
		}
		res.Acked = entries[len(entries)-1].LastSeq
		return errors.Join(
			boltkv.PutU64(m, metaHigh, high),
			boltkv.AddU64(m, metaEntries, uint64(res.Stored)),
			boltkv.AddU64(m, metaRecords, res.Records),
			boltkv.AddU64(m, metaDuplicates, uint64(res.Duplicates)),
			boltkv.AddU64(m, metaMissing, res.Missing),
			boltkv.PutU64(m, metaLastPut, now),
		)
	})
	if err != nil {
		return PutResult{}, fmt.Errorf("storing %d entries for box %s: %w", len(entries), box, err)
	}
	return res, nil
}

// BoxStats describes what the store holds for one box.
type BoxStats struct {
	Box string `json:"box"`
	// HighSeq is the highest sequence number stored.
	HighSeq uint64 `json:"high_seq"`
	Entries uint64 `json:"entries"`
	Records uint64 `json:"records"`
	Bytes   uint64 `json:"bytes"`
	// Duplicates counts redelivered entries that were skipped.
	Duplicates uint64 `json:"duplicates"`
	// Missing counts sequence numbers never delivered (gaps).
	Missing uint64    `json:"missing"`
	LastPut time.Time `json:"last_put"`
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

// Box returns the stats of one box (zero HighSeq if unknown).
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
	m := bb.Bucket(bucketMeta)
	if m == nil {
		return st
	}
	st.HighSeq = boltkv.GetU64(m, metaHigh)
	st.Entries = boltkv.GetU64(m, metaEntries)
	st.Records = boltkv.GetU64(m, metaRecords)
	st.Bytes = boltkv.GetU64(m, metaBytes)
	st.Duplicates = boltkv.GetU64(m, metaDuplicates)
	st.Missing = boltkv.GetU64(m, metaMissing)
	if v := boltkv.GetU64(m, metaLastPut); v != 0 {
		st.LastPut = time.Unix(0, int64(v)).UTC()
	}
	return st
}

// Entry is one stored batch.
type Entry struct {
	Box               string
	FirstSeq, LastSeq uint64
	Source            Source
	Received          time.Time
	Data              []byte // spool's stored form; spool.Decode
}

// Decode decodes the entry's batch.
func (e Entry) Decode() (spool.Batch, error) {
	b, err := spool.Decode(e.Data)
	if err != nil {
		return b, fmt.Errorf("box %s entry %d-%d: %w", e.Box, e.FirstSeq, e.LastSeq, err)
	}
	return b, nil
}

// Entries yields box's stored entries with records after afterSeq, in
// sequence order, reading in chunks of short transactions.
func (s *Store) Entries(box string, afterSeq uint64) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		for {
			var chunk []Entry
			err := s.db.View(func(tx *bolt.Tx) error {
				bb := tx.Bucket(bucketBoxes).Bucket([]byte(box))
				if bb == nil || bb.Bucket(bucketData) == nil {
					return nil
				}
				c := bb.Bucket(bucketData).Cursor()
				size := 0
				for k, v := c.Seek(boltkv.SeqKey(afterSeq + 1)); k != nil && size < 4<<20; k, v = c.Next() {
					first, src, recv, err := splitValue(v)
					if err != nil {
						return err
					}
					data := v[len(v)-len(recv):]
					e := Entry{Box: box, FirstSeq: first, LastSeq: binary.BigEndian.Uint64(k), Source: src}
					ns, n := binary.Uvarint(data)
					if n <= 0 {
						return fmt.Errorf("box %s entry %x: bad receive time", box, k)
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
