package spool

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/surveybox/surveybox/internal/testrecords"
	bolt "go.etcd.io/bbolt"
)

// TestID: a spool's ID is random, non-zero and survives reopening; a new
// file (the spool started over) gets a new one; a spool created before IDs
// existed gets one on open and keeps it.
func TestID(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spool.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	if id == 0 {
		t.Fatal("spool ID is 0")
	}
	if st := mustStats(t, s); uint64(st.ID) != id {
		t.Fatalf("Stats.ID %v, ID() %016x", st.ID, id)
	}
	if _, _, err := s.Append(context.Background(), testrecords.Batch(t, 2, false)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, path, Options{})
	if s.ID() != id {
		t.Fatalf("reopened: ID %016x, was %016x", s.ID(), id)
	}
	mustCheck(t, s)

	// The spool starts over: a new file numbers from 1 again, under a new ID.
	fresh := openTest(t, filepath.Join(dir, "fresh.db"), Options{})
	if fresh.ID() == id || fresh.ID() == 0 {
		t.Fatalf("new spool's ID %016x (old %016x)", fresh.ID(), id)
	}

	// A spool from before IDs: no meta key. Opening gives it one, for good.
	old := filepath.Join(dir, "old.db")
	o := openTest(t, old, Options{})
	o.Close()
	db, err := bolt.Open(old, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaID) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	o = openTest(t, old, Options{})
	oid := o.ID()
	if oid == 0 {
		t.Fatal("pre-ID spool got no ID on open")
	}
	o.Close()
	if o = openTest(t, old, Options{}); o.ID() != oid {
		t.Fatalf("pre-ID spool's ID changed on reopen: %016x, was %016x", o.ID(), oid)
	}

	// JSON and text form: 16 hex digits, round trip.
	b, err := json.Marshal(mustStats(t, o))
	if err != nil {
		t.Fatal(err)
	}
	var st Stats
	if err := json.Unmarshal(b, &st); err != nil || uint64(st.ID) != oid {
		t.Fatalf("Stats JSON round trip: %v, %v (want %016x)", st.ID, err, oid)
	}
}
