package tailnet

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"tailscale.com/ipn/ipnstate"
)

// SelfStatuser is what *local.Client (tsnet.Server.LocalClient, or the
// system Tailscale's client) provides to learn the node's own names.
type SelfStatuser interface {
	StatusWithoutPeers(ctx context.Context) (*ipnstate.Status, error)
}

// BrowserGuard refuses, before authorization looks at them, the requests a
// web page can make an operator's browser send to a tailnet service:
//
//   - a Host header that is not one of the node's own names or tailnet
//     addresses (DNS rebinding: a page re-points its own name at the
//     node's address and reads the answers as same-origin);
//   - cross-origin requests that are not safe (POST, PUT, …), judged by
//     Sec-Fetch-Site and Origin as net/http's CrossOriginProtection does
//     (a "simple" text/plain POST needs no preflight);
//   - cross-site reads and subresource loads (fetch, img, script) of any
//     method, when the browser says so; a top-level navigation by a link
//     is let through, since the page cannot read what it opens.
//
// Browsers send the Sec-Fetch-* headers only to secure origins (HTTPS,
// localhost): to http://box on the tailnet, Chromium sends none. There,
// unsafe methods are still refused by their Origin header, and a name
// rebound to the node by its Host, but a cross-site GET (an image, a
// script tag) arrives like any other GET. It can neither change anything
// (every handler behind this guard that acts, gokrazy's included, wants
// POST or PUT) nor be read by the page (the same-origin policy; no CORS
// headers are ever sent).
//
// Tools that are not browsers (surveyctl, curl, the box's push loop) send
// none of these headers and pass, as long as they name the node as it is
// on the tailnet. Refusals get 403 and are logged.
func BrowserGuard(self SelfStatuser, log *slog.Logger, next http.Handler) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &guard{self: self, log: log, next: next, cop: http.NewCrossOriginProtection()}
	g.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.deny(w, r, "cross-origin request")
	}))
	return g
}

type guard struct {
	self SelfStatuser
	log  *slog.Logger
	next http.Handler
	cop  *http.CrossOriginProtection

	mu      sync.Mutex
	names   []string  // lower case, without a trailing dot
	fetched time.Time // when names were last asked for
}

// namesRefresh bounds how often an unknown Host makes the guard ask the
// node for its names again (they change when the netmap does).
const namesRefresh = 5 * time.Second

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.ownHost(r.Context(), r.Host) {
		g.deny(w, r, fmt.Sprintf("Host %q is not this node's tailnet name", r.Host))
		return
	}
	site := r.Header.Get("Sec-Fetch-Site")
	navigation := r.Header.Get("Sec-Fetch-Mode") == "navigate" && r.Method == http.MethodGet
	if (site == "cross-site" || site == "same-site") && !navigation {
		g.deny(w, r, "cross-site request ("+site+")")
		return
	}
	g.cop.Handler(g.next).ServeHTTP(w, r)
}

func (g *guard) deny(w http.ResponseWriter, r *http.Request, why string) {
	g.log.Warn("refused a browser request", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path,
		"host", r.Host, "origin", r.Header.Get("Origin"), "why", why)
	http.Error(w, "forbidden: "+why, http.StatusForbidden)
}

// ownHost reports whether host (a Host header, perhaps with a port) names
// this node: its MagicDNS name, that name's first label, or one of its
// tailnet addresses.
func (g *guard) ownHost(ctx context.Context, host string) bool {
	h := strings.ToLower(host)
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	if h == "" {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if slices.Contains(g.names, h) {
		return true
	}
	if time.Since(g.fetched) < namesRefresh {
		return false
	}
	g.fetched = time.Now()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := g.self.StatusWithoutPeers(ctx)
	if err != nil || st.Self == nil {
		g.log.Warn("cannot learn this node's tailnet names", "err", err)
		return false
	}
	g.names = SelfNames(st.Self)
	return slices.Contains(g.names, h)
}

// SelfNames returns the names a node answers to: its MagicDNS name, the
// name's first label and its tailnet addresses, in lower case.
func SelfNames(self *ipnstate.PeerStatus) []string {
	var names []string
	if fqdn := strings.ToLower(strings.TrimSuffix(self.DNSName, ".")); fqdn != "" {
		short, _, _ := strings.Cut(fqdn, ".")
		names = append(names, fqdn, short)
	}
	for _, ip := range self.TailscaleIPs {
		names = append(names, ip.String())
	}
	return names
}
