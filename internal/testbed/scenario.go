package testbed

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
)

// BSSSpec describes one BSS of a scenario and what a scanner should report
// for it. The naming follows the appliance's JSON output (security "wpa2",
// akm ["psk","sae"], pmf "required", ...).
type BSSSpec struct {
	SSID   []byte // raw SSID bytes
	Hidden int    // hostapd ignore_broadcast_ssid: 0 broadcast, 1 zero-length SSID, 2 NUL-filled SSID
	// Security is one of open, wpa/wpa2, wpa2, wpa3, wpa2/wpa3, owe, wpa2-eap.
	Security string
	// Filled in by Scenario.BSSes from the radio and security:
	BSSID     string   // lower-case, e.g. 02:00:00:00:01:00
	Iface     string   // netdev hostapd uses (wlan1, w1b2, ...)
	Conf      string   // name of the hostapd configuration (for ap_stop/ap_start)
	Freq      int      // primary channel MHz
	Channel   int      // primary channel number
	Band      string   // "2.4" or "5"
	WidthMHz  int      // 20, 40, 80
	CenterMHz int      // centre of the whole channel
	Standards []string // b g a n ac ax
	AKM       []string // psk sae owe eap
	Pairwise  []string // ccmp tkip
	Group     string   // ccmp tkip ("" for open)
	PMF       string   // none capable required
	Country   string
}

// RadioSpec is one hwsim radio running one hostapd with one or more BSSes.
type RadioSpec struct {
	HwMode    string // b, g or a
	Channel   int
	HT        bool   // ieee80211n
	HT40      string // "+" or "-" for 40 MHz, "" for 20 MHz
	VHT80     bool   // ieee80211ac with an 80 MHz channel (needs HT40)
	HE        bool   // ieee80211ax (same width as VHT/HT)
	BeaconInt int    // TU, default 100
	BSSLoad   bool   // advertise a BSS Load element (bss_load_update_period)
	BSSes     []BSSSpec
}

// Scenario is a set of radios with hostapd configurations. Radio i of the
// scenario is wlan(i+1); wlan0 is the scanner.
type Scenario struct {
	Country string // default CN (see DefaultCountry)
	Radios  []RadioSpec
}

const eapUserFile = "/etc/hostapd/eap_user"

func (s Scenario) country() string {
	if s.Country == "" {
		return DefaultCountry
	}
	return s.Country
}

func chanFreq(ch int) int {
	switch {
	case ch == 14:
		return 2484
	case ch < 14:
		return 2407 + 5*ch
	default:
		return 5000 + 5*ch
	}
}

// BSSes lists every BSS with the derived fields filled in.
func (s Scenario) BSSes() []BSSSpec {
	var out []BSSSpec
	for ri, r := range s.Radios {
		radio := ri + 1
		for bi, b := range r.BSSes {
			b.Conf = fmt.Sprintf("wlan%d", radio)
			if bi == 0 {
				b.Iface = b.Conf
			} else {
				b.Iface = fmt.Sprintf("w%db%d", radio, bi)
			}
			b.BSSID = fmt.Sprintf("02:00:00:00:%02x:%02x", radio, bi)
			b.Channel = r.Channel
			b.Freq = chanFreq(r.Channel)
			b.Band = "2.4"
			if b.Freq > 5000 {
				b.Band = "5"
			}
			b.Country = s.country()
			b.WidthMHz, b.CenterMHz = 20, b.Freq
			if r.HT40 != "" {
				b.WidthMHz = 40
				if r.HT40 == "+" {
					b.CenterMHz = b.Freq + 10
				} else {
					b.CenterMHz = b.Freq - 10
				}
			}
			if r.VHT80 {
				b.WidthMHz = 80
				b.CenterMHz = chanFreq(vht80Center(r.Channel))
			}
			switch r.HwMode {
			case "b":
				b.Standards = []string{"b"}
			case "g":
				b.Standards = []string{"b", "g"}
			case "a":
				b.Standards = []string{"a"}
			}
			if r.HT {
				b.Standards = append(b.Standards, "n")
			}
			if r.VHT80 {
				b.Standards = append(b.Standards, "ac")
			}
			if r.HE {
				b.Standards = append(b.Standards, "ax")
			}
			b.PMF = "none"
			switch b.Security {
			case "open":
			case "wpa2":
				b.AKM, b.Pairwise, b.Group = []string{"psk"}, []string{"ccmp"}, "ccmp"
			case "wpa/wpa2":
				b.AKM, b.Pairwise, b.Group = []string{"psk"}, []string{"ccmp"}, "tkip"
			case "wpa3":
				b.AKM, b.Pairwise, b.Group, b.PMF = []string{"sae"}, []string{"ccmp"}, "ccmp", "required"
			case "wpa2/wpa3":
				b.AKM, b.Pairwise, b.Group, b.PMF = []string{"psk", "sae"}, []string{"ccmp"}, "ccmp", "capable"
			case "owe":
				b.AKM, b.Pairwise, b.Group, b.PMF = []string{"owe"}, []string{"ccmp"}, "ccmp", "required"
			case "wpa2-eap":
				b.AKM, b.Pairwise, b.Group = []string{"eap"}, []string{"ccmp"}, "ccmp"
			default:
				panic("testbed: unknown security " + b.Security)
			}
			out = append(out, b)
		}
	}
	return out
}

// vht80Center returns the centre channel of the 80 MHz block holding ch.
func vht80Center(ch int) int {
	for _, c := range []int{42, 58, 106, 122, 138, 155, 171} {
		if ch >= c-6 && ch <= c+6 {
			return c
		}
	}
	return ch
}

func securityConf(sec string) string {
	switch sec {
	case "open":
		return ""
	case "wpa2":
		return "wpa=2\nwpa_key_mgmt=WPA-PSK\nrsn_pairwise=CCMP\nwpa_passphrase=testbed-psk\n"
	case "wpa/wpa2":
		return "wpa=3\nwpa_key_mgmt=WPA-PSK\nwpa_pairwise=TKIP CCMP\nrsn_pairwise=CCMP\nwpa_passphrase=testbed-psk\n"
	case "wpa3":
		return "wpa=2\nwpa_key_mgmt=SAE\nrsn_pairwise=CCMP\nieee80211w=2\nsae_password=testbed-sae\n"
	case "wpa2/wpa3":
		return "wpa=2\nwpa_key_mgmt=WPA-PSK SAE\nrsn_pairwise=CCMP\nieee80211w=1\nwpa_passphrase=testbed-psk\nsae_password=testbed-psk\n"
	case "owe":
		return "wpa=2\nwpa_key_mgmt=OWE\nrsn_pairwise=CCMP\nieee80211w=2\n"
	case "wpa2-eap":
		return "wpa=2\nwpa_key_mgmt=WPA-EAP\nrsn_pairwise=CCMP\nieee8021x=1\neap_server=1\neap_user_file=" + eapUserFile + "\n"
	}
	panic("testbed: unknown security " + sec)
}

func ssidConf(ssid []byte) string {
	printable := len(ssid) > 0
	for _, c := range ssid {
		if c < 0x21 || c > 0x7e {
			printable = false
		}
	}
	if printable {
		return "ssid=" + string(ssid) + "\n"
	}
	return "ssid2=" + hex.EncodeToString(ssid) + "\n"
}

// HostapdConfs renders one hostapd configuration per radio, named wlan1...
func (s Scenario) HostapdConfs() map[string]string {
	confs := map[string]string{}
	all := s.BSSes()
	k := 0
	for ri, r := range s.Radios {
		var b strings.Builder
		for bi := range r.BSSes {
			spec := all[k]
			k++
			if bi == 0 {
				fmt.Fprintf(&b, "interface=%s\ndriver=nl80211\nctrl_interface=/var/run/hostapd\n", spec.Iface)
				fmt.Fprintf(&b, "country_code=%s\nieee80211d=1\nhw_mode=%s\nchannel=%d\n", s.country(), r.HwMode, r.Channel)
				if r.BeaconInt > 0 {
					fmt.Fprintf(&b, "beacon_int=%d\n", r.BeaconInt)
				}
				if r.HwMode == "b" {
					b.WriteString("supported_rates=10 20 55 110\nbasic_rates=10 20\n")
				}
				if r.HwMode == "g" && !r.HT {
					// plain 802.11g: keep the DSSS rates (b/g mixed).
				}
				if r.HT {
					b.WriteString("ieee80211n=1\nwmm_enabled=1\n")
					if r.HT40 != "" {
						fmt.Fprintf(&b, "ht_capab=[HT40%s]\n", r.HT40)
					}
				}
				if r.VHT80 {
					c := vht80Center(r.Channel)
					fmt.Fprintf(&b, "ieee80211ac=1\nvht_oper_chwidth=1\nvht_oper_centr_freq_seg0_idx=%d\n", c)
				}
				if r.HE {
					b.WriteString("ieee80211ax=1\n")
					if r.VHT80 {
						fmt.Fprintf(&b, "he_oper_chwidth=1\nhe_oper_centr_freq_seg0_idx=%d\n", vht80Center(r.Channel))
					}
				}
			} else {
				fmt.Fprintf(&b, "\nbss=%s\nbssid=%s\nctrl_interface=/var/run/hostapd\n", spec.Iface, spec.BSSID)
			}
			b.WriteString(ssidConf(spec.SSID))
			if r.BSSLoad {
				b.WriteString("bss_load_update_period=10\n")
			}
			if spec.Hidden != 0 {
				fmt.Fprintf(&b, "ignore_broadcast_ssid=%d\n", spec.Hidden)
			}
			b.WriteString(securityConf(spec.Security))
		}
		confs[fmt.Sprintf("wlan%d", ri+1)] = b.String()
	}
	return confs
}

// Options returns VM options running this scenario (Script etc. still to be set).
func (s Scenario) Options() Options {
	return Options{
		Radios:       len(s.Radios) + 1,
		Country:      s.country(),
		HostapdConfs: s.HostapdConfs(),
		Contents: map[string][]byte{
			eapUserFile: []byte("\"tb-user\" MD5 \"tb-password\"\n"),
		},
	}
}

// ConfNames lists the hostapd configuration names (for ap_stop/ap_start).
func (s Scenario) ConfNames() []string {
	var n []string
	for name := range s.HostapdConfs() {
		n = append(n, name)
	}
	sort.Strings(n)
	return n
}

// NonUTF8SSID is the SSID of StandardScenario's non-UTF-8 BSS: "测试" in GBK
// followed by a lone 0xff byte.
var NonUTF8SSID = []byte{0xb2, 0xe2, 0xca, 0xd4, 0xff}

// DefaultCountry is the regulatory domain the VM and the hostapd
// configurations use. It is CN because the regdb has no 6 GHz rules for it:
// with US, the ~59 passive-scan 6 GHz channels hwsim offers make every full
// scan take ~14 s under TCG instead of ~2 s. CN allows 2.4 GHz ch 1-13 and
// 5 GHz ch 36-48 and 149-165 without DFS (52-64 are DFS, so no VHT160).
const DefaultCountry = "CN"

// StandardScenario is a varied set of 17 BSSes on 7 radios (wlan1..wlan7):
// every security type, hidden SSIDs, a non-UTF-8 SSID, 802.11b, g, n HT40,
// ac VHT80 and ax HE80 on 2.4 and 5 GHz.
func StandardScenario() Scenario {
	bss := func(ssid, sec string) BSSSpec { return BSSSpec{SSID: []byte(ssid), Security: sec} }
	return Scenario{
		Radios: []RadioSpec{
			{HwMode: "g", Channel: 1, HT: true, BSSes: []BSSSpec{
				bss("tb-open", "open"),
				bss("tb-wpa2", "wpa2"),
				bss("tb-wpa3", "wpa3"),
				bss("tb-transition", "wpa2/wpa3"),
				bss("tb-owe", "owe"),
				bss("tb-eap", "wpa2-eap"),
				{SSID: NonUTF8SSID, Security: "wpa2"},
			}},
			// HT40 on 2.4 GHz: hostapd's 20/40 MHz coexistence scan falls back to
			// 20 MHz when another BSS's primary lies in the affected range
			// (2397-2447 MHz here, other than channels 1 and 5), so it shares
			// channel 1 and no radio uses channels 2-4 or 6-8.
			{HwMode: "g", Channel: 1, HT: true, HT40: "+", BSSes: []BSSSpec{
				bss("tb-ht40", "wpa2"),
			}},
			{HwMode: "g", Channel: 11, BSSes: []BSSSpec{
				bss("tb-legacy-g", "open"),
				bss("tb-wpa-mixed", "wpa/wpa2"),
			}},
			{HwMode: "b", Channel: 11, BSSes: []BSSSpec{
				bss("tb-legacy-b", "open"),
			}},
			{HwMode: "a", Channel: 36, HT: true, HT40: "+", VHT80: true, BSSes: []BSSSpec{
				bss("tb-vht80", "wpa2"),
				bss("tb-5g-wpa3", "wpa3"),
			}},
			{HwMode: "a", Channel: 149, HT: true, HT40: "+", VHT80: true, HE: true, BSSLoad: true, BSSes: []BSSSpec{
				bss("tb-he80", "wpa2"),
				bss("tb-he80-open", "open"),
			}},
			// Hidden BSSes do not answer wildcard probe requests, so a scan
			// only sees them if a beacon arrives during its ~30-60 ms dwell;
			// a 25 TU beacon interval makes that reliable.
			// Channel 11: outside the 20/40 MHz coexistence range of the HT40
			// BSS on channel 1 (which would otherwise fall back to 20 MHz).
			{HwMode: "g", Channel: 11, HT: true, BeaconInt: 25, BSSes: []BSSSpec{
				{SSID: []byte("tb-hidden"), Hidden: 1, Security: "wpa2"},
				{SSID: []byte("tb-hidden-nul"), Hidden: 2, Security: "open"},
			}},
		},
	}
}

// ManyBSSPerRadio is how many BSSes ManyBSSScenario puts on one radio.
// With 25 per channel a single active scan under TCG misses some probe
// responses (the dwell time is ~30 ms); with 10 it sees all of them.
const ManyBSSPerRadio = 10

// ManyBSSScenario spreads n BSSes (open, WPA2, WPA3 and WPA2/WPA3 in turn)
// over radios of ManyBSSPerRadio BSSes each, on channels 1, 6, 11, 36, 40,
// 44, 48, 149, 153, 157, 161, 165, 3, 9, 13, ... (radio i is wlan(i+1)).
func ManyBSSScenario(n int) Scenario {
	chans := []int{1, 6, 11, 36, 40, 44, 48, 149, 153, 157, 161, 165, 3, 9, 13}
	const perRadio = ManyBSSPerRadio
	var s Scenario
	secs := []string{"open", "wpa2", "wpa3", "wpa2/wpa3"}
	for i := 0; i < n; i++ {
		ri := i / perRadio
		if ri >= len(s.Radios) {
			ch := chans[ri%len(chans)]
			r := RadioSpec{HwMode: "g", Channel: ch, HT: true}
			if ch > 14 {
				r.HwMode = "a"
			}
			s.Radios = append(s.Radios, r)
		}
		s.Radios[ri].BSSes = append(s.Radios[ri].BSSes, BSSSpec{
			SSID:     []byte(fmt.Sprintf("tb-many-%03d", i)),
			Security: secs[i%len(secs)],
		})
	}
	return s
}

// DemoScenario is a small office's air for the demo: 12 BSSes on 8 radios
// (wlan1..wlan8) over 2.4 and 5 GHz, with open, WPA/WPA2-TKIP, WPA2, WPA3,
// transition and OWE networks, a hidden one and a busy 5 GHz AP that
// advertises BSS Load. Three radios carry one BSS each so the demo can
// change them alone: DemoAppears (started halfway), DemoVanishes (stopped
// later) and DemoHops (moved from channel 11 to channel 6).
func DemoScenario() Scenario {
	bss := func(ssid, sec string) BSSSpec { return BSSSpec{SSID: []byte(ssid), Security: sec} }
	return Scenario{
		Radios: []RadioSpec{
			{HwMode: "g", Channel: 1, HT: true, BSSes: []BSSSpec{
				bss("CoffeeShop-Guest", "open"), bss("Acme-Corp", "wpa2"), bss("Acme-IoT", "wpa/wpa2"),
			}},
			{HwMode: "g", Channel: 6, HT: true, BSSes: []BSSSpec{
				bss("Acme-Secure", "wpa3"), bss("Acme-Transition", "wpa2/wpa3"),
			}},
			{HwMode: "g", Channel: 11, HT: true, BeaconInt: 25, BSSes: []BSSSpec{
				{SSID: []byte("Acme-Hidden"), Hidden: 1, Security: "wpa2"},
			}},
			{HwMode: "a", Channel: 36, HT: true, HT40: "+", VHT80: true, BSSes: []BSSSpec{
				bss("Acme-5G", "wpa2/wpa3"), bss("Acme-5G-Guest", "owe"),
			}},
			{HwMode: "a", Channel: 149, HT: true, HT40: "+", VHT80: true, HE: true, BSSLoad: true, BSSes: []BSSSpec{
				bss("Neighbor-5G", "wpa2"),
			}},
			{HwMode: "g", Channel: 1, HT: true, BSSes: []BSSSpec{bss(DemoAppears, "wpa2")}},
			{HwMode: "g", Channel: 6, HT: true, BSSes: []BSSSpec{bss(DemoVanishes, "open")}},
			{HwMode: "g", Channel: 11, HT: true, BSSes: []BSSSpec{bss(DemoHops, "wpa2")}},
		},
	}
}

// The demo's changing BSSes and their hostapd configurations.
const (
	DemoAppears      = "PopUp-Hotspot"
	DemoVanishes     = "Old-Printer"
	DemoHops         = "Wanderer-AP"
	DemoAppearsConf  = "wlan6"
	DemoVanishesConf = "wlan7"
	DemoHopsConf     = "wlan8"
	DemoHopsTo       = 6 // from channel 11
)
