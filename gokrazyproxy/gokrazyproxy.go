// Package gokrazyproxy puts gokrazy's web interface and update endpoint
// behind the appliance's tailnet listener, for authorized operators only.
//
// The image sets Update.NoPassword, so gokrazy serves its web interface
// (status, logs, /update/..., /reboot) on the unix socket
// /run/gokrazy-http.sock alone and never on the customer's LAN; gokrazy
// even refuses requests that do not arrive on that socket. This handler
// is the only way in: it checks every request with the caller's authorize
// function (tailnet identity, via WhoIs) and answers 403 before anything
// reaches gokrazy, then proxies the request over the socket, streaming
// both ways (an update PUTs the whole root file system).
//
// gokrazy's pages use absolute paths ("/status", "/update/..."), so serve
// the handler at the root of its own listener (e.g. tsnet Listen(":80")),
// not under a path prefix.
package gokrazyproxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"time"
)

// DefaultSocket is where gokrazy's HTTP server listens
// (gokrazy.HTTPUnixSocket).
const DefaultSocket = "/run/gokrazy-http.sock"

// Options configure NewHandler.
type Options struct {
	// Socket is gokrazy's unix socket; "" means DefaultSocket.
	Socket string
	// Authorize returns nil for requests that may reach gokrazy; any
	// error gets 403 with the error's text. nil refuses every request.
	Authorize func(*http.Request) error
	// Logger gets refusals and proxy errors; nil: discard.
	Logger *slog.Logger
}

// Handler proxies authorized requests to the gokrazy web interface on the
// unix socket at socketPath and answers 403 to the rest.
func Handler(socketPath string, authorize func(*http.Request) error) http.Handler {
	return NewHandler(Options{Socket: socketPath, Authorize: authorize})
}

// upstreamHost names gokrazy in proxied URLs; the connection goes to the
// socket whatever it says.
const upstreamHost = "gokrazy"

// NewHandler is Handler with all options.
func NewHandler(opt Options) http.Handler {
	if opt.Socket == "" {
		opt.Socket = DefaultSocket
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	socket := opt.Socket
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		// Pass bodies through as they are; never HTTP/2 to gokrazy.
		DisableCompression: true,
		ForceAttemptHTTP2:  false,
		MaxIdleConns:       4,
		IdleConnTimeout:    90 * time.Second,
		// No ResponseHeaderTimeout: gokrazy answers an update only
		// after it has written the whole image.
		ExpectContinueTimeout: time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// Rewrite (unlike Director) already drops hop-by-hop
			// headers, those named in Connection, and the client's own
			// X-Forwarded-* headers.
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = upstreamHost
			pr.Out.Host = pr.In.Host // gokrazy's redirects name the address the operator used
			pr.SetXForwarded()
		},
		Transport: tr,
		// Flush at once: gokrazy's log pages stream.
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
				return // the operator went away
			}
			log.Warn("gokrazy proxy: upstream failed", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
			http.Error(w, "gokrazy web interface unreachable", http.StatusBadGateway)
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := errors.New("no authorization configured")
		if opt.Authorize != nil {
			err = opt.Authorize(r)
		}
		if err != nil {
			log.Warn("gokrazy proxy: refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
			http.Error(w, "forbidden: "+err.Error(), http.StatusForbidden)
			return
		}
		level := slog.LevelDebug
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			level = slog.LevelInfo // updates, reboots, restarts
		}
		log.Log(r.Context(), level, "gokrazy proxy", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		rp.ServeHTTP(w, r)
	})
}
