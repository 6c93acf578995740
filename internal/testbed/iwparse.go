package testbed

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// IWBSS is one BSS from `iw dev IFACE scan [dump]` text output (iw 5.19 /
// 6.x).
type IWBSS struct {
	BSSID  string // lower case aa:bb:cc:dd:ee:ff
	Status string // "associated", "authenticated", "joined" or ""

	SSID    []byte // raw bytes, iw's \xNN escapes undone
	HasSSID bool   // false when iw printed no SSID line (zero-length SSID in old iw)

	Freq           float64 // MHz (iw prints "freq: 2412" or "freq: 2412.5")
	TSF            uint64  // usec
	BeaconInterval int     // TU
	Capability     uint16
	CapabilityBits []string // ESS Privacy ShortSlotTime ...
	SignalDBm      float64
	HasSignal      bool
	LastSeenMS     int64   // "last seen: N ms ago", -1 if absent
	LastSeenBoot   float64 // "last seen: 710.456s [boottime]", seconds
	IEsFrom        string  // "Probe Response" or "Beacon" (from the "Information elements from" line)

	Rates      []float64 // Supported rates + Extended supported rates, Mb/s
	BasicRates []float64 // the ones marked with *
	DSChannel  int

	Country    string // "US"
	CountryEnv string // "Indoor/Outdoor"

	HT, VHT, HE, EHT bool // capability elements present

	HTOp  *IWHTOperation
	VHTOp *IWVHTOperation
	HEOp  *IWHEOperation // only when iw printed an HE Operation element

	RSN *IWRSN
	WPA *IWRSN // WPA1 vendor IE

	BSSLoad *IWBSSLoad

	WMM bool
	// Sections lists every top-level element label iw printed, in order
	// (e.g. "SSID", "RSN", "HT operation"), for ad-hoc checks.
	Sections []string
}

// IWHTOperation is iw's "HT operation" element.
type IWHTOperation struct {
	PrimaryChannel  int
	SecondaryOffset string // "no secondary", "above", "below"
	STAChannelWidth string // "20 MHz" or "any"
}

// IWVHTOperation is iw's "VHT operation" element.
type IWVHTOperation struct {
	ChannelWidth int    // 0 (20/40), 1 (80), 2 (160), 3 (80+80)
	WidthText    string // "80 MHz"
	Seg1, Seg2   int    // center freq segment 1/2 (channel numbers)
}

// IWHEOperation is the HE Operation element (6 GHz information if present).
type IWHEOperation struct {
	Has6GHz        bool
	PrimaryChannel int
	ChannelWidth   string // raw text iw printed
	CCFS0, CCFS1   int
}

// IWRSN is an RSN or WPA element.
type IWRSN struct {
	Version         int
	GroupCipher     string   // "CCMP", "TKIP", ...
	PairwiseCiphers []string // "CCMP" ...
	AKMSuites       []string // "PSK", "SAE", "IEEE 802.1X", "OWE", "PSK/SHA-256", ...
	Capabilities    []string // tokens before the (0x....) value
	CapabilitiesRaw uint16
	MFPRequired     bool
	MFPCapable      bool
	GroupMgmtCipher string
}

// IWBSSLoad is the BSS Load element.
type IWBSSLoad struct {
	StationCount       int
	ChannelUtilisation int // N of 255
	AvailableCapacity  int
}

// ParseIWScan parses `iw dev IFACE scan` or `iw dev IFACE scan dump` output.
func ParseIWScan(text string) ([]IWBSS, error) {
	var out []IWBSS
	var cur *IWBSS
	var section string // current top-level label with sub-lines
	var secLines []string
	flush := func() {
		if cur != nil && section != "" {
			cur.applySection(section, secLines)
		}
		section, secLines = "", nil
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lineNo := 0
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		lineNo++
		if strings.HasPrefix(line, "BSS ") {
			flush()
			if cur != nil {
				out = append(out, *cur)
			}
			cur = &IWBSS{LastSeenMS: -1}
			rest := strings.TrimPrefix(line, "BSS ")
			mac := rest
			if i := strings.IndexAny(rest, "( "); i >= 0 {
				mac = rest[:i]
			}
			cur.BSSID = strings.ToLower(mac)
			if i := strings.Index(rest, " -- "); i >= 0 {
				cur.Status = strings.TrimSpace(rest[i+4:])
			}
			continue
		}
		if cur == nil || strings.TrimSpace(line) == "" {
			continue
		}
		if !strings.HasPrefix(line, "\t") {
			continue
		}
		if strings.HasPrefix(line, "\t\t") || strings.HasPrefix(line, "\t *") {
			// continuation of the current section
			if section != "" {
				secLines = append(secLines, strings.TrimSpace(line))
			}
			continue
		}
		flush()
		body := line[1:]
		key, val, ok := strings.Cut(body, ":")
		if !ok {
			cur.Sections = append(cur.Sections, strings.TrimSpace(body))
			continue
		}
		if key == "SSID" {
			cur.Sections = append(cur.Sections, key)
			s, err := unescapeIWSSID(strings.TrimSpace(val))
			if err != nil {
				return out, fmt.Errorf("line %d: %w", lineNo, err)
			}
			cur.SSID, cur.HasSSID = s, true
			continue
		}
		val = strings.TrimSpace(val)
		if err := cur.applyField(key, val); err != nil {
			return out, fmt.Errorf("line %d: %q: %w", lineNo, line, err)
		}
		if isSectionKey(key) {
			section = key
			if val != "" {
				secLines = append(secLines, val)
			}
		}
	}
	flush()
	if cur != nil {
		out = append(out, *cur)
	}
	return out, sc.Err()
}

func isSectionKey(k string) bool {
	switch k {
	case "RSN", "WPA", "HT operation", "VHT operation", "HE Operation", "HE operation", "BSS Load", "Country":
		return true
	}
	return false
}

func (b *IWBSS) applyField(key, val string) error {
	switch key {
	case "last seen":
		if strings.HasSuffix(val, "ms ago") {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(val, "ms ago")), 10, 64)
			if err != nil {
				return err
			}
			b.LastSeenMS = n
		} else if s, _, ok := strings.Cut(val, "s"); ok {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return err
			}
			b.LastSeenBoot = f
		}
		return nil
	case "TSF":
		f := strings.Fields(val)
		if len(f) > 0 {
			n, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				return err
			}
			b.TSF = n
		}
		return nil
	case "freq":
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return err
		}
		b.Freq = f
		return nil
	case "beacon interval":
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(val, "TUs")))
		if err != nil {
			return err
		}
		b.BeaconInterval = n
		return nil
	case "capability":
		i := strings.LastIndex(val, "(0x")
		if i < 0 {
			return fmt.Errorf("no capability value")
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(val[i+3:], ")"), 16, 16)
		if err != nil {
			return err
		}
		b.Capability = uint16(n)
		b.CapabilityBits = strings.Fields(val[:i])
		return nil
	case "signal":
		if v, ok := strings.CutSuffix(val, "dBm"); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return err
			}
			b.SignalDBm, b.HasSignal = f, true
		}
		return nil
	}
	b.Sections = append(b.Sections, key)
	switch {
	case strings.HasPrefix(key, "Information elements from "):
		b.IEsFrom = strings.TrimSuffix(strings.TrimPrefix(key, "Information elements from "), " frame")
	case key == "Supported rates" || key == "Extended supported rates":
		for _, tok := range strings.Fields(val) {
			basic := strings.HasSuffix(tok, "*")
			f, err := strconv.ParseFloat(strings.TrimSuffix(tok, "*"), 64)
			if err != nil {
				continue // membership selectors such as "VHT" or "HT"
			}
			b.Rates = append(b.Rates, f)
			if basic {
				b.BasicRates = append(b.BasicRates, f)
			}
		}
	case key == "DS Parameter set":
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(val, "channel")))
		if err == nil {
			b.DSChannel = n
		}
	case key == "Country":
		f := strings.Fields(val)
		if len(f) > 0 {
			b.Country = f[0]
		}
		if _, env, ok := strings.Cut(val, "Environment:"); ok {
			b.CountryEnv = strings.TrimSpace(env)
		}
	case key == "HT capabilities":
		b.HT = true
	case key == "VHT capabilities":
		b.VHT = true
	case key == "HE capabilities":
		b.HE = true
	case key == "EHT capabilities":
		b.EHT = true
	case key == "WMM":
		b.WMM = true
	}
	return nil
}

// items splits " * Key: value" lines into key/value pairs.
func items(lines []string) [][2]string {
	var kv [][2]string
	for _, l := range lines {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "*"))
		k, v, _ := strings.Cut(l, ":")
		kv = append(kv, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	return kv
}

func atoiPrefix(s string) int {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || end == 0 && s[end] == '-') {
		end++
	}
	n, _ := strconv.Atoi(s[:end])
	return n
}

func (b *IWBSS) applySection(key string, lines []string) {
	switch key {
	case "RSN", "WPA":
		r := &IWRSN{}
		for _, kv := range items(lines) {
			switch kv[0] {
			case "Version":
				r.Version = atoiPrefix(kv[1])
			case "Group cipher":
				r.GroupCipher = kv[1]
			case "Pairwise ciphers":
				r.PairwiseCiphers = strings.Fields(kv[1])
			case "Authentication suites":
				r.AKMSuites = splitAKMs(kv[1])
			case "Capabilities":
				v := kv[1]
				if i := strings.LastIndex(v, "(0x"); i >= 0 {
					n, _ := strconv.ParseUint(strings.TrimSuffix(v[i+3:], ")"), 16, 16)
					r.CapabilitiesRaw = uint16(n)
					v = v[:i]
				}
				r.Capabilities = strings.Fields(v)
				for _, c := range r.Capabilities {
					switch c {
					case "MFP-required":
						r.MFPRequired = true
					case "MFP-capable":
						r.MFPCapable = true
					}
				}
			case "Group mgmt cipher suite":
				r.GroupMgmtCipher = kv[1]
			}
		}
		if key == "RSN" {
			b.RSN = r
		} else {
			b.WPA = r
		}
	case "HT operation":
		h := &IWHTOperation{}
		for _, kv := range items(lines) {
			switch kv[0] {
			case "primary channel":
				h.PrimaryChannel = atoiPrefix(kv[1])
			case "secondary channel offset":
				h.SecondaryOffset = kv[1]
			case "STA channel width":
				h.STAChannelWidth = kv[1]
			}
		}
		b.HTOp = h
	case "VHT operation":
		v := &IWVHTOperation{}
		for _, kv := range items(lines) {
			switch kv[0] {
			case "channel width":
				v.ChannelWidth = atoiPrefix(kv[1])
				if i := strings.Index(kv[1], "("); i >= 0 {
					v.WidthText = strings.TrimSuffix(kv[1][i+1:], ")")
				}
			case "center freq segment 1":
				v.Seg1 = atoiPrefix(kv[1])
			case "center freq segment 2":
				v.Seg2 = atoiPrefix(kv[1])
			}
		}
		b.VHTOp = v
	case "HE Operation", "HE operation":
		h := &IWHEOperation{}
		for _, kv := range items(lines) {
			k := strings.ToLower(kv[0])
			switch {
			case strings.Contains(k, "6 ghz operation information"):
				h.Has6GHz = true
			case strings.Contains(k, "primary channel"):
				h.PrimaryChannel = atoiPrefix(kv[1])
			case strings.Contains(k, "channel width"):
				h.ChannelWidth = kv[1]
			case strings.Contains(k, "segment 0"):
				h.CCFS0 = atoiPrefix(kv[1])
			case strings.Contains(k, "segment 1"):
				h.CCFS1 = atoiPrefix(kv[1])
			}
		}
		b.HEOp = h
	case "BSS Load":
		l := &IWBSSLoad{}
		for _, kv := range items(lines) {
			switch kv[0] {
			case "station count":
				l.StationCount = atoiPrefix(kv[1])
			case "channel utilisation":
				l.ChannelUtilisation = atoiPrefix(kv[1])
			case "available admission capacity":
				l.AvailableCapacity = atoiPrefix(kv[1])
			}
		}
		b.BSSLoad = l
	}
}

// splitAKMs splits iw's AKM list. Suite names contain spaces ("IEEE
// 802.1X", "FT/IEEE 802.1X"), so "IEEE" is joined with the next token.
func splitAKMs(s string) []string {
	var out []string
	f := strings.Fields(s)
	for i := 0; i < len(f); i++ {
		t := f[i]
		if strings.HasSuffix(t, "IEEE") && i+1 < len(f) {
			t += " " + f[i+1]
			i++
		}
		out = append(out, t)
	}
	return out
}

// unescapeIWSSID undoes iw's print_ssid_escaped: every byte that is not
// printable, a backslash, or a leading/trailing space is printed as \xNN.
func unescapeIWSSID(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			if i+3 < len(s) && s[i+1] == 'x' {
				n, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
				if err != nil {
					return nil, fmt.Errorf("bad SSID escape in %q", s)
				}
				out = append(out, byte(n))
				i += 3
				continue
			}
			return nil, fmt.Errorf("bad SSID escape in %q", s)
		}
		out = append(out, s[i])
	}
	return out, nil
}

// IWSurvey is one channel of `iw dev IFACE survey dump`. Times are -1 when
// iw did not print them.
type IWSurvey struct {
	FreqMHz   int
	InUse     bool
	NoiseDBm  int
	HasNoise  bool
	ActiveMS  int64
	BusyMS    int64
	ExtBusyMS int64
	RxMS      int64
	BSSRxMS   int64
	TxMS      int64
	ScanMS    int64
}

// ParseIWSurvey parses `iw dev IFACE survey dump` output.
func ParseIWSurvey(text string) ([]IWSurvey, error) {
	var out []IWSurvey
	var cur *IWSurvey
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.HasPrefix(line, "Survey data from") {
			if cur != nil {
				out = append(out, *cur)
			}
			cur = &IWSurvey{ActiveMS: -1, BusyMS: -1, ExtBusyMS: -1, RxMS: -1, BSSRxMS: -1, TxMS: -1, ScanMS: -1}
			continue
		}
		if cur == nil || strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			return out, fmt.Errorf("survey line %d: %q", i+1, line)
		}
		v = strings.TrimSpace(v)
		num := func(suffix string) (int64, error) {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.Fields(v + " x")[0], suffix)), 10, 64)
		}
		var err error
		switch k {
		case "frequency":
			var n int64
			n, err = num("")
			cur.FreqMHz = int(n)
			cur.InUse = strings.Contains(v, "[in use]")
		case "noise":
			var n int64
			n, err = num("")
			cur.NoiseDBm, cur.HasNoise = int(n), true
		case "channel active time":
			cur.ActiveMS, err = num("")
		case "channel busy time":
			cur.BusyMS, err = num("")
		case "extension channel busy time":
			cur.ExtBusyMS, err = num("")
		case "channel receive time":
			cur.RxMS, err = num("")
		case "channel BSS receive time":
			cur.BSSRxMS, err = num("")
		case "channel transmit time":
			cur.TxMS, err = num("")
		case "channel scan time":
			cur.ScanMS, err = num("")
		}
		if err != nil {
			return out, fmt.Errorf("survey line %d: %q: %w", i+1, line, err)
		}
	}
	if cur != nil {
		out = append(out, *cur)
	}
	return out, nil
}
