package survey

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// SignalKind says how a driver reports signal strength.
type SignalKind uint8

const (
	SignalNone   SignalKind = iota // no signal attribute
	SignalMBm                      // NL80211_BSS_SIGNAL_MBM: dBm * 100
	SignalUnspec                   // NL80211_BSS_SIGNAL_UNSPEC: 0..100, no unit
)

// BSS is one entry of the kernel's scan result cache, decoded.
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

// nlaTypeMask strips the nested and byte-order flags from an attribute type.
const nlaTypeMask = ^uint16(unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)

// errTruncatedAttr is returned by walkAttrs for an attribute whose length
// runs past the buffer.
var errTruncatedAttr = errors.New("truncated netlink attribute")

// walkAttrs calls fn for each netlink attribute in b, in order. It stops at
// the first malformed attribute header and returns an error, after fn has
// seen every good attribute before it.
func walkAttrs(b []byte, fn func(typ uint16, data []byte)) error {
	for len(b) > 0 {
		if len(b) < unix.SizeofNlAttr {
			return fmt.Errorf("%w: %d trailing bytes", errTruncatedAttr, len(b))
		}
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & nlaTypeMask
		if l < unix.SizeofNlAttr || l > len(b) {
			return fmt.Errorf("%w: type %d length %d with %d bytes left", errTruncatedAttr, typ, l, len(b))
		}
		fn(typ, b[unix.SizeofNlAttr:l])
		adv := (l + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1)
		if adv > len(b) {
			adv = len(b)
		}
		b = b[adv:]
	}
	return nil
}

// attrProblem formats a problem with an attribute of unexpected size.
func attrProblem(name string, data []byte) string {
	return fmt.Sprintf("%s: unexpected length %d", name, len(data))
}

func u16(b []byte) uint16 { return binary.NativeEndian.Uint16(b) }
func u32(b []byte) uint32 { return binary.NativeEndian.Uint32(b) }
func u64(b []byte) uint64 { return binary.NativeEndian.Uint64(b) }

// DecodeBSS decodes the nested NL80211_ATTR_BSS attributes of one scan
// result. It never panics: attributes of the wrong size are reported in
// BSS.Problems and skipped, and a malformed attribute header ends decoding
// with an error after keeping what was decoded before it. A BSS without a
// BSSID or frequency is an error.
func DecodeBSS(attrs []byte) (BSS, error) {
	b := BSS{Status: -1}
	var bad []string
	err := walkAttrs(attrs, func(typ uint16, d []byte) {
		switch typ {
		case unix.NL80211_BSS_BSSID:
			if len(d) != 6 {
				bad = append(bad, attrProblem("BSSID", d))
				return
			}
			b.BSSID = net.HardwareAddr(append([]byte(nil), d...))
		case unix.NL80211_BSS_FREQUENCY:
			if len(d) != 4 {
				bad = append(bad, attrProblem("FREQUENCY", d))
				return
			}
			b.Frequency = int(u32(d))
		case unix.NL80211_BSS_FREQUENCY_OFFSET:
			if len(d) != 4 {
				bad = append(bad, attrProblem("FREQUENCY_OFFSET", d))
				return
			}
			b.FreqOffset = int(u32(d))
		case unix.NL80211_BSS_TSF:
			if len(d) != 8 {
				bad = append(bad, attrProblem("TSF", d))
				return
			}
			b.TSF = u64(d)
		case unix.NL80211_BSS_BEACON_INTERVAL:
			if len(d) != 2 {
				bad = append(bad, attrProblem("BEACON_INTERVAL", d))
				return
			}
			b.BeaconInterval = u16(d)
		case unix.NL80211_BSS_CAPABILITY:
			if len(d) != 2 {
				bad = append(bad, attrProblem("CAPABILITY", d))
				return
			}
			b.Capability = u16(d)
		case unix.NL80211_BSS_INFORMATION_ELEMENTS:
			b.IEs = append([]byte(nil), d...)
		case unix.NL80211_BSS_BEACON_IES:
			b.BeaconIEs = append([]byte(nil), d...)
		case unix.NL80211_BSS_PRESP_DATA:
			b.ProbeResponse = true
		case unix.NL80211_BSS_SIGNAL_MBM:
			if len(d) != 4 {
				bad = append(bad, attrProblem("SIGNAL_MBM", d))
				return
			}
			b.SignalKind, b.SignalMBm = SignalMBm, int32(u32(d))
		case unix.NL80211_BSS_SIGNAL_UNSPEC:
			if len(d) != 1 {
				bad = append(bad, attrProblem("SIGNAL_UNSPEC", d))
				return
			}
			b.SignalKind, b.SignalPct = SignalUnspec, d[0]
		case unix.NL80211_BSS_SEEN_MS_AGO:
			if len(d) != 4 {
				bad = append(bad, attrProblem("SEEN_MS_AGO", d))
				return
			}
			b.SeenMsAgo = u32(d)
		case unix.NL80211_BSS_LAST_SEEN_BOOTTIME:
			if len(d) != 8 {
				bad = append(bad, attrProblem("LAST_SEEN_BOOTTIME", d))
				return
			}
			b.LastSeenBoottime = time.Duration(u64(d))
		case unix.NL80211_BSS_STATUS:
			if len(d) != 4 {
				bad = append(bad, attrProblem("STATUS", d))
				return
			}
			b.Status = int(u32(d))
		}
	})
	b.Problems = bad
	b.Elements = ParseElements(b.IEs)
	if err != nil {
		return b, fmt.Errorf("decoding BSS attributes: %w", err)
	}
	if b.BSSID == nil {
		return b, errors.New("decoding BSS attributes: no BSSID")
	}
	if b.Frequency == 0 {
		return b, fmt.Errorf("decoding BSS %s: no frequency", b.BSSID)
	}
	return b, nil
}

// Record is the JSON form of a BSS observation, as printed by the appliance
// and stored by the uploader.
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
