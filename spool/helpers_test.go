package spool

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/surveybox/surveybox/wifi"
)

// testdata/bss.jsonl and testdata/channels.jsonl are the survey package's
// golden output for a real GET_SCAN and GET_SURVEY capture from the hwsim
// bench (15 BSSes, 113 channels).

func loadJSONL[T any](tb testing.TB, path string) []T {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func capturedBSS(tb testing.TB) []wifi.Record {
	return loadJSONL[wifi.Record](tb, "testdata/bss.jsonl")
}

func capturedChannels(tb testing.TB) []wifi.ChannelRecord {
	return loadJSONL[wifi.ChannelRecord](tb, "testdata/channels.jsonl")
}

// realisticBSS returns n BSS records: the 15 captured ones, then copies
// with their own BSSID, SSID (in the fields and in the SSID element of the
// IEs), signal and timing, as a site with several APs of the same make
// would show.
func realisticBSS(tb testing.TB, n int) []wifi.Record {
	base := capturedBSS(tb)
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

func testBatch(tb testing.TB, nBSS int, withSurvey bool) Batch {
	b := Batch{
		Started:   time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC),
		Finished:  time.Date(2026, 3, 1, 12, 0, 4, 0, time.UTC),
		Interface: "wlan0",
		Triggered: true,
		BSS:       realisticBSS(tb, nBSS),
	}
	if withSurvey {
		b.Channels = capturedChannels(tb)
	}
	return b
}

// jsonLinesSize is the size of the batch's records as JSON lines, the form
// the appliance prints.
func jsonLinesSize(tb testing.TB, b *Batch) int {
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

func mustEncode(tb testing.TB, b *Batch, compress bool) []byte {
	tb.Helper()
	data, err := encode(b, compress)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}
