// Package pcapng writes BSS observations as a pcapng capture that
// Wireshark and tshark open: each observation becomes an 802.11 beacon
// rebuilt from the information elements the box stored, behind a
// radiotap header that carries the channel and the signal, so that the
// capture shows the same SSIDs, channels and security as the report. It
// is an encoder only; it parses nothing.
package pcapng

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"time"

	"github.com/surveybox/surveybox/wifi"
)

// Block types and constants of the pcapng format.
const (
	blockSHB = 0x0A0D0D0A
	blockIDB = 0x00000001
	blockEPB = 0x00000006

	byteOrderMagic = 0x1A2B3C4D

	// linkTypeRadiotap is LINKTYPE_IEEE802_11_RADIOTAP.
	linkTypeRadiotap = 127

	optEnd     = 0
	optComment = 1
	optSHBApp  = 4
)

// MaxFrame bounds a rebuilt frame: a record whose IEs would make it
// larger is refused (ErrTooLarge) rather than written truncated.
const MaxFrame = 1 << 16

// ErrTooLarge: the record's IEs do not fit in MaxFrame.
var ErrTooLarge = errors.New("frame too large")

// Writer writes one section with one radiotap interface.
type Writer struct {
	w   *bufio.Writer
	seq uint16
	buf []byte
}

// NewWriter writes the section and interface headers; app names the
// writing program in the section header.
func NewWriter(w io.Writer, app string) (*Writer, error) {
	pw := &Writer{w: bufio.NewWriterSize(w, 256<<10)}
	var opts []byte
	opts = appendOption(opts, optSHBApp, []byte(app))
	opts = appendOption(opts, optEnd, nil)
	body := binary.LittleEndian.AppendUint32(nil, byteOrderMagic)
	body = binary.LittleEndian.AppendUint16(body, 1)              // major
	body = binary.LittleEndian.AppendUint16(body, 0)              // minor
	body = binary.LittleEndian.AppendUint64(body, math.MaxUint64) // section length unknown
	body = append(body, opts...)
	if err := pw.block(blockSHB, body); err != nil {
		return nil, err
	}
	idb := binary.LittleEndian.AppendUint16(nil, linkTypeRadiotap)
	idb = binary.LittleEndian.AppendUint16(idb, 0) // reserved
	idb = binary.LittleEndian.AppendUint32(idb, 0) // no snap length
	if err := pw.block(blockIDB, idb); err != nil {
		return nil, err
	}
	return pw, nil
}

func appendOption(b []byte, code uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// block writes a block: type, total length, body (padded to 32 bits),
// total length again.
func (pw *Writer) block(typ uint32, body []byte) error {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body))
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[0:], typ)
	binary.LittleEndian.PutUint32(hdr[4:], n)
	pw.w.Write(hdr[:])
	pw.w.Write(body)
	_, err := pw.w.Write(hdr[4:8])
	return err
}

// WriteBeacon writes r as a beacon received at t, with comment (e.g.
// the box's name) as the packet's comment when not empty.
func (pw *Writer) WriteBeacon(t time.Time, r *wifi.Record, comment string) error {
	frame, err := Beacon(pw.buf[:0], r, pw.seq)
	if err != nil {
		return err
	}
	pw.buf = frame
	pw.seq = (pw.seq + 1) & 0x0fff
	us := uint64(t.UnixMicro())
	body := make([]byte, 0, 20+len(frame)+len(comment)+12)
	body = binary.LittleEndian.AppendUint32(body, 0) // interface 0
	body = binary.LittleEndian.AppendUint32(body, uint32(us>>32))
	body = binary.LittleEndian.AppendUint32(body, uint32(us))
	body = binary.LittleEndian.AppendUint32(body, uint32(len(frame)))
	body = binary.LittleEndian.AppendUint32(body, uint32(len(frame)))
	body = append(body, frame...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	if comment != "" && len(comment) < math.MaxUint16-4 {
		body = appendOption(body, optComment, []byte(comment))
		body = appendOption(body, optEnd, nil)
	}
	return pw.block(blockEPB, body)
}

// Flush writes what is buffered.
func (pw *Writer) Flush() error { return pw.w.Flush() }

// Radiotap present bits and channel flags.
const (
	rtFlags     = 1 << 1
	rtChannel   = 1 << 3
	rtAntSignal = 1 << 5

	chanCCK  = 0x0020
	chanOFDM = 0x0040
	chan2GHz = 0x0080
	chan5GHz = 0x0100
)

// Beacon appends to dst r's beacon with radiotap header (channel, and
// signal when known) and sequence number seq.
func Beacon(dst []byte, r *wifi.Record, seq uint16) ([]byte, error) {
	bssid, err := net.ParseMAC(r.BSSID)
	if err != nil || len(bssid) != 6 {
		return nil, fmt.Errorf("BSS %q: not a MAC address", r.BSSID)
	}
	if hex.DecodedLen(len(r.IEsHex)) > MaxFrame-64 {
		return nil, fmt.Errorf("BSS %s: %w (%d bytes of IEs)", r.BSSID, ErrTooLarge, hex.DecodedLen(len(r.IEsHex)))
	}
	ies, err := hex.DecodeString(r.IEsHex)
	if err != nil {
		return nil, fmt.Errorf("BSS %s: IEs: %w", r.BSSID, err)
	}
	present := uint32(rtFlags | rtChannel)
	if r.SignalDBm != nil {
		present |= rtAntSignal
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0) // version, pad, length (set below)
	dst = binary.LittleEndian.AppendUint32(dst, present)
	dst = append(dst, 0, 0) // flags (no FCS); pad to align the channel
	dst = binary.LittleEndian.AppendUint16(dst, uint16(r.FreqMHz))
	dst = binary.LittleEndian.AppendUint16(dst, channelFlags(r))
	if r.SignalDBm != nil {
		dst = append(dst, byte(int8(max(-128, min(127, math.Round(*r.SignalDBm))))))
	}
	binary.LittleEndian.PutUint16(dst[start+2:], uint16(len(dst)-start))

	dst = append(dst, 0x80, 0x00, 0, 0) // beacon, no flags, duration 0
	dst = append(dst, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	dst = append(dst, bssid...) // source
	dst = append(dst, bssid...) // BSSID
	dst = binary.LittleEndian.AppendUint16(dst, seq<<4)
	dst = binary.LittleEndian.AppendUint64(dst, 0) // TSF: not stored
	dst = binary.LittleEndian.AppendUint16(dst, r.BeaconInterval)
	dst = binary.LittleEndian.AppendUint16(dst, r.Capability)
	return append(dst, ies...), nil
}

func channelFlags(r *wifi.Record) uint16 {
	switch r.Band {
	case wifi.Band2GHz:
		for _, s := range r.Standards {
			if s == "g" || s == "n" || s == "ax" || s == "be" {
				return chan2GHz | chanOFDM
			}
		}
		return chan2GHz | chanCCK
	case wifi.Band5GHz:
		return chan5GHz | chanOFDM
	}
	return chanOFDM
}
