package survey

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/surveybox/surveybox/wifi"
)

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
func DecodeBSS(attrs []byte) (wifi.BSS, error) {
	b := wifi.BSS{Status: -1}
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
			b.SignalKind, b.SignalMBm = wifi.SignalMBm, int32(u32(d))
		case unix.NL80211_BSS_SIGNAL_UNSPEC:
			if len(d) != 1 {
				bad = append(bad, attrProblem("SIGNAL_UNSPEC", d))
				return
			}
			b.SignalKind, b.SignalPct = wifi.SignalUnspec, d[0]
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
	b.Elements = wifi.ParseElements(b.IEs)
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
