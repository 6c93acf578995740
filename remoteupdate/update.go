package remoteupdate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/surveybox/surveybox/proto/pull"
)

// Box is a box on the tailnet, as the operator reaches it.
type Box struct {
	// Name is the box's tailnet name: http://Name/ is its pull API and,
	// for operators, its gokrazy update handlers; Name:22 its SSH server.
	Name string
	HTTP *http.Client
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// State is what a box says about itself before and after an update.
type State struct {
	Hostname string // gokrazy's hostname (the image was built for it)
	Arch     string // arm64 or amd64, from the running kernel
	Kernel   string // uname, as gokrazy reports it
	Build    string // the image's gokrazy build timestamp
	Version  string // the appliance's version
	Boot     pull.Boot
	DiskID   uint32
	Root     int // running root partition: 2 or 3
	// HostKey is the box's SSH host key, as ssh-keygen -l prints its
	// fingerprint.
	HostKey string
}

// Inspect asks the box what it runs: its status (pull API), gokrazy's
// status and its SSH host key.
func Inspect(ctx context.Context, b Box) (*State, error) {
	var st pull.Status
	if err := getJSON(ctx, b, pull.StatusPath, &st); err != nil {
		return nil, err
	}
	if st.Boot == nil {
		return nil, fmt.Errorf("%s does not say which root it booted (its software predates remote updates: flash it)", b.Name)
	}
	s := &State{Version: st.Version, Boot: *st.Boot}
	var err error
	if s.DiskID, s.Root, err = st.Boot.Partition(); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name, err)
	}
	var gs struct {
		Hostname, Kernel, BuildTimestamp string
	}
	if err := getJSON(ctx, b, "/", &gs); err != nil {
		return nil, fmt.Errorf("gokrazy's status: %w", err)
	}
	s.Hostname, s.Kernel, s.Build = gs.Hostname, gs.Kernel, gs.BuildTimestamp
	switch {
	case strings.Contains(gs.Kernel, "(aarch64)"):
		s.Arch = "arm64"
	case strings.Contains(gs.Kernel, "(x86_64)"):
		s.Arch = "amd64"
	}
	if s.HostKey, err = HostKey(ctx, b); err != nil {
		return nil, err
	}
	return s, nil
}

// maxJSON bounds a status answer; maxAnswer the others (a CRC, "ok").
const (
	maxJSON   = 1 << 20
	maxAnswer = 4096
)

// call sends one request to the box and returns the body of a 200
// answer, refusing one larger than limit.
func call(ctx context.Context, b Box, req *http.Request, limit int64) ([]byte, error) {
	what := req.Method + " " + req.URL.Path
	res, err := b.HTTP.Do(req.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", what, res.Status, firstLine(body))
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%s: answer larger than %d bytes", what, limit)
	}
	return body, nil
}

// request is a request to the box for path.
func request(b Box, method, path string, body io.Reader) (*http.Request, error) {
	return http.NewRequest(method, "http://"+b.Name+path, body)
}

func getJSON(ctx context.Context, b Box, path string, v any) error {
	req, err := request(b, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	body, err := call(ctx, b, req, maxJSON)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// HostKey returns the fingerprint of the box's SSH host key (SHA256:…),
// read in the SSH handshake; no login is attempted.
func HostKey(ctx context.Context, b Box) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := b.Dial(ctx, "tcp", net.JoinHostPort(b.Name, "22"))
	if err != nil {
		return "", fmt.Errorf("reaching %s's SSH server: %w", b.Name, err)
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	var fp string
	errGot := errors.New("host key read")
	_, _, _, err = ssh.NewClientConn(conn, b.Name, &ssh.ClientConfig{
		User: "surveyctl",
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			fp = ssh.FingerprintSHA256(key)
			return errGot
		},
	})
	if fp == "" {
		return "", fmt.Errorf("SSH handshake with %s: %w", b.Name, err)
	}
	return fp, nil
}

// Options tune an update.
type Options struct {
	// Build is the image's gokrazy build timestamp when known: the box
	// must report it after the reboot.
	Build string
	// Wait bounds the wait for the box to come back; 0 means 5 minutes.
	Wait     time.Duration
	Progress io.Writer // byte counts while sending; nil for none
	Log      *slog.Logger
}

// Result is what an update did.
type Result struct {
	Before, After *State
	Sent          int64 // bytes
	Send, Back    time.Duration
}

// ErrHostKeyChanged means the box came back with another SSH host key:
// whatever answers is not trusted.
var ErrHostKeyChanged = errors.New("the SSH host key changed")

// Update writes img to the box and reboots it into it. before is what
// Inspect said just before; the image must be for this box (its disk ID)
// and name the box's inactive root.
func Update(ctx context.Context, b Box, before *State, img *Image, o Options) (*Result, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Wait == 0 {
		o.Wait = 5 * time.Minute
	}
	if img.DiskID != before.DiskID {
		return nil, fmt.Errorf("the image's disk ID is %08x, %s's is %08x: the box would not find its root (build the image for this box)", img.DiskID, b.Name, before.DiskID)
	}
	if want := 5 - before.Root; img.RootPartition != want {
		return nil, fmt.Errorf("the image's boot partition names root %d; %s runs root %d, so the update must name %d", img.RootPartition, b.Name, before.Root, want)
	}
	var features string
	if err := getText(ctx, b, "/update/features", &features); err != nil {
		return nil, err
	}
	if !strings.Contains(features, "updatehash") {
		return nil, fmt.Errorf("%s's gokrazy does not verify updates (features %q)", b.Name, features)
	}
	res := &Result{Before: before}
	start := time.Now()
	// The root first: writing the inactive partition cannot break the
	// running system. Then the boot partition, which already names the
	// new root, so a power cut before the switch boots the new kernel with
	// the new root; then the MBR's boot code.
	for _, p := range []struct {
		what, path string
		r          io.ReadSeeker
		n          int64
	}{
		{"root file system", "/update/root", img.Root(), img.RootBytes},
		{"boot partition", "/update/boot", img.Boot(), img.BootBytes},
		{"MBR boot code", "/update/mbr", img.MBRCode(), int64(len(img.mbrCode))},
	} {
		t0 := time.Now()
		if err := put(ctx, b, p.path, p.r, p.n, o.Progress); err != nil {
			return nil, fmt.Errorf("writing the %s: %w", p.what, err)
		}
		res.Sent += p.n
		log.Info("written", "box", b.Name, "what", p.what, "bytes", p.n, "duration", time.Since(t0).Round(time.Millisecond))
	}
	if err := post(ctx, b, "/update/switch"); err != nil {
		return nil, fmt.Errorf("switching to root %d: %w", img.RootPartition, err)
	}
	res.Send = time.Since(start)
	log.Info("switched; rebooting", "box", b.Name, "root", img.RootPartition)
	// gokrazy stops the services (among them the appliance that proxies
	// this request) before it reboots: the answer may never come.
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	if err := post(rctx, b, "/reboot"); err != nil {
		log.Info("reboot requested; no answer", "box", b.Name, "err", err)
	}
	cancel()

	back := time.Now()
	after, err := waitBack(ctx, b, img.RootPartition, o.Wait, log)
	res.Back = time.Since(back)
	if err != nil {
		return res, err
	}
	res.After = after
	if after.HostKey != before.HostKey {
		return res, fmt.Errorf("%s came back with host key %s, it had %s: %w", b.Name, after.HostKey, before.HostKey, ErrHostKeyChanged)
	}
	if o.Build != "" && after.Build != o.Build {
		return res, fmt.Errorf("%s came back from root %d with build %s, the image is %s", b.Name, after.Root, after.Build, o.Build)
	}
	return res, nil
}

// waitBack polls the box until it answers from root part.
func waitBack(ctx context.Context, b Box, part int, wait time.Duration, log *slog.Logger) (*State, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	// The old system may still answer for a moment before it stops.
	t := time.NewTicker(3 * time.Second)
	defer t.Stop()
	var last error
	for {
		select {
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			return nil, fmt.Errorf("%s did not come back on root %d within %v: %w", b.Name, part, wait, last)
		case <-t.C:
		}
		qctx, qcancel := context.WithTimeout(ctx, 15*time.Second)
		st, err := Inspect(qctx, b)
		qcancel()
		switch {
		case err != nil:
			last = err
		case st.Root != part:
			last = fmt.Errorf("it answers from root %d", st.Root)
		default:
			return st, nil
		}
		log.Debug("waiting for the box", "box", b.Name, "err", last)
	}
}

func getText(ctx context.Context, b Box, path string, s *string) error {
	req, err := request(b, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	body, err := call(ctx, b, req, maxAnswer)
	*s = string(body)
	return err
}

// put sends n bytes of r and checks the CRC-32 the box computed of what
// it wrote (X-Gokrazy-Update-Hash: crc32, as gokrazy's updater asks).
func put(ctx context.Context, b Box, path string, r io.ReadSeeker, n int64, progress io.Writer) error {
	sum := crc32.NewIEEE()
	if _, err := io.Copy(sum, r); err != nil {
		return err
	}
	want := fmt.Sprintf("%x", sum.Sum(nil))
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return err
	}
	body := io.Reader(r)
	if progress != nil {
		body = &meter{r: r, w: progress, what: path, total: n, next: time.Now().Add(time.Second)}
	}
	req, err := request(b, http.MethodPut, path, io.NopCloser(body))
	if err != nil {
		return err
	}
	req.ContentLength = n
	req.Header.Set("X-Gokrazy-Update-Hash", "crc32")
	got, err := call(ctx, b, req, maxAnswer)
	if err != nil {
		return err
	}
	if g := strings.TrimSpace(string(got)); g != want {
		return fmt.Errorf("PUT %s: the box wrote data with CRC-32 %q, sent %s", path, firstLine(got), want)
	}
	return nil
}

func post(ctx context.Context, b Box, path string) error {
	req, err := request(b, http.MethodPost, path, nil)
	if err != nil {
		return err
	}
	_, err = call(ctx, b, req, maxAnswer)
	return err
}

func firstLine(b []byte) string {
	l, _, _ := bytes.Cut(bytes.TrimSpace(b), []byte("\n"))
	if len(l) > 200 {
		l = l[:200]
	}
	return fmt.Sprintf("%q", l)
}

// meter reports bytes sent about once a second.
type meter struct {
	r           io.Reader
	w           io.Writer
	what        string
	total, done int64
	next        time.Time
}

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if n == 0 {
		return n, err
	}
	m.done += int64(n)
	if now := time.Now(); now.After(m.next) || m.done == m.total {
		m.next = now.Add(time.Second)
		fmt.Fprintf(m.w, "  %s: %d of %d MiB (%d%%)\n", m.what, m.done>>20, m.total>>20, 100*m.done/max(m.total, 1))
	}
	return n, err
}
