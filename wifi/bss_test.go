package wifi

import "testing"

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
