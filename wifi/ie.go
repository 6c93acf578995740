package wifi

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Organisation identifiers of the vendor elements the decoder understands,
// as the top 24 bits of a Suite.
const (
	ouiIEEE      = 0x000fac // IEEE 802.11 (RSN suites)
	ouiMicrosoft = 0x0050f2 // Microsoft: WPA, WMM, WPS
	ouiWFA       = 0x506f9a // Wi-Fi Alliance
)

// Vendor element types under ouiMicrosoft and ouiWFA.
const (
	msTypeWPA  = 1
	msTypeWMM  = 2
	msTypeWPS  = 4
	wfaTypeOWE = 28
)

// WPS attribute types (Wi-Fi Simple Configuration, big-endian TLVs).
const (
	wpsDeviceName   = 0x1011
	wpsManufacturer = 0x1021
	wpsModelName    = 0x1023
	wpsModelNumber  = 0x1024
	wpsState        = 0x1044

	wpsStateConfigured = 2
)

// Default suites used when an RSN or WPA element leaves a field out, as in
// IEEE 802.11-2020 §9.4.2.24 and iw's print_rsn_ie.
const (
	rsnDefaultCipher = Suite(ouiIEEE<<8 | 4)      // CCMP-128
	rsnDefaultAKM    = Suite(ouiIEEE<<8 | 1)      // IEEE 802.1X
	wpaDefaultCipher = Suite(ouiMicrosoft<<8 | 2) // TKIP
	wpaDefaultAKM    = Suite(ouiMicrosoft<<8 | 1) // IEEE 802.1X
)

// lengthLimits is the accepted body length of one element, inclusive. A
// max of 255 means "no maximum".
type lengthLimits struct{ min, max int }

// elementLimits returns the body length limits of a base element ID (not
// vendor or extension) that the decoder uses, and false for IDs it ignores.
// The numbers are iw's ieprinters[] table (scan.c); the Mobility Domain and
// RSNX elements, which iw does not decode, follow IEEE 802.11-2020.
func elementLimits(id uint8) (lengthLimits, bool) {
	switch id {
	case ieSSID:
		return lengthLimits{0, 32}, true
	case ieSupportedRates, ieExtendedRates, ieExtendedCaps:
		return lengthLimits{0, 255}, true
	case ieDSParams:
		return lengthLimits{1, 1}, true
	case ieTIM:
		return lengthLimits{4, 255}, true
	case ieCountry:
		return lengthLimits{3, 255}, true
	case ieBSSLoad:
		return lengthLimits{5, 5}, true
	case ieERP:
		return lengthLimits{1, 255}, true
	case ieHTCapabilities:
		return lengthLimits{26, 26}, true
	case ieRSN:
		return lengthLimits{2, 255}, true
	case ieMobilityDomain:
		return lengthLimits{3, 255}, true
	case ieHTOperation:
		return lengthLimits{22, 22}, true
	case ieRMEnabledCaps:
		return lengthLimits{5, 5}, true
	case ieVHTCapabilities:
		return lengthLimits{12, 255}, true
	case ieVHTOperation:
		return lengthLimits{5, 255}, true
	case ieRSNX:
		return lengthLimits{1, 255}, true
	}
	return lengthLimits{}, false
}

// extensionLimits is elementLimits for element ID extensions; the lengths
// exclude the extension ID byte. Minima are iw's ext_printers[]; iw's
// maxima are not enforced because later amendments grow these elements
// and the decoder reads only fixed-offset fields that it checks itself.
func extensionLimits(ext uint8) (lengthLimits, bool) {
	switch ext {
	case extHECapabilities:
		return lengthLimits{21, 255}, true
	case extHEOperation:
		return lengthLimits{6, 255}, true
	case extEHTOperation:
		return lengthLimits{5, 255}, true
	case extMultiLink:
		return lengthLimits{5, 255}, true
	case extEHTCapabilities:
		return lengthLimits{13, 255}, true
	}
	return lengthLimits{}, false
}

// ParseElements decodes the information elements of one BSS.
//
// It walks the element list the way iw does: it stops at the first element
// whose length runs past the end of ies and records that as a Problem,
// keeping everything before it. An element of a known kind with an invalid
// length, or an inner structure that does not fit, is recorded in Problems
// and skipped without affecting its neighbours. ParseElements never panics.
//
// To avoid copying, the byte-slice fields of the result (SSID, RSNX,
// ExtendedCaps and OWETransition.SSID) alias ies: callers must not modify
// ies while the result is in use, and must copy those fields if they keep
// them beyond the life of ies.
func ParseElements(ies []byte) Elements {
	var p elementParser
	p.parse(ies)
	return p.e
}

// elementParser holds the state of one ParseElements call.
type elementParser struct {
	e Elements

	// wps collects the bodies of WPS vendor elements: WPS attributes may
	// be split across several consecutive elements and must be joined
	// before decoding.
	wps       [][]byte
	wpsOffset int
}

// parse walks the TLV list.
func (p *elementParser) parse(ies []byte) {
	off := 0
	for len(ies)-off >= 2 {
		id, n := ies[off], int(ies[off+1])
		if len(ies)-off-2 < n {
			p.truncated(ies[off:], off)
			break
		}
		p.element(id, ies[off+2:off+2+n], off)
		off += 2 + n
	}
	if len(ies)-off == 1 {
		p.problem(ies[off], 0, off, "truncated element header: 1 byte left")
	}
	p.finishWPS()
}

// truncated records the trailing element that runs past the end of the
// element list.
func (p *elementParser) truncated(rest []byte, off int) {
	var ext uint8
	if rest[0] == ieExtension && len(rest) > 2 && rest[1] > 0 {
		ext = rest[2]
	}
	p.problem(rest[0], ext, off, fmt.Sprintf("truncated: length %d but only %d bytes left", rest[1], len(rest)-2))
}

// problem appends an ElementProblem.
func (p *elementParser) problem(id, ext uint8, off int, reason string) {
	p.e.Problems = append(p.e.Problems, ElementProblem{ID: id, Ext: ext, Offset: off, Reason: reason})
}

// badLength records an element whose body length is outside its limits.
func (p *elementParser) badLength(id, ext uint8, off, n int, l lengthLimits) {
	var reason string
	switch {
	case l.min == l.max:
		reason = fmt.Sprintf("invalid length %d, want %d", n, l.min)
	case l.max == 255:
		reason = fmt.Sprintf("invalid length %d, want at least %d", n, l.min)
	default:
		reason = fmt.Sprintf("invalid length %d, want %d to %d", n, l.min, l.max)
	}
	p.problem(id, ext, off, reason)
}

// element decodes one complete element; b is its body.
func (p *elementParser) element(id uint8, b []byte, off int) {
	switch id {
	case ieVendor:
		p.vendor(b, off)
		return
	case ieExtension:
		p.extension(b, off)
		return
	}
	l, known := elementLimits(id)
	if !known {
		return
	}
	if len(b) < l.min || len(b) > l.max {
		p.badLength(id, 0, off, len(b), l)
		return
	}
	e := &p.e
	switch id {
	case ieSSID:
		if !e.HasSSID {
			e.SSID, e.HasSSID = b, true
		}
	case ieSupportedRates, ieExtendedRates:
		p.rates(b)
	case ieDSParams:
		if e.DSChannel == 0 {
			e.DSChannel = int(b[0])
		}
	case ieTIM:
		if e.DTIMPeriod == 0 {
			e.DTIMPeriod = int(b[1])
		}
	case ieCountry:
		if e.Country == "" {
			e.Country, e.Environment = string(b[:2]), b[2]
		}
	case ieBSSLoad:
		if e.BSSLoad == nil {
			e.BSSLoad = &BSSLoad{
				Stations:          binary.LittleEndian.Uint16(b[0:2]),
				Utilization:       b[2],
				AdmissionCapacity: binary.LittleEndian.Uint16(b[3:5]),
			}
		}
	case ieERP:
		e.ERP = true
	case ieHTCapabilities:
		e.HTCapabilities = true
	case ieHTOperation:
		if e.HTOperation == nil {
			e.HTOperation = &HTOperation{
				PrimaryChannel:  b[0],
				SecondaryOffset: b[1] & 0x03,
				STAChannelWidth: b[1]&0x04 != 0,
			}
		}
	case ieVHTCapabilities:
		e.VHTCapabilities = true
	case ieVHTOperation:
		if e.VHTOperation == nil {
			e.VHTOperation = &VHTOperation{ChannelWidth: b[0], CCFS0: b[1], CCFS1: b[2]}
		}
	case ieRSN:
		if e.RSN == nil {
			e.RSN = p.rsn(b, rsnDefaultCipher, rsnDefaultAKM, ieRSN, off)
		}
	case ieRSNX:
		if e.RSNX == nil {
			e.RSNX = b
		}
	case ieMobilityDomain:
		if !e.FastTransition {
			e.FastTransition = true
			e.MobilityDomain = binary.LittleEndian.Uint16(b[0:2])
		}
	case ieRMEnabledCaps:
		e.RadioMeasurement = true
		e.NeighborReport = b[0]&0x02 != 0
	case ieExtendedCaps:
		if e.ExtendedCaps == nil {
			e.ExtendedCaps = b
			e.BSSTransition = extCapBit(b, 19)
			e.UTF8SSID = extCapBit(b, 48)
		}
	}
}

// extCapBit reports bit n of a little-endian bit field (bit n is bit n%8 of
// byte n/8); bits past the end are zero.
func extCapBit(b []byte, n int) bool {
	return n/8 < len(b) && b[n/8]&(1<<(n%8)) != 0
}

// isMembershipSelector reports whether a rate octet with the basic bit set
// is a BSS membership selector rather than a rate: 121 EHT PHY, 122 HE PHY,
// 123 SAE hash-to-element only, 124 EPD, 125 GLK, 126 VHT PHY, 127 HT PHY
// (IEEE 802.11-2020 table 9-78 and 802.11be).
func isMembershipSelector(r uint8) bool {
	return r&0x80 != 0 && r&0x7f >= 121
}

// rates appends the rates of a Supported Rates or Extended Supported Rates
// element.
func (p *elementParser) rates(b []byte) {
	e := &p.e
	for _, r := range b {
		if isMembershipSelector(r) {
			continue
		}
		if e.Rates == nil {
			// Room for an Extended Supported Rates element too.
			e.Rates = make([]uint8, 0, 12)
		}
		e.Rates = append(e.Rates, r&0x7f)
		if r&0x80 != 0 {
			if e.BasicRates == nil {
				e.BasicRates = make([]uint8, 0, 8)
			}
			e.BasicRates = append(e.BasicRates, r&0x7f)
		}
	}
}

// extension decodes an element ID extension element (255); b is its body
// starting with the extension ID.
func (p *elementParser) extension(b []byte, off int) {
	if len(b) < 1 {
		p.problem(ieExtension, 0, off, "empty extension element")
		return
	}
	ext, body := b[0], b[1:]
	l, known := extensionLimits(ext)
	if !known {
		return
	}
	if len(body) < l.min || len(body) > l.max {
		p.badLength(ieExtension, ext, off, len(body), l)
		return
	}
	e := &p.e
	switch ext {
	case extHECapabilities:
		e.HECapabilities = true
	case extHEOperation:
		if e.HEOperation == nil {
			e.HEOperation = p.heOperation(body, off)
		}
	case extEHTCapabilities:
		e.EHTCapabilities = true
	case extEHTOperation:
		if e.EHTOperation == nil {
			e.EHTOperation = p.ehtOperation(body, off)
		}
	case extMultiLink:
		// Multi-Link Control bits 0-2 are the type; 0 is Basic.
		if body[0]&0x07 == 0 {
			e.MultiLink = true
		}
	}
}

// heOperation decodes the HE Operation element body (after the extension
// ID, at least 6 bytes): HE Operation Parameters (3 bytes), BSS Color
// Information, Basic HE-MCS And NSS Set (2 bytes), then the optional VHT
// Operation Information (3 bytes, parameters bit 14), Max Co-Hosted BSSID
// Indicator (1 byte, bit 15) and 6 GHz Operation Information (5 bytes,
// bit 17), in that order (IEEE 802.11ax-2021 §9.4.2.249; iw's
// print_he_operation).
func (p *elementParser) heOperation(b []byte, off int) *HEOperation {
	op := &HEOperation{BSSColor: b[3] & 0x3f}
	params := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
	pos := 6
	if params&(1<<14) != 0 {
		pos += 3
	}
	if params&(1<<15) != 0 {
		pos++
	}
	if params&(1<<17) != 0 {
		if len(b) < pos+5 {
			p.problem(ieExtension, extHEOperation, off,
				fmt.Sprintf("6 GHz operation information needs %d bytes, have %d", pos+5, len(b)))
			return op
		}
		op.SixGHz = &SixGHzOperation{
			PrimaryChannel: b[pos],
			ChannelWidth:   b[pos+1] & 0x03,
			CCFS0:          b[pos+2],
			CCFS1:          b[pos+3],
		}
	}
	return op
}

// ehtOperation decodes the EHT Operation element body (after the extension
// ID, at least 5 bytes): EHT Operation Parameters, Basic EHT-MCS And NSS
// Set (4 bytes), then, when parameters bit 0 is set, the EHT Operation
// Information: Control (width in bits 0-2), CCFS0, CCFS1 and an optional
// disabled subchannel bitmap (IEEE 802.11be §9.4.2.311).
func (p *elementParser) ehtOperation(b []byte, off int) *EHTOperation {
	op := &EHTOperation{}
	if b[0]&0x01 == 0 {
		return op
	}
	if len(b) < 8 {
		p.problem(ieExtension, extEHTOperation, off,
			fmt.Sprintf("EHT operation information needs 8 bytes, have %d", len(b)))
		return op
	}
	op.HasInfo = true
	op.ChannelWidth = b[5] & 0x07
	op.CCFS0 = b[6]
	op.CCFS1 = b[7]
	return op
}

// vendor decodes a vendor-specific element (221).
func (p *elementParser) vendor(b []byte, off int) {
	if len(b) < 3 {
		p.problem(ieVendor, 0, off, fmt.Sprintf("vendor element too short: %d bytes", len(b)))
		return
	}
	oui := uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
	p.addVendorOUI(oui)
	if len(b) < 4 {
		return
	}
	typ, body := b[3], b[4:]
	e := &p.e
	switch {
	case oui == ouiMicrosoft && typ == msTypeWPA:
		if len(body) < 2 {
			p.problem(ieVendor, 0, off, fmt.Sprintf("WPA element too short: %d bytes after type", len(body)))
			return
		}
		if e.WPA == nil {
			e.WPA = p.rsn(body, wpaDefaultCipher, wpaDefaultAKM, ieVendor, off)
		}
	case oui == ouiMicrosoft && typ == msTypeWMM:
		if len(body) < 1 {
			p.problem(ieVendor, 0, off, "WMM element has no subtype")
			return
		}
		e.WMM = true
	case oui == ouiMicrosoft && typ == msTypeWPS:
		if len(p.wps) == 0 {
			p.wpsOffset = off
		}
		p.wps = append(p.wps, body)
	case oui == ouiWFA && typ == wfaTypeOWE:
		if e.OWETransition == nil {
			e.OWETransition = p.oweTransition(body, off)
		}
	}
}

// addVendorOUI appends oui to VendorOUIs unless it is already there.
func (p *elementParser) addVendorOUI(oui uint32) {
	s := vendorOUIString(oui)
	for _, have := range p.e.VendorOUIs {
		if have == s {
			return
		}
	}
	if p.e.VendorOUIs == nil {
		p.e.VendorOUIs = make([]string, 0, 4)
	}
	p.e.VendorOUIs = append(p.e.VendorOUIs, s)
}

// vendorOUIString renders an OUI as "aa:bb:cc", using constant strings for
// OUIs common in beacons so that decoding them does not allocate.
func vendorOUIString(oui uint32) string {
	switch oui {
	case ouiMicrosoft:
		return "00:50:f2"
	case ouiWFA:
		return "50:6f:9a"
	case 0x001018:
		return "00:10:18" // Broadcom
	case 0x00904c:
		return "00:90:4c" // Epigram (Broadcom)
	case 0x8cfdf0:
		return "8c:fd:f0" // Qualcomm
	case 0x00037f:
		return "00:03:7f" // Atheros (Qualcomm)
	case 0x000ce7:
		return "00:0c:e7" // MediaTek
	case 0x000c43:
		return "00:0c:43" // Ralink (MediaTek)
	case 0x00e04c:
		return "00:e0:4c" // Realtek
	case 0x004096:
		return "00:40:96" // Cisco
	case 0x000b86:
		return "00:0b:86" // Aruba
	case 0x0017f2:
		return "00:17:f2" // Apple
	}
	return formatOUI(oui, ':')
}

// formatOUI renders a 24-bit OUI as lowercase hex octets joined by sep.
func formatOUI(oui uint32, sep byte) string {
	const hex = "0123456789abcdef"
	var s [8]byte
	for i := 0; i < 3; i++ {
		o := byte(oui >> (16 - 8*i))
		s[3*i] = hex[o>>4]
		s[3*i+1] = hex[o&0x0f]
		if i < 2 {
			s[3*i+2] = sep
		}
	}
	return string(s[:])
}

// oweTransition decodes the WFA OWE Transition Mode element body (after
// OUI and type): BSSID, SSID length, SSID, then optional band and channel.
// A BSSID without a complete SSID is kept and the SSID reported.
func (p *elementParser) oweTransition(b []byte, off int) *OWETransition {
	if len(b) < 7 {
		p.problem(ieVendor, 0, off, fmt.Sprintf("OWE transition element too short: %d bytes after type", len(b)))
		return nil
	}
	t := &OWETransition{}
	copy(t.BSSID[:], b[:6])
	n := int(b[6])
	if n > len(b)-7 {
		p.problem(ieVendor, 0, off, fmt.Sprintf("OWE transition SSID length %d exceeds element", n))
		return t
	}
	t.SSID = b[7 : 7+n]
	return t
}

// rsn decodes the body of an RSN element (starting at the version) or of a
// WPA vendor element (after OUI and type). Fields after the version are
// optional; absent cipher and AKM fields take the given defaults as iw
// does. A list that runs past the end is reported with id and off and
// decoding stops there, keeping what came before.
func (p *elementParser) rsn(b []byte, defCipher, defAKM Suite, id uint8, off int) *RSN {
	r := &RSN{Version: binary.LittleEndian.Uint16(b[0:2])}
	b = b[2:]

	if len(b) < 4 {
		r.GroupCipher = defCipher
		r.PairwiseCipher = []Suite{defCipher}
		r.AKM = []Suite{defAKM}
		p.rsnTail(b, id, off)
		return r
	}
	r.GroupCipher = suiteAt(b)
	b = b[4:]

	var ok bool
	if r.PairwiseCipher, b, ok = p.suiteList(b, defCipher, id, off, "pairwise cipher"); !ok {
		return r
	}
	if r.AKM, b, ok = p.suiteList(b, defAKM, id, off, "AKM"); !ok {
		return r
	}
	if len(b) >= 2 {
		r.Capabilities = binary.LittleEndian.Uint16(b[0:2])
		r.HasCapabilities = true
		b = b[2:]
	}
	if len(b) >= 2 {
		n := int(binary.LittleEndian.Uint16(b[0:2]))
		if len(b)-2 < 16*n {
			p.problem(id, 0, off, fmt.Sprintf("RSN PMKID count %d exceeds element", n))
			return r
		}
		r.PMKIDCount = n
		b = b[2+16*n:]
	}
	if len(b) >= 4 {
		r.GroupMgmtCipher = suiteAt(b)
		b = b[4:]
	}
	p.rsnTail(b, id, off)
	return r
}

// suiteList decodes a suite count and list. An absent list (fewer than 2
// bytes left) is [def]; a list that runs past the end is reported and ok
// is false.
func (p *elementParser) suiteList(b []byte, def Suite, id uint8, off int, what string) (list []Suite, rest []byte, ok bool) {
	if len(b) < 2 {
		return []Suite{def}, b, true
	}
	n := int(binary.LittleEndian.Uint16(b[0:2]))
	b = b[2:]
	if len(b) < 4*n {
		p.problem(id, 0, off, fmt.Sprintf("RSN %s count %d exceeds element", what, n))
		return nil, nil, false
	}
	list = make([]Suite, n)
	for i := range list {
		list[i] = suiteAt(b[4*i:])
	}
	return list, b[4*n:], true
}

// rsnTail reports bytes left over after a decoded RSN or WPA element.
func (p *elementParser) rsnTail(b []byte, id uint8, off int) {
	if len(b) > 0 {
		p.problem(id, 0, off, fmt.Sprintf("RSN: %d bytes of trailing data", len(b)))
	}
}

// suiteAt reads a 4-byte suite selector (OUI then type).
func suiteAt(b []byte) Suite {
	return Suite(binary.BigEndian.Uint32(b[:4]))
}

// finishWPS decodes the collected WPS element bodies, joined in order.
func (p *elementParser) finishWPS() {
	switch len(p.wps) {
	case 0:
		return
	case 1:
		p.e.WPS = p.decodeWPS(p.wps[0])
	default:
		var joined []byte
		for _, b := range p.wps {
			joined = append(joined, b...)
		}
		p.e.WPS = p.decodeWPS(joined)
	}
}

// decodeWPS decodes WPS attributes: 16-bit big-endian type and length,
// then the value.
func (p *elementParser) decodeWPS(b []byte) *WPS {
	w := &WPS{}
	for len(b) >= 4 {
		typ := binary.BigEndian.Uint16(b[0:2])
		n := int(binary.BigEndian.Uint16(b[2:4]))
		if n > len(b)-4 {
			p.problem(ieVendor, 0, p.wpsOffset, fmt.Sprintf("WPS attribute %#04x length %d exceeds element", typ, n))
			return w
		}
		v := b[4 : 4+n]
		switch typ {
		case wpsDeviceName:
			w.DeviceName = escapeString(v)
		case wpsManufacturer:
			w.Manufacturer = escapeString(v)
		case wpsModelName:
			w.ModelName = escapeString(v)
		case wpsModelNumber:
			w.ModelNumber = escapeString(v)
		case wpsState:
			w.Configured = n >= 1 && v[0] == wpsStateConfigured
		}
		b = b[4+n:]
	}
	if len(b) > 0 {
		p.problem(ieVendor, 0, p.wpsOffset, fmt.Sprintf("WPS: %d bytes of trailing data", len(b)))
	}
	return w
}

// escapeString converts arbitrary bytes to a string: valid UTF-8 is kept,
// each byte of an invalid sequence becomes \xNN, and trailing NULs (C
// string terminators some devices include) are dropped.
func escapeString(b []byte) string {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	if utf8.Valid(b) {
		return string(b)
	}
	const hex = "0123456789abcdef"
	var s strings.Builder
	s.Grow(len(b) + 8)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			s.WriteString(`\x`)
			s.WriteByte(hex[b[0]>>4])
			s.WriteByte(hex[b[0]&0x0f])
		} else {
			s.Write(b[:size])
		}
		b = b[size:]
	}
	return s.String()
}
