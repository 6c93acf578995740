package spool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/surveybox/surveybox/internal/boltkv"
	"github.com/surveybox/surveybox/internal/testrecords"
	"github.com/surveybox/surveybox/proto/batch"
)

// damage replaces the stored bytes of the batch ending at last (keeping
// the live-bytes counter in step, as if the bytes had always been so).
func damage(t *testing.T, s *Spool, last uint64, f func([]byte) []byte) {
	t.Helper()
	err := s.update(func(tx *bolt.Tx) error {
		bk, m := tx.Bucket(bucketBatches), tx.Bucket(bucketMeta)
		v := bk.Get(boltkv.SeqKey(last))
		if v == nil {
			t.Fatalf("no batch ending at %d", last)
		}
		nv := f(append([]byte(nil), v...))
		live := boltkv.GetU64(m, metaLiveBytes) + uint64(len(nv)) - uint64(len(v))
		return errors.Join(bk.Put(boltkv.SeqKey(last), nv), boltkv.PutU64(m, metaLiveBytes, live))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// appendN appends n batches of 3 records each and returns their last
// sequence numbers.
func appendN(t *testing.T, s *Spool, n int) []uint64 {
	t.Helper()
	var lasts []uint64
	for i := range n {
		_, last, err := s.Append(context.Background(), testrecords.Cycle(i, 3, 0))
		if err != nil {
			t.Fatal(err)
		}
		lasts = append(lasts, last)
	}
	return lasts
}

// TestBadDataCorruptPayload: a batch whose payload does not decode (SD rot)
// stops neither reads nor acknowledgement: it is returned in order, with
// the right range, its decode error reported once, and deleted by key.
func TestBadDataCorruptPayload(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "spool.db"), Options{})
	lasts := appendN(t, s, 3)
	damage(t, s, lasts[1], func(v []byte) []byte { v[len(v)-4] ^= 0xff; return v })

	entries, err := s.Read(ctx, 0, 0)
	if err != nil || len(entries) != 3 {
		t.Fatalf("Read = %d entries, %v", len(entries), err)
	}
	bad := entries[1]
	if bad.FirstSeq != lasts[0]+1 || bad.LastSeq != lasts[1] {
		t.Errorf("range %d-%d, want %d-%d", bad.FirstSeq, bad.LastSeq, lasts[0]+1, lasts[1])
	}
	_, derr := bad.Decode()
	if !errors.Is(derr, batch.ErrCorrupt) {
		t.Fatalf("Decode of the damaged batch: %v", derr)
	}
	s.ReportCorrupt(bad, derr)
	s.ReportCorrupt(bad, derr) // counted once
	if st := mustStats(t, s); st.CorruptEntries != 1 || !strings.Contains(st.LastCorrupt, "corrupt") {
		t.Errorf("stats: %d corrupt, %q", st.CorruptEntries, st.LastCorrupt)
	}
	if err := s.Check(ctx); err == nil {
		t.Error("Check passed a damaged batch")
	}
	if err := s.Ack(ctx, lasts[2]); err != nil {
		t.Fatalf("Ack past the damaged batch: %v", err)
	}
	st := mustStats(t, s)
	if st.Entries != 0 || st.Records != 0 || st.Bytes != 0 || st.CorruptEntries != 1 {
		t.Errorf("after the ack: %+v", st)
	}
	mustCheck(t, s)
}

// TestBadDataCorruptHeader: a batch whose header is garbage is still read
// (as bytes, with Err), counted in Stats, and evicted by the quota without
// being decoded; appends go on. Before, eviction decoded the header, so
// every append failed once the quota was reached.
func TestBadDataCorruptHeader(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "spool.db"), Options{QuotaBytes: 64 << 10})
	lasts := appendN(t, s, 4)
	damage(t, s, lasts[0], func(v []byte) []byte { v[0] = 0xee; return v }) // unknown version
	damage(t, s, lasts[2], func([]byte) []byte { return []byte{1} })        // truncated

	st := mustStats(t, s)
	if st.OldestSeq != 1 || st.NewestSeq != lasts[3] || st.Records != lasts[3] {
		t.Errorf("stats over damaged headers: %+v", st)
	}
	entries, err := s.Read(ctx, 0, 0)
	if err != nil || len(entries) != 4 {
		t.Fatalf("Read = %d entries, %v", len(entries), err)
	}
	for i, e := range entries {
		if wantBad := i == 0 || i == 2; (e.Err != nil) != wantBad {
			t.Errorf("entry %d-%d: Err %v", e.FirstSeq, e.LastSeq, e.Err)
		}
		if want := uint64(3*i + 1); e.FirstSeq != want {
			t.Errorf("entry %d: first %d, want %d", i, e.FirstSeq, want)
		}
	}
	// Fill past the quota: the damaged batches go by key.
	for i := range 100 {
		if _, _, err := s.Append(ctx, testrecords.Batch(t, 30, i%4 == 0)); err != nil {
			t.Fatalf("append %d past the quota: %v", i, err)
		}
	}
	st = mustStats(t, s)
	if st.Evictions == 0 || st.OldestSeq <= lasts[3] {
		t.Errorf("the damaged batches were not evicted: %+v", st)
	}
	mustCheck(t, s)
}

// TestBadDataDatabaseMovedAside: a database bbolt cannot use is moved aside
// (kept for diagnosis) and a new spool, with a new ID, takes its place;
// OnRecover and Stats say so. A damaged page used to panic the process.
func TestBadDataDatabaseMovedAside(t *testing.T) {
	for _, tt := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"garbage file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("not a bbolt database ", 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"damaged leaf page", damageLeafPages},
		{"newer spool format", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(tx *bolt.Tx) error { return boltkv.PutU64(tx.Bucket(bucketMeta), metaFormat, formatVersion+1) })
			db.Close()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "spool.db")
			old := openTest(t, path, Options{})
			oldID := old.ID()
			appendN(t, old, 40)
			old.Close()
			tt.damage(t, path)

			var notes []string
			s, err := Open(path, Options{OnRecover: func(n string) { notes = append(notes, n) }})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			// A damaged page shows only when it is read.
			if _, err := s.Read(context.Background(), 0, 0); err != nil {
				t.Logf("Read: %v", err)
			}
			if _, _, err := s.Append(context.Background(), testrecords.Cycle(0, 3, 0)); err != nil {
				t.Fatalf("Append after recovery: %v", err)
			}
			st := mustStats(t, s)
			if len(notes) != 1 || st.Recoveries != 1 || st.RecoveryNote != notes[0] || s.ID() == oldID {
				t.Errorf("notes %q, stats %d %q, id %x (was %x)", notes, st.Recoveries, st.RecoveryNote, s.ID(), oldID)
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Errorf("moved-aside files: %q", aside)
			}
			mustCheck(t, s)
		})
	}
}

// damageLeafPages overwrites the header of every leaf page of the batches
// bucket, leaving the meta pages (and so a successful Open) intact.
func damageLeafPages(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var leaves []int
	pageSize := db.Info().PageSize
	db.View(func(tx *bolt.Tx) error {
		for id := 2; ; id++ {
			p, err := tx.Page(id)
			if err != nil || p == nil {
				return nil
			}
			if p.Type == "leaf" {
				leaves = append(leaves, id)
			}
		}
	})
	db.Close()
	if len(leaves) < 2 {
		t.Fatalf("only %d leaf pages", len(leaves))
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, id := range leaves {
		// The page header: id (8), flags (2), count (2), overflow (4).
		if _, err := f.WriteAt([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0x5a, 0x5a, 0xff, 0xff}, int64(id*pageSize)); err != nil {
			t.Fatal(err)
		}
	}
}
