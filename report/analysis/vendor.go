package analysis

import "strings"

// ouiVendors names a few organisations by their IEEE OUI: chipset and
// access point makers whose OUI appears as a BSSID prefix or in a
// vendor-specific element. A short list, not the IEEE registry: the
// report shows the OUI itself when the maker is not in it.
var ouiVendors = map[string]string{
	"00:10:18": "Broadcom",
	"00:90:4c": "Broadcom",
	"00:03:7f": "Qualcomm Atheros",
	"8c:fd:f0": "Qualcomm",
	"00:0c:43": "MediaTek (Ralink)",
	"00:0c:e7": "MediaTek",
	"00:17:f2": "Apple",
	"00:40:96": "Cisco",
	"00:18:0a": "Cisco Meraki",
	"00:0b:86": "Aruba",
	"00:13:92": "Ruckus",
	"00:15:6d": "Ubiquiti",
	"00:27:22": "Ubiquiti",
	"00:e0:4c": "Realtek",
	"00:26:86": "Quantenna",
}

// genericOUIs are the OUIs of standards bodies whose elements every
// vendor sends (WPA/WMM/WPS, Wi-Fi Alliance, IEEE): they say nothing
// about the maker.
var genericOUIs = map[string]bool{"00:50:f2": true, "50:6f:9a": true, "00:0f:ac": true}

// Vendor names the maker of a BSS where the short list knows it: by the
// BSSID's OUI when the address is globally administered, else by the
// first known vendor-specific element. It returns "" when unknown.
func Vendor(bssid string, vendorOUIs []string) string {
	bssid = strings.ToLower(bssid)
	if len(bssid) >= 8 && !locallyAdministered(bssid) {
		if v, ok := ouiVendors[bssid[:8]]; ok {
			return v
		}
	}
	for _, o := range vendorOUIs {
		o = strings.ToLower(o)
		if genericOUIs[o] {
			continue
		}
		if v, ok := ouiVendors[o]; ok {
			return v + " (chipset)"
		}
	}
	return ""
}

// locallyAdministered reports whether a MAC address's U/L bit is set
// (randomised or virtual BSSIDs): its first bytes then name no vendor.
func locallyAdministered(mac string) bool {
	if len(mac) < 2 {
		return false
	}
	const hexdigits = "0123456789abcdef"
	d := strings.IndexByte(hexdigits, mac[1])
	return d >= 0 && d&0x2 != 0
}
