// Package push is the upload format between a box's push loop (package
// uploader) and the operator's collector: a short versioned header, then
// spool entries exactly as the box's spool stores them (each already a
// versioned, DEFLATE-compressed batch, see package batch), so that the box sends
// without re-encoding and the collector stores without re-encoding.
//
// Version 2, all integers but the spool ID unsigned varints:
//
//	4 bytes  magic "SBUP"
//	byte     version (2)
//	8 bytes  spool ID, big-endian, non-zero (batch.SpoolID)
//	uvarint  number of entries, 1..MaxEntries
//	per entry:
//	  uvarint  FirstSeq (>= 1)
//	  uvarint  LastSeq - FirstSeq
//	  uvarint  length of Data
//	  ...      Data: the spool's stored form of the batch
//
// Entries are in sequence order and contiguous (each starts right after
// the one before), as a spool read returns them. The box's identity is not
// in the body: the collector takes it from the tailnet (WhoIs). Sequence
// numbers are unique only within one spool (a box whose spool starts over
// numbers from 1 again under a new spool ID), so the collector keys what
// it stores by (box, spool ID, sequence). Version 1, without the spool ID,
// is refused: a box and its collector ship together.
//
// The collector answers 200 with an Ack (JSON): AckedSeq is the highest
// sequence number up to which everything in the upload is stored (now or
// by an earlier delivery). The box deletes from its spool only up to it.
package push

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/surveybox/surveybox/proto/batch"
)

// ContentType of an upload body.
const ContentType = "application/x-surveybox-upload"

// Version is the framing version this package writes and reads.
const Version = 2

// MaxEntries bounds the entries of one upload.
const MaxEntries = 1 << 16

// UploadPath is the collector's upload endpoint.
const UploadPath = "/v1/upload"

var magic = []byte("SBUP")

// ErrMalformed is wrapped by every error Decode returns for bad input.
var ErrMalformed = errors.New("malformed upload")

// Entry is one stored batch on the wire: the records FirstSeq..LastSeq.
type Entry struct {
	FirstSeq, LastSeq uint64
	Data              []byte
	// Err, set by Decode, says why Data is not a batch of LastSeq-FirstSeq+1
	// records (it wraps ErrCorrupt): the box stored it corrupt, or it
	// comes from newer software. The framing around it was sound, so the
	// upload goes on; the entry is kept for diagnosis, not as records.
	Err error
}

// ErrCorrupt is wrapped by Entry.Err.
var ErrCorrupt = errors.New("corrupt entry")

// MaxExpansion bounds how much larger than its stored bytes an entry's
// payload may declare itself: real batches compress a few times, and the
// bound keeps a small upload from making the collector decompress
// gigabytes.
const MaxExpansion = 64

// Ack is the collector's answer to an upload.
type Ack struct {
	// AckedSeq: everything in the upload up to and including it is stored.
	AckedSeq uint64 `json:"acked_seq"`
	// Stored and Duplicates count the upload's entries stored now and
	// already stored before (redelivery); Records the records stored now.
	Stored     int    `json:"stored_entries"`
	Duplicates int    `json:"duplicate_entries"`
	Records    uint64 `json:"stored_records"`
	// Quarantined counts entries kept apart because they are no batch
	// (Entry.Err); they are acknowledged too.
	Quarantined int `json:"quarantined_entries,omitempty"`
}

// Size returns the encoded size of entries.
func Size(entries []Entry) int {
	n := len(magic) + 1 + 8 + binary.MaxVarintLen64
	for _, e := range entries {
		n += 3*binary.MaxVarintLen64 + len(e.Data)
	}
	return n
}

// Append appends the upload of the entries of the spool with ID spoolID
// to buf.
func Append(buf []byte, spoolID uint64, entries []Entry) []byte {
	buf = append(buf, magic...)
	buf = append(buf, Version)
	buf = binary.BigEndian.AppendUint64(buf, spoolID)
	buf = binary.AppendUvarint(buf, uint64(len(entries)))
	for _, e := range entries {
		buf = binary.AppendUvarint(buf, e.FirstSeq)
		buf = binary.AppendUvarint(buf, e.LastSeq-e.FirstSeq)
		buf = binary.AppendUvarint(buf, uint64(len(e.Data)))
		buf = append(buf, e.Data...)
	}
	return buf
}

// Decode parses and validates an upload: the framing, the spool ID, and the
// order and contiguity of the entries, whose errors wrap ErrMalformed and
// refuse the whole upload; and whether every entry's Data decodes as a
// batch whose record count matches its sequence range, whose failure sets
// that entry's Err only. It returns the spool ID and the entries, whose
// Data alias body.
func Decode(body []byte) (spoolID uint64, entries []Entry, err error) {
	entries, spoolID, err = decode(body)
	if err != nil {
		return 0, nil, err
	}
	return spoolID, entries, nil
}

func decode(body []byte) ([]Entry, uint64, error) {
	d := body
	if len(d) < len(magic)+1 || !bytes.Equal(d[:len(magic)], magic) {
		return nil, 0, fmt.Errorf("%w: not a surveybox upload (bad magic)", ErrMalformed)
	}
	switch v := d[len(magic)]; {
	case v == 1:
		return nil, 0, fmt.Errorf("%w: version 1 upload without a spool ID, from older box software; update the box (this collector needs version %d)", ErrMalformed, Version)
	case v != Version:
		return nil, 0, fmt.Errorf("%w: unknown version %d (this collector knows %d)", ErrMalformed, v, Version)
	}
	d = d[len(magic)+1:]
	if len(d) < 8 {
		return nil, 0, fmt.Errorf("%w: no spool ID", ErrMalformed)
	}
	spoolID := binary.BigEndian.Uint64(d)
	if spoolID == 0 {
		return nil, 0, fmt.Errorf("%w: spool ID 0", ErrMalformed)
	}
	d = d[8:]
	uv := func(what string) (uint64, error) {
		v, n := binary.Uvarint(d)
		if n <= 0 {
			return 0, fmt.Errorf("%w: bad %s", ErrMalformed, what)
		}
		// Append writes minimal varints: a padded one is not from a
		// box, and refusing it keeps one encoding per upload.
		if n != len(binary.AppendUvarint(nil, v)) {
			return 0, fmt.Errorf("%w: %s not minimally encoded", ErrMalformed, what)
		}
		d = d[n:]
		return v, nil
	}
	n, err := uv("entry count")
	if err != nil {
		return nil, 0, err
	}
	if n == 0 || n > MaxEntries {
		return nil, 0, fmt.Errorf("%w: %d entries (want 1..%d)", ErrMalformed, n, MaxEntries)
	}
	out := make([]Entry, 0, min(n, uint64(len(d)/4+1)))
	for i := range n {
		first, err := uv("first sequence")
		if err != nil {
			return nil, 0, err
		}
		span, err := uv("sequence span")
		if err != nil {
			return nil, 0, err
		}
		size, err := uv("data length")
		if err != nil {
			return nil, 0, err
		}
		if first == 0 || first+span < first {
			return nil, 0, fmt.Errorf("%w: entry %d: bad sequence range %d+%d", ErrMalformed, i, first, span)
		}
		if size > uint64(len(d)) {
			return nil, 0, fmt.Errorf("%w: entry %d: data of %d bytes, %d left", ErrMalformed, i, size, len(d))
		}
		e := Entry{FirstSeq: first, LastSeq: first + span, Data: d[:size:size]}
		d = d[size:]
		if len(out) > 0 && e.FirstSeq != out[len(out)-1].LastSeq+1 {
			return nil, 0, fmt.Errorf("%w: entry %d starts at %d, not right after %d", ErrMalformed, i, e.FirstSeq, out[len(out)-1].LastSeq)
		}
		e.Err = checkEntry(e)
		out = append(out, e)
	}
	if len(d) != 0 {
		return nil, 0, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d))
	}
	return out, spoolID, nil
}

// ReadBody reads at most limit bytes of r; a longer body gives
// ErrTooLarge.
func ReadBody(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, ErrTooLarge
	}
	return b, nil
}

// ErrTooLarge: the body is longer than the limit.
var ErrTooLarge = errors.New("upload too large")

// checkEntry says why e's data is not the batch its sequence range says,
// or nil.
func checkEntry(e Entry) error {
	h, err := batch.ReadHeader(e.Data)
	if err != nil {
		return fmt.Errorf("%w %d-%d: %w", ErrCorrupt, e.FirstSeq, e.LastSeq, err)
	}
	if limit := MaxExpansion*uint64(len(e.Data)) + 64<<10; h.PayloadBytes() > limit {
		return fmt.Errorf("%w %d-%d: %d stored bytes declare a payload of %d", ErrCorrupt, e.FirstSeq, e.LastSeq, len(e.Data), h.PayloadBytes())
	}
	if h.Seqs() != e.LastSeq-e.FirstSeq+1 {
		return fmt.Errorf("%w %d-%d: it holds %d records", ErrCorrupt, e.FirstSeq, e.LastSeq, h.Seqs())
	}
	if _, err := batch.Decode(e.Data); err != nil {
		return fmt.Errorf("%w %d-%d: %w", ErrCorrupt, e.FirstSeq, e.LastSeq, err)
	}
	return nil
}
