// Package pull is the stream a box's pull API serves and the operator's
// pull client reads: newline-delimited JSON lines (Line), one scan cycle's
// metadata followed by its records, resumable by sequence number, ending
// with an end line. OS-neutral: both sides import it.
//
//	GET /v1/observations?after=SEQ[&spool=ID]
package pull

import (
	"time"

	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/wifi"
)

// ObservationsPath is the stream's endpoint on the box.
const ObservationsPath = "/v1/observations"

// MaxLineBytes bounds one line of the stream; a reader refuses longer ones.
// No line can be longer than the stored batch it comes from.
const MaxLineBytes = batch.MaxPayload

// Line is one line of GET /v1/observations. Kind "cycle" opens a scan
// cycle (a spool batch): Seq is its first sequence number, LastSeq its
// last, and Cycle its metadata; its records follow as kind "bss" and
// "channel" lines with their own Seq. A cycle without records still takes
// one sequence number. The stream ends with kind "end", whose Seq is the
// last sequence number sent (or the request's after) and NextSeq the
// box's next; a stream without "end" was cut and is resumed with
// after=the last complete cycle's LastSeq. A stored batch that does not
// decode is sent as one kind "corrupt" line, with its bytes, instead of a
// cycle: the stream goes on past it.
//
// Sequence numbers count within one spool: a box whose spool starts over
// numbers from 1 again under a new spool ID. The cycle and end lines carry
// the spool's ID (Spool), and so does the response header
// X-Surveybox-Spool. A client that resumes passes the ID its after refers
// to as spool=ID; when the box's spool is another one, after means nothing
// for it and the box streams its spool from the start.
type Line struct {
	Kind    string              `json:"kind"`
	Spool   batch.SpoolID       `json:"spool,omitempty"`
	Seq     uint64              `json:"seq"`
	LastSeq uint64              `json:"last_seq,omitempty"`
	NextSeq uint64              `json:"next_seq,omitempty"`
	Cycle   *Cycle              `json:"cycle,omitempty"`
	BSS     *wifi.Record        `json:"bss,omitempty"`
	Channel *wifi.ChannelRecord `json:"channel,omitempty"`
	// Corrupt (kind "corrupt") says why the stored batch of Seq..LastSeq
	// does not decode; Data holds its stored bytes, for diagnosis. Older
	// readers skip the kind.
	Corrupt string `json:"corrupt,omitempty"`
	Data    []byte `json:"data,omitempty"`
}

// Cycle is a scan cycle's metadata (batch.Batch without the records).
type Cycle struct {
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	Interface  string    `json:"interface,omitempty"`
	Triggered  bool      `json:"triggered"`
	Aborted    bool      `json:"aborted,omitempty"`
	EventsLost bool      `json:"events_lost,omitempty"`
	Problems   []string  `json:"problems,omitempty"`
}

// Line kinds.
const (
	KindCycle   = "cycle"
	KindBSS     = "bss"
	KindChannel = "channel"
	KindCorrupt = "corrupt"
	KindEnd     = "end"
)

// Lines returns the lines of one stored batch holding the records
// firstSeq..lastSeq: the cycle line, then its records with sequence
// numbers after afterSeq.
func Lines(firstSeq, lastSeq uint64, b *batch.Batch, afterSeq uint64) []Line {
	out := make([]Line, 0, 1+b.Records())
	out = append(out, Line{Kind: KindCycle, Seq: firstSeq, LastSeq: lastSeq, Cycle: &Cycle{
		Started: b.Started, Finished: b.Finished, Interface: b.Interface, Triggered: b.Triggered,
		Aborted: b.Aborted, EventsLost: b.EventsLost, Problems: b.Problems,
	}})
	seq := firstSeq
	for i := range b.BSS {
		if seq > afterSeq {
			out = append(out, Line{Kind: KindBSS, Seq: seq, BSS: &b.BSS[i]})
		}
		seq++
	}
	for i := range b.Channels {
		if seq > afterSeq {
			out = append(out, Line{Kind: KindChannel, Seq: seq, Channel: &b.Channels[i]})
		}
		seq++
	}
	return out
}

// Batch rebuilds the spool batch from a cycle line and its record lines.
func Batch(cycle Line, records []Line) batch.Batch {
	c := cycle.Cycle
	if c == nil {
		c = &Cycle{}
	}
	b := batch.Batch{Started: c.Started, Finished: c.Finished, Interface: c.Interface, Triggered: c.Triggered,
		Aborted: c.Aborted, EventsLost: c.EventsLost, Problems: c.Problems}
	for _, l := range records {
		switch {
		case l.BSS != nil:
			b.BSS = append(b.BSS, *l.BSS)
		case l.Channel != nil:
			b.Channels = append(b.Channels, *l.Channel)
		}
	}
	return b
}

// SpoolHeader is the response header of GET /v1/observations that holds
// the spool's ID.
const SpoolHeader = "X-Surveybox-Spool"
