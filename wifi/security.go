package wifi

import "strconv"

// SuiteName returns the short name of a cipher suite: "ccmp", "gcmp-256",
// "bip-cmac-128" and so on for the IEEE OUI 00-0f-ac, the same names for
// WEP, TKIP and CCMP under the WPA OUI 00-50-f2, and "aa-bb-cc:N" for
// anything else.
func SuiteName(s Suite) string {
	switch s.OUI() {
	case ouiIEEE:
		if name := ieeeCipherName(s.Type()); name != "" {
			return name
		}
	case ouiMicrosoft:
		switch t := s.Type(); t {
		case 1, 2, 4, 5:
			return ieeeCipherName(t)
		}
	}
	return unknownSuiteName(s)
}

// ieeeCipherName names a cipher suite type under 00-0f-ac, or returns "".
func ieeeCipherName(t uint8) string {
	switch t {
	case 0:
		return "use-group"
	case 1:
		return "wep40"
	case 2:
		return "tkip"
	case 4:
		return "ccmp"
	case 5:
		return "wep104"
	case 6:
		return "bip-cmac-128"
	case 7:
		return "group-not-allowed"
	case 8:
		return "gcmp"
	case 9:
		return "gcmp-256"
	case 10:
		return "ccmp-256"
	case 11:
		return "bip-gmac-128"
	case 12:
		return "bip-gmac-256"
	case 13:
		return "bip-cmac-256"
	}
	return ""
}

// AKMName returns the short name of an authentication and key management
// suite: "psk", "sae", "eap-suite-b-192", "owe" and so on under 00-0f-ac,
// "eap" and "psk" under the WPA OUI 00-50-f2, "osen" and "dpp" under the
// Wi-Fi Alliance OUI 50-6f-9a, and "aa-bb-cc:N" for anything else.
func AKMName(s Suite) string {
	switch s.OUI() {
	case ouiIEEE:
		if name := ieeeAKMName(s.Type()); name != "" {
			return name
		}
	case ouiMicrosoft:
		switch s.Type() {
		case 1:
			return "eap"
		case 2:
			return "psk"
		}
	case ouiWFA:
		switch s.Type() {
		case 1:
			return "osen"
		case 2:
			return "dpp"
		}
	}
	return unknownSuiteName(s)
}

// ieeeAKMName names an AKM suite type under 00-0f-ac, or returns "".
func ieeeAKMName(t uint8) string {
	switch t {
	case 1:
		return "eap"
	case 2:
		return "psk"
	case 3:
		return "ft-eap"
	case 4:
		return "ft-psk"
	case 5:
		return "eap-sha256"
	case 6:
		return "psk-sha256"
	case 7:
		return "tdls"
	case 8:
		return "sae"
	case 9:
		return "ft-sae"
	case 10:
		return "ap-peerkey"
	case 11:
		return "eap-suite-b"
	case 12:
		return "eap-suite-b-192"
	case 13:
		return "ft-eap-sha384"
	case 14:
		return "fils-sha256"
	case 15:
		return "fils-sha384"
	case 16:
		return "ft-fils-sha256"
	case 17:
		return "ft-fils-sha384"
	case 18:
		return "owe"
	case 19:
		return "ft-psk-sha384"
	case 20:
		return "psk-sha384"
	case 24:
		return "sae-ext-key"
	case 25:
		return "ft-sae-ext-key"
	}
	return ""
}

// unknownSuiteName renders a suite as iw does: "aa-bb-cc:N".
func unknownSuiteName(s Suite) string {
	return formatOUI(s.OUI(), '-') + ":" + strconv.Itoa(int(s.Type()))
}

// Security is the security summary of a BSS.
type Security struct {
	// Label is one of "open", "wep", "wpa", "wpa2", "wpa3", "owe",
	// "wpa2/wpa3" (PSK+SAE transition) and "wpa/wpa2" (a WPA vendor
	// element beside RSN), with "-eap" appended for 802.1X authentication
	// ("wpa-eap", "wpa2-eap", "wpa/wpa2-eap", "wpa3-eap").
	Label string

	AKM      []string // AKMName of each AKM suite, deduplicated, in element order
	Pairwise []string // SuiteName of each pairwise cipher, deduplicated
	Group    string   // SuiteName of the group cipher, "" when open or WEP

	// GroupMgmt is the group management (BIP) cipher. When the RSN
	// element leaves it out but advertises MFP, it is the standard's
	// default "bip-cmac-128".
	GroupMgmt string

	PMF string // "required" (MFPR), "capable" (MFPC) or "none"

	WPA1 bool // a WPA (version 1) vendor element is present
}

// akmFamily is the kind of network an AKM suite implies.
type akmFamily uint8

const (
	akmOther akmFamily = iota // TDLS, AP-PeerKey, OSEN, unknown
	akmPSK                    // WPA2-Personal
	akmSAE                    // WPA3-Personal
	akmEAP                    // 802.1X (Enterprise), including FILS
	akmOWE                    // Enhanced Open
)

// familyOf classifies an RSN AKM suite. DPP is counted with SAE: both are
// WPA3-era personal authentication that requires PMF.
func familyOf(s Suite) akmFamily {
	switch s.OUI() {
	case ouiIEEE:
		switch s.Type() {
		case 2, 4, 6, 19, 20:
			return akmPSK
		case 8, 9, 24, 25:
			return akmSAE
		case 1, 3, 5, 11, 12, 13, 14, 15, 16, 17:
			return akmEAP
		case 18:
			return akmOWE
		}
	case ouiWFA:
		if s.Type() == 2 {
			return akmSAE
		}
	}
	return akmOther
}

// DeriveSecurity summarises the security of a BSS from its decoded
// elements and the Privacy bit (0x0010) of its capability field.
//
// Without RSN or WPA elements the BSS is "open", or "wep" when privacy is
// set. With only a WPA element it is "wpa" or "wpa-eap". Otherwise the
// RSN AKMs decide: SAE only is "wpa3", PSK and SAE is "wpa2/wpa3", PSK
// only is "wpa2", OWE is "owe", and 802.1X is "wpa2-eap", or "wpa3-eap"
// for Suite-B-192, FT-802.1X-SHA384, or 802.1X-SHA256 with MFP required.
// Personal AKMs win over 802.1X ones when an element mixes them, and an
// RSN element with no recognised AKM is labelled "wpa2".
func DeriveSecurity(e *Elements, privacy bool) Security {
	var rsn, wpa *RSN
	if e != nil {
		rsn, wpa = e.RSN, e.WPA
	}
	sec := Security{PMF: "none", WPA1: wpa != nil}
	src := rsn
	if src == nil {
		src = wpa
	}
	if src == nil {
		sec.Label = "open"
		if privacy {
			sec.Label = "wep"
		}
		return sec
	}

	sec.AKM = suiteNames(src.AKM, AKMName)
	sec.Pairwise = suiteNames(src.PairwiseCipher, SuiteName)
	sec.Group = SuiteName(src.GroupCipher)
	if rsn == nil {
		sec.Label = wpaLabel(wpa)
		return sec
	}

	switch {
	case rsn.MFPRequired():
		sec.PMF = "required"
	case rsn.MFPCapable():
		sec.PMF = "capable"
	}
	switch {
	case rsn.GroupMgmtCipher != 0:
		sec.GroupMgmt = SuiteName(rsn.GroupMgmtCipher)
	case rsn.MFPCapable():
		sec.GroupMgmt = SuiteName(Suite(ouiIEEE<<8 | 6))
	}
	sec.Label = rsnLabel(rsn)
	if wpa != nil && (sec.Label == "wpa2" || sec.Label == "wpa2-eap") {
		// WPA/WPA2 mixed mode: legacy WPA (usually TKIP) is still
		// accepted, which is worth a finding of its own.
		sec.Label = "wpa/" + sec.Label
	}
	return sec
}

// wpaLabel labels a BSS that has only a WPA vendor element.
func wpaLabel(w *RSN) string {
	eap := false
	for _, s := range w.AKM {
		switch s {
		case Suite(ouiMicrosoft<<8 | 2):
			return "wpa"
		case Suite(ouiMicrosoft<<8 | 1):
			eap = true
		}
	}
	if eap {
		return "wpa-eap"
	}
	return "wpa"
}

// rsnLabel labels a BSS from its RSN element.
func rsnLabel(r *RSN) string {
	var psk, sae, eap, owe, eap3 bool
	for _, s := range r.AKM {
		switch familyOf(s) {
		case akmPSK:
			psk = true
		case akmSAE:
			sae = true
		case akmOWE:
			owe = true
		case akmEAP:
			eap = true
			switch s {
			case Suite(ouiIEEE<<8 | 12), Suite(ouiIEEE<<8 | 13):
				eap3 = true
			case Suite(ouiIEEE<<8 | 5):
				eap3 = eap3 || r.MFPRequired()
			}
		}
	}
	switch {
	case psk && sae:
		return "wpa2/wpa3"
	case sae:
		return "wpa3"
	case psk:
		return "wpa2"
	case owe:
		return "owe"
	case eap3:
		return "wpa3-eap"
	case eap:
		return "wpa2-eap"
	}
	return "wpa2"
}

// suiteNames maps suites to names, dropping duplicate names and keeping the
// order of first appearance.
func suiteNames(suites []Suite, name func(Suite) string) []string {
	if len(suites) == 0 {
		return nil
	}
	out := make([]string, 0, len(suites))
next:
	for _, s := range suites {
		n := name(s)
		for _, have := range out {
			if have == n {
				continue next
			}
		}
		out = append(out, n)
	}
	return out
}
