package testbed

import "strings"

// IWSecurity derives the appliance-style security summary of a BSS from
// iw's RSN/WPA sections and capability bits:
// security (open, wep, wpa, wpa2, wpa3, owe, wpa2/wpa3, wpa/wpa2 with "-eap"
// for 802.1X AKMs), AKMs (psk, sae, owe, eap, ...), pairwise and group
// ciphers (lower case) and PMF (none, capable, required).
func IWSecurity(b IWBSS) (security string, akm, pairwise []string, group, pmf string) {
	pmf = "none"
	src := b.RSN
	if src == nil {
		src = b.WPA
	}
	if src == nil {
		for _, c := range b.CapabilityBits {
			if c == "Privacy" {
				return "wep", nil, nil, "", pmf
			}
		}
		return "open", nil, nil, "", pmf
	}
	eap := false
	seen := map[string]bool{}
	for _, a := range src.AKMSuites {
		var n string
		switch a {
		case "PSK":
			n = "psk"
		case "PSK/SHA-256":
			n = "psk-sha256"
		case "FT/PSK":
			n = "ft-psk"
		case "SAE":
			n = "sae"
		case "FT/SAE":
			n = "ft-sae"
		case "OWE":
			n = "owe"
		case "IEEE 802.1X", "IEEE 802.1X/SHA-256", "FT/IEEE 802.1X", "802.1X/SUITE-B", "802.1X/SUITE-B-192":
			n, eap = "eap", true
		default:
			n = strings.ToLower(a)
		}
		if !seen[n] {
			seen[n] = true
			akm = append(akm, n)
		}
	}
	for _, c := range src.PairwiseCiphers {
		pairwise = append(pairwise, strings.ToLower(c))
	}
	group = strings.ToLower(src.GroupCipher)
	if b.RSN != nil {
		switch {
		case b.RSN.MFPRequired:
			pmf = "required"
		case b.RSN.MFPCapable:
			pmf = "capable"
		}
	}
	switch {
	case b.RSN == nil:
		security = "wpa"
	case seen["owe"]:
		security = "owe"
	case (seen["sae"] || seen["ft-sae"]) && (seen["psk"] || seen["psk-sha256"] || seen["ft-psk"]):
		security = "wpa2/wpa3"
	case seen["sae"] || seen["ft-sae"]:
		security = "wpa3"
	case b.WPA != nil:
		security = "wpa/wpa2"
	default:
		security = "wpa2"
	}
	if eap {
		security += "-eap"
	}
	return security, akm, pairwise, group, pmf
}
