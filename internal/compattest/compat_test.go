// Package compattest opens stores and reads uploads written by the code of
// November 2026 (testdata/, made by that code: a box's spool with four scan
// cycles of real captured records, three of them delivered; the collector
// store that received them; the upload that carried them) and checks that
// today's code reads them as that code did: stored and wire formats do not
// change under the boxes in the field. Test-only.
package compattest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/proto/push"
	"github.com/surveybox/surveybox/pullapi"
	"github.com/surveybox/surveybox/spool"
)

// copyFixture copies a testdata file into a temporary directory (opening a
// bbolt file writes to it).
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func golden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSpoolFromNovember2026(t *testing.T) {
	sp, err := spool.Open(copyFixture(t, "spool.db"), spool.Options{QuotaBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if err := sp.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	st, err := sp.Stats()
	if err != nil {
		t.Fatal(err)
	}
	var want spool.Stats
	if err := json.Unmarshal(golden(t, "spool-stats.json"), &want); err != nil {
		t.Fatal(err)
	}
	// Stats reports the file's current size, which opening may change.
	st.FileBytes, want.FileBytes = 0, 0
	if g, w := mustJSON(t, st), mustJSON(t, want); !bytes.Equal(g, w) {
		t.Errorf("stats\n%s\nwant\n%s", g, w)
	}
	var stream bytes.Buffer
	if _, err := pullapi.Stream(context.Background(), &stream, sp, 0, nil); err != nil {
		t.Fatal(err)
	}
	if want := golden(t, "spool-stream.jsonl"); !bytes.Equal(stream.Bytes(), want) {
		t.Errorf("the pull stream of the old spool differs:\n%s\nwant\n%s", stream.Bytes(), want)
	}
	// The old spool takes new cycles after its last sequence number.
	first, _, err := sp.Append(context.Background(), batch.Batch{Interface: "wlan0"})
	if err != nil || first != st.NextSeq {
		t.Errorf("Append = %d, %v; want sequence %d", first, err, st.NextSeq)
	}
}

func TestCollectorStoreFromNovember2026(t *testing.T) {
	st, err := collector.Open(copyFixture(t, "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, format := range []string{"jsonl", "csv"} {
		var out bytes.Buffer
		if _, err := collector.Export(st, &out, collector.ExportOptions{Format: format}); err != nil {
			t.Fatal(err)
		}
		if want := golden(t, "export."+format); !bytes.Equal(out.Bytes(), want) {
			t.Errorf("%s export of the old store differs:\n%s\nwant\n%s", format, out.Bytes(), want)
		}
	}
	boxes, err := st.Boxes()
	if err != nil {
		t.Fatal(err)
	}
	var want []collector.BoxStats
	if err := json.Unmarshal(golden(t, "boxes.json"), &want); err != nil {
		t.Fatal(err)
	}
	if g, w := mustJSON(t, boxes), mustJSON(t, want); !bytes.Equal(g, w) {
		t.Errorf("boxes\n%s\nwant\n%s", g, w)
	}
}

func TestUploadFromNovember2026(t *testing.T) {
	body := golden(t, "upload.bin")
	id, entries, err := push.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 || batch.SpoolID(id).String() != "88049a58abba1370" {
		t.Fatalf("decoded spool %016x with %d entries", id, len(entries))
	}
	if again := push.Append(nil, id, entries); !bytes.Equal(again, body) {
		t.Error("re-encoding the old upload gives other bytes")
	}
	// The collector store that received it holds the same batches.
	st, err := collector.Open(copyFixture(t, "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := st.Put("compatbox", id, collector.SourceUpload, entries)
	if err != nil || res.Duplicates != 3 || res.Stored != 0 {
		t.Errorf("redelivery: %+v, %v; want 3 duplicates", res, err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(io.Writer(&b))
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
