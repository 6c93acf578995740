package spool

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/surveybox/surveybox/internal/testrecords"
	"github.com/surveybox/surveybox/proto/batch"
	bolt "go.etcd.io/bbolt"
)

// BenchmarkAppend measures durable appends (fsync on every commit, as in
// production) of one scan cycle.
func BenchmarkAppend(b *testing.B) {
	for _, bm := range []struct {
		name   string
		nBSS   int
		survey bool
		noSync bool
	}{
		{"30BSS/fsync", 30, false, false},
		{"30BSS+survey/fsync", 30, true, false},
		{"30BSS/nosync", 30, false, true},
	} {
		b.Run(bm.name, func(b *testing.B) {
			ctx := context.Background()
			bt := testrecords.Batch(b, bm.nBSS, bm.survey)
			s, err := Open(filepath.Join(b.TempDir(), "spool.db"), Options{NoSync: bm.noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for b.Loop() {
				if _, _, err := s.Append(ctx, bt); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			b.ReportMetric(float64(b.N*bt.Records())/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkSize reports bytes per observation: stored (key and value, what
// the quota counts), in the database file after 500 such batches, and as
// JSON lines; ratio is JSON bytes over stored bytes. The time per op is
// that of encoding with a reused compressor, as Append does.
func BenchmarkSize(b *testing.B) {
	for _, bm := range []struct {
		name     string
		batch    func(testing.TB) batch.Batch
		compress bool
	}{
		{"captured15", func(tb testing.TB) batch.Batch { return testrecords.Batch(tb, 15, false) }, true},
		{"captured15/uncompressed", func(tb testing.TB) batch.Batch { return testrecords.Batch(tb, 15, false) }, false},
		{"30BSS", func(tb testing.TB) batch.Batch { return testrecords.Batch(tb, 30, false) }, true},
		{"30BSS/uncompressed", func(tb testing.TB) batch.Batch { return testrecords.Batch(tb, 30, false) }, false},
		{"30BSS+survey", func(tb testing.TB) batch.Batch { return testrecords.Batch(tb, 30, true) }, true},
		{"survey", func(tb testing.TB) batch.Batch { return testrecords.Batch(tb, 0, true) }, true},
	} {
		b.Run(bm.name, func(b *testing.B) {
			bt := bm.batch(b)
			n := float64(bt.Records())
			stored := float64(keyLen + len(testrecords.Encode(b, &bt, bm.compress)))
			js := float64(testrecords.JSONLinesSize(b, &bt))
			enc := batch.Encoder{NoCompression: !bm.compress}
			for b.Loop() {
				if _, err := enc.Encode(&bt); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(stored/n, "stored_B/obs")
			b.ReportMetric(js/n, "json_B/obs")
			b.ReportMetric(js/stored, "json/stored")
			if bm.compress {
				pages, file := diskBytesPerObs(b, bt, 500)
				b.ReportMetric(pages, "pages_B/obs")
				b.ReportMetric(file, "file_B/obs")
			}
		})
	}
}

// diskBytesPerObs appends the batch n times to a fresh spool and returns,
// per record, the bytes of the bbolt pages holding the batches and the
// database file's size (which grows in doubling steps up to 16 MiB, so it
// overstates what a full spool needs).
func diskBytesPerObs(b *testing.B, bt batch.Batch, n int) (pages, file float64) {
	path := filepath.Join(b.TempDir(), "size.db")
	s, err := Open(path, Options{NoSync: true, QuotaBytes: -1})
	if err != nil {
		b.Fatal(err)
	}
	for range n {
		if _, _, err := s.Append(context.Background(), bt); err != nil {
			b.Fatal(err)
		}
	}
	var bs bolt.BucketStats
	s.db.View(func(tx *bolt.Tx) error {
		bs = tx.Bucket(bucketBatches).Stats()
		return nil
	})
	s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	recs := float64(n * bt.Records())
	return float64(bs.LeafAlloc+bs.BranchAlloc) / recs, float64(fi.Size()) / recs
}

// BenchmarkRead reads and decodes a spool of 1000 30-BSS batches with the
// survey, as the uploader and pull API do.
func BenchmarkRead(b *testing.B) {
	ctx := context.Background()
	bt := testrecords.Batch(b, 30, true)
	s, err := Open(filepath.Join(b.TempDir(), "spool.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const batches = 1000
	for range batches {
		if _, _, err := s.Append(ctx, bt); err != nil {
			b.Fatal(err)
		}
	}
	var stored int
	for b.Loop() {
		stored = 0
		for e, err := range s.Entries(ctx, 0) {
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.Decode(); err != nil {
				b.Fatal(err)
			}
			stored += len(e.Data)
		}
	}
	b.ReportMetric(float64(b.N*batches*bt.Records())/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.N*stored)/b.Elapsed().Seconds()/1e6, "stored_MB/s")
}
