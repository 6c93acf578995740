package spool

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surveybox/surveybox/internal/syncbuf"
	"github.com/surveybox/surveybox/internal/testrecords"
	"github.com/surveybox/surveybox/proto/batch"
)

func openTest(t *testing.T, path string, opt Options) *Spool {
	t.Helper()
	s, err := Open(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustStats(t *testing.T, s *Spool) Stats {
	t.Helper()
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func mustCheck(t *testing.T, s *Spool) {
	t.Helper()
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSequences(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "spool.db")
	s := openTest(t, path, Options{})

	tests := []struct {
		nBSS        int
		survey      bool
		first, last uint64
	}{
		{3, false, 1, 3},
		{0, false, 4, 4}, // an empty cycle takes one number
		{15, true, 5, 5 + 15 + 113 - 1},
		{1, false, 133, 133},
	}
	for _, tt := range tests {
		first, last, err := s.Append(ctx, testrecords.Batch(t, tt.nBSS, tt.survey))
		if err != nil {
			t.Fatal(err)
		}
		if first != tt.first || last != tt.last {
			t.Errorf("Append(%d BSS, survey %v) = %d..%d, want %d..%d", tt.nBSS, tt.survey, first, last, tt.first, tt.last)
		}
	}
	st := mustStats(t, s)
	if st.Entries != 4 || st.Records != 133 || st.OldestSeq != 1 || st.NewestSeq != 133 || st.NextSeq != 134 {
		t.Errorf("stats %+v", st)
	}
	if want := testrecords.Batch(t, 0, false).Started; !st.OldestTime.Equal(want) {
		t.Errorf("oldest time %v, want %v", st.OldestTime, want)
	}

	// Read after various points.
	reads := []struct {
		after uint64
		want  []uint64 // first seqs of the returned entries
	}{
		{0, []uint64{1, 4, 5, 133}},
		{2, []uint64{1, 4, 5, 133}}, // 2 lies inside the first batch
		{3, []uint64{4, 5, 133}},
		{100, []uint64{5, 133}},
		{133, nil},
		{1000, nil},
	}
	for _, r := range reads {
		es, err := s.Read(ctx, r.after, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []uint64
		for _, e := range es {
			got = append(got, e.FirstSeq)
			b, err := e.Decode()
			if err != nil {
				t.Fatal(err)
			}
			if n := uint64(max(b.Records(), 1)); e.LastSeq-e.FirstSeq+1 != n {
				t.Errorf("entry %d-%d holds %d records", e.FirstSeq, e.LastSeq, n)
			}
		}
		if !slicesEqual(got, r.want) {
			t.Errorf("Read(after %d) = %v, want %v", r.after, got, r.want)
		}
	}
	// A small byte limit still returns one entry.
	if es, err := s.Read(ctx, 0, 1); err != nil || len(es) != 1 {
		t.Errorf("Read with 1 byte limit: %d entries, %v", len(es), err)
	}
	var it []uint64
	for e, err := range s.Entries(ctx, 3) {
		if err != nil {
			t.Fatal(err)
		}
		it = append(it, e.FirstSeq)
	}
	if !slicesEqual(it, []uint64{4, 5, 133}) {
		t.Errorf("Entries(3) = %v", it)
	}

	// Acks: partial, whole, past the end.
	if err := s.Ack(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if st := mustStats(t, s); st.Entries != 4 || st.LastAck != 2 || st.LastAckTime.IsZero() {
		t.Errorf("after a partial ack: %+v", st)
	}
	if err := s.Ack(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if st := mustStats(t, s); st.Entries != 2 || st.OldestSeq != 5 || st.LastAck != 4 || st.Records != 129 {
		t.Errorf("after ack 4: %+v", st)
	}
	if err := s.Ack(ctx, 134); err == nil {
		t.Error("Ack of an unassigned sequence succeeded")
	}
	if err := s.Ack(ctx, 1); err != nil { // an old ack is harmless
		t.Fatal(err)
	}
	if st := mustStats(t, s); st.LastAck != 4 {
		t.Errorf("an older ack moved LastAck to %d", st.LastAck)
	}
	mustCheck(t, s)

	// Everything survives a reopen, and numbers are not reused even when
	// the spool was emptied.
	if err := s.Ack(ctx, 133); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, Options{})
	st = mustStats(t, s)
	if st.Entries != 0 || st.Bytes != 0 || st.LastAck != 133 || st.NextSeq != 134 || st.OldestSeq != 0 {
		t.Errorf("after reopen: %+v", st)
	}
	if first, _, err := s.Append(ctx, testrecords.Batch(t, 1, false)); err != nil || first != 134 {
		t.Errorf("append after reopen: first %d, %v", first, err)
	}
	mustCheck(t, s)
}

func slicesEqual(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// syncBuffer collects output from several goroutines.
type syncBuffer = syncbuf.Buffer

func TestQuotaEviction(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "spool.db")
	batch := testrecords.Batch(t, 30, false)
	size := int64(keyLen + len(testrecords.Encode(t, &batch, true)))
	var logs syncBuffer
	opt := Options{QuotaBytes: 10*size + size/2, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	s := openTest(t, path, opt)

	var lastSeq uint64
	for range 25 {
		_, last, err := s.Append(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		lastSeq = last
	}
	st := mustStats(t, s)
	if st.Entries != 10 || st.Bytes > opt.QuotaBytes || st.Bytes != 10*size {
		t.Errorf("entries %d, bytes %d (quota %d, batch %d)", st.Entries, st.Bytes, opt.QuotaBytes, size)
	}
	if st.EvictedEntries != 15 || st.EvictedRecords != 15*30 || st.Evictions != 15 || st.LastEviction.IsZero() {
		t.Errorf("eviction counters: %+v", st)
	}
	if st.OldestSeq != 15*30+1 || st.NewestSeq != lastSeq {
		t.Errorf("oldest %d newest %d", st.OldestSeq, st.NewestSeq)
	}
	if n := strings.Count(logs.String(), "quota reached"); n != 15 {
		t.Errorf("%d eviction log lines, want 15:\n%s", n, logs.String())
	}
	mustCheck(t, s)

	// The counters survive a restart and the quota holds on.
	s.Close()
	s = openTest(t, path, opt)
	if _, _, err := s.Append(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if st := mustStats(t, s); st.EvictedEntries != 16 || st.Entries != 10 {
		t.Errorf("after reopen: %+v", st)
	}

	// A batch bigger than the quota is refused, and the spool keeps going.
	mustCheck(t, s)
}

func TestTooLarge(t *testing.T) {
	ctx := context.Background()
	batch := testrecords.Batch(t, 30, false)
	size := int64(keyLen + len(testrecords.Encode(t, &batch, true)))
	s := openTest(t, filepath.Join(t.TempDir(), "spool.db"), Options{QuotaBytes: size - 1})
	if _, _, err := s.Append(ctx, batch); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized batch: %v", err)
	}
	if _, _, err := s.Append(ctx, testrecords.Batch(t, 1, false)); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, s)
}

// TestMaxFileBytes fills the file up to bbolt's MaxSize, which fails
// commits like a full disk: the spool evicts and keeps appending.
func TestMaxFileBytes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "spool.db")
	var logs syncBuffer
	const maxFile = 256 << 10
	s := openTest(t, path, Options{QuotaBytes: -1, MaxFileBytes: maxFile, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	batch := testrecords.Batch(t, 30, true)
	for i := range 400 {
		if _, _, err := s.Append(ctx, batch); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	st := mustStats(t, s)
	if st.EvictedEntries == 0 || st.FileBytes > maxFile {
		t.Errorf("stats after filling the file: %+v", st)
	}
	if !strings.Contains(logs.String(), "disk full") {
		t.Errorf("no disk-full log:\n%s", logs.String())
	}
	mustCheck(t, s)
	t.Logf("%d batches kept of 400, %d evicted, file %d bytes, live %d", st.Entries, st.EvictedEntries, st.FileBytes, st.Bytes)
}

func TestAppendCancelled(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "spool.db"), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Append(ctx, batch.Batch{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled context: %v", err)
	}
}

func TestLockTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	openTest(t, path, Options{})
	// bbolt locks with flock, which is per open file description: a second
	// Open in this process waits like another process would.
	_, err := Open(path, Options{LockTimeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("second Open: %v", err)
	}
}

func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "spool.db"), Options{NoSync: true})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if _, _, err := s.Append(ctx, testrecords.Batch(t, 3, false)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		var after uint64
		for range 50 {
			es, err := s.Read(ctx, after, 4096)
			if err != nil {
				t.Error(err)
				return
			}
			if len(es) > 0 {
				after = es[len(es)-1].LastSeq
				if err := s.Ack(ctx, after); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	wg.Wait()
	st := mustStats(t, s)
	if st.NextSeq != 4*20*3+1 {
		t.Errorf("next seq %d", st.NextSeq)
	}
	mustCheck(t, s)
}

func TestPayloadLimit(t *testing.T) {
	b := batch.Batch{Problems: []string{strings.Repeat("x", batch.MaxPayload)}}
	if _, err := batch.Encode(&b); !errors.Is(err, batch.ErrTooLarge) {
		t.Errorf("Encode of a %d-byte payload: %v", batch.MaxPayload, err)
	}
	s := openTest(t, filepath.Join(t.TempDir(), "spool.db"), Options{QuotaBytes: -1})
	if _, _, err := s.Append(context.Background(), b); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Append of a %d-byte payload: %v", batch.MaxPayload, err)
	}
}

func TestHealth(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		st   Stats
		want string
	}{
		{Stats{QuotaBytes: 100, Bytes: 10}, "ok"},
		{Stats{QuotaBytes: -1, Bytes: 1 << 40}, "ok"},
		{Stats{QuotaBytes: 100, Bytes: 80}, "over 3/4 full - are uploads getting through?"},
		{Stats{QuotaBytes: 100, Bytes: 99, Evictions: 3, LastEviction: now.Add(-time.Minute)}, "FULL: oldest observations dropped - is the uplink down?"},
		{Stats{QuotaBytes: 100, Bytes: 10, Evictions: 3, LastEviction: now.Add(-2 * time.Hour)}, "ok"},
		{Stats{QuotaBytes: 100, Bytes: 10, Recoveries: 1}, "ok (a corrupt spool was moved aside: see status)"},
	} {
		got := tt.st.Health(now)
		if got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.st, got, tt.want)
		}
		if n := len([]rune("surveybox: spool: " + got)); n > 80 {
			t.Errorf("%q: %d columns", got, n)
		}
	}
	var none *Spool
	if got := none.HealthLine(now); got != "NONE - observations are not kept" {
		t.Errorf("no spool: %q", got)
	}
}
