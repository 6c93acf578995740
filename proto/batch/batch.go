// Package batch is the compact stored form of one scan cycle (a Batch): how
// the box's spool keeps it, how an upload carries it (unchanged), and how the
// operator's collector stores it. It also defines the spool ID that names
// the sequence a batch belongs to. OS-neutral: both sides import it.
package batch

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/surveybox/surveybox/wifi"
)

// Batch is what one scan cycle produced: its BSS observations, its channel
// survey rows and what the box knows about the cycle.
type Batch struct {
	// Started and Finished bound the scan cycle (box clock).
	Started, Finished time.Time
	// Interface is the wireless interface that scanned.
	Interface string
	// Triggered: the box's own scan ran (false: it used another's scan).
	Triggered bool
	// Aborted: the scan was aborted, so the results may be incomplete.
	Aborted bool
	// EventsLost: the end of the scan was assumed rather than seen.
	EventsLost bool
	// Problems lists what went wrong in the cycle, e.g. BSS entries that
	// could not be decoded.
	Problems []string

	BSS      []wifi.Record
	Channels []wifi.ChannelRecord
}

// Records returns how many records the batch holds: BSS observations plus
// channel survey rows. Each record gets its own sequence number; a batch
// without records still takes one, so an empty scan cycle is visible.
func (b *Batch) Records() int { return len(b.BSS) + len(b.Channels) }

// Encoding versions and compression methods. The first byte of every
// stored batch is the encoding version; Decode rejects versions it does
// not know.
const (
	encodingV1 = 1

	compressNone    = 0
	compressDeflate = 1
)

// MaxPayload bounds the size of one batch's payload before compression:
// Encode refuses larger batches, so that Decode can refuse them too and
// corrupt stored bytes cannot make it allocate without limit. A scan cycle
// of 500 BSSes and a full channel survey takes well under 1 MiB.
const MaxPayload = 16 << 20

// MaxBSS and MaxChannels bound the records of one batch. A scan cycle in
// the densest place sees a few thousand BSSes and at most a few hundred
// channels; the bounds keep a decoder from allocating for records that
// corrupt or hostile input merely declares (a record in memory takes
// hundreds of times the two bytes it can take stored).
const (
	MaxBSS      = 1 << 14
	MaxChannels = 1 << 12
)

// ErrCorrupt is wrapped by every error Decode returns for malformed input.
var ErrCorrupt = errors.New("corrupt stored batch")

// ErrTooLarge is wrapped by Encode's error for a payload over MaxPayload.
var ErrTooLarge = errors.New("batch too large")

// Encode returns the stored form of b (see Encoder.Encode).
func Encode(b *Batch) ([]byte, error) {
	var e Encoder
	return e.Encode(b)
}

// Encoder encodes batches, reusing its DEFLATE tables (about 1 MB) from
// one batch to the next. The zero Encoder is ready; it is not safe for
// concurrent use.
type Encoder struct {
	zw *flate.Writer
	// NoCompression stores payloads as they are (tests, benchmarks).
	NoCompression bool
}

// Encode returns the stored form of b, version 1:
//
//	byte     version (1)
//	byte     compression: 0 none, 1 DEFLATE (RFC 1951)
//	uvarint  number of BSS records
//	uvarint  number of channel survey rows
//	varint   Started, Unix seconds; uvarint its nanoseconds
//	varint   Finished - Started, nanoseconds
//	uvarint  payload length before compression
//	...      payload, compressed or not
//
// The payload holds the cycle metadata, then the BSS records, then the
// survey rows. Integers are varints; byte strings are length-prefixed;
// text is interned in a per-batch string table (first use spells it out,
// later uses are an index); hex fields (SSID, IEs) and MAC addresses are
// stored as bytes when they are in the canonical form wifi.Record uses
// and as text otherwise, and channel/band/SSID display forms are left out
// when they are what the survey package derives from frequency and SSID
// bytes. Decode(Encode(b)) equals b, including nil against empty slices.
// The payload is compressed when that makes it smaller. More records than
// MaxBSS or MaxChannels, or a payload larger than MaxPayload, is an error
// wrapping ErrTooLarge.
func (enc *Encoder) Encode(b *Batch) ([]byte, error) {
	var zw *flate.Writer
	if !enc.NoCompression {
		if enc.zw == nil {
			enc.zw, _ = flate.NewWriter(nil, flate.BestSpeed) // only fails for a bad level
		}
		zw = enc.zw
	}
	if len(b.BSS) > MaxBSS || len(b.Channels) > MaxChannels {
		return nil, fmt.Errorf("encoding %d BSS and %d channel records: %w (at most %d and %d)", len(b.BSS), len(b.Channels), ErrTooLarge, MaxBSS, MaxChannels)
	}
	var e encoder
	e.table = make(map[string]uint64)
	e.str(b.Interface)
	var flags uint64
	if b.Triggered {
		flags |= 1
	}
	if b.Aborted {
		flags |= 2
	}
	if b.EventsLost {
		flags |= 4
	}
	e.uvarint(flags)
	e.strs(b.Problems)
	for i := range b.BSS {
		e.bss(&b.BSS[i])
	}
	for i := range b.Channels {
		e.channel(&b.Channels[i])
	}
	payload := e.buf
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("encoding %d records: %w (%d bytes > %d)", b.Records(), ErrTooLarge, len(payload), MaxPayload)
	}

	out := make([]byte, 0, len(payload)/2+32)
	out = append(out, encodingV1, compressNone)
	out = binary.AppendUvarint(out, uint64(len(b.BSS)))
	out = binary.AppendUvarint(out, uint64(len(b.Channels)))
	out = binary.AppendVarint(out, b.Started.Unix())
	out = binary.AppendUvarint(out, uint64(b.Started.Nanosecond()))
	out = binary.AppendVarint(out, int64(b.Finished.Sub(b.Started)))
	out = binary.AppendUvarint(out, uint64(len(payload)))
	if zw != nil {
		var z bytes.Buffer
		zw.Reset(&z)
		zw.Write(payload) // writes to a bytes.Buffer do not fail
		zw.Close()
		if z.Len() < len(payload) {
			out[1] = compressDeflate
			return append(out, z.Bytes()...), nil
		}
	}
	return append(out, payload...), nil
}

// Header is the uncompressed start of a stored batch: enough to count its
// records and place it in time without decompressing it.
type Header struct {
	BSS, Channels     uint64 // record counts
	Started, Finished time.Time
	compression       byte
	payloadLen        uint64
	rest              []byte // payload as stored
}

// Seqs returns how many sequence numbers the batch takes: one per record,
// and one for a batch without records, so that an empty scan cycle is
// visible.
func (h Header) Seqs() uint64 { return max(h.BSS+h.Channels, 1) }

// PayloadBytes is the size of the batch's payload before compression.
func (h Header) PayloadBytes() uint64 { return h.payloadLen }

// ReadHeader decodes the header of a stored batch. Errors wrap ErrCorrupt.
func ReadHeader(data []byte) (Header, error) {
	var h Header
	if len(data) < 2 {
		return h, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(data))
	}
	if data[0] != encodingV1 {
		return h, fmt.Errorf("%w: unknown encoding version %d", ErrCorrupt, data[0])
	}
	h.compression = data[1]
	if h.compression != compressNone && h.compression != compressDeflate {
		return h, fmt.Errorf("%w: unknown compression %d", ErrCorrupt, h.compression)
	}
	d := decoder{buf: data[2:]}
	h.BSS = d.uvarint()
	h.Channels = d.uvarint()
	sec := d.varint()
	nsec := d.uvarint()
	dur := d.varint()
	h.payloadLen = d.uvarint()
	if d.err != nil {
		return h, d.err
	}
	if nsec >= 1e9 {
		return h, fmt.Errorf("%w: nanoseconds %d out of range", ErrCorrupt, nsec)
	}
	if h.payloadLen > MaxPayload {
		return h, fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrCorrupt, h.payloadLen, MaxPayload)
	}
	if h.BSS > MaxBSS || h.Channels > MaxChannels {
		return h, fmt.Errorf("%w: %d BSS and %d channel records (at most %d and %d)", ErrCorrupt, h.BSS, h.Channels, MaxBSS, MaxChannels)
	}
	// Every record takes at least two bytes, so a count beyond that is
	// corrupt.
	if h.BSS > h.payloadLen/2 || h.Channels > h.payloadLen/2 {
		return h, fmt.Errorf("%w: %d BSS and %d channel records in a %d-byte payload", ErrCorrupt, h.BSS, h.Channels, h.payloadLen)
	}
	h.Started = time.Unix(sec, int64(nsec)).UTC()
	h.Finished = h.Started.Add(time.Duration(dur))
	h.rest = d.buf
	return h, nil
}

// Decode returns the batch stored in data by Encode. Malformed input gives
// an error wrapping ErrCorrupt, never a panic.
func Decode(data []byte) (Batch, error) {
	h, err := ReadHeader(data)
	if err != nil {
		return Batch{}, err
	}
	payload := h.rest
	if h.compression == compressDeflate {
		r := flate.NewReader(bytes.NewReader(h.rest))
		payload, err = io.ReadAll(io.LimitReader(r, int64(h.payloadLen)+1))
		if err != nil {
			return Batch{}, fmt.Errorf("%w: decompressing: %w", ErrCorrupt, err)
		}
	}
	if uint64(len(payload)) != h.payloadLen {
		return Batch{}, fmt.Errorf("%w: payload is %d bytes, header says %d", ErrCorrupt, len(payload), h.payloadLen)
	}
	d := decoder{buf: payload}
	b := Batch{Started: h.Started, Finished: h.Finished}
	b.Interface = d.str()
	flags := d.uvarint()
	b.Triggered, b.Aborted, b.EventsLost = flags&1 != 0, flags&2 != 0, flags&4 != 0
	b.Problems = d.strs()
	// The slices grow as records decode, never to what the header merely
	// declares: corrupt input fails at its first bad record, having
	// allocated for the good ones only.
	if h.BSS > 0 {
		b.BSS = make([]wifi.Record, 0, min(h.BSS, 64))
		for range h.BSS {
			var r wifi.Record
			if d.bss(&r); d.err != nil {
				break
			}
			b.BSS = append(b.BSS, r)
		}
	}
	if h.Channels > 0 && d.err == nil {
		b.Channels = make([]wifi.ChannelRecord, 0, min(h.Channels, 64))
		for range h.Channels {
			var c wifi.ChannelRecord
			if d.channel(&c); d.err != nil {
				break
			}
			b.Channels = append(b.Channels, c)
		}
	}
	if d.err != nil {
		return Batch{}, d.err
	}
	if len(d.buf) != 0 {
		return Batch{}, fmt.Errorf("%w: %d bytes after the last record", ErrCorrupt, len(d.buf))
	}
	return b, nil
}

// Bits of a BSS record's presence mask.
const (
	bHidden = 1 << iota
	bSignalDBm
	bSignalExact // SignalDBm is a whole number of mBm, stored as a varint
	bSignalPct
	bAssociated
	bWPA1
	bStations
	bUtilization
	bRRM
	bBTM
	bFT
	bSSIDDerived    // SSID == wifi.DisplaySSID(ssid bytes)
	bChannelDerived // Channel == wifi.FrequencyChannel(freq)
	bBandDerived    // Band == wifi.FrequencyBand(freq)
)

// Bits of a channel survey row's presence mask.
const (
	cNoise = 1 << iota
	cActive
	cBusy
	cExtBusy
	cRX
	cTX
	cScan
	cBSSRX
	cInUse
	cChannelDerived
	cBandDerived
)

type encoder struct {
	buf   []byte
	table map[string]uint64
}

func (e *encoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *encoder) varint(v int64)   { e.buf = binary.AppendVarint(e.buf, v) }

func (e *encoder) bytes(b []byte) {
	e.uvarint(uint64(len(b)))
	e.buf = append(e.buf, b...)
}

// str writes an index into the string table: 0 and the string when it is
// new, its 1-based position otherwise.
func (e *encoder) str(s string) {
	if i, ok := e.table[s]; ok {
		e.uvarint(i)
		return
	}
	e.table[s] = uint64(len(e.table) + 1)
	e.uvarint(0)
	e.uvarint(uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// strs writes a string list: 0 for nil, else 1 + length, then the strings.
func (e *encoder) strs(l []string) {
	if l == nil {
		e.uvarint(0)
		return
	}
	e.uvarint(uint64(len(l)) + 1)
	for _, s := range l {
		e.str(s)
	}
}

// hexStr writes a hex string as bytes when it is canonical (lowercase, even
// length), as text otherwise: uvarint len<<1|text, then the bytes.
func (e *encoder) hexStr(s string) {
	if b, err := hex.DecodeString(s); err == nil && hex.EncodeToString(b) == s {
		e.uvarint(uint64(len(b)) << 1)
		e.buf = append(e.buf, b...)
		return
	}
	e.uvarint(uint64(len(s))<<1 | 1)
	e.buf = append(e.buf, s...)
}

// mac writes a MAC address string: 0 for "", 1 and six bytes for the
// canonical lowercase form, else 2 and the text.
func (e *encoder) mac(s string) {
	if s == "" {
		e.uvarint(0)
		return
	}
	if hw, err := net.ParseMAC(s); err == nil && len(hw) == 6 && strings.ToLower(hw.String()) == s {
		e.uvarint(1)
		e.buf = append(e.buf, hw...)
		return
	}
	e.uvarint(2)
	e.bytes([]byte(s))
}

func (e *encoder) bss(r *wifi.Record) {
	var m uint64
	set := func(bit uint64, ok bool) {
		if ok {
			m |= bit
		}
	}
	set(bHidden, r.Hidden)
	set(bSignalDBm, r.SignalDBm != nil)
	var mbm int64
	if r.SignalDBm != nil {
		v := *r.SignalDBm * 100
		if x := *r.SignalDBm; v == math.Trunc(v) && math.Abs(v) < 1<<53 && float64(int64(v))/100 == x && !(x == 0 && math.Signbit(x)) {
			mbm = int64(v)
			m |= bSignalExact
		}
	}
	set(bSignalPct, r.SignalPct != nil)
	set(bAssociated, r.Associated)
	set(bWPA1, r.WPA1)
	set(bStations, r.Stations != nil)
	set(bUtilization, r.Utilization != nil)
	set(bRRM, r.RRM)
	set(bBTM, r.BTM)
	set(bFT, r.FT)
	ssid, err := hex.DecodeString(r.SSIDHex)
	set(bSSIDDerived, err == nil && wifi.DisplaySSID(ssid) == r.SSID)
	set(bChannelDerived, wifi.FrequencyChannel(r.FreqMHz) == r.Channel)
	set(bBandDerived, wifi.FrequencyBand(r.FreqMHz) == r.Band)
	e.uvarint(m)

	e.mac(r.BSSID)
	e.hexStr(r.SSIDHex)
	if m&bSSIDDerived == 0 {
		e.str(r.SSID)
	}
	e.varint(int64(r.FreqMHz))
	if m&bChannelDerived == 0 {
		e.varint(int64(r.Channel))
	}
	if m&bBandDerived == 0 {
		e.str(r.Band)
	}
	e.varint(int64(r.WidthMHz))
	e.varint(int64(r.CenterMHz))
	e.varint(int64(r.Center2MHz))
	switch {
	case m&bSignalExact != 0:
		e.varint(mbm)
	case m&bSignalDBm != 0:
		e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(*r.SignalDBm))
	}
	if r.SignalPct != nil {
		e.buf = append(e.buf, *r.SignalPct)
	}
	e.uvarint(uint64(r.SeenMsAgo))
	e.varint(r.LastSeenNs)
	e.uvarint(uint64(r.BeaconInterval))
	e.uvarint(uint64(r.Capability))
	e.str(r.Security)
	e.strs(r.AKM)
	e.strs(r.Pairwise)
	e.str(r.Group)
	e.str(r.GroupMgmt)
	e.str(r.PMF)
	e.strs(r.Standards)
	e.str(r.Country)
	if r.Stations != nil {
		e.uvarint(uint64(*r.Stations))
	}
	if r.Utilization != nil {
		e.buf = append(e.buf, *r.Utilization)
	}
	e.str(r.WPSName)
	e.strs(r.VendorOUIs)
	e.mac(r.OWETransition)
	e.strs(r.Problems)
	e.hexStr(r.IEsHex)
}

func (e *encoder) channel(c *wifi.ChannelRecord) {
	var m uint64
	ptrs := []*uint64{c.Active, c.Busy, c.ExtBusy, c.RX, c.TX, c.Scan, c.BSSRX}
	if c.NoiseDBm != nil {
		m |= cNoise
	}
	for i, p := range ptrs {
		if p != nil {
			m |= cActive << i
		}
	}
	if c.InUse {
		m |= cInUse
	}
	if wifi.FrequencyChannel(c.Frequency) == c.Channel {
		m |= cChannelDerived
	}
	if wifi.FrequencyBand(c.Frequency) == c.Band {
		m |= cBandDerived
	}
	e.uvarint(m)
	e.varint(int64(c.Frequency))
	if m&cChannelDerived == 0 {
		e.varint(int64(c.Channel))
	}
	if m&cBandDerived == 0 {
		e.str(c.Band)
	}
	if c.NoiseDBm != nil {
		e.varint(int64(*c.NoiseDBm))
	}
	for _, p := range ptrs {
		if p != nil {
			e.uvarint(*p)
		}
	}
	e.strs(c.Problems)
}

// decoder reads what encoder wrote. The first error sticks; after it every
// read returns a zero value.
type decoder struct {
	buf   []byte
	table []string
	err   error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	d.buf = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// int reads a varint that must fit an int (Record fields are ints).
func (d *decoder) int() int {
	v := d.varint()
	if int64(int(v)) != v {
		d.fail("integer %d out of range", v)
		return 0
	}
	return int(v)
}

func (d *decoder) uint(bits int) uint64 {
	v := d.uvarint()
	if bits < 64 && v>>bits != 0 {
		d.fail("value %d exceeds %d bits", v, bits)
		return 0
	}
	return v
}

func (d *decoder) take(n uint64) []byte {
	if n > uint64(len(d.buf)) {
		d.fail("%d bytes wanted, %d left", n, len(d.buf))
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) byte1() byte {
	b := d.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *decoder) str() string {
	i := d.uvarint()
	if d.err != nil {
		return ""
	}
	if i == 0 {
		s := string(d.take(d.uvarint()))
		if d.err == nil {
			d.table = append(d.table, s)
		}
		return s
	}
	if i > uint64(len(d.table)) {
		d.fail("string %d of a %d-entry table", i, len(d.table))
		return ""
	}
	return d.table[i-1]
}

func (d *decoder) strs() []string {
	n := d.uvarint()
	if n == 0 || d.err != nil {
		return nil
	}
	n--
	if n > uint64(len(d.buf)) { // each entry takes at least one byte
		d.fail("list of %d strings in %d bytes", n, len(d.buf))
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = d.str()
	}
	return l
}

func (d *decoder) hexStr() string {
	v := d.uvarint()
	b := d.take(v >> 1)
	if v&1 != 0 {
		return string(b)
	}
	return hex.EncodeToString(b)
}

func (d *decoder) mac() string {
	switch d.uvarint() {
	case 0:
		return ""
	case 1:
		if b := d.take(6); b != nil {
			return net.HardwareAddr(b).String()
		}
		return ""
	case 2:
		return string(d.take(d.uvarint()))
	default:
		d.fail("bad MAC address tag")
		return ""
	}
}

func (d *decoder) bss(r *wifi.Record) {
	m := d.uvarint()
	r.Hidden = m&bHidden != 0
	r.Associated = m&bAssociated != 0
	r.WPA1 = m&bWPA1 != 0
	r.RRM, r.BTM, r.FT = m&bRRM != 0, m&bBTM != 0, m&bFT != 0

	r.BSSID = d.mac()
	r.SSIDHex = d.hexStr()
	if m&bSSIDDerived != 0 {
		ssid, err := hex.DecodeString(r.SSIDHex)
		if err != nil {
			d.fail("derived SSID from non-hex %q", r.SSIDHex)
			return
		}
		r.SSID = wifi.DisplaySSID(ssid)
	} else {
		r.SSID = d.str()
	}
	r.FreqMHz = d.int()
	if m&bChannelDerived != 0 {
		r.Channel = wifi.FrequencyChannel(r.FreqMHz)
	} else {
		r.Channel = d.int()
	}
	if m&bBandDerived != 0 {
		r.Band = wifi.FrequencyBand(r.FreqMHz)
	} else {
		r.Band = d.str()
	}
	r.WidthMHz = d.int()
	r.CenterMHz = d.int()
	r.Center2MHz = d.int()
	switch {
	case m&bSignalDBm == 0:
	case m&bSignalExact != 0:
		v := float64(d.varint()) / 100
		r.SignalDBm = &v
	default:
		if b := d.take(8); b != nil {
			v := math.Float64frombits(binary.LittleEndian.Uint64(b))
			r.SignalDBm = &v
		}
	}
	if m&bSignalPct != 0 {
		p := d.byte1()
		r.SignalPct = &p
	}
	r.SeenMsAgo = uint32(d.uint(32))
	r.LastSeenNs = d.varint()
	r.BeaconInterval = uint16(d.uint(16))
	r.Capability = uint16(d.uint(16))
	r.Security = d.str()
	r.AKM = d.strs()
	r.Pairwise = d.strs()
	r.Group = d.str()
	r.GroupMgmt = d.str()
	r.PMF = d.str()
	r.Standards = d.strs()
	r.Country = d.str()
	if m&bStations != 0 {
		s := uint16(d.uint(16))
		r.Stations = &s
	}
	if m&bUtilization != 0 {
		u := d.byte1()
		r.Utilization = &u
	}
	r.WPSName = d.str()
	r.VendorOUIs = d.strs()
	r.OWETransition = d.mac()
	r.Problems = d.strs()
	r.IEsHex = d.hexStr()
}

func (d *decoder) channel(c *wifi.ChannelRecord) {
	m := d.uvarint()
	c.Frequency = d.int()
	if m&cChannelDerived != 0 {
		c.Channel = wifi.FrequencyChannel(c.Frequency)
	} else {
		c.Channel = d.int()
	}
	if m&cBandDerived != 0 {
		c.Band = wifi.FrequencyBand(c.Frequency)
	} else {
		c.Band = d.str()
	}
	if m&cNoise != 0 {
		n := d.int()
		c.NoiseDBm = &n
	}
	ptrs := []**uint64{&c.Active, &c.Busy, &c.ExtBusy, &c.RX, &c.TX, &c.Scan, &c.BSSRX}
	for i, p := range ptrs {
		if m&(cActive<<i) != 0 {
			v := d.uvarint()
			*p = &v
		}
	}
	c.InUse = m&cInUse != 0
	c.Problems = d.strs()
}

// SpoolID names the sequence a batch belongs to: sequence numbers count
// within one spool, and a box whose spool starts over (card re-flashed,
// /perm lost) numbers from 1 again under a new random ID. It is shown and
// marshalled as 16 hex digits (a JSON string, which no JSON reader
// rounds).
type SpoolID uint64

func (id SpoolID) String() string { return fmt.Sprintf("%016x", uint64(id)) }

// MarshalText formats the ID as String does.
func (id SpoolID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses what MarshalText wrote.
func (id *SpoolID) UnmarshalText(b []byte) error {
	v, err := ParseSpoolID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseSpoolID parses a spool ID in hex (as SpoolID.String writes it).
func ParseSpoolID(s string) (SpoolID, error) {
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil || len(s) == 0 || len(s) > 16 {
		return 0, fmt.Errorf("bad spool ID %q: want up to 16 hex digits", s)
	}
	return SpoolID(v), nil
}
