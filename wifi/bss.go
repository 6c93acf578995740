package wifi

import (
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"time"
	"unicode/utf8"
)

// SignalKind says how a driver reports signal strength.
type SignalKind uint8

const (
	SignalNone   SignalKind = iota // no signal attribute
	SignalMBm                      // NL80211_BSS_SIGNAL_MBM: dBm * 100
	SignalUnspec                   // NL80211_BSS_SIGNAL_UNSPEC: 0..100, no unit
)

// BSS is one scan result (an entry of the kernel's scan cache on Linux),
// decoded.
type BSS struct {
	BSSID      net.HardwareAddr
	Frequency  int // primary channel frequency, MHz
	FreqOffset int // kHz offset added to Frequency (S1G), usually 0

	SignalKind SignalKind
	SignalMBm  int32 // valid when SignalKind == SignalMBm
	SignalPct  uint8 // valid when SignalKind == SignalUnspec

	SeenMsAgo        uint32
	LastSeenBoottime time.Duration // CLOCK_BOOTTIME of the last frame, 0 if unknown
	TSF              uint64
	BeaconInterval   uint16 // time units of 1024 µs
	Capability       uint16
	Status           int  // -1 none, 0 authenticated, 1 associated, 2 IBSS joined
	ProbeResponse    bool // IEs known to come from a probe response
	Generation       uint32

	// IEs are the raw information elements the kernel reports for the BSS
	// (probe-response IEs preferred); BeaconIEs are those of the last
	// beacon, when one was received.
	IEs       []byte
	BeaconIEs []byte

	// Elements is the decoded form of IEs.
	Elements Elements

	// Problems lists attributes that could not be decoded.
	Problems []string
}

// Capability bits of the BSS capability field.
const (
	CapESS     = 1 << 0
	CapIBSS    = 1 << 1
	CapPrivacy = 1 << 4
)

// SignalDBm returns the signal in dBm and whether the driver reported one
// in dBm.
func (b *BSS) SignalDBm() (float64, bool) {
	if b.SignalKind != SignalMBm {
		return 0, false
	}
	return float64(b.SignalMBm) / 100, true
}

// SSID returns the raw SSID octets.
func (b *BSS) SSID() []byte { return b.Elements.SSID }

// Hidden reports whether the BSS hides its SSID: the SSID is empty or all
// NUL bytes, or the beacon hid it even though a probe response named it.
func (b *BSS) Hidden() bool {
	if hiddenSSID(b.Elements.SSID) {
		return true
	}
	if len(b.BeaconIEs) > 0 && b.ProbeResponse {
		if s, ok := findSSID(b.BeaconIEs); ok && hiddenSSID(s) {
			return true
		}
	}
	return false
}

func hiddenSSID(s []byte) bool {
	for _, c := range s {
		if c != 0 {
			return false
		}
	}
	return true
}

// findSSID returns the first SSID element of an IE blob.
func findSSID(ies []byte) ([]byte, bool) {
	for len(ies) >= 2 && len(ies)-2 >= int(ies[1]) {
		if ies[0] == ieSSID {
			return ies[2 : 2+int(ies[1])], true
		}
		ies = ies[2+int(ies[1]):]
	}
	return nil, false
}

// DisplaySSID renders an SSID for people: valid UTF-8 is kept as is; bytes
// that are not valid UTF-8, control characters and the backslash are
// written as \xNN, so the display form is unambiguous and the raw bytes can
// always be recovered. A hidden SSID displays as "".
func DisplaySSID(s []byte) string {
	if hiddenSSID(s) {
		return ""
	}
	var sb strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		switch {
		case r == utf8.RuneError && n <= 1,
			r < 0x20, r == 0x7f, r == '\\':
			fmt.Fprintf(&sb, `\x%02x`, s[0])
			n = 1
		default:
			sb.Write(s[:n])
		}
		s = s[n:]
	}
	return sb.String()
}

// Record is the stored and JSON form of a BSS observation: what the box
// spools, uploads and serves, and what the operator's tools export.
type Record struct {
	BSSID          string   `json:"bssid"`
	SSID           string   `json:"ssid"`
	SSIDHex        string   `json:"ssid_hex"`
	Hidden         bool     `json:"hidden"`
	FreqMHz        int      `json:"freq_mhz"`
	Channel        int      `json:"channel"`
	Band           string   `json:"band"`
	WidthMHz       int      `json:"width_mhz"`
	CenterMHz      int      `json:"center_mhz"`
	Center2MHz     int      `json:"center2_mhz,omitempty"`
	SignalDBm      *float64 `json:"signal_dbm"`
	SignalPct      *uint8   `json:"signal_pct,omitempty"`
	SeenMsAgo      uint32   `json:"seen_ms_ago"`
	LastSeenNs     int64    `json:"last_seen_boottime_ns,omitempty"`
	BeaconInterval uint16   `json:"beacon_interval"` // time units of 1024 µs
	Capability     uint16   `json:"capability"`
	Associated     bool     `json:"associated,omitempty"`
	Security       string   `json:"security"`
	AKM            []string `json:"akm"`
	Pairwise       []string `json:"pairwise"`
	Group          string   `json:"group"`
	GroupMgmt      string   `json:"group_mgmt,omitempty"`
	PMF            string   `json:"pmf"`
	WPA1           bool     `json:"wpa1,omitempty"`
	Standards      []string `json:"standards"`
	Country        string   `json:"country"`
	Stations       *uint16  `json:"bss_load_stations,omitempty"`
	Utilization    *uint8   `json:"bss_load_utilization,omitempty"` // busy fraction in 1/255, as the element carries it
	RRM            bool     `json:"rrm_11k"`
	BTM            bool     `json:"btm_11v"`
	FT             bool     `json:"ft_11r"`
	WPSName        string   `json:"wps_device_name,omitempty"`
	VendorOUIs     []string `json:"vendor_ouis"`
	OWETransition  string   `json:"owe_transition_bssid,omitempty"`
	Problems       []string `json:"problems,omitempty"`
	IEsHex         string   `json:"ies_hex"`
}

// Record returns the JSON form of b.
func (b *BSS) Record() Record {
	e := &b.Elements
	sec := DeriveSecurity(e, b.Capability&CapPrivacy != 0)
	w := ChannelWidth(e, b.Frequency)
	r := Record{
		BSSID:          strings.ToLower(b.BSSID.String()),
		SSID:           DisplaySSID(e.SSID),
		SSIDHex:        hex.EncodeToString(e.SSID),
		Hidden:         b.Hidden(),
		FreqMHz:        b.Frequency,
		Channel:        FrequencyChannel(b.Frequency),
		Band:           FrequencyBand(b.Frequency),
		WidthMHz:       w.MHz,
		CenterMHz:      w.CenterMHz,
		Center2MHz:     w.Center2,
		SeenMsAgo:      b.SeenMsAgo,
		LastSeenNs:     int64(b.LastSeenBoottime),
		BeaconInterval: b.BeaconInterval,
		Capability:     b.Capability,
		Associated:     b.Status == 1,
		Security:       sec.Label,
		AKM:            nonNil(sec.AKM),
		Pairwise:       nonNil(sec.Pairwise),
		Group:          sec.Group,
		GroupMgmt:      sec.GroupMgmt,
		PMF:            sec.PMF,
		WPA1:           sec.WPA1,
		Standards:      nonNil(Standards(e, b.Frequency)),
		Country:        escapeString([]byte(e.Country)),
		RRM:            e.RadioMeasurement,
		BTM:            e.BSSTransition,
		FT:             e.FastTransition,
		VendorOUIs:     nonNil(e.VendorOUIs),
		IEsHex:         hex.EncodeToString(b.IEs),
	}
	if dbm, ok := b.SignalDBm(); ok {
		r.SignalDBm = &dbm
	}
	if b.SignalKind == SignalUnspec {
		p := b.SignalPct
		r.SignalPct = &p
	}
	if l := e.BSSLoad; l != nil {
		st, u := l.Stations, l.Utilization
		r.Stations, r.Utilization = &st, &u
	}
	if e.WPS != nil {
		r.WPSName = e.WPS.DeviceName
	}
	if t := e.OWETransition; t != nil {
		r.OWETransition = strings.ToLower(net.HardwareAddr(t.BSSID[:]).String())
	}
	r.Problems = append(r.Problems, b.Problems...)
	for _, p := range e.Problems {
		r.Problems = append(r.Problems, p.String())
	}
	return r
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// String describes the problem for logs and JSON.
func (p ElementProblem) String() string {
	if p.ID == ieExtension {
		return fmt.Sprintf("element 255/%d at offset %d: %s", p.Ext, p.Offset, p.Reason)
	}
	return fmt.Sprintf("element %d at offset %d: %s", p.ID, p.Offset, p.Reason)
}
