// Package web serves the site-survey views live, for surveyctl serve:
// the fleet page (every box in the store: last upload, backlog,
// evictions, a warning for a box gone silent) and each box's report,
// re-rendered as data arrives. Only viewers the tailnet names and the
// policy allows get in; the caller puts the handler behind the tailnet's
// browser guard and connection limits. It reads the store that the
// collector in the same process writes.
package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/cycles"
	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/report"
	"github.com/surveybox/surveybox/report/analysis"
	"github.com/surveybox/surveybox/tailnet"
)

// Handler serves the views.
type Handler struct {
	Store *collector.Store
	WhoIs tailnet.WhoIser
	Allow tailnet.Policy
	// SilentCycles: a box is silent when nothing arrived for this many
	// of its cycle intervals; 0: 10.
	SilentCycles int
	Version      string
	Logger       *slog.Logger
	// Ctx bounds the background renders (the server's lifetime).
	Ctx context.Context
	// Now is the clock; nil: time.Now.
	Now func() time.Time

	once    sync.Once
	handler http.Handler
	mu      sync.Mutex
	cache   map[string]*rendering
}

// maxCached bounds the renderings kept (boxes × ranges).
const maxCached = 32

// rendering is one box and range's report, rendered.
type rendering struct {
	stamp    string // the box's stamp when rendered
	html     []byte
	err      error
	built    time.Time
	took     time.Duration
	building bool
	done     chan struct{} // closed when the first build ends
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) log() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(func() {
		h.cache = map[string]*rendering{}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /{$}", h.fleet)
		mux.HandleFunc("GET /stamp", h.fleetStamp)
		mux.HandleFunc("GET /box/{box}", h.report)
		mux.HandleFunc("GET /box/{box}/stamp", h.reportStamp)
		deny := func(r *http.Request, id tailnet.Identity, err error) {
			h.log().Warn("serve: refused a viewer", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
		}
		h.handler = tailnet.Middleware(h.WhoIs, h.Allow, deny, mux)
	})
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	h.handler.ServeHTTP(w, r)
}

// stamp says what the store holds for a box; it changes when data
// arrives.
func stamp(st collector.BoxStats) string {
	return fmt.Sprintf("%d.%d.%d", st.Records, st.Quarantined, st.LastPut.UnixNano())
}

func (h *Handler) fleetStampOf(boxes []collector.BoxStats) string {
	f := fnv.New64a()
	for _, b := range boxes {
		fmt.Fprintf(f, "%s %s\n", b.Box, stamp(b))
	}
	return fmt.Sprintf("%016x", f.Sum64())
}

func (h *Handler) fleetStamp(w http.ResponseWriter, r *http.Request) {
	boxes, err := h.Store.Boxes()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, h.fleetStampOf(boxes))
}

func (h *Handler) fleet(w http.ResponseWriter, r *http.Request) {
	boxes, err := h.Store.Boxes()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	now := h.now()
	f := report.Fleet{Now: now, PollURL: "/stamp", Stamp: h.fleetStampOf(boxes), Version: h.Version, SilentCycles: cmp.Or(h.SilentCycles, 10)}
	for _, b := range boxes {
		f.Boxes = append(f.Boxes, h.fleetBox(b, now))
	}
	w.Header().Set("Content-Security-Policy", report.CSP(true))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := report.WriteFleet(w, f); err != nil {
		h.log().Error("serve: fleet page", "err", err)
	}
}

// recentSeqs is how far back from a box's newest record the fleet page
// looks for its latest cycles (a few dozen cycles of a busy site).
const recentSeqs = 20000

func (h *Handler) fleetBox(b collector.BoxStats, now time.Time) FleetRow {
	row := FleetRow{Box: b.Box, Link: "/box/" + url.PathEscape(b.Box), LastPut: b.LastPut, Since: now.Sub(b.LastPut),
		Records: b.Records, Missing: b.Missing, Quarantined: b.Quarantined, SilentCycles: cmp.Or(h.SilentCycles, 10)}
	var starts []time.Time
	after := uint64(0)
	if b.HighSeq > recentSeqs {
		after = b.HighSeq - recentSeqs
	}
	for e, err := range h.Store.SpoolEntries(b.Box, uint64(b.Spool), after) {
		if err != nil {
			break
		}
		if hd, err := batch.ReadHeader(e.Data); err == nil {
			starts = append(starts, hd.Started)
		}
	}
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	if n := len(starts); n > 0 {
		row.Newest = starts[n-1]
		row.Backlog = max(0, now.Sub(row.Newest))
	}
	var d []time.Duration
	for i := 1; i < len(starts); i++ {
		if dd := starts[i].Sub(starts[i-1]); dd > 0 {
			d = append(d, dd)
		}
	}
	if len(d) > 0 {
		slices.Sort(d)
		row.Interval = d[len(d)/2]
		row.Silent = row.Since > time.Duration(row.SilentCycles)*row.Interval
	}
	return row
}

// FleetRow is report.FleetBox (named here for the package's API).
type FleetRow = report.FleetBox

// rangeOf reads from, to and last from the query.
func rangeOf(q url.Values, now time.Time) (cycles.Range, string, error) {
	var r cycles.Range
	parse := func(s string) (time.Time, error) {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t, nil
		}
		return time.Parse("2006-01-02", s)
	}
	var err error
	if s := q.Get("from"); s != "" {
		if r.From, err = parse(s); err != nil {
			return r, "", fmt.Errorf("from: %w", err)
		}
	}
	if s := q.Get("to"); s != "" {
		if r.To, err = parse(s); err != nil {
			return r, "", fmt.Errorf("to: %w", err)
		}
	}
	if s := q.Get("last"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return r, "", errors.New("last: want a positive duration such as 24h")
		}
		r.From = now.Add(-d)
	}
	key := strings.Join([]string{q.Get("from"), q.Get("to"), q.Get("last")}, "|")
	return r, key, nil
}

func (h *Handler) report(w http.ResponseWriter, r *http.Request) {
	box := r.PathValue("box")
	re, err := h.current(r.Context(), box, r.URL.Query(), true)
	if err != nil {
		http.Error(w, err.Error(), httpStatus(err))
		return
	}
	if re.err != nil {
		http.Error(w, "rendering the report: "+re.err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Security-Policy", report.CSP(true))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(re.html)
}

func (h *Handler) reportStamp(w http.ResponseWriter, r *http.Request) {
	re, err := h.current(r.Context(), r.PathValue("box"), r.URL.Query(), false)
	if err != nil {
		http.Error(w, err.Error(), httpStatus(err))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, re.stamp)
}

var errNoBox = errors.New("no such box")

func httpStatus(err error) int {
	if errors.Is(err, errNoBox) {
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// current returns the box's latest rendering for the query, starting a
// new one when data arrived since (at most one at a time per box and
// range, and not more often than every few render times). With wait, a
// first rendering is waited for.
func (h *Handler) current(ctx context.Context, box string, q url.Values, wait bool) (*rendering, error) {
	st, err := h.Store.Box(box)
	if err != nil {
		return nil, err
	}
	if len(st.Spools) == 0 {
		return nil, fmt.Errorf("%w %q", errNoBox, box)
	}
	now := h.now()
	rng, key, err := rangeOf(q, now)
	if err != nil {
		return nil, err
	}
	key = box + "|" + key
	s := stamp(st)
	h.mu.Lock()
	re := h.cache[key]
	if re == nil {
		if len(h.cache) >= maxCached {
			h.evictOldest()
		}
		re = &rendering{done: make(chan struct{})}
		h.cache[key] = re
	}
	stale := re.stamp != s && !re.building && (re.html == nil && re.err == nil || now.Sub(re.built) > max(15*time.Second, 4*re.took))
	if stale {
		re.building = true
		go h.build(box, rng, q.Encode(), s, re)
	}
	first := re.html == nil && re.err == nil
	h.mu.Unlock()
	if first && wait {
		select {
		case <-re.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return &rendering{stamp: re.stamp, html: re.html, err: re.err}, nil
}

func (h *Handler) evictOldest() {
	var oldest string
	var at time.Time
	for k, re := range h.cache {
		if !re.building && (oldest == "" || re.built.Before(at)) {
			oldest, at = k, re.built
		}
	}
	if oldest != "" {
		delete(h.cache, oldest)
	}
}

func (h *Handler) build(box string, rng cycles.Range, query, s string, re *rendering) {
	ctx := h.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	start := time.Now()
	var buf strings.Builder
	r, err := analysis.Build(ctx, h.Store, box, analysis.Options{Range: rng, Now: h.now()})
	if err == nil {
		live := &report.Live{PollURL: "/box/" + url.PathEscape(box) + "/stamp", Stamp: s, FleetURL: "/"}
		if query != "" {
			live.PollURL += "?" + query
		}
		err = report.Write(&buf, r, report.Options{Live: live, Version: h.Version})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	first := re.html == nil && re.err == nil
	re.building, re.built, re.took, re.stamp = false, time.Now(), time.Since(start), s
	if err != nil {
		re.err = err
		h.log().Error("serve: rendering a report", "box", box, "err", err)
	} else {
		re.html, re.err = []byte(buf.String()), nil
		h.log().Info("serve: rendered a report", "box", box, "took", re.took.Round(time.Millisecond), "bytes", buf.Len())
	}
	if first {
		close(re.done)
	}
}
