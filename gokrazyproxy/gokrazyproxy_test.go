package gokrazyproxy

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeGokrazy serves on a unix socket what the proxy needs from gokrazy:
// like gokrazy with NoPassword, it refuses requests that do not arrive on
// its socket; "/" and "/status" pages; PUT /update/root hashing the body
// as it streams in (as gokrazy's update handler does); POST
// /update/switch; and a streaming /log.
type fakeGokrazy struct {
	socket   string
	requests atomic.Int64
	received atomic.Int64 // update bytes so far

	mu      sync.Mutex
	headers []http.Header
	hosts   []string

	logRelease chan struct{}
}

func startGokrazy(t *testing.T) *fakeGokrazy {
	t.Helper()
	// Short path: unix socket names are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "gkp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	g := &fakeGokrazy{socket: filepath.Join(dir, "gokrazy-http.sock"), logRelease: make(chan struct{})}
	ln, err := net.Listen("unix", g.socket)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "gokrazy_xsrf", Value: "1234", Path: "/"})
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<html><a href="/status?path=/user/appliance">appliance</a></html>`)
	})
	mux.HandleFunc("/update/root", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			http.Error(w, "expected a PUT request", http.StatusBadRequest)
			return
		}
		h := sha256.New()
		buf := make([]byte, 64<<10)
		for {
			n, err := r.Body.Read(buf)
			h.Write(buf[:n])
			g.received.Add(int64(n))
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		fmt.Fprintf(w, "%x", h.Sum(nil))
	})
	mux.HandleFunc("POST /update/switch", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "switched, xsrftoken=%s", r.FormValue("xsrftoken"))
	})
	mux.HandleFunc("/log", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-g.logRelease:
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, "data: second\n\n")
	})
	mux.HandleFunc("/hop", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Upstream-Hop")
		w.Header().Set("X-Upstream-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Kept", "yes")
		fmt.Fprint(w, "ok")
	})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.requests.Add(1)
		g.mu.Lock()
		g.headers = append(g.headers, r.Header.Clone())
		g.hosts = append(g.hosts, r.Host)
		g.mu.Unlock()
		// gokrazy's authenticated(): only requests on its socket.
		if addr, ok := r.Context().Value(http.LocalAddrContextKey).(*net.UnixAddr); !ok || addr.Name != g.socket {
			http.Error(w, "httpPassword not set and request from unexpected address", http.StatusInternalServerError)
			return
		}
		mux.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return g
}

func (g *fakeGokrazy) lastHeader() (http.Header, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.headers[len(g.headers)-1], g.hosts[len(g.hosts)-1]
}

// allowHeader authorizes requests carrying X-Test-Operator: yes (the
// appliance asks WhoIs instead).
func allowHeader(r *http.Request) error {
	if r.Header.Get("X-Test-Operator") != "yes" {
		return errors.New("not an operator")
	}
	return nil
}

func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(req.Context(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func newReq(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Test-Operator", "yes")
	return req
}

func TestPassThrough(t *testing.T) {
	g := startGokrazy(t)
	front := httptest.NewServer(Handler(g.socket, allowHeader))
	defer front.Close()

	resp, body := do(t, newReq(t, "GET", front.URL+"/", nil))
	if resp.StatusCode != 200 || !strings.Contains(body, `href="/status?path=/user/appliance"`) {
		t.Fatalf("GET /: %s %q", resp.Status, body)
	}
	if c := resp.Cookies(); len(c) != 1 || c[0].Name != "gokrazy_xsrf" {
		t.Fatalf("cookies %v", c)
	}
	if _, host := g.lastHeader(); host != strings.TrimPrefix(front.URL, "http://") {
		t.Fatalf("gokrazy saw Host %q, want the operator's %q", host, front.URL)
	}

	resp, body = do(t, newReq(t, "GET", front.URL+"/nonexistent", nil))
	if resp.StatusCode != 404 {
		t.Fatalf("GET /nonexistent: %s %q", resp.Status, body)
	}

	req := newReq(t, "POST", front.URL+"/update/switch", strings.NewReader("xsrftoken=1234"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body = do(t, req)
	if resp.StatusCode != 200 || body != "switched, xsrftoken=1234" {
		t.Fatalf("POST /update/switch: %s %q", resp.Status, body)
	}
}

// TestStreamedUpdate PUTs a 64 MiB "root file system" in chunks through
// the proxy and checks gokrazy sees it while it is still being sent (no
// buffering of the whole body) and hashes it right.
func TestStreamedUpdate(t *testing.T) {
	g := startGokrazy(t)
	front := httptest.NewServer(Handler(g.socket, allowHeader))
	defer front.Close()

	const size, chunk = 64 << 20, 1 << 20
	pr, pw := io.Pipe()
	want := sha256.New()
	sendErr := make(chan error, 1)
	go func() {
		buf := make([]byte, chunk)
		for sent := 0; sent < size; sent += chunk {
			rand.Read(buf)
			want.Write(buf)
			if _, err := pw.Write(buf); err != nil {
				sendErr <- err
				return
			}
			if sent == 4*chunk {
				// Do not send more until gokrazy has the first
				// chunks: a proxy that buffers the body deadlocks.
				deadline := time.Now().Add(10 * time.Second)
				for g.received.Load() < chunk {
					if time.Now().After(deadline) {
						err := errors.New("gokrazy got nothing while the body was still being sent")
						pw.CloseWithError(err)
						sendErr <- err
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		}
		sendErr <- pw.Close()
	}()
	req := newReq(t, "PUT", front.URL+"/update/root", pr)
	req.Header.Set("X-Gokrazy-Update-Hash", "sha256")
	start := time.Now()
	resp, body := do(t, req)
	took := time.Since(start)
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || body != fmt.Sprintf("%x", want.Sum(nil)) {
		t.Fatalf("PUT /update/root: %s %q, want hash %x", resp.Status, body, want.Sum(nil))
	}
	if got := g.received.Load(); got != size {
		t.Fatalf("gokrazy received %d bytes, want %d", got, size)
	}
	if h, _ := g.lastHeader(); h.Get("X-Gokrazy-Update-Hash") != "sha256" {
		t.Fatalf("update hash header lost: %v", h)
	}
	t.Logf("64 MiB update through the proxy in %v (%.0f MiB/s, incl. generating random data)", took.Round(time.Millisecond), 64/took.Seconds())
}

func TestRefused(t *testing.T) {
	g := startGokrazy(t)
	for name, h := range map[string]http.Handler{
		"not-operator":  Handler(g.socket, allowHeader),
		"nil-authorize": Handler(g.socket, nil),
	} {
		t.Run(name, func(t *testing.T) {
			front := httptest.NewServer(h)
			defer front.Close()
			for _, req := range []*http.Request{
				mustReq(t, "GET", front.URL+"/", nil),
				mustReq(t, "PUT", front.URL+"/update/root", strings.NewReader("evil image")),
				mustReq(t, "POST", front.URL+"/reboot", nil),
			} {
				resp, body := do(t, req)
				if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(body, "forbidden") {
					t.Fatalf("%s %s: %s %q", req.Method, req.URL.Path, resp.Status, body)
				}
			}
			// Even an operator's header does not help with a nil
			// authorize.
			if name == "nil-authorize" {
				if resp, _ := do(t, newReq(t, "GET", front.URL+"/", nil)); resp.StatusCode != http.StatusForbidden {
					t.Fatalf("nil authorize let an operator through: %s", resp.Status)
				}
			}
		})
	}
	if n := g.requests.Load(); n != 0 {
		t.Fatalf("gokrazy got %d requests from refused callers", n)
	}
}

func mustReq(t *testing.T, method, url string, body io.Reader) *http.Request {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestHopByHopHeaders(t *testing.T) {
	g := startGokrazy(t)
	front := httptest.NewServer(Handler(g.socket, allowHeader))
	defer front.Close()
	req := newReq(t, "GET", front.URL+"/hop", nil)
	req.Header.Set("Connection", "X-Secret-Hop")
	req.Header.Set("X-Secret-Hop", "1")
	req.Header.Set("Keep-Alive", "300")
	req.Header.Set("Proxy-Authorization", "Basic c2VjcmV0")
	req.Header.Set("Te", "gzip")                 // ("trailers" alone is passed on by net/http on purpose)
	req.Header.Set("X-Forwarded-For", "6.6.6.6") // spoofed
	req.Header.Set("Authorization", "Basic Z29rcmF6eTpwdw==")
	resp, body := do(t, req)
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("GET /hop: %s %q", resp.Status, body)
	}
	h, _ := g.lastHeader()
	for _, k := range []string{"Connection", "X-Secret-Hop", "Keep-Alive", "Proxy-Authorization", "Te"} {
		if v := h.Values(k); len(v) > 0 {
			t.Errorf("hop-by-hop request header %s reached gokrazy: %q", k, v)
		}
	}
	if v := h.Get("X-Forwarded-For"); v != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want the proxy's view of the caller (127.0.0.1)", v)
	}
	// End-to-end headers pass (gokrazy with a password needs this one).
	if h.Get("Authorization") != "Basic Z29rcmF6eTpwdw==" || h.Get("X-Test-Operator") != "yes" {
		t.Errorf("end-to-end request headers lost: %v", h)
	}
	for _, k := range []string{"X-Upstream-Hop", "Keep-Alive"} {
		if v := resp.Header.Values(k); len(v) > 0 {
			t.Errorf("hop-by-hop response header %s reached the operator: %q", k, v)
		}
	}
	if resp.Header.Get("X-Kept") != "yes" {
		t.Errorf("end-to-end response header lost: %v", resp.Header)
	}
}

func TestStreamingResponse(t *testing.T) {
	g := startGokrazy(t)
	front := httptest.NewServer(Handler(g.socket, allowHeader))
	defer front.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(newReq(t, "GET", front.URL+"/log", nil).WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	// The first event arrives while gokrazy still holds the response open.
	got := make(chan string, 1)
	go func() {
		l, _ := br.ReadString('\n')
		got <- l
	}()
	select {
	case l := <-got:
		if l != "data: first\n" {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("streamed log line not flushed through the proxy")
	}
	close(g.logRelease)
	rest, err := io.ReadAll(br)
	if err != nil || !strings.Contains(string(rest), "data: second") {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

func TestGokrazyDown(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "absent.sock")
	front := httptest.NewServer(Handler(sock, allowHeader))
	defer front.Close()
	resp, body := do(t, newReq(t, "GET", front.URL+"/", nil))
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "unreachable") {
		t.Fatalf("GET / with gokrazy down: %s %q", resp.Status, body)
	}
}
