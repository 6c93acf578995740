package survey

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"github.com/surveybox/surveybox/wifi"
	"golang.org/x/sys/unix"
)

func bssAttrs(t testing.TB, attrs ...netlink.Attribute) []byte {
	b, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeBSSMalformed(t *testing.T) {
	bssid := netlink.Attribute{Type: unix.NL80211_BSS_BSSID, Data: []byte{2, 0, 0, 0, 0, 1}}
	freq := netlink.Attribute{Type: unix.NL80211_BSS_FREQUENCY, Data: le32(2412)}
	ies := netlink.Attribute{Type: unix.NL80211_BSS_INFORMATION_ELEMENTS, Data: []byte{0, 3, 'a', 'b', 'c'}}

	t.Run("one-byte SIGNAL_UNSPEC", func(t *testing.T) {
		b, err := DecodeBSS(bssAttrs(t, bssid, freq, ies, netlink.Attribute{Type: unix.NL80211_BSS_SIGNAL_UNSPEC, Data: []byte{57}}))
		if err != nil || b.SignalKind != wifi.SignalUnspec || b.SignalPct != 57 {
			t.Fatalf("DecodeBSS = %+v, %v", b, err)
		}
		if _, ok := b.SignalDBm(); ok {
			t.Fatal("SignalDBm reported a dBm value for SIGNAL_UNSPEC")
		}
	})
	t.Run("wrong-size attribute is skipped, the rest kept", func(t *testing.T) {
		b, err := DecodeBSS(bssAttrs(t, bssid, netlink.Attribute{Type: unix.NL80211_BSS_SIGNAL_MBM, Data: []byte{1, 2}}, freq, ies))
		if err != nil || b.SignalKind != wifi.SignalNone || len(b.Problems) != 1 || string(b.SSID()) != "abc" {
			t.Fatalf("DecodeBSS = %+v, %v", b, err)
		}
	})
	t.Run("no BSSID", func(t *testing.T) {
		if _, err := DecodeBSS(bssAttrs(t, freq, ies)); err == nil {
			t.Fatal("DecodeBSS without BSSID: no error")
		}
	})
	t.Run("truncated attribute header keeps earlier attributes", func(t *testing.T) {
		raw := bssAttrs(t, bssid, freq, ies)
		raw = append(raw, 0xff, 0x00, 0x01) // a header claiming 255 bytes
		b, err := DecodeBSS(raw)
		if err == nil || b.BSSID == nil || b.Frequency != 2412 || string(b.SSID()) != "abc" {
			t.Fatalf("DecodeBSS = %+v, %v", b, err)
		}
	})
}

func TestRecordJSONFieldNames(t *testing.T) {
	b, err := DecodeBSS(bssAttrs(t,
		netlink.Attribute{Type: unix.NL80211_BSS_BSSID, Data: []byte{0x02, 0xAB, 0, 0, 0, 1}},
		netlink.Attribute{Type: unix.NL80211_BSS_FREQUENCY, Data: le32(5180)},
		netlink.Attribute{Type: unix.NL80211_BSS_SIGNAL_MBM, Data: le32(uint32(0xffffffff - 4350 + 1))},
		netlink.Attribute{Type: unix.NL80211_BSS_CAPABILITY, Data: le16(0x0011)},
		netlink.Attribute{Type: unix.NL80211_BSS_INFORMATION_ELEMENTS, Data: []byte{
			0, 0, // hidden
			48, 20, 1, 0, 0, 0x0f, 0xac, 4, 1, 0, 0, 0x0f, 0xac, 4, 1, 0, 0, 0x0f, 0xac, 2, 0, 0,
		}},
	))
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(b.Record())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"bssid", "ssid", "ssid_hex", "hidden", "freq_mhz", "channel", "band", "width_mhz",
		"center_mhz", "signal_dbm", "seen_ms_ago", "security", "akm", "pairwise", "group", "pmf", "standards", "country", "ies_hex"} {
		if _, ok := m[f]; !ok {
			t.Errorf("JSON lacks %q: %s", f, js)
		}
	}
	want := map[string]any{"bssid": "02:ab:00:00:00:01", "ssid": "", "hidden": true, "freq_mhz": 5180.0, "channel": 36.0,
		"band": "5", "signal_dbm": -43.5, "security": "wpa2", "pmf": "none", "group": "ccmp"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if !strings.Contains(string(js), `"akm":["psk"]`) {
		t.Errorf("akm: %s", js)
	}
}

func FuzzDecodeBSS(f *testing.F) {
	f.Add(fakeBSSAttrs(f, 1))
	f.Add(bssAttrs(f, netlink.Attribute{Type: unix.NL80211_BSS_SIGNAL_UNSPEC, Data: []byte{1}}))
	f.Add([]byte{4, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		bss, err := DecodeBSS(b)
		if err == nil && (len(bss.BSSID) != 6 || bss.Frequency == 0) {
			t.Fatalf("DecodeBSS accepted a BSS without BSSID or frequency: %+v", bss)
		}
		r := bss.Record() // derives security, width, standards: must not panic
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("Record does not marshal: %v", err)
		}
	})
}

func FuzzDecodeSurveyInfo(f *testing.F) {
	f.Add(bssAttrs(f,
		netlink.Attribute{Type: unix.NL80211_SURVEY_INFO_FREQUENCY, Data: le32(2412)},
		netlink.Attribute{Type: unix.NL80211_SURVEY_INFO_NOISE, Data: []byte{0xa4}},
		netlink.Attribute{Type: unix.NL80211_SURVEY_INFO_TIME, Data: le64(5)},
	))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeSurveyInfo(b)
		if err == nil && c.Frequency == 0 {
			t.Fatal("accepted a survey entry without frequency")
		}
		_ = c.Record()
	})
}

// FuzzDecodeScanStream feeds whole reply streams (as captured in testdata)
// through message splitting and decoding.
func FuzzDecodeScanStream(f *testing.F) {
	for _, name := range captureFiles(f) {
		f.Add(readCapture(f, name))
	}
	f.Add([]byte{16, 0, 0, 0, 3, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, _ := UnmarshalMessages(b)
		bsses, _ := DecodeScan(msgs)
		for i := range bsses {
			_ = bsses[i].Record()
		}
		chans, _ := DecodeSurvey(msgs)
		for i := range chans {
			_ = chans[i].Record()
		}
		_ = consistent(msgs)
	})
}

// BenchmarkDecodeScan decodes real GET_SCAN replies captured from the
// kernel, per BSS: attributes, elements and the JSON record's derivations.
func BenchmarkDecodeScan(b *testing.B) {
	var msgs []netlink.Message
	for _, name := range captureFiles(b) {
		if !strings.Contains(filepath.Base(name), "scan") {
			continue
		}
		m, err := UnmarshalMessages(readCapture(b, name))
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, m...)
	}
	if len(msgs) == 0 {
		b.Fatal("no scan captures in testdata/capture")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		bsses, _ := DecodeScan(msgs)
		for i := range bsses {
			_ = bsses[i].Record()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)), "ns/bss")
}
