package wifi

// Band names as they appear in the JSON output.
const (
	Band2GHz  = "2.4"
	Band5GHz  = "5"
	Band6GHz  = "6"
	Band60GHz = "60"
)

// FrequencyChannel returns the IEEE channel number for a centre frequency in
// MHz, following the kernel's ieee80211_freq_khz_to_channel, or 0 if the
// frequency is not in a WiFi band.
func FrequencyChannel(freq int) int {
	switch {
	case freq == 2484:
		return 14
	case freq >= 2407 && freq < 2484:
		return (freq - 2407) / 5
	case freq >= 4910 && freq <= 4980:
		return (freq - 4000) / 5
	case freq >= 5000 && freq < 5925:
		return (freq - 5000) / 5
	case freq == 5935:
		return 2
	case freq > 5935 && freq <= 7125:
		return (freq - 5950) / 5
	case freq >= 58320 && freq <= 70200:
		return (freq - 56160) / 2160
	}
	return 0
}

// FrequencyBand returns the band of a frequency in MHz ("2.4", "5", "6",
// "60"), or "" when the frequency is outside them.
func FrequencyBand(freq int) string {
	switch {
	case freq >= 2400 && freq <= 2500:
		return Band2GHz
	case freq >= 4900 && freq < 5925:
		return Band5GHz
	case freq >= 5925 && freq <= 7125:
		return Band6GHz
	case freq >= 58320 && freq <= 70200:
		return Band60GHz
	}
	return ""
}

// channelFrequency returns the centre frequency of channel ch in the band
// of freq, or 0 when unknown.
func channelFrequency(ch int, band string) int {
	switch band {
	case Band2GHz:
		if ch == 14 {
			return 2484
		}
		return 2407 + 5*ch
	case Band5GHz:
		return 5000 + 5*ch
	case Band6GHz:
		if ch == 2 {
			return 5935
		}
		return 5950 + 5*ch
	}
	return 0
}

// Width is a BSS's operating channel width and centre frequency, derived
// from its HT, VHT, HE and EHT Operation elements.
type Width struct {
	MHz        int  // 20, 40, 80, 160 or 320
	CenterMHz  int  // centre frequency of the whole channel (first segment for 80+80)
	Center2    int  // centre of the second 80 MHz segment for 80+80, else 0
	EightyPlus bool // 80+80 MHz
}

// ChannelWidth derives the operating width of a BSS on primary frequency
// freq from its elements. It applies the rules of iw and the kernel
// (ieee80211_chandef_vht_oper): 40 MHz needs the HT STA channel width bit
// and a secondary channel offset; VHT width 1 with a CCFS1 eight channels
// from CCFS0 is 160 MHz centred on CCFS1, more than sixteen is 80+80; on
// 6 GHz the HE 6 GHz Operation Information decides; EHT Operation
// Information, when present, overrides (320 MHz).
func ChannelWidth(e *Elements, freq int) Width {
	band := FrequencyBand(freq)
	w := Width{MHz: 20, CenterMHz: freq}

	if ht := e.HTOperation; ht != nil && ht.STAChannelWidth && band != Band6GHz {
		switch ht.SecondaryOffset {
		case 1:
			w = Width{MHz: 40, CenterMHz: freq + 10}
		case 3:
			w = Width{MHz: 40, CenterMHz: freq - 10}
		}
	}

	if vht := e.VHTOperation; vht != nil && band == Band5GHz {
		if vw, ok := vhtWidth(vht.ChannelWidth, int(vht.CCFS0), int(vht.CCFS1), band); ok {
			w = vw
		}
	}

	if he := e.HEOperation; he != nil && he.SixGHz != nil && band == Band6GHz {
		s := he.SixGHz
		c0 := channelFrequency(int(s.CCFS0), band)
		switch s.ChannelWidth {
		case 0:
			w = Width{MHz: 20, CenterMHz: c0}
		case 1:
			w = Width{MHz: 40, CenterMHz: c0}
		case 2:
			w = Width{MHz: 80, CenterMHz: c0}
		case 3:
			w = Width{MHz: 80, CenterMHz: c0}
			if d := absInt(int(s.CCFS1) - int(s.CCFS0)); s.CCFS1 != 0 && d == 8 {
				w = Width{MHz: 160, CenterMHz: channelFrequency(int(s.CCFS1), band)}
			} else if s.CCFS1 != 0 && d > 16 {
				w = Width{MHz: 160, CenterMHz: c0, Center2: channelFrequency(int(s.CCFS1), band), EightyPlus: true}
			}
		}
		if w.CenterMHz == 0 {
			w.CenterMHz = freq
		}
	}

	if eht := e.EHTOperation; eht != nil && eht.HasInfo {
		c0 := channelFrequency(int(eht.CCFS0), band)
		c1 := channelFrequency(int(eht.CCFS1), band)
		switch eht.ChannelWidth {
		case 0:
			w = Width{MHz: 20, CenterMHz: freq}
		case 1:
			w = Width{MHz: 40, CenterMHz: c0}
		case 2:
			w = Width{MHz: 80, CenterMHz: c0}
		case 3:
			w = Width{MHz: 160, CenterMHz: c1}
		case 4:
			w = Width{MHz: 320, CenterMHz: c1}
		}
		if w.CenterMHz == 0 {
			w.CenterMHz = freq
		}
	}
	return w
}

// vhtWidth interprets VHT Operation channel width and segment indices.
func vhtWidth(width uint8, ccfs0, ccfs1 int, band string) (Width, bool) {
	c0 := channelFrequency(ccfs0, band)
	switch width {
	case 1:
		if ccfs1 != 0 {
			d := absInt(ccfs1 - ccfs0)
			if d == 8 {
				return Width{MHz: 160, CenterMHz: channelFrequency(ccfs1, band)}, true
			}
			if d > 16 {
				return Width{MHz: 160, CenterMHz: c0, Center2: channelFrequency(ccfs1, band), EightyPlus: true}, true
			}
		}
		return Width{MHz: 80, CenterMHz: c0}, true
	case 2:
		return Width{MHz: 160, CenterMHz: c0}, true
	case 3:
		return Width{MHz: 160, CenterMHz: c0, Center2: channelFrequency(ccfs1, band), EightyPlus: true}, true
	}
	return Width{}, false
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
