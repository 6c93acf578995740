package flash

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/diskfs/go-diskfs/backend"
)

// deviceFile is what sectorStorage reads and writes: the opened device.
type deviceFile interface {
	io.ReaderAt
	io.WriterAt
	Stat() (fs.FileInfo, error)
}

// sectorStorage gives go-diskfs a device on which every read and write is
// whole sectors. macOS's raw disks (/dev/rdiskN) refuse anything else,
// while go-diskfs's ext4 writes 1 KiB superblocks at 1 KiB and 256-byte
// inodes wherever they fall: the partial sectors are read, merged and
// written whole. It also refuses to reach past the end of the device.
type sectorStorage struct {
	f      deviceFile
	path   string
	size   int64 // a multiple of sectorSize
	sector int64
}

var _ backend.Storage = (*sectorStorage)(nil)

func newSectorStorage(f deviceFile, path string, size int64) *sectorStorage {
	return &sectorStorage{f: f, path: path, size: size - size%sectorSize, sector: sectorSize}
}

func (s *sectorStorage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at negative offset %d", off)
	}
	if off >= s.size {
		return 0, io.EOF
	}
	want := p
	if off+int64(len(p)) > s.size {
		want = p[:s.size-off]
	}
	var err error
	if off%s.sector == 0 && int64(len(want))%s.sector == 0 {
		_, err = s.f.ReadAt(want, off)
	} else {
		lo, hi := s.span(off, int64(len(want)))
		buf := make([]byte, hi-lo)
		if _, err = s.f.ReadAt(buf, lo); err == nil {
			copy(want, buf[off-lo:])
		}
	}
	if err != nil {
		return 0, err
	}
	if len(want) < len(p) {
		return len(want), io.EOF
	}
	return len(p), nil
}

func (s *sectorStorage) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > s.size {
		return 0, fmt.Errorf("write of %d bytes at %d reaches past the device's %d bytes", len(p), off, s.size)
	}
	if off%s.sector == 0 && int64(len(p))%s.sector == 0 {
		return s.f.WriteAt(p, off)
	}
	lo, hi := s.span(off, int64(len(p)))
	buf := make([]byte, hi-lo)
	// Only the first and last sectors are partly overwritten.
	headRead := off != lo
	if headRead {
		if _, err := s.f.ReadAt(buf[:s.sector], lo); err != nil {
			return 0, fmt.Errorf("reading sector at %d to merge a write: %w", lo, err)
		}
	}
	oneSector := hi-lo == s.sector
	if off+int64(len(p)) != hi && !(headRead && oneSector) {
		if _, err := s.f.ReadAt(buf[hi-lo-s.sector:], hi-s.sector); err != nil {
			return 0, fmt.Errorf("reading sector at %d to merge a write: %w", hi-s.sector, err)
		}
	}
	copy(buf[off-lo:], p)
	if _, err := s.f.WriteAt(buf, lo); err != nil {
		return 0, err
	}
	return len(p), nil
}

// span widens [off, off+n) to whole sectors.
func (s *sectorStorage) span(off, n int64) (lo, hi int64) {
	lo = off - off%s.sector
	hi = off + n
	if r := hi % s.sector; r != 0 {
		hi += s.sector - r
	}
	return lo, hi
}

func (s *sectorStorage) Stat() (fs.FileInfo, error) { return s.f.Stat() }

// Read and Seek are part of backend.Storage; go-diskfs's ext4 uses neither.
func (s *sectorStorage) Read([]byte) (int, error) {
	return 0, errors.New("sectorStorage: sequential reads are not supported")
}

func (s *sectorStorage) Seek(int64, int) (int64, error) {
	return 0, errors.New("sectorStorage: seeking is not supported")
}

// Close does nothing: the device is closed by whoever opened it.
func (s *sectorStorage) Close() error { return nil }

// Sys hides the file so that go-diskfs does not sync it halfway; the
// flash syncs once at the end.
func (s *sectorStorage) Sys() (*os.File, error) { return nil, backend.ErrNotSuitable }

func (s *sectorStorage) Writable() (backend.WritableFile, error) { return s, nil }

func (s *sectorStorage) Path() string { return s.path }
