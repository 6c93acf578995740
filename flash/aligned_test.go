package flash

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// strictFile refuses what macOS's raw disks (/dev/rdiskN) refuse: reads
// and writes that are not whole sectors.
type strictFile struct{ *os.File }

func (s strictFile) ReadAt(p []byte, off int64) (int, error) {
	if off%sectorSize != 0 || len(p)%sectorSize != 0 {
		return 0, fmt.Errorf("unaligned read of %d bytes at %d", len(p), off)
	}
	return s.File.ReadAt(p, off)
}

func (s strictFile) WriteAt(p []byte, off int64) (int, error) {
	if off%sectorSize != 0 || len(p)%sectorSize != 0 {
		return 0, fmt.Errorf("unaligned write of %d bytes at %d", len(p), off)
	}
	return s.File.WriteAt(p, off)
}

func tempDevice(t *testing.T, size int64) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "device"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSectorStorageMergesPartialSectors(t *testing.T) {
	const size = 64 << 10
	f := tempDevice(t, size)
	rng := rand.New(rand.NewPCG(1, 2))
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	if _, err := f.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	s := newSectorStorage(strictFile{f}, f.Name(), size)
	for _, w := range []struct{ off, n int64 }{
		{0, 1}, {511, 2}, {512, 512}, {1000, 1500}, {1024, 1024}, {4095, 4097},
		{3, 100}, {8191, 1}, {10000, 0}, {size - 1, 1}, {size - 700, 700}, {0, size},
	} {
		p := make([]byte, w.n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		if n, err := s.WriteAt(p, w.off); err != nil || n != len(p) {
			t.Fatalf("WriteAt(%d bytes, %d) = %d, %v", w.n, w.off, n, err)
		}
		copy(want[w.off:], p)
		got := make([]byte, size)
		if _, err := f.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("after writing %d bytes at %d the device differs", w.n, w.off)
		}
		back := make([]byte, w.n)
		if _, err := s.ReadAt(back, w.off); err != nil || !bytes.Equal(back, p) {
			t.Fatalf("ReadAt(%d bytes, %d): %v, or different", w.n, w.off, err)
		}
	}
	if _, err := s.WriteAt(make([]byte, 2), size-1); err == nil {
		t.Error("a write past the end was accepted")
	}
	tail := make([]byte, 1000)
	if n, err := s.ReadAt(tail, size-300); n != 300 || !errors.Is(err, io.EOF) {
		t.Errorf("ReadAt across the end = %d, %v; want 300, EOF", n, err)
	}
}

// samplePerm is a /perm with what a box keeps there: the image's auth
// key, and what a box that ran would have (a spool, a symlink, another
// owner).
func samplePerm() []permEntry {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	big := make([]byte, 3<<20+123)
	for i := range big {
		big[i] = byte(i * 7)
	}
	return []permEntry{
		{path: "surveybox", mode: fs.ModeDir | 0o700, atime: at, mtime: at, ctime: at},
		{path: "surveybox/authkey", mode: 0o600, data: []byte("tskey-auth-sample\n"), atime: at, mtime: at.Add(time.Second), ctime: at},
		{path: "surveybox/spool", mode: fs.ModeDir | 0o750, uid: 1000, gid: 1000, atime: at, mtime: at, ctime: at},
		{path: "surveybox/spool/spool.db", mode: 0o640, uid: 1000, gid: 1000, data: big, atime: at, mtime: at, ctime: at},
		{path: "latest", mode: fs.ModeSymlink | 0o777, target: "surveybox/spool", atime: at, mtime: at, ctime: at},
	}
}

// TestPermOnStrictDevice creates /perm through sectorStorage on a device
// that refuses partial sectors, as macOS's raw disks do, and checks it with
// e2fsprogs: 1 KiB blocks below 512 MiB, 4 KiB above.
func TestPermOnStrictDevice(t *testing.T) {
	for _, tool := range []string{"e2fsck", "debugfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install e2fsprogs: %v", tool, err)
		}
	}
	for _, size := range []int64{64 << 20, 600<<20 + 3*sectorSize} {
		t.Run(humanBytes(size), func(t *testing.T) {
			f := tempDevice(t, size)
			s := newSectorStorage(strictFile{f}, f.Name(), size)
			entries := samplePerm()
			if err := writePerm(s, 0, size, "perm", entries); err != nil {
				t.Fatal(err)
			}
			if err := verifyPerm(s, 0, size, entries); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("e2fsck", "-fn", f.Name()).CombinedOutput(); err != nil {
				t.Fatalf("e2fsck: %v\n%s", err, out)
			}
			out, err := exec.Command("debugfs", "-R", "ls -l surveybox", f.Name()).CombinedOutput()
			if err != nil {
				t.Fatalf("debugfs: %v\n%s", err, out)
			}
			for _, want := range []string{"100600 (1)      0      0      18", "40750 (2)   1000   1000"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("debugfs ls -l surveybox lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestVerifyPermNoticesDifferences(t *testing.T) {
	const size = 64 << 20
	f := tempDevice(t, size)
	s := newSectorStorage(f, f.Name(), size)
	entries := samplePerm()
	if err := writePerm(s, 0, size, "perm", entries); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		change func(e []permEntry)
		want   string
	}{
		{"mode", func(e []permEntry) { e[1].mode = 0o644 }, "mode"},
		{"content", func(e []permEntry) { e[1].data = []byte("other\n") }, "reads back different"},
		{"owner", func(e []permEntry) { e[3].uid = 0 }, "owned by"},
		{"symlink", func(e []permEntry) { e[4].target = "elsewhere" }, "points to"},
		{"missing", func(e []permEntry) { e[1].path = "surveybox/nothing" }, "nothing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := samplePerm()
			tt.change(e)
			if err := verifyPerm(s, 0, size, e); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("verifyPerm = %v, want an error with %q", err, tt.want)
			}
		})
	}
	// A file system smaller than its partition is not "spanning" it.
	if err := verifyPerm(s, 0, size+1<<20, entries); err == nil {
		t.Error("verifyPerm accepted a file system 1 MiB short of its partition")
	}
}
