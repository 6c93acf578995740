package flash

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/ext4"

	"github.com/surveybox/surveybox/sdimage"
)

// Bounds on what is read from an image. A fresh image's /perm holds a few
// small files (the auth key, directories); these leave room for far more.
const (
	maxImageSize   = 0xFFFFFFFF * sectorSize // what an MBR addresses
	maxPermEntries = 4096
	maxPermBytes   = 64 << 20
	maxPermDepth   = 32
)

// MBR layout (partition entries at 446, 16 bytes each, signature at 510).
const (
	mbrEntries   = 446
	mbrEntrySize = 16
	linuxType    = 0x83
)

// Image is an SD card image built by surveyctl image: its MBR, checked
// against the layout sdimage writes, and the files on its /perm.
type Image struct {
	Path      string
	Size      int64
	PermStart int64 // byte offset of partition 4, /perm
	PermLabel string
	mbr       []byte // sector 0
	perm      []permEntry
}

// PermFiles is the number of files, directories and symlinks on /perm.
func (img *Image) PermFiles() int { return len(img.perm) }

// permEntry is one file, directory or symlink on /perm, with what must
// survive the move to a larger file system.
type permEntry struct {
	path                string // io/fs form: "surveybox/authkey"
	mode                fs.FileMode
	uid, gid            uint32
	atime, mtime, ctime time.Time
	data                []byte // regular files
	target              string // symlinks
}

// OpenImage reads and checks the image at p and the files on its /perm.
func OpenImage(p string) (*Image, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("opening the image: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("image %s is not a regular file", p)
	}
	img := &Image{Path: p, Size: fi.Size(), mbr: make([]byte, sectorSize)}
	if img.Size > maxImageSize {
		return nil, fmt.Errorf("image %s is %s, more than an MBR addresses", p, humanBytes(img.Size))
	}
	if _, err := f.ReadAt(img.mbr, 0); err != nil {
		return nil, fmt.Errorf("image %s: reading its partition table: %w", p, err)
	}
	if err := img.checkLayout(); err != nil {
		return nil, fmt.Errorf("image %s is not a surveyctl image: %w", p, err)
	}
	if _, err := checkSuperblock(f, img.PermStart, img.Size-img.PermStart); err != nil {
		return nil, fmt.Errorf("image %s: /perm (partition 4): %w", p, err)
	}
	fsys, err := ext4.Read(file.New(f, true), img.Size-img.PermStart, img.PermStart, sectorSize)
	if err != nil {
		return nil, fmt.Errorf("image %s: reading /perm (partition 4): %w", p, err)
	}
	img.PermLabel = fsys.Label()
	r := permReader{fsys: fsys}
	if err := r.walk(".", 0); err != nil {
		return nil, fmt.Errorf("image %s: reading /perm: %w", p, err)
	}
	img.perm = r.entries
	return img, nil
}

// checkLayout compares the MBR with the layout sdimage writes for an image
// of this size: boot, root A, root B and /perm, the last ending at the
// image's end.
func (img *Image) checkLayout() error {
	if img.mbr[510] != 0x55 || img.mbr[511] != 0xAA {
		return errors.New("no MBR boot signature")
	}
	l, err := sdimage.NewLayout(img.Size)
	if err != nil {
		return err
	}
	want := []sdimage.Partition{l.Boot, l.RootA, l.RootB, l.Perm}
	for i, w := range want {
		start, size := img.partition(i)
		if start != w.Start || size != w.Size {
			return fmt.Errorf("partition %d spans bytes %d+%d, want %d+%d", i+1, start, size, w.Start, w.Size)
		}
	}
	if t := img.mbr[mbrEntries+3*mbrEntrySize+4]; t != linuxType {
		return fmt.Errorf("partition 4 has type %#02x, want %#02x (Linux)", t, linuxType)
	}
	img.PermStart = l.Perm.Start
	return nil
}

// partition returns entry i's (0-based) start and size in bytes.
func (img *Image) partition(i int) (start, size int64) {
	e := img.mbr[mbrEntries+i*mbrEntrySize:][:mbrEntrySize]
	return int64(binary.LittleEndian.Uint32(e[8:])) * sectorSize, int64(binary.LittleEndian.Uint32(e[12:])) * sectorSize
}

// mbrWithPermSectors returns the image's MBR with partition 4 grown to
// sectors.
func (img *Image) mbrWithPermSectors(sectors uint32) []byte {
	m := append([]byte(nil), img.mbr...)
	binary.LittleEndian.PutUint32(m[mbrEntries+3*mbrEntrySize+12:], sectors)
	return m
}

// permReader collects /perm's tree, parents before children.
type permReader struct {
	fsys    *ext4.FileSystem
	entries []permEntry
	bytes   int64
}

func (r *permReader) walk(dir string, depth int) error {
	if depth > maxPermDepth {
		return fmt.Errorf("%s: nested deeper than %d directories", dir, maxPermDepth)
	}
	des, err := r.fsys.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, de := range des {
		p := path.Join(dir, de.Name())
		e, err := r.entry(p)
		if err != nil {
			return err
		}
		if len(r.entries) >= maxPermEntries {
			return fmt.Errorf("more than %d files", maxPermEntries)
		}
		r.entries = append(r.entries, e)
		if e.mode.IsDir() {
			if err := r.walk(p, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *permReader) entry(p string) (permEntry, error) {
	fi, err := r.fsys.Stat(p)
	if err != nil {
		return permEntry{}, err
	}
	st, ok := fi.Sys().(*ext4.StatT)
	if !ok {
		return permEntry{}, fmt.Errorf("%s: no inode information", p)
	}
	e := permEntry{
		path: p, mode: fi.Mode(), uid: st.UID, gid: st.GID,
		atime: st.AccessTime, mtime: fi.ModTime(), ctime: st.ChangeTime,
	}
	switch {
	case fi.Mode().IsDir():
	case fi.Mode()&fs.ModeSymlink != 0:
		e.target = st.LinkTarget
	case fi.Mode().IsRegular():
		if st.Nlink > 1 {
			return permEntry{}, fmt.Errorf("%s: hard links cannot be carried over", p)
		}
		if r.bytes += fi.Size(); fi.Size() < 0 || r.bytes > maxPermBytes {
			return permEntry{}, fmt.Errorf("more than %s of files", humanBytes(maxPermBytes))
		}
		if e.data, err = r.readFile(p, fi.Size()); err != nil {
			return permEntry{}, err
		}
	default:
		return permEntry{}, fmt.Errorf("%s: a %s cannot be carried over", p, fi.Mode().Type())
	}
	return e, nil
}

func (r *permReader) readFile(p string, size int64) ([]byte, error) {
	f, err := r.fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return data, nil
}
