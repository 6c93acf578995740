// Package spool keeps the box's survey observations durably on disk until
// the operator has them: each scan cycle's batch is committed to a bbolt
// database in one transaction with monotonic sequence numbers, read back in
// sequence order, and deleted when acknowledged or, past a byte quota,
// evicted oldest first. The stored form of a batch is package batch's.
//
// # Sequence numbers
//
// Every record of a batch (BSS observations first, then channel survey
// rows) gets its own sequence number; a batch without records takes one.
// Sequence numbers start at 1, increase by one and are never reused, also
// not after eviction, acknowledgement or a restart: the next number is
// stored in the database and committed with the batch.
//
// # Spool ID
//
// A spool gets a random 64-bit ID when it is created (a spool created
// before IDs existed gets one the first time it is opened), stored in the
// database and never changed. Sequence numbers are unique only within one
// spool: a box whose spool starts over (the SD card re-flashed, /perm lost,
// the file deleted) numbers its records from 1 again, under a new ID. The
// collector therefore keys what it stores by (box, spool ID, sequence).
//
// # Quota and disk space
//
// bbolt never shrinks its file; freed pages are reused for later writes.
// The quota therefore counts live data: the sum of the stored keys and
// values of the batches in the spool (Stats.Bytes), not the file size. The
// file stays near the high-water mark of live data plus bbolt's page and
// freelist overhead, typically well under twice the quota. When an append
// would take live data past the quota, the oldest batches are evicted in the
// same transaction, counted (the counters live in the database and survive
// restarts) and logged; appends keep working on a full quota.
//
// # Bad data
//
// SD cards rot, and an image rolled back meets data written by newer
// software. Nothing the spool holds can stop it for good:
//
//   - Sequence ranges come from the keys (each batch's key is its last
//     sequence number, and batches are contiguous from the oldest, whose
//     first number the meta bucket keeps), never from the stored bytes, so
//     acknowledgement and eviction delete by key without decoding, and the
//     counters stay right whatever the bytes say.
//   - A batch whose header does not decode, or does not hold the records
//     its range says, is still returned in order, with Entry.Err set;
//     readers that decode (the pull API, the push loop) call
//     ReportCorrupt for batches that fail, which counts each once and logs
//     it (Stats.CorruptEntries). The bytes stay and travel to the
//     operator, whose collector keeps them apart for diagnosis.
//   - A database that bbolt cannot open, or whose pages make it panic, is
//     moved aside (spool.db.corrupt-TIME, kept for diagnosis) and a new
//     spool, with a new ID, takes its place. Options.OnRecover is told, and
//     Stats.Recoveries and RecoveryNote say so until the box is re-flashed.
//
// A commit that fails because the disk is full (ENOSPC, EFBIG from a file
// size limit, or bbolt's MaxSize) rolls back, evicts the oldest batches to
// free pages inside the file, and is retried once; if that fails too,
// Append returns an error wrapping ErrDiskFull and the spool stays usable.
//
// # Durability
//
// A batch is on disk when Append returns: bbolt fsyncs the data and then the
// meta page. A crash or SIGKILL at any moment leaves the database at the
// last committed transaction; nothing committed is lost and nothing needs
// repair (TestCrashKill kills a writer many times to check this).
package spool

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/surveybox/surveybox/internal/boltkv"
	"github.com/surveybox/surveybox/proto/batch"
)

// Defaults for Options.
const (
	DefaultQuotaBytes  = 256 << 20
	DefaultLockTimeout = 10 * time.Second
	defaultReadBytes   = 1 << 20
)

// formatVersion is the layout of buckets and meta keys in the database.
const formatVersion = 1

var (
	bucketBatches = []byte("batches") // key: last sequence (8 bytes BE); value: batch.Encode(the batch)
	bucketMeta    = []byte("meta")    // counters, see the meta* keys

	metaFormat         = []byte("format")
	metaID             = []byte("spool_id")
	metaNextSeq        = []byte("next_seq")
	metaLiveBytes      = []byte("live_bytes")
	metaEntries        = []byte("entries")
	metaRecords        = []byte("records")
	metaEvictions      = []byte("evictions")
	metaEvictedEntries = []byte("evicted_entries")
	metaEvictedRecords = []byte("evicted_records")
	metaLastEviction   = []byte("last_eviction")
	metaLastAck        = []byte("last_ack")
	metaLastAckTime    = []byte("last_ack_time")
	// metaFloor is the first sequence number of the oldest batch (NextSeq
	// when the spool is empty). Spools from before it existed get it when
	// opened.
	metaFloor = []byte("floor")
	// Bad data (see the package documentation).
	metaCorruptEntries = []byte("corrupt_entries")
	metaLastCorrupt    = []byte("last_corrupt")       // text: time and reason
	metaRecoveries     = []byte("recoveries")         // databases moved aside
	metaRecoveryNote   = []byte("last_recovery_note") // text

	// bucketCorrupt marks the batches reported corrupt (key as in
	// bucketBatches, value the reason), so each is counted once.
	bucketCorrupt = []byte("corrupt")
)

const keyLen = 8

// ErrDiskFull is wrapped by Append's error when the disk (or the file size
// limit) left no room even after evicting old batches.
var ErrDiskFull = errors.New("disk full")

// ErrTooLarge is returned by Append for a batch larger than the quota or
// than batch.MaxPayload.
var ErrTooLarge = errors.New("batch larger than the spool quota")

// Options configure Open.
type Options struct {
	// QuotaBytes bounds the live data in the spool (see the package
	// documentation); 0 means DefaultQuotaBytes, negative means no quota.
	QuotaBytes int64
	// MaxFileBytes, when positive, caps the database file size (bbolt's
	// MaxSize); reaching it is handled like a full disk.
	MaxFileBytes int64
	// LockTimeout bounds the wait for the database's file lock, held by
	// another process that has the spool open; 0 means DefaultLockTimeout.
	LockTimeout time.Duration
	// Logger receives eviction and disk-full reports; nil discards them.
	Logger *slog.Logger
	// NoSync skips fsync on commit. For benchmarks only: a crash can then
	// lose or corrupt committed batches.
	NoSync bool
	// OnRecover, if set, is told when a corrupt database was moved aside
	// and a new spool took its place (the appliance says so on the
	// console).
	OnRecover func(note string)
}

// Spool is an open spool. Its methods are safe for concurrent use.
type Spool struct {
	path  string
	quota int64
	log   *slog.Logger
	opt   Options

	dbMu sync.RWMutex // write-held only to replace a corrupt database
	db   *bolt.DB
	id   uint64

	mu       sync.Mutex
	appended chan struct{} // closed and replaced after each append
	enc      batch.Encoder // Append's, under mu
}

// Open opens or creates the spool database at path (the directory must
// exist). It waits at most Options.LockTimeout for another process to
// release the file. A database that is corrupt, or of a layout this
// program does not know, is moved aside and a new spool created (see the
// package documentation).
func Open(path string, opt Options) (*Spool, error) {
	s := &Spool{path: path, quota: opt.QuotaBytes, log: opt.Logger, opt: opt, appended: make(chan struct{})}
	if s.quota == 0 {
		s.quota = DefaultQuotaBytes
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	db, id, err := s.openDB()
	var bad *corruptError
	if errors.As(err, &bad) {
		db, id, err = s.replace(bad.reason)
	}
	if err != nil {
		return nil, err
	}
	s.db, s.id = db, id
	return s, nil
}

// corruptError is a database bbolt cannot open or read: its pages are
// damaged (or made by a newer program), not the disk or the lock.
type corruptError struct{ reason string }

func (e *corruptError) Error() string { return "corrupt spool database: " + e.reason }

// openDB opens the database and sets up its buckets and meta keys.
func (s *Spool) openDB() (db *bolt.DB, id uint64, err error) {
	timeout := s.opt.LockTimeout
	if timeout == 0 {
		timeout = DefaultLockTimeout
	}
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
			}
			db, id, err = nil, 0, &corruptError{reason: fmt.Sprint(r)}
		}
	}()
	db, err = bolt.Open(s.path, 0o600, &bolt.Options{
		Timeout:      timeout,
		NoSync:       s.opt.NoSync,
		MaxSize:      int(s.opt.MaxFileBytes),
		FreelistType: bolt.FreelistMapType,
	})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, 0, fmt.Errorf("opening spool %s: still locked by another process after %v", s.path, timeout)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrVersionMismatch):
		return nil, 0, &corruptError{reason: err.Error()}
	case err != nil:
		return nil, 0, fmt.Errorf("opening spool %s: %w", s.path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		var err error
		id, err = setUp(tx)
		return err
	})
	if err != nil {
		db.Close()
		var bad *corruptError
		if errors.As(err, &bad) {
			return nil, 0, err
		}
		return nil, 0, fmt.Errorf("opening spool %s: %w", s.path, err)
	}
	return db, id, nil
}

// setUp creates the buckets and meta keys of a new spool, or checks and
// completes those of an existing one, and returns the spool's ID.
func setUp(tx *bolt.Tx) (uint64, error) {
	bk, err := tx.CreateBucketIfNotExists(bucketBatches)
	if err != nil {
		return 0, err
	}
	m, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return 0, err
	}
	switch v := boltkv.GetU64(m, metaFormat); v {
	case 0:
		if err := errors.Join(boltkv.PutU64(m, metaFormat, formatVersion), boltkv.PutU64(m, metaNextSeq, 1), boltkv.PutU64(m, metaFloor, 1)); err != nil {
			return 0, err
		}
	case formatVersion:
	default:
		return 0, &corruptError{reason: fmt.Sprintf("unknown spool format %d (this program knows %d)", v, formatVersion)}
	}
	if m.Get(metaFloor) == nil { // a spool from before the floor was kept
		floor := boltkv.GetU64(m, metaNextSeq)
		if k, v := bk.Cursor().First(); k != nil {
			last := binary.BigEndian.Uint64(k)
			floor = last // one record, if the header cannot say
			if h, err := batch.ReadHeader(v); err == nil && h.Seqs() <= last {
				floor = last - h.Seqs() + 1
			}
		}
		if err := boltkv.PutU64(m, metaFloor, floor); err != nil {
			return 0, err
		}
	}
	id := boltkv.GetU64(m, metaID)
	if id == 0 { // new, or created before spools had IDs
		id = newID()
		if err := boltkv.PutU64(m, metaID, id); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// replace moves the database file aside and creates a new spool in its
// place, noting why in the new spool's meta bucket.
func (s *Spool) replace(reason string) (*bolt.DB, uint64, error) {
	aside := fmt.Sprintf("%s.corrupt-%s", s.path, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(s.path, aside); err != nil {
		return nil, 0, fmt.Errorf("moving the corrupt spool %s aside (%s): %w", s.path, reason, err)
	}
	note := fmt.Sprintf("%s: the spool database was corrupt (%s); moved aside to %s, a new spool started",
		time.Now().UTC().Format(time.RFC3339), reason, filepath.Base(aside))
	s.log.Error("spool: "+note, "path", s.path)
	db, id, err := s.openDB()
	if err != nil {
		return nil, 0, fmt.Errorf("starting a new spool after moving the corrupt one aside: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		return errors.Join(boltkv.AddU64(m, metaRecoveries, 1), m.Put(metaRecoveryNote, []byte(note)))
	})
	if err != nil {
		db.Close()
		return nil, 0, fmt.Errorf("starting a new spool after moving the corrupt one aside: %w", err)
	}
	if s.opt.OnRecover != nil {
		s.opt.OnRecover(note)
	}
	return db, id, nil
}

// view and update run a transaction on the current database. A panic in
// bbolt (a damaged page) becomes a *corruptError; bbolt has rolled the
// transaction back by then.
func (s *Spool) view(fn func(tx *bolt.Tx) error) error   { return s.tx(false, fn) }
func (s *Spool) update(fn func(tx *bolt.Tx) error) error { return s.tx(true, fn) }

func (s *Spool) tx(write bool, fn func(tx *bolt.Tx) error) (err error) {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	defer func() {
		if r := recover(); r != nil {
			err = &corruptError{reason: fmt.Sprint(r)}
		}
	}()
	if write {
		return s.db.Update(fn)
	}
	return s.db.View(fn)
}

// recoverFrom replaces the database when err says it is corrupt, and
// reports whether it did (the caller may retry on the new spool).
func (s *Spool) recoverFrom(err error) bool {
	var bad *corruptError
	if !errors.As(err, &bad) {
		return false
	}
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	s.db.Close()
	db, id, rerr := s.replace(bad.reason)
	if rerr != nil {
		s.log.Error("spool: cannot recover", "err", rerr)
		// Keep a closed handle: every call fails with bbolt's
		// ErrDatabaseNotOpen rather than panicking.
		return false
	}
	s.db, s.id = db, id
	return true
}

// newID returns a random non-zero spool ID.
func newID() uint64 {
	var b [8]byte
	for {
		rand.Read(b[:]) // never fails (crypto/rand panics instead)
		if id := binary.BigEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}

// ID returns the spool's ID (see the package documentation): random,
// non-zero, fixed for the life of the database file.
func (s *Spool) ID() uint64 {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.id
}

// Close closes the database.
func (s *Spool) Close() error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing spool %s: %w", s.path, err)
	}
	return nil
}

// Path returns the database file's path.
func (s *Spool) Path() string { return s.path }

// Appended returns a channel that is closed after the next successful
// Append, for readers that follow the spool.
func (s *Spool) Appended() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appended
}

// eviction describes batches removed for room.
type eviction struct {
	entries, records  uint64
	firstSeq, lastSeq uint64
	freedBytes        int64
	totalEntries      uint64
}

func (ev eviction) log(l *slog.Logger, msg string) {
	l.Warn(msg,
		"evicted_entries", ev.entries, "evicted_records", ev.records,
		"first_seq", ev.firstSeq, "last_seq", ev.lastSeq, "freed_bytes", ev.freedBytes,
		"total_evicted_entries", ev.totalEntries)
}

// Append commits the batch durably in one transaction and returns the
// sequence numbers of its first and last record. Past the quota it evicts
// the oldest batches first (see the package documentation).
func (s *Spool) Append(ctx context.Context, b batch.Batch) (first, last uint64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, fmt.Errorf("appending to spool: %w", err)
	}
	s.mu.Lock()
	data, err := s.enc.Encode(&b)
	s.mu.Unlock()
	if errors.Is(err, batch.ErrTooLarge) {
		return 0, 0, fmt.Errorf("appending to spool %s: %w: %w", s.path, ErrTooLarge, err)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("appending to spool %s: %w", s.path, err)
	}
	n := uint64(max(b.Records(), 1))
	size := int64(keyLen + len(data))
	if s.quota > 0 && size > s.quota {
		return 0, 0, fmt.Errorf("appending %d records to spool: %w (%d > %d bytes)", b.Records(), ErrTooLarge, size, s.quota)
	}
	first, last, ev, err := s.appendOnce(data, n, size)
	if err != nil && s.recoverFrom(err) {
		first, last, ev, err = s.appendOnce(data, n, size) // on the new spool
	}
	if err != nil && isDiskFull(err) {
		s.log.Warn("spool: disk full, evicting oldest batches and retrying", "path", s.path, "err", err)
		fev, ferr := s.evictForSpace(2 * size)
		if ferr != nil {
			return 0, 0, fmt.Errorf("appending %d records to spool %s: %w: %v (and evicting for room: %v)", b.Records(), s.path, ErrDiskFull, err, ferr)
		}
		if fev.entries > 0 {
			fev.log(s.log, "spool: evicted oldest batches to free disk space")
		}
		first, last, ev, err = s.appendOnce(data, n, size)
		if err != nil && isDiskFull(err) {
			return 0, 0, fmt.Errorf("appending %d records to spool %s: %w: %v", b.Records(), s.path, ErrDiskFull, err)
		}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("appending %d records to spool %s: %w", b.Records(), s.path, err)
	}
	if ev.entries > 0 {
		ev.log(s.log, "spool: quota reached, evicted oldest batches")
	}
	s.mu.Lock()
	close(s.appended)
	s.appended = make(chan struct{})
	s.mu.Unlock()
	return first, last, nil
}

func (s *Spool) appendOnce(data []byte, n uint64, size int64) (first, last uint64, ev eviction, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		bk, m := tx.Bucket(bucketBatches), tx.Bucket(bucketMeta)
		// Keys only ever grow, so fill pages completely instead of
		// splitting them half-empty.
		bk.FillPercent = 1.0
		ev = eviction{}
		if s.quota > 0 {
			var err error
			ev, err = evict(tx, int64(boltkv.GetU64(m, metaLiveBytes))+size-s.quota)
			if err != nil {
				return err
			}
		}
		first = boltkv.GetU64(m, metaNextSeq)
		last = first + n - 1
		if err := bk.Put(boltkv.SeqKey(last), data); err != nil {
			return err
		}
		return errors.Join(
			boltkv.PutU64(m, metaNextSeq, last+1),
			boltkv.AddU64(m, metaLiveBytes, uint64(size)),
			boltkv.AddU64(m, metaEntries, 1),
			boltkv.AddU64(m, metaRecords, n),
		)
	})
	return first, last, ev, err
}

// evictForSpace evicts the oldest batches holding at least need bytes (at
// least one batch) in a transaction of its own, which can reuse free pages
// inside the file when the disk is full.
func (s *Spool) evictForSpace(need int64) (eviction, error) {
	var ev eviction
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		ev, err = evict(tx, max(need, 1))
		return err
	})
	return ev, err
}

// evict deletes the oldest batches until at least need bytes are freed (or
// the spool is empty) and counts them in the meta bucket. It goes by the
// keys alone: a batch whose bytes are damaged is evicted like any other.
func evict(tx *bolt.Tx, need int64) (eviction, error) {
	var ev eviction
	if need <= 0 {
		return ev, nil
	}
	bk, m := tx.Bucket(bucketBatches), tx.Bucket(bucketMeta)
	floor := boltkv.GetU64(m, metaFloor)
	c := bk.Cursor()
	for k, v := c.First(); k != nil && ev.freedBytes < need; k, v = c.First() {
		first, last := rangeOf(floor, k)
		if ev.entries == 0 {
			ev.firstSeq = first
		}
		ev.lastSeq = last
		ev.entries++
		ev.records += last - first + 1
		ev.freedBytes += int64(len(k) + len(v))
		if err := errors.Join(c.Delete(), unmarkCorrupt(tx, k)); err != nil {
			return ev, err
		}
		floor = last + 1
	}
	if ev.entries == 0 {
		return ev, nil
	}
	err := errors.Join(
		boltkv.PutU64(m, metaFloor, floor),
		subU64(m, metaLiveBytes, uint64(ev.freedBytes)),
		subU64(m, metaEntries, ev.entries),
		subU64(m, metaRecords, ev.records),
		boltkv.AddU64(m, metaEvictions, 1),
		boltkv.AddU64(m, metaEvictedEntries, ev.entries),
		boltkv.AddU64(m, metaEvictedRecords, ev.records),
		boltkv.PutU64(m, metaLastEviction, uint64(time.Now().UnixNano())),
	)
	ev.totalEntries = boltkv.GetU64(m, metaEvictedEntries)
	return ev, err
}

// rangeOf returns the sequence range of the batch with key k whose first
// record follows the one before it: first is the floor for the oldest
// batch, the key before plus one for the others. Keys are the truth about
// ranges; the stored bytes only repeat the count.
func rangeOf(first uint64, k []byte) (uint64, uint64) {
	last := binary.BigEndian.Uint64(k)
	return min(first, last), last
}

// unmarkCorrupt forgets a deleted batch's corruption mark.
func unmarkCorrupt(tx *bolt.Tx, k []byte) error {
	if b := tx.Bucket(bucketCorrupt); b != nil {
		return b.Delete(k)
	}
	return nil
}

// isDiskFull reports whether a commit failed for lack of room. bbolt
// formats the error of growing its file with %s, so that one is matched by
// its text.
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EFBIG) ||
		errors.Is(err, syscall.EDQUOT) || errors.Is(err, bolterrors.ErrMaxSizeReached) ||
		strings.Contains(err.Error(), "file resize error")
}

// Entry is one stored batch.
type Entry struct {
	// FirstSeq and LastSeq are the sequence numbers of the batch's first
	// and last record: BSS[i] has FirstSeq+i, Channels[j] has
	// FirstSeq+len(BSS)+j. An empty batch has FirstSeq == LastSeq.
	FirstSeq, LastSeq uint64
	// Started is when the scan cycle started (zero when Err is set).
	Started time.Time
	// Data is the stored form (package batch); Decode returns the batch.
	// It is a copy the caller owns.
	Data []byte
	// Err says why Data is not the batch of FirstSeq..LastSeq its header
	// should describe (it wraps batch.ErrCorrupt). Such an entry is still
	// delivered, as bytes, for diagnosis.
	Err error
}

// Decode decodes the entry's batch.
func (e Entry) Decode() (batch.Batch, error) {
	if e.Err != nil {
		return batch.Batch{}, e.Err
	}
	b, err := batch.Decode(e.Data)
	if err != nil {
		return batch.Batch{}, fmt.Errorf("decoding spool entry %d-%d: %w", e.FirstSeq, e.LastSeq, err)
	}
	return b, nil
}

// Read returns the stored batches holding records after afterSeq, oldest
// first, up to about maxBytes of stored data (at least one batch when there
// is one; maxBytes <= 0 means 1 MiB). The first batch may start at or
// before afterSeq when afterSeq was inside it; callers skip those records.
// Read holds a read transaction only while copying, so it never holds up
// appends for long.
func (s *Spool) Read(ctx context.Context, afterSeq uint64, maxBytes int) ([]Entry, error) {
	if maxBytes <= 0 {
		maxBytes = defaultReadBytes
	}
	var out []Entry
	read := func(tx *bolt.Tx) error {
		out = out[:0]
		bk := tx.Bucket(bucketBatches)
		c := bk.Cursor()
		k, v := c.Seek(boltkv.SeqKey(afterSeq + 1))
		if k == nil {
			return nil
		}
		first := boltkv.GetU64(tx.Bucket(bucketMeta), metaFloor)
		pc := bk.Cursor()
		pc.Seek(k)
		if pk, _ := pc.Prev(); pk != nil {
			first = binary.BigEndian.Uint64(pk) + 1
		}
		total := 0
		for ; k != nil; k, v = c.Next() {
			if len(out) > 0 && total+len(v) > maxBytes {
				break
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			e, err := entryOf(first, k, v)
			if err != nil {
				return err
			}
			out = append(out, e)
			total += len(v)
			first = e.LastSeq + 1
		}
		return nil
	}
	err := s.view(read)
	if err != nil && s.recoverFrom(err) {
		err = s.view(read) // the new spool: empty
	}
	if err != nil {
		return nil, fmt.Errorf("reading spool after sequence %d: %w", afterSeq, err)
	}
	s.releaseMapped()
	return out, nil
}

// releaseMapped drops the spool file's pages from this process's page
// tables (madvise MADV_DONTNEED on bbolt's read-only shared mapping of the
// file). They stay in the kernel's page cache and fault back in when read
// again, so nothing changes but the process's resident set: draining a
// large backlog would otherwise map the whole file into RSS (the box has a
// tight memory budget). The read transaction keeps bbolt from remapping
// meanwhile. Errors are ignored: this only trims memory.
func (s *Spool) releaseMapped() {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	_ = s.db.View(func(tx *bolt.Tx) error {
		info := s.db.Info()
		_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, info.Data, uintptr(tx.Size()), syscall.MADV_DONTNEED)
		return nil
	})
}

// Entries yields the stored batches holding records after afterSeq, oldest
// first, reading them in chunks with short transactions. It ends at the
// newest batch at the time of the last chunk, or at the first error.
func (s *Spool) Entries(ctx context.Context, afterSeq uint64) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		for {
			chunk, err := s.Read(ctx, afterSeq, defaultReadBytes)
			if err != nil {
				yield(Entry{}, err)
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

// entryOf returns the batch with key k and value v whose first record is
// first. A header that does not decode, or disagrees with the range, sets
// Entry.Err.
func entryOf(first uint64, k, v []byte) (Entry, error) {
	if len(k) != keyLen {
		return Entry{}, fmt.Errorf("%w: key of %d bytes", batch.ErrCorrupt, len(k))
	}
	e := Entry{Data: bytes.Clone(v)}
	e.FirstSeq, e.LastSeq = rangeOf(first, k)
	h, err := batch.ReadHeader(v)
	switch {
	case err != nil:
		e.Err = fmt.Errorf("spool entry %d-%d: %w", e.FirstSeq, e.LastSeq, err)
	case h.Seqs() != e.LastSeq-e.FirstSeq+1:
		e.Err = fmt.Errorf("spool entry %d-%d: %w: it holds %d records", e.FirstSeq, e.LastSeq, batch.ErrCorrupt, h.Seqs())
	default:
		e.Started = h.Started
	}
	return e, nil
}

// ReportCorrupt records that e does not decode (err says why): it is
// counted once in Stats.CorruptEntries and logged. It stays in the spool
// and is delivered as bytes like any other entry.
func (s *Spool) ReportCorrupt(e Entry, cause error) {
	k := boltkv.SeqKey(e.LastSeq)
	counted := false
	err := s.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketBatches).Get(k) == nil {
			return nil // delivered or evicted meanwhile
		}
		cb, err := tx.CreateBucketIfNotExists(bucketCorrupt)
		if err != nil || cb.Get(k) != nil {
			return err
		}
		counted = true
		m := tx.Bucket(bucketMeta)
		note := time.Now().UTC().Format(time.RFC3339) + ": " + cause.Error()
		return errors.Join(cb.Put(k, []byte(cause.Error())), boltkv.AddU64(m, metaCorruptEntries, 1), m.Put(metaLastCorrupt, []byte(note)))
	})
	if err != nil {
		s.recoverFrom(err)
		s.log.Error("spool: recording a corrupt entry", "first_seq", e.FirstSeq, "last_seq", e.LastSeq, "err", err)
		return
	}
	if counted {
		s.log.Warn("spool: corrupt entry; delivering its bytes for diagnosis", "first_seq", e.FirstSeq, "last_seq", e.LastSeq, "err", cause)
	}
}

// Ack records that everything up to and including upToSeq reached its
// destination and deletes the batches that lie wholly at or below it, by
// key. A batch that upToSeq cuts stays until a later Ack covers it.
// Acknowledging a sequence number not yet assigned is an error.
func (s *Spool) Ack(ctx context.Context, upToSeq uint64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("acknowledging spool up to %d: %w", upToSeq, err)
	}
	err := s.update(func(tx *bolt.Tx) error {
		bk, m := tx.Bucket(bucketBatches), tx.Bucket(bucketMeta)
		if next := boltkv.GetU64(m, metaNextSeq); upToSeq >= next {
			return fmt.Errorf("sequence %d was never assigned (next is %d)", upToSeq, next)
		}
		floor := boltkv.GetU64(m, metaFloor)
		var entries, records, bytes uint64
		c := bk.Cursor()
		for k, v := c.First(); k != nil && binary.BigEndian.Uint64(k) <= upToSeq; k, v = c.First() {
			first, last := rangeOf(floor, k)
			entries++
			records += last - first + 1
			bytes += uint64(len(k) + len(v))
			if err := errors.Join(c.Delete(), unmarkCorrupt(tx, k)); err != nil {
				return err
			}
			floor = last + 1
		}
		errs := []error{
			boltkv.PutU64(m, metaFloor, floor),
			subU64(m, metaLiveBytes, bytes),
			subU64(m, metaEntries, entries),
			subU64(m, metaRecords, records),
			boltkv.PutU64(m, metaLastAckTime, uint64(time.Now().UnixNano())),
		}
		if upToSeq > boltkv.GetU64(m, metaLastAck) {
			errs = append(errs, boltkv.PutU64(m, metaLastAck, upToSeq))
		}
		return errors.Join(errs...)
	})
	if err != nil {
		s.recoverFrom(err)
		return fmt.Errorf("acknowledging spool up to %d: %w", upToSeq, err)
	}
	s.releaseMapped()
	return nil
}

// Stats describes the spool's contents.
type Stats struct {
	// ID is the spool's ID (Spool.ID).
	ID      batch.SpoolID
	Entries int64  // batches in the spool
	Records uint64 // records in the spool (an empty batch counts one)
	// Bytes is the live data the quota counts: stored keys and values.
	Bytes      int64
	QuotaBytes int64 // negative: none
	// FileBytes is the database file's size, which never shrinks.
	FileBytes int64

	// OldestSeq and NewestSeq are the first and last sequence numbers in
	// the spool, OldestTime and NewestTime the start of those batches'
	// scan cycles; all zero when the spool is empty.
	OldestSeq, NewestSeq   uint64
	OldestTime, NewestTime time.Time
	// NextSeq is the sequence number the next record will get.
	NextSeq uint64

	// Evictions counts the times batches were evicted for room;
	// EvictedEntries and EvictedRecords what they removed, over the
	// spool's whole life. LastEviction is zero if there was none.
	Evictions, EvictedEntries, EvictedRecords uint64
	LastEviction                              time.Time

	// LastAck is the highest sequence number acknowledged, LastAckTime
	// when the last Ack happened (zero if never).
	LastAck     uint64
	LastAckTime time.Time

	// CorruptEntries counts the batches reported corrupt over the spool's
	// life, LastCorrupt says when and why the last one was.
	CorruptEntries uint64 `json:",omitempty"`
	LastCorrupt    string `json:",omitempty"`
	// Recoveries counts corrupt databases moved aside for this one;
	// RecoveryNote says when, why and where the last one went.
	Recoveries   uint64 `json:",omitempty"`
	RecoveryNote string `json:",omitempty"`
}

// Health says in one short line how the spool is doing, for the console.
// It changes only when something a person should act on does: not with
// every cycle stored or evicted.
func (st Stats) Health(now time.Time) string {
	switch {
	case st.Evictions > 0 && now.Sub(st.LastEviction) < time.Hour:
		return "FULL: oldest observations dropped - is the uplink down?"
	case st.QuotaBytes > 0 && st.Bytes > st.QuotaBytes/4*3:
		return "over 3/4 full - are uploads getting through?"
	case st.Recoveries > 0:
		return "ok (a corrupt spool was moved aside: see status)"
	}
	return "ok"
}

// HealthLine is the banner's spool line: Health, or why there is none. A
// nil spool (it could not be opened) keeps nothing.
func (s *Spool) HealthLine(now time.Time) string {
	if s == nil {
		return "NONE - observations are not kept"
	}
	st, err := s.Stats()
	if err != nil {
		return "ERROR: " + err.Error()
	}
	return st.Health(now)
}

// Stats returns the spool's counters.
func (s *Spool) Stats() (Stats, error) {
	var st Stats
	read := func(tx *bolt.Tx) error {
		st = Stats{ID: batch.SpoolID(s.id), QuotaBytes: s.quota}
		m := tx.Bucket(bucketMeta)
		st.Entries = int64(boltkv.GetU64(m, metaEntries))
		st.Records = boltkv.GetU64(m, metaRecords)
		st.Bytes = int64(boltkv.GetU64(m, metaLiveBytes))
		st.NextSeq = boltkv.GetU64(m, metaNextSeq)
		st.Evictions = boltkv.GetU64(m, metaEvictions)
		st.EvictedEntries = boltkv.GetU64(m, metaEvictedEntries)
		st.EvictedRecords = boltkv.GetU64(m, metaEvictedRecords)
		st.LastEviction = unixNano(boltkv.GetU64(m, metaLastEviction))
		st.LastAck = boltkv.GetU64(m, metaLastAck)
		st.LastAckTime = unixNano(boltkv.GetU64(m, metaLastAckTime))
		st.CorruptEntries = boltkv.GetU64(m, metaCorruptEntries)
		st.LastCorrupt = string(m.Get(metaLastCorrupt))
		st.Recoveries = boltkv.GetU64(m, metaRecoveries)
		st.RecoveryNote = string(m.Get(metaRecoveryNote))
		st.FileBytes = tx.Size()
		c := tx.Bucket(bucketBatches).Cursor()
		if k, v := c.First(); k != nil {
			st.OldestSeq, _ = rangeOf(boltkv.GetU64(m, metaFloor), k)
			if h, err := batch.ReadHeader(v); err == nil {
				st.OldestTime = h.Started
			}
		}
		if k, v := c.Last(); k != nil {
			st.NewestSeq = binary.BigEndian.Uint64(k)
			if h, err := batch.ReadHeader(v); err == nil {
				st.NewestTime = h.Started
			}
		}
		return nil
	}
	err := s.view(read)
	if err != nil && s.recoverFrom(err) {
		err = s.view(read)
	}
	if err != nil {
		return Stats{}, fmt.Errorf("reading spool stats: %w", err)
	}
	return st, nil
}

// Check verifies the database's page structure (bbolt's consistency check),
// that every stored batch decodes and holds the records its range says,
// and that the counters match the contents. It reads the whole database.
func (s *Spool) Check(ctx context.Context) error {
	err := s.view(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		m := tx.Bucket(bucketMeta)
		var entries, records, live uint64
		first := boltkv.GetU64(m, metaFloor)
		err := tx.Bucket(bucketBatches).ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			e, err := entryOf(first, k, v)
			if err != nil {
				return err
			}
			if e.Err != nil {
				return e.Err
			}
			if _, err := batch.Decode(v); err != nil {
				return fmt.Errorf("batch %d-%d: %w", e.FirstSeq, e.LastSeq, err)
			}
			entries++
			records += e.LastSeq - e.FirstSeq + 1
			live += uint64(len(k) + len(v))
			first = e.LastSeq + 1
			return nil
		})
		if err != nil {
			return err
		}
		if next := boltkv.GetU64(m, metaNextSeq); first > next {
			return fmt.Errorf("next sequence %d is not past the newest batch's %d", next, first-1)
		}
		if got := [3]uint64{boltkv.GetU64(m, metaEntries), boltkv.GetU64(m, metaRecords), boltkv.GetU64(m, metaLiveBytes)}; got != [3]uint64{entries, records, live} {
			return fmt.Errorf("counters say %d entries, %d records, %d bytes; contents are %d, %d, %d",
				got[0], got[1], got[2], entries, records, live)
		}
		return nil
	})
	s.releaseMapped() // a full scan maps the whole file
	if err != nil {
		return fmt.Errorf("checking spool %s: %w", s.path, err)
	}
	return nil
}

func subU64(b *bolt.Bucket, k []byte, d uint64) error {
	v := boltkv.GetU64(b, k)
	if d > v {
		return fmt.Errorf("meta %s: %d less %d goes negative", k, v, d)
	}
	return boltkv.PutU64(b, k, v-d)
}

func unixNano(v uint64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(v)).UTC()
}
