// Package testrecords gives tests real observations: the records the
// survey package decodes from a GET_SCAN and a GET_SURVEY reply captured
// on the hwsim bench (15 BSSes, 113 channels), and realistic batches made
// from them. Test-only.
package testrecords

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/wifi"
)

var (
	//go:embed bss.jsonl
	bssJSONL []byte
	//go:embed channels.jsonl
	channelsJSONL []byte
)

// load parses embedded JSON lines; they are part of the binary, so an
// error is a bug in this package and panics.
func load[T any](name string, data []byte) []T {
	var out []T
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			panic(fmt.Sprintf("testrecords: %s: %v", name, err))
		}
		out = append(out, v)
	}
	return out
}

// BSS returns the 15 captured BSS records.
func BSS(testing.TB) []wifi.Record { return load[wifi.Record]("bss.jsonl", bssJSONL) }

// Channels returns the 113 captured channel survey rows.
func Channels(testing.TB) []wifi.ChannelRecord {
	return load[wifi.ChannelRecord]("channels.jsonl", channelsJSONL)
}

// Cycle returns scan cycle number i (30 s apart from 2026-11-01): nBSS
// BSS records (the captured ones, copied with their own BSSID past 15, and
// a signal and age that vary with i) and nChan channel rows.
func Cycle(i, nBSS, nChan int) batch.Batch {
	bss, chans := BSS(nil), Channels(nil)
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 30 * time.Second)
	b := batch.Batch{Started: start, Finished: start.Add(3 * time.Second), Interface: "wlan0", Triggered: true}
	for j := range nBSS {
		r := bss[j%len(bss)]
		if j >= len(bss) {
			r.BSSID = fmt.Sprintf("%s:%02x", r.BSSID[:14], j%256)
		}
		sig := float64(-30 - (i+j)%60)
		r.SignalDBm = &sig
		r.SeenMsAgo = uint32(i*7 + j)
		b.BSS = append(b.BSS, r)
	}
	for j := range nChan {
		b.Channels = append(b.Channels, chans[j%len(chans)])
	}
	return b
}

// RealisticBSS returns n BSS records: the 15 captured ones, then copies
// with their own BSSID, SSID (in the fields and in the SSID element of the
// IEs), signal and timing, as a site with several APs of the same make
// would show.
func RealisticBSS(tb testing.TB, n int) []wifi.Record {
	base := BSS(tb)
	out := make([]wifi.Record, n)
	for i := range out {
		r := base[i%len(base)]
		if round := i / len(base); round > 0 {
			r.BSSID = fmt.Sprintf("%s:%02x", r.BSSID[:14], 0x10+i)
			ssid := []byte(fmt.Sprintf("site-%d-%s", i, r.SSID))
			ies, err := hex.DecodeString(r.IEsHex)
			if err != nil {
				tb.Fatal(err)
			}
			if len(ies) >= 2 && ies[0] == 0 && len(ssid) <= 32 {
				ies = append(append([]byte{0, byte(len(ssid))}, ssid...), ies[2+int(ies[1]):]...)
			}
			r.IEsHex = hex.EncodeToString(ies)
			r.SSID, r.SSIDHex = string(ssid), hex.EncodeToString(ssid)
			sig := float64(-40 - 2*i)
			r.SignalDBm = &sig
			r.SeenMsAgo = uint32(10 * i)
			r.LastSeenNs += int64(i) * 1_234_567
		}
		out[i] = r
	}
	return out
}

// Batch returns a scan cycle of nBSS realistic BSS records, with the
// captured channel survey when withSurvey is set.
func Batch(tb testing.TB, nBSS int, withSurvey bool) batch.Batch {
	b := batch.Batch{
		Started:   time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC),
		Finished:  time.Date(2026, 3, 1, 12, 0, 4, 0, time.UTC),
		Interface: "wlan0",
		Triggered: true,
		BSS:       RealisticBSS(tb, nBSS),
	}
	if withSurvey {
		b.Channels = Channels(tb)
	}
	return b
}

// JSONLinesSize is the size of the batch's records as JSON lines, the form
// the survey explorer prints.
func JSONLinesSize(tb testing.TB, b *batch.Batch) int {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range b.BSS {
		if err := enc.Encode(&b.BSS[i]); err != nil {
			tb.Fatal(err)
		}
	}
	for i := range b.Channels {
		if err := enc.Encode(&b.Channels[i]); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Len()
}

// Encode returns the stored form of b, compressed or not.
func Encode(tb testing.TB, b *batch.Batch, compress bool) []byte {
	tb.Helper()
	enc := batch.Encoder{NoCompression: !compress}
	data, err := enc.Encode(b)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}
