// Package pullapi is the box's pull API, to be served only on the tailnet
// listener (tsnet Server.Listen): operators fetch observations (the stream
// format of package proto/pull), status and metrics. Every request is authorized with WhoIs against the operators
// allowed in the config (users by login name, machines by tag); everyone
// else gets 403.
//
//	GET /v1/observations?after=SEQ[&spool=ID]  NDJSON stream of Line, resumable
//	GET /v1/status                  JSON Status (pull.Status is the part the operator reads)
//	GET /metrics                    Prometheus text format
package pullapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/surveybox/surveybox/config"
	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/proto/pull"
	"github.com/surveybox/surveybox/spool"
	"github.com/surveybox/surveybox/tailnet"
	"github.com/surveybox/surveybox/uploader"
)

// RadioState is what the box knows of its radio, for status and metrics.
type RadioState struct {
	Interface string    `json:"interface"`
	Present   bool      `json:"present"`
	State     string    `json:"state"` // e.g. "scanning", "waiting for radio"
	LastScan  time.Time `json:"last_scan,omitzero"`
	Error     string    `json:"error,omitempty"`
	// Cycles and FailedCycles count the box's own scan cycles, FollowUps
	// the dumps after scans others triggered; MaxCycleMs is the longest
	// cycle. The rest are the scanner's recoveries: EBUSY answers waited
	// out (TriggerBusy), redialled request sockets, dumps retried after an
	// interruption, event bursts lost.
	Cycles       uint64 `json:"cycles"`
	FailedCycles uint64 `json:"failed_cycles"`
	FollowUps    uint64 `json:"follow_ups"`
	MaxCycleMs   int64  `json:"max_cycle_ms"`
	TriggerBusy  uint64 `json:"trigger_busy"`
	Redials      uint64 `json:"redials"`
	DumpRetries  uint64 `json:"dump_retries"`
	EventsLost   uint64 `json:"events_lost"`
}

// Options configure the handler.
type Options struct {
	Spool *spool.Spool
	// WhoIs identifies callers: tsnet.Server.LocalClient() on the box.
	WhoIs     tailnet.WhoIser
	Operators config.Operators
	// Radio and Uploads, if set, report the radio and the push loop.
	Radio   func() RadioState
	Uploads func() uploader.Status
	// Version of the box's software; Hostname its name.
	Version, Hostname string
	// Boot is what the box booted (for the operator's update tool).
	Boot   *pull.Boot
	Logger *slog.Logger
}

// Status is the body of GET /v1/status.
type Status struct {
	Hostname string           `json:"hostname"`
	Version  string           `json:"version"`
	Now      time.Time        `json:"now"`
	Uptime   string           `json:"uptime"`
	Spool    spool.Stats      `json:"spool"`
	Upload   *uploader.Status `json:"upload,omitempty"`
	Radio    *RadioState      `json:"radio,omitempty"`
	Boot     *pull.Boot       `json:"boot,omitempty"`
}

type handler struct {
	opt     Options
	log     *slog.Logger
	started time.Time
	mux     *http.ServeMux

	requests, denied, streamed atomic.Uint64
}

// NewHandler returns the pull API.
func NewHandler(opt Options) http.Handler {
	h := &handler{opt: opt, log: opt.Logger, started: time.Now(), mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.mux.HandleFunc("GET /v1/observations", h.observations)
	h.mux.HandleFunc("GET /v1/status", h.status)
	h.mux.HandleFunc("GET /metrics", h.metrics)
	policy := tailnet.Policy{Users: opt.Operators.Users, Tags: opt.Operators.Tags}
	return tailnet.Middleware(opt.WhoIs, policy, func(r *http.Request, id tailnet.Identity, err error) {
		h.denied.Add(1)
		h.log.Warn("pull API: refused", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		h.mux.ServeHTTP(w, r)
	}))
}

func (h *handler) observations(w http.ResponseWriter, r *http.Request) {
	var after uint64
	if s := r.URL.Query().Get("after"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			http.Error(w, "after: want a sequence number", http.StatusBadRequest)
			return
		}
		after = v
	}
	if s := r.URL.Query().Get("spool"); s != "" {
		id, err := batch.ParseSpoolID(s)
		if err != nil {
			http.Error(w, "spool: "+err.Error(), http.StatusBadRequest)
			return
		}
		if uint64(id) != h.opt.Spool.ID() {
			// after counts in another spool (this box's spool started
			// over): all of this one is new to the caller.
			after = 0
		}
	}
	st, err := h.opt.Spool.Stats()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set(pull.SpoolHeader, st.ID.String())
	w.Header().Set("X-Surveybox-Oldest-Seq", strconv.FormatUint(st.OldestSeq, 10))
	rc := http.NewResponseController(w)
	n, err := Stream(r.Context(), w, h.opt.Spool, after, func() { rc.Flush() })
	h.streamed.Add(n)
	if err != nil {
		h.log.Warn("pull API: streaming observations", "err", err)
	}
}

// Stream writes the observations after sequence after as NDJSON lines
// (see pull.Line; cycle and end lines carry the spool's ID), flushing after
// each cycle, and ends with a KindEnd line. On an error it stops without
// the end line, so a reader knows the stream was cut. Entries appended after the stream began are left for the next
// call. It returns the number of records written. The pull API and the
// operator's SSH export both use it.
func Stream(ctx context.Context, w io.Writer, sp *spool.Spool, after uint64, flush func()) (uint64, error) {
	st, err := sp.Stats()
	if err != nil {
		return 0, err
	}
	enc := json.NewEncoder(w)
	last, n := after, uint64(0)
	for e, err := range sp.Entries(ctx, after) {
		if err != nil {
			return n, fmt.Errorf("reading the spool: %w", err)
		}
		if e.LastSeq >= st.NextSeq {
			break // appended after the stream began: next time
		}
		b, err := e.Decode()
		if err != nil {
			sp.ReportCorrupt(e, err)
			if err := enc.Encode(pull.Line{Kind: pull.KindCorrupt, Spool: st.ID, Seq: e.FirstSeq, LastSeq: e.LastSeq, Corrupt: err.Error(), Data: e.Data}); err != nil {
				return n, err
			}
			last = e.LastSeq
			continue
		}
		lines := pull.Lines(e.FirstSeq, e.LastSeq, &b, after)
		lines[0].Spool = st.ID
		for _, l := range lines {
			if err := enc.Encode(l); err != nil {
				return n, err
			}
		}
		n += uint64(b.Records())
		last = e.LastSeq
		if flush != nil {
			flush()
		}
	}
	return n, enc.Encode(pull.Line{Kind: pull.KindEnd, Spool: st.ID, Seq: last, NextSeq: st.NextSeq})
}

func (h *handler) statusNow() (Status, error) { return StatusOf(h.opt, h.started) }

// StatusOf is the box's status now, as GET /v1/status serves it; started
// is when the service started (for the uptime).
func StatusOf(opt Options, started time.Time) (Status, error) {
	st, err := opt.Spool.Stats()
	if err != nil {
		return Status{}, err
	}
	s := Status{Hostname: opt.Hostname, Version: opt.Version, Now: time.Now().UTC(),
		Uptime: time.Since(started).Round(time.Second).String(), Spool: st, Boot: opt.Boot}
	if opt.Uploads != nil {
		u := opt.Uploads()
		s.Upload = &u
	}
	if opt.Radio != nil {
		r := opt.Radio()
		s.Radio = &r
	}
	return s, nil
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	s, err := h.statusNow()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(s)
}

func (h *handler) metrics(w http.ResponseWriter, r *http.Request) {
	s, err := h.statusNow()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m := func(name, typ, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %v\n", name, help, name, typ, name, v)
	}
	ts := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return float64(t.UnixMilli()) / 1000
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	fmt.Fprintf(w, "# HELP surveybox_build_info Version of the box software.\n# TYPE surveybox_build_info gauge\nsurveybox_build_info{version=%q} 1\n", s.Version)
	sp := s.Spool
	m("surveybox_spool_entries", "gauge", "Batches (scan cycles) in the spool.", float64(sp.Entries))
	m("surveybox_spool_records", "gauge", "Records in the spool.", float64(sp.Records))
	m("surveybox_spool_bytes", "gauge", "Live data in the spool, as the quota counts it.", float64(sp.Bytes))
	m("surveybox_spool_quota_bytes", "gauge", "Spool quota (negative: none).", float64(sp.QuotaBytes))
	m("surveybox_spool_file_bytes", "gauge", "Size of the spool file.", float64(sp.FileBytes))
	m("surveybox_spool_oldest_seq", "gauge", "First sequence number in the spool (0: empty).", float64(sp.OldestSeq))
	m("surveybox_spool_newest_seq", "gauge", "Last sequence number in the spool (0: empty).", float64(sp.NewestSeq))
	m("surveybox_spool_next_seq", "gauge", "Sequence number of the next record.", float64(sp.NextSeq))
	m("surveybox_spool_oldest_timestamp_seconds", "gauge", "Start of the oldest scan cycle in the spool.", ts(sp.OldestTime))
	m("surveybox_spool_last_ack_seq", "gauge", "Highest sequence number acknowledged by the collector.", float64(sp.LastAck))
	m("surveybox_spool_evictions_total", "counter", "Times the spool evicted old batches for room.", float64(sp.Evictions))
	m("surveybox_spool_evicted_records_total", "counter", "Records evicted before delivery.", float64(sp.EvictedRecords))
	m("surveybox_spool_corrupt_entries_total", "counter", "Stored batches found corrupt (delivered as bytes, kept apart by the operator).", float64(sp.CorruptEntries))
	m("surveybox_spool_recoveries_total", "counter", "Corrupt spool databases moved aside for a new one.", float64(sp.Recoveries))
	if u := s.Upload; u != nil {
		m("surveybox_upload_requests_total", "counter", "Acknowledged uploads.", float64(u.Uploads))
		m("surveybox_upload_failures_total", "counter", "Failed upload attempts.", float64(u.Failures))
		m("surveybox_upload_records_total", "counter", "Records acknowledged by the collector.", float64(u.Records))
		m("surveybox_upload_bytes_total", "counter", "Bytes of acknowledged upload bodies.", float64(u.Bytes))
		m("surveybox_upload_consecutive_failures", "gauge", "Failed attempts since the last success.", float64(u.ConsecutiveFailures))
		m("surveybox_upload_last_success_timestamp_seconds", "gauge", "Time of the last acknowledged upload.", ts(u.LastUpload))
	}
	if rs := s.Radio; rs != nil {
		m("surveybox_radio_present", "gauge", "Whether the wireless interface is there.", b(rs.Present))
		m("surveybox_radio_last_scan_timestamp_seconds", "gauge", "Time of the last scan cycle.", ts(rs.LastScan))
		m("surveybox_scan_cycles_total", "counter", "The box's own scan cycles.", float64(rs.Cycles))
		m("surveybox_scan_failed_cycles_total", "counter", "Scan cycles that ended in an error.", float64(rs.FailedCycles))
		m("surveybox_scan_max_cycle_seconds", "gauge", "Longest scan cycle, trigger to dump.", float64(rs.MaxCycleMs)/1000)
		m("surveybox_scan_trigger_busy_total", "counter", "Scan triggers answered EBUSY and waited out.", float64(rs.TriggerBusy))
		m("surveybox_scan_redials_total", "counter", "nl80211 request sockets redialled.", float64(rs.Redials))
	}
	m("surveybox_pull_requests_total", "counter", "Authorized pull API requests.", float64(h.requests.Load()))
	m("surveybox_pull_denied_total", "counter", "Pull API requests refused with 403.", float64(h.denied.Load()))
	m("surveybox_pull_records_streamed_total", "counter", "Records sent by /v1/observations.", float64(h.streamed.Load()))
}
