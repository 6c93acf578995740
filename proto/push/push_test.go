package push_test

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"github.com/surveybox/surveybox/internal/testrecords"
	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/proto/push"
)

// bomb is a stored batch whose header declares nBSS records and a payload
// of payloadLen zero bytes, DEFLATE-compressed to about a thousandth.
func bomb(t testing.TB, nBSS, payloadLen uint64) []byte {
	t.Helper()
	var z bytes.Buffer
	zw, _ := flate.NewWriter(&z, flate.BestCompression)
	zw.Write(make([]byte, payloadLen))
	zw.Close()
	b := []byte{1, 1} // version 1, DEFLATE
	b = binary.AppendUvarint(b, nBSS)
	b = binary.AppendUvarint(b, 0)          // channels
	b = binary.AppendVarint(b, 1764000000)  // started
	b = binary.AppendUvarint(b, 0)          // nanoseconds
	b = binary.AppendVarint(b, 1e9)         // duration
	b = binary.AppendUvarint(b, payloadLen) // payload length
	return append(b, z.Bytes()...)
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestAllocationBombs: sizes and counts an upload declares are bounded
// before anything is allocated for them. A 2 KB upload whose one entry
// declares a million records made the collector allocate about 600 MiB;
// an upload of entries that are compressed zeros made it inflate 16 MiB
// per 16 KB.
func TestAllocationBombs(t *testing.T) {
	for _, tt := range []struct {
		name    string
		entries [][]byte
	}{
		{"a million declared records", [][]byte{bomb(t, 1<<20, 2<<20)}},
		{"records within bounds, payload of zeros", [][]byte{bomb(t, batch.MaxBSS, 16<<20)}},
		{"many entries of compressed zeros", func() [][]byte {
			e := bomb(t, batch.MaxBSS, 16<<20)
			return [][]byte{e, e, e, e, e, e, e, e}
		}()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var entries []push.Entry
			seq := uint64(1)
			for _, d := range tt.entries {
				h, _ := batch.ReadHeader(d)
				n := max(h.Seqs(), 1)
				entries = append(entries, push.Entry{FirstSeq: seq, LastSeq: seq + n - 1, Data: d})
				seq += n
			}
			body := push.Append(nil, 7, entries)
			var got []push.Entry
			var err error
			used := allocated(func() { _, got, err = push.Decode(body) })
			t.Logf("%d-byte upload: %d bytes allocated", len(body), used)
			if used > 8<<20 {
				t.Errorf("decoding a %d-byte upload allocated %d MiB", len(body), used>>20)
			}
			if err != nil {
				t.Fatalf("the framing is sound, yet: %v", err)
			}
			for _, e := range got {
				if !errors.Is(e.Err, push.ErrCorrupt) {
					t.Errorf("entry %d-%d: Err %v, want ErrCorrupt", e.FirstSeq, e.LastSeq, e.Err)
				}
			}
		})
	}
}

func TestDecodeMarksCorruptEntries(t *testing.T) {
	good := testrecords.Encode(t, ptr(testrecords.Cycle(0, 3, 2)), true)
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-3] ^= 0xff
	body := push.Append(nil, 9, []push.Entry{
		{FirstSeq: 1, LastSeq: 5, Data: good},
		{FirstSeq: 6, LastSeq: 10, Data: corrupt},
		{FirstSeq: 11, LastSeq: 16, Data: good}, // one record too many
		{FirstSeq: 17, LastSeq: 21, Data: good},
	})
	id, entries, err := push.Decode(body)
	if err != nil || id != 9 || len(entries) != 4 {
		t.Fatalf("Decode = %d, %d entries, %v", id, len(entries), err)
	}
	for i, wantBad := range []bool{false, true, true, false} {
		if (entries[i].Err != nil) != wantBad {
			t.Errorf("entry %d: Err %v, want corrupt=%v", i, entries[i].Err, wantBad)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func FuzzDecode(f *testing.F) {
	good := testrecords.Encode(f, ptr(testrecords.Cycle(0, 3, 2)), true)
	f.Add(push.Append(nil, 9, []push.Entry{{FirstSeq: 1, LastSeq: 5, Data: good}}))
	f.Add(push.Append(nil, 1, []push.Entry{{FirstSeq: 1, LastSeq: 1, Data: bomb(f, 1, 100)}}))
	f.Add([]byte("SBUP\x02"))
	f.Fuzz(func(t *testing.T, body []byte) {
		id, entries, err := push.Decode(body)
		if err != nil {
			if !errors.Is(err, push.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if id == 0 || len(entries) == 0 {
			t.Fatalf("accepted spool %d with %d entries", id, len(entries))
		}
		for i, e := range entries {
			if e.FirstSeq == 0 || e.LastSeq < e.FirstSeq || (i > 0 && e.FirstSeq != entries[i-1].LastSeq+1) {
				t.Fatalf("entry %d: range %d-%d", i, e.FirstSeq, e.LastSeq)
			}
		}
		if again := push.Append(nil, id, entries); !bytes.Equal(again, body) {
			t.Fatal("re-encoding differs")
		}
	})
}
