package collector

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/proto/push"
	"github.com/surveybox/surveybox/tailnet"
)

// DefaultMaxUploadBytes bounds an upload body by default: the box's
// largest batch_max_bytes (64 MiB) plus framing.
const DefaultMaxUploadBytes = 64<<20 + 64<<10

// Handler serves POST /v1/upload (package proto/push) and GET /v1/boxes (JSON
// stats of every box). Every request is authorized by the caller's tailnet
// identity: only boxes the Allow policy matches (node name or tag) are
// accepted, others get 403. The box's name is its node name.
type Handler struct {
	Store *Store
	WhoIs tailnet.WhoIser
	Allow tailnet.Policy
	// MaxUploadBytes bounds a body; larger gives 413. 0: the default.
	MaxUploadBytes int64
	Logger         *slog.Logger
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
	case "/v1/boxes":
		st, err := h.Store.Boxes()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, st)
	default:
		http.NotFound(w, r)
	}
}

func (h *Handler) upload(w http.ResponseWriter, r *http.Request) {
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
