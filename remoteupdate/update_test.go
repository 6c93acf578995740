package remoteupdate

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/surveybox/surveybox/proto/pull"
)

// fakeBox stands in for a box's gokrazy update handlers and SSH server,
// for what a real box will not do on demand: come back with another host
// key, or write something other than what was sent. The real path is
// tested end to end in the amd64 VM (internal/boottest).
type fakeBox struct {
	t       *testing.T
	mu      sync.Mutex
	diskID  uint32
	root    int
	build   string
	key     ssh.Signer
	written map[string]int64 // path → bytes
	// on reboot
	newKey     ssh.Signer
	newBuild   string
	corruptPut bool
	http, ssh  net.Listener
}

func newSigner(t *testing.T) ssh.Signer {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startFakeBox(t *testing.T) *fakeBox {
	f := &fakeBox{t: t, diskID: 0x1234abcd, root: 2, build: "2026-11-01T00:00:00Z", key: newSigner(t), written: map[string]int64{}}
	f.newKey, f.newBuild = f.key, "2026-12-01T00:00:00Z"
	srv := httptest.NewServer(http.HandlerFunc(f.serveHTTP))
	t.Cleanup(srv.Close)
	f.http = srv.Listener
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f.ssh = ln
	go f.serveSSH(ln)
	return f
}

func (f *fakeBox) serveHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case pull.StatusPath:
		json.NewEncoder(w).Encode(pull.Status{Hostname: "box", Version: "v1", Boot: &pull.Boot{Root: fmt.Sprintf("PARTUUID=%08x-%02d", f.diskID, f.root)}})
	case "/":
		json.NewEncoder(w).Encode(map[string]string{"Hostname": "box", "Kernel": "Linux 6.12 (x86_64)", "BuildTimestamp": f.build})
	case "/update/features":
		io.WriteString(w, "partuuid,updatehash,")
	case "/update/root", "/update/boot", "/update/mbr":
		if r.Header.Get("X-Gokrazy-Update-Hash") != "crc32" {
			http.Error(w, "want crc32", http.StatusBadRequest)
			return
		}
		h := crc32.NewIEEE()
		n, _ := io.Copy(h, r.Body)
		f.written[r.URL.Path] = n
		if f.corruptPut {
			h.Write([]byte{0})
		}
		fmt.Fprintf(w, "%x", h.Sum(nil))
	case "/update/switch":
		f.written["switch"] = 1
	case "/reboot":
		f.root = 5 - f.root
		f.key, f.build = f.newKey, f.newBuild
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeBox) serveSSH(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) {
				return nil, errors.New("no")
			}}
			f.mu.Lock()
			cfg.AddHostKey(f.key)
			f.mu.Unlock()
			ssh.NewServerConn(c, cfg)
		}()
	}
}

func (f *fakeBox) box() Box {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, _ := net.SplitHostPort(addr)
		if host != "box" {
			return nil, fmt.Errorf("%s is not the box", addr)
		}
		to := f.http.Addr().String()
		if port == "22" {
			to = f.ssh.Addr().String()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, to)
	}
	return Box{Name: "box", Dial: dial, HTTP: &http.Client{Transport: &http.Transport{DialContext: dial}}}
}

// memImage is an Image whose partitions are a few bytes of a temporary
// file.
func memImage(t *testing.T, diskID uint32, root int) (*Image, func()) {
	p := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(p, []byte("bootroot!"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	return &Image{
		Path: p, DiskID: diskID, RootPartition: root,
		BootBytes: 4, RootBytes: 5, f: f, bootStart: 0, rootStart: 4, mbrCode: make([]byte, 446),
	}, func() { f.Close() }
}

func TestUpdateFakeBox(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name    string
		prepare func(f *fakeBox)
		img     func(f *fakeBox) (uint32, int)
		wantErr string
		sent    bool
	}{
		{name: "ok", sent: true},
		{name: "host key changed", prepare: func(f *fakeBox) { f.newKey = newSigner(t) }, wantErr: "the SSH host key changed", sent: true},
		{name: "other build", prepare: func(f *fakeBox) { f.newBuild = "2020-01-01T00:00:00Z" }, wantErr: "with build 2020-01-01T00:00:00Z, the image is", sent: true},
		{name: "other disk", img: func(f *fakeBox) (uint32, int) { return f.diskID + 1, 3 }, wantErr: "the box would not find its root"},
		{name: "running root", img: func(f *fakeBox) (uint32, int) { return f.diskID, 2 }, wantErr: "names root 2; box runs root 2"},
		{name: "written wrong", prepare: func(f *fakeBox) { f.corruptPut = true }, wantErr: "the box wrote data with CRC-32", sent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFakeBox(t)
			if tc.prepare != nil {
				tc.prepare(f)
			}
			b := f.box()
			before, err := Inspect(ctx, b)
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if before.Root != 2 || before.DiskID != f.diskID || before.Arch != "amd64" || !strings.HasPrefix(before.HostKey, "SHA256:") {
				t.Fatalf("Inspect: %+v", before)
			}
			id, root := f.diskID, 3
			if tc.img != nil {
				id, root = tc.img(f)
			}
			img, cleanup := memImage(t, id, root)
			defer cleanup()
			res, err := Update(ctx, b, before, img, Options{Build: "2026-12-01T00:00:00Z", Wait: 20 * time.Second})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Update: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Update: %v, want an error with %q", err, tc.wantErr)
			}
			if tc.name == "host key changed" && !errors.Is(err, ErrHostKeyChanged) {
				t.Errorf("Update: %v is not ErrHostKeyChanged", err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if got := f.written["/update/root"] > 0; got != tc.sent {
				t.Errorf("root written: %v, want %v", got, tc.sent)
			}
			if tc.name == "written wrong" && (f.written["/update/boot"] != 0 || f.written["switch"] != 0) {
				t.Errorf("went on after a root written wrong: %v", f.written)
			}
			if tc.wantErr == "" {
				if res.After.Root != 3 || f.written["/update/boot"] != img.BootBytes || f.written["/update/mbr"] != 446 || f.written["switch"] != 1 {
					t.Errorf("after: %+v, written %v", res.After, f.written)
				}
			}
		})
	}
}
