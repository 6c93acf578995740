package flash

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/filesystem/ext4"
)

// /perm holds few files (the spool's database, the tailnet state, keys):
// one inode per 256 KiB, at least 16384, keeps the inode tables that
// go-diskfs zeroes small (64 MiB on a 64 GiB card instead of the 2 GiB
// that one per 8 KiB would take, written at SD card speed).
const (
	permBytesPerInode = 256 << 10
	minPermInodes     = 16384
)

// ext4 superblock fields (at 1024 bytes into the file system).
const (
	sbOffset        = 1024
	sbBlocksLo      = 0x04
	sbLogBlockSize  = 0x18
	sbMagic         = 0x38
	sbIncompat      = 0x60
	sbBlocksHi      = 0x150
	ext4Magic       = 0xEF53
	ext4Incompat64  = 0x80
	maxLogBlockSize = 6 // 64 KiB blocks
)

// checkSuperblock reads the ext4 superblock of the file system at start
// and returns its size in bytes, refusing one that claims more than size
// (so that nothing read from it later is sized by a bad superblock).
func checkSuperblock(r io.ReaderAt, start, size int64) (int64, error) {
	sb := make([]byte, 1024)
	if _, err := r.ReadAt(sb, start+sbOffset); err != nil {
		return 0, fmt.Errorf("reading the ext4 superblock: %w", err)
	}
	if binary.LittleEndian.Uint16(sb[sbMagic:]) != ext4Magic {
		return 0, fmt.Errorf("no ext4 file system")
	}
	logBS := binary.LittleEndian.Uint32(sb[sbLogBlockSize:])
	if logBS > maxLogBlockSize {
		return 0, fmt.Errorf("ext4 block size 2^%d KiB is out of range", logBS)
	}
	blocks := uint64(binary.LittleEndian.Uint32(sb[sbBlocksLo:]))
	if binary.LittleEndian.Uint32(sb[sbIncompat:])&ext4Incompat64 != 0 {
		blocks |= uint64(binary.LittleEndian.Uint32(sb[sbBlocksHi:])) << 32
	}
	bs := uint64(1024) << logBS
	if blocks > uint64(size)/bs {
		return 0, fmt.Errorf("ext4 file system of %d %d-byte blocks is larger than its %d-byte partition", blocks, bs, size)
	}
	return int64(blocks * bs), nil
}

// writePerm creates an ext4 file system of size bytes at start on the
// device and puts /perm's entries on it, modes, owners and times as they
// were.
func writePerm(dev backend.Storage, start, size int64, label string, entries []permEntry) error {
	inodes := max(size/permBytesPerInode, minPermInodes)
	fsys, err := ext4.Create(dev, size, start, sectorSize, &ext4.Params{VolumeName: label, InodeCount: uint32(inodes)})
	if err != nil {
		return fmt.Errorf("creating the ext4 file system: %w", err)
	}
	for _, e := range entries {
		if err := putEntry(fsys, e); err != nil {
			return fmt.Errorf("copying %s: %w", e.path, err)
		}
	}
	// Times last: adding to a directory must not leave it newer than it was.
	for _, e := range entries {
		if err := fsys.Chtimes(e.path, e.ctime, e.atime, e.mtime); err != nil {
			return fmt.Errorf("setting the times of %s: %w", e.path, err)
		}
	}
	return nil
}

func putEntry(fsys *ext4.FileSystem, e permEntry) error {
	switch {
	case e.mode.IsDir():
		if err := fsys.Mkdir(e.path); err != nil {
			return err
		}
	case e.mode&fs.ModeSymlink != 0:
		// A symlink's own mode and owner are not settable; go-diskfs's
		// Chmod and Chown would follow it.
		return fsys.Symlink(e.target, e.path)
	default:
		f, err := fsys.OpenFile(e.path, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return err
		}
		if _, err := f.Write(e.data); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if err := fsys.Chmod(e.path, e.mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	return fsys.Chown(e.path, int(e.uid), int(e.gid))
}

// verifyPerm reads /perm back from the device: an ext4 file system
// spanning the partition (to within one block) that holds every entry as
// the image had it.
func verifyPerm(dev backend.Storage, start, size int64, entries []permEntry) error {
	fsSize, err := checkSuperblock(dev, start, size)
	if err != nil {
		return err
	}
	if size-fsSize >= 64<<10 {
		return fmt.Errorf("the ext4 file system covers %d of the partition's %d bytes", fsSize, size)
	}
	fsys, err := ext4.Read(dev, size, start, sectorSize)
	if err != nil {
		return fmt.Errorf("reading the ext4 file system: %w", err)
	}
	r := permReader{fsys: fsys}
	for _, want := range entries {
		got, err := r.entry(want.path)
		if err != nil {
			return fmt.Errorf("reading %s back: %w", want.path, err)
		}
		switch {
		case got.mode != want.mode:
			return fmt.Errorf("%s has mode %v, want %v", want.path, got.mode, want.mode)
		case got.uid != want.uid || got.gid != want.gid:
			return fmt.Errorf("%s is owned by %d:%d, want %d:%d", want.path, got.uid, got.gid, want.uid, want.gid)
		case !bytes.Equal(got.data, want.data):
			return fmt.Errorf("%s reads back different (%d bytes, want %d)", want.path, len(got.data), len(want.data))
		case got.target != want.target:
			return fmt.Errorf("symlink %s points to %q, want %q", want.path, got.target, want.target)
		case !got.mtime.Equal(want.mtime):
			return fmt.Errorf("%s has mtime %v, want %v", want.path, got.mtime, want.mtime)
		}
	}
	return nil
}
