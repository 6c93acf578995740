package wifi

// Band edges in MHz used by Standards.
const (
	band24Low  = 2400
	band24High = 2500
	band5Low   = 4900
	band5High  = 5925
	band6High  = 7125
)

// Standards returns the 802.11 amendments a BSS supports, as a subset of
// "a", "b", "g", "n", "ac", "ax", "be" in that order, or nil if none.
//
// On 2.4 GHz (2400–2500 MHz) "b" needs a DSSS/CCK rate (1, 2, 5.5 or
// 11 Mb/s) and "g" an OFDM rate or an ERP element; on 5 GHz (4900–5925 MHz)
// the BSS is "a". "n", "ac", "ax" and "be" follow the HT, VHT, HE and EHT
// Capabilities elements. On 6 GHz (above 5925 up to 7125 MHz) only "ax"
// and "be" apply. Other frequencies get only the capability-based labels.
func Standards(e *Elements, freqMHz int) []string {
	if e == nil {
		return nil
	}
	var out []string
	sixGHz := freqMHz > band5High && freqMHz <= band6High
	switch {
	case freqMHz >= band24Low && freqMHz <= band24High:
		if hasRate(e.Rates, isDSSSRate) {
			out = append(out, "b")
		}
		if e.ERP || hasRate(e.Rates, isOFDMRate) {
			out = append(out, "g")
		}
	case freqMHz >= band5Low && freqMHz <= band5High:
		out = append(out, "a")
	}
	if !sixGHz {
		if e.HTCapabilities {
			out = append(out, "n")
		}
		if e.VHTCapabilities {
			out = append(out, "ac")
		}
	}
	if e.HECapabilities {
		out = append(out, "ax")
	}
	if e.EHTCapabilities {
		out = append(out, "be")
	}
	return out
}

// hasRate reports whether any rate satisfies is.
func hasRate(rates []uint8, is func(uint8) bool) bool {
	for _, r := range rates {
		if is(r) {
			return true
		}
	}
	return false
}

// isDSSSRate reports whether r (in 500 kb/s units) is an 802.11b rate.
func isDSSSRate(r uint8) bool {
	switch r {
	case 2, 4, 11, 22:
		return true
	}
	return false
}

// isOFDMRate reports whether r (in 500 kb/s units) is one of the OFDM
// rates of 802.11a/g, 6 to 54 Mb/s.
func isOFDMRate(r uint8) bool {
	switch r {
	case 12, 18, 24, 36, 48, 72, 96, 108:
		return true
	}
	return false
}
