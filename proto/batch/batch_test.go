package batch_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/surveybox/surveybox/internal/testrecords"
	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/wifi"
)

func ptr[T any](v T) *T { return &v }

func TestEncodeRoundTrip(t *testing.T) {
	captured := testrecords.BSS(t)
	channels := testrecords.Channels(t)
	odd := wifi.Record{
		BSSID:         "AA:BB:CC:DD:EE:FF", // not canonical: kept as text
		SSID:          "shown differently",
		SSIDHex:       "ABC", // not hex
		Hidden:        true,
		FreqMHz:       -5,
		Channel:       999, // not what the frequency says
		Band:          "weird",
		WidthMHz:      160,
		CenterMHz:     5250,
		Center2MHz:    5570,
		SignalDBm:     ptr(-47.125), // not whole mBm
		SignalPct:     ptr(uint8(77)),
		SeenMsAgo:     1<<32 - 1,
		LastSeenNs:    -1,
		Associated:    true,
		AKM:           []string{},
		Pairwise:      nil,
		GroupMgmt:     "bip-cmac-128",
		WPA1:          true,
		Stations:      ptr(uint16(65535)),
		Utilization:   ptr(uint8(255)),
		RRM:           true,
		BTM:           true,
		FT:            true,
		WPSName:       "printer \x00 name",
		VendorOUIs:    []string{"00:50:f2", "00:50:f2"},
		OWETransition: "02:00:00:00:00:01",
		Problems:      []string{"element 221 at offset 3: short"},
		IEsHex:        "00",
	}
	negZero := wifi.Record{BSSID: "02:00:00:00:00:01", SignalDBm: ptr(math.Copysign(0, -1))}
	chanOdd := wifi.ChannelRecord{
		Frequency: 5180, Channel: 1, Band: "5", NoiseDBm: ptr(-128),
		Active: ptr(uint64(1 << 63)), ExtBusy: ptr(uint64(0)), Scan: ptr(uint64(7)),
		BSSRX: ptr(uint64(8)), InUse: true, Problems: []string{"SURVEY_INFO_TIME_RX: unexpected length 4"},
	}

	tests := []struct {
		name string
		b    batch.Batch
	}{
		{"empty", batch.Batch{}},
		{"metadata only", batch.Batch{
			Started: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Finished: time.Date(2026, 1, 2, 3, 4, 1, 0, time.UTC),
			Interface: "wlan1", Aborted: true, EventsLost: true, Problems: []string{"x", "y", "x"},
		}},
		{"empty problem list", batch.Batch{Problems: []string{}}},
		{"captured scan", batch.Batch{Interface: "wlan0", Triggered: true, BSS: captured}},
		{"captured survey", batch.Batch{Channels: channels}},
		{"thirty BSS and survey", testrecords.Batch(t, 30, true)},
		{"odd values", batch.Batch{BSS: []wifi.Record{odd, captured[0], odd}, Channels: []wifi.ChannelRecord{chanOdd, {}}}},
		{"negative zero signal", batch.Batch{BSS: []wifi.Record{negZero}}},
		{"zero records", batch.Batch{BSS: []wifi.Record{{}}, Channels: []wifi.ChannelRecord{{}}}},
	}
	for _, tt := range tests {
		for _, compress := range []bool{false, true} {
			data := testrecords.Encode(t, &tt.b, compress)
			got, err := batch.Decode(data)
			if err != nil {
				t.Fatalf("%s (compress %v): %v", tt.name, compress, err)
			}
			if !got.Started.Equal(tt.b.Started) || !got.Finished.Equal(tt.b.Finished) {
				t.Errorf("%s: times %v..%v, want %v..%v", tt.name, got.Started, got.Finished, tt.b.Started, tt.b.Finished)
			}
			want := tt.b
			got.Started, got.Finished, want.Started, want.Finished = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, want) {
				gj, _ := json.Marshal(got)
				wj, _ := json.Marshal(want)
				t.Errorf("%s (compress %v): round trip differs\n got %s\nwant %s", tt.name, compress, gj, wj)
			}
			// DeepEqual takes -0 for 0; the JSON does not.
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			if !bytes.Equal(gj, wj) {
				t.Errorf("%s (compress %v): JSON differs\n got %s\nwant %s", tt.name, compress, gj, wj)
			}
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good := testrecords.Encode(t, &batch.Batch{Interface: "wlan0", BSS: testrecords.BSS(t)[:2]}, true)
	raw := testrecords.Encode(t, &batch.Batch{Interface: "wlan0", BSS: testrecords.BSS(t)[:2]}, false)
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"one byte", []byte{1}},
		{"unknown version", append([]byte{2}, good[1:]...)},
		{"unknown compression", append([]byte{1, 9}, good[2:]...)},
		{"truncated header", good[:4]},
		{"truncated payload", good[:len(good)-3]},
		{"truncated raw payload", raw[:len(raw)-1]},
		{"trailing bytes", append(bytes.Clone(raw), 0)},
		{"huge count", []byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"huge payload", []byte{1, 1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"bad string index", []byte{1, 0, 0, 0, 0, 0, 0, 2, 5, 0}},
	}
	for _, tt := range tests {
		_, err := batch.Decode(tt.data)
		if !errors.Is(err, batch.ErrCorrupt) {
			t.Errorf("%s: batch.Decode error %v, want batch.ErrCorrupt", tt.name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	bss := testrecords.BSS(f)
	for _, b := range []batch.Batch{
		{},
		{Interface: "wlan0", Problems: []string{"p"}, BSS: bss[:3]},
		{BSS: bss[3:4], Channels: testrecords.Channels(f)[:4]},
	} {
		f.Add(testrecords.Encode(f, &b, true))
		f.Add(testrecords.Encode(f, &b, false))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := batch.Decode(data)
		if err != nil {
			if !errors.Is(err, batch.ErrCorrupt) {
				t.Fatalf("error %v does not wrap batch.ErrCorrupt", err)
			}
			return
		}
		// What decodes must encode to a stable form.
		enc := testrecords.Encode(t, &b, true)
		b2, err := batch.Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		if enc2 := testrecords.Encode(t, &b2, true); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%x\n%x", enc, enc2)
		}
	})
}

func TestSpoolIDText(t *testing.T) {
	if got := batch.SpoolID(0xab).String(); got != "00000000000000ab" {
		t.Fatalf("batch.SpoolID(0xab) = %q", got)
	}
	for _, bad := range []string{"", "xyz", "0x12", "10000000000000000"} {
		if _, err := batch.ParseSpoolID(bad); err == nil {
			t.Errorf("batch.ParseSpoolID(%q) succeeded", bad)
		}
	}
}
