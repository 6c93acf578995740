package survey

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func TestDisplaySSID(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{nil, ""},
		{[]byte{0, 0, 0, 0}, ""},
		{[]byte("Rowan's Desk"), "Rowan's Desk"},
		{[]byte("café ☕"), "café ☕"},
		{[]byte{0xc4, 0xe3, 0xba, 0xc3}, `\xc4\xe3\xba\xc3`}, // GBK "你好"
		{[]byte("a\\b"), `a\x5cb`},
		{[]byte("tab\there"), `tab\x09here`},
		{[]byte{'x', 0xff}, `x\xff`},
		{[]byte{'x', 0}, `x\x00`},
	}
	for _, tt := range tests {
		if got := DisplaySSID(tt.in); got != tt.want {
			t.Errorf("DisplaySSID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFrequencyChannelBand(t *testing.T) {
	tests := []struct {
		freq, ch int
		band     string
	}{
		{2412, 1, "2.4"}, {2437, 6, "2.4"}, {2472, 13, "2.4"}, {2484, 14, "2.4"},
		{5180, 36, "5"}, {5500, 100, "5"}, {5825, 165, "5"}, {4920, 184, "5"},
		{5935, 2, "6"}, {5955, 1, "6"}, {6115, 33, "6"}, {7115, 233, "6"},
		{58320, 1, "60"}, {1000, 0, ""},
	}
	for _, tt := range tests {
		if got := FrequencyChannel(tt.freq); got != tt.ch {
			t.Errorf("FrequencyChannel(%d) = %d, want %d", tt.freq, got, tt.ch)
		}
		if got := FrequencyBand(tt.freq); got != tt.band {
			t.Errorf("FrequencyBand(%d) = %q, want %q", tt.freq, got, tt.band)
		}
	}
}

func TestChannelWidth(t *testing.T) {
	ht := func(off uint8, any bool) *HTOperation {
		return &HTOperation{SecondaryOffset: off, STAChannelWidth: any}
	}
	tests := []struct {
		name string
		freq int
		e    Elements
		want Width
	}{
		{"no HT", 2412, Elements{}, Width{MHz: 20, CenterMHz: 2412}},
		{"HT20", 2437, Elements{HTOperation: ht(0, false)}, Width{MHz: 20, CenterMHz: 2437}},
		{"HT40+ without STA width bit stays 20", 2437, Elements{HTOperation: ht(1, false)}, Width{MHz: 20, CenterMHz: 2437}},
		{"HT40+", 2437, Elements{HTOperation: ht(1, true)}, Width{MHz: 40, CenterMHz: 2447}},
		{"HT40-", 2462, Elements{HTOperation: ht(3, true)}, Width{MHz: 40, CenterMHz: 2452}},
		{"HT40 reserved offset", 2462, Elements{HTOperation: ht(2, true)}, Width{MHz: 20, CenterMHz: 2462}},
		{"VHT width 0 uses HT", 5180, Elements{HTOperation: ht(1, true), VHTOperation: &VHTOperation{ChannelWidth: 0}}, Width{MHz: 40, CenterMHz: 5190}},
		{"VHT80", 5180, Elements{HTOperation: ht(1, true), VHTOperation: &VHTOperation{ChannelWidth: 1, CCFS0: 42}}, Width{MHz: 80, CenterMHz: 5210}},
		{"VHT160 via CCFS1", 5180, Elements{HTOperation: ht(1, true), VHTOperation: &VHTOperation{ChannelWidth: 1, CCFS0: 42, CCFS1: 50}}, Width{MHz: 160, CenterMHz: 5250}},
		{"VHT160 deprecated form", 5180, Elements{VHTOperation: &VHTOperation{ChannelWidth: 2, CCFS0: 50}}, Width{MHz: 160, CenterMHz: 5250}},
		{"VHT80+80 via CCFS1", 5180, Elements{VHTOperation: &VHTOperation{ChannelWidth: 1, CCFS0: 42, CCFS1: 155}}, Width{MHz: 160, CenterMHz: 5210, Center2: 5775, EightyPlus: true}},
		{"6 GHz HE 80", 5975, Elements{HEOperation: &HEOperation{SixGHz: &SixGHzOperation{PrimaryChannel: 5, ChannelWidth: 2, CCFS0: 7}}}, Width{MHz: 80, CenterMHz: 5985}},
		{"6 GHz HE 160", 5975, Elements{HEOperation: &HEOperation{SixGHz: &SixGHzOperation{PrimaryChannel: 5, ChannelWidth: 3, CCFS0: 7, CCFS1: 15}}}, Width{MHz: 160, CenterMHz: 6025}},
		{"EHT 320", 5975, Elements{EHTOperation: &EHTOperation{HasInfo: true, ChannelWidth: 4, CCFS0: 15, CCFS1: 31}}, Width{MHz: 320, CenterMHz: 6105}},
	}
	for _, tt := range tests {
		if got := ChannelWidth(&tt.e, tt.freq); got != tt.want {
			t.Errorf("%s: ChannelWidth = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

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
		if err != nil || b.SignalKind != SignalUnspec || b.SignalPct != 57 {
			t.Fatalf("DecodeBSS = %+v, %v", b, err)
		}
		if _, ok := b.SignalDBm(); ok {
			t.Fatal("SignalDBm reported a dBm value for SIGNAL_UNSPEC")
		}
	})
	t.Run("wrong-size attribute is skipped, the rest kept", func(t *testing.T) {
		b, err := DecodeBSS(bssAttrs(t, bssid, netlink.Attribute{Type: unix.NL80211_BSS_SIGNAL_MBM, Data: []byte{1, 2}}, freq, ies))
		if err != nil || b.SignalKind != SignalNone || len(b.Problems) != 1 || string(b.SSID()) != "abc" {
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
