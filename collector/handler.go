package collector

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/surveybox/surveybox/connlimit"
	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/proto/push"
	"github.com/surveybox/surveybox/tailnet"
)

// DefaultMaxUploadBytes bounds an upload body by default: the largest
// stored batch plus framing. A box configured for larger uploads halves
// them when it gets 413.
const DefaultMaxUploadBytes = batch.MaxPayload + 64<<10

// Handler serves POST /v1/upload (package proto/push), and nothing else:
// what the store holds is the operator's, not the boxes' (surveyctl reads
// it directly). Every request is authorized by the caller's tailnet
// identity: only boxes the Allow policy matches (node name or tag) are
// accepted, others get 403. The box's name is its node name.
type Handler struct {
	Store *Store
	WhoIs tailnet.WhoIser
	Allow tailnet.Policy
	// MaxUploadBytes bounds a body; larger gives 413. 0: the default.
	MaxUploadBytes int64
	// MaxConcurrent bounds the uploads read and stored at once (each
	// holds its body in memory); the others wait. 0: 4.
	MaxConcurrent int
	Logger        *slog.Logger

	semOnce sync.Once
	sem     chan struct{}
}

func (h *Handler) log() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	deny := func(r *http.Request, id tailnet.Identity, err error) {
		h.log().Warn("collector: refused", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
	}
	tailnet.Middleware(h.WhoIs, h.Allow, deny, http.HandlerFunc(h.serve)).ServeHTTP(w, r)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case push.UploadPath:
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		h.upload(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (h *Handler) upload(w http.ResponseWriter, r *http.Request) {
	h.semOnce.Do(func() { h.sem = make(chan struct{}, cmp.Or(h.MaxConcurrent, 4)) })
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	case <-r.Context().Done():
		return
	}
	id, _ := tailnet.FromContext(r.Context())
	box := id.Node
	if !ValidBoxName(box) {
		http.Error(w, "forbidden: node name "+box+" cannot name a box", http.StatusForbidden)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, push.ContentType) {
		http.Error(w, "content type must be "+push.ContentType, http.StatusUnsupportedMediaType)
		return
	}
	limit := h.MaxUploadBytes
	if limit <= 0 {
		limit = DefaultMaxUploadBytes
	}
	if r.ContentLength > limit {
		http.Error(w, "upload too large", http.StatusRequestEntityTooLarge)
		h.log().Warn("collector: upload too large", "box", box, "bytes", r.ContentLength, "limit", limit)
		return
	}
	body, err := push.ReadBody(r.Body, limit)
	if errors.Is(err, push.ErrTooLarge) {
		http.Error(w, "upload too large", http.StatusRequestEntityTooLarge)
		h.log().Warn("collector: upload too large", "box", box, "limit", limit)
		return
	}
	if err != nil {
		http.Error(w, "reading upload: "+err.Error(), http.StatusBadRequest)
		return
	}
	spoolID, entries, err := push.Decode(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		h.log().Warn("collector: malformed upload", "box", box, "err", err)
		return
	}
	for _, e := range entries {
		if e.Err != nil {
			h.log().Warn("collector: quarantining a corrupt entry", "box", box, "spool", batch.SpoolID(spoolID), "err", e.Err)
		}
	}
	res, err := h.Store.Put(box, spoolID, SourceUpload, entries)
	if errors.Is(err, ErrConflict) {
		http.Error(w, err.Error(), http.StatusConflict)
		h.log().Error("collector: conflicting upload", "box", box, "spool", batch.SpoolID(spoolID), "err", err)
		return
	}
	if err != nil {
		http.Error(w, "storing upload: "+err.Error(), http.StatusInternalServerError)
		h.log().Error("collector: storing upload", "box", box, "err", err)
		return
	}
	h.log().Info("collector: upload", "box", box, "spool", batch.SpoolID(spoolID), "entries", len(entries), "stored", res.Stored,
		"duplicates", res.Duplicates, "records", res.Records, "acked", res.Acked, "bytes", len(body), "missing", res.Missing)
	writeJSON(w, push.Ack{AckedSeq: res.Acked, Stored: res.Stored, Duplicates: res.Duplicates, Records: res.Records, Quarantined: res.Quarantined})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// Serve serves h on ln (the collector's tailnet listener) until ctx ends:
// behind the browser guard, with bounded connections per peer and in
// total, idle connections closed, and header timeouts.
func Serve(ctx context.Context, ln net.Listener, self tailnet.SelfStatuser, h http.Handler, log *slog.Logger) error {
	ln = connlimit.Listen(ln, connlimit.Options{PerPeer: 4, Total: 1024, Idle: 2 * time.Minute, Logger: log})
	hs := &http.Server{
		Handler:           tailnet.BrowserGuard(self, log, h),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
