package testbed

import (
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// cpioEntry is one member of an initramfs.
type cpioEntry struct {
	Mode uint32 // permission bits only
	Type uint32 // cpioDir, cpioFile or cpioSymlink
	Data []byte // file contents or symlink target
}

const (
	cpioDir     = 0o040000
	cpioFile    = 0o100000
	cpioSymlink = 0o120000
)

// cpioTree is an in-memory file tree written as a newc ("070701") archive.
type cpioTree map[string]cpioEntry

func (t cpioTree) mkdirAll(p string) {
	p = path.Clean("/" + p)
	for p != "/" {
		if _, ok := t[p]; !ok {
			t[p] = cpioEntry{Mode: 0o755, Type: cpioDir}
		}
		p = path.Dir(p)
	}
}

func (t cpioTree) addFile(p string, data []byte, mode uint32) {
	p = path.Clean("/" + p)
	t.mkdirAll(path.Dir(p))
	t[p] = cpioEntry{Mode: mode & 0o7777, Type: cpioFile, Data: data}
}

func (t cpioTree) addSymlink(p, target string) {
	p = path.Clean("/" + p)
	t.mkdirAll(path.Dir(p))
	t[p] = cpioEntry{Mode: 0o777, Type: cpioSymlink, Data: []byte(target)}
}

// writeTo writes the archive: directories before their contents, then the
// TRAILER!!! record.
func (t cpioTree) writeTo(w io.Writer) error {
	names := make([]string, 0, len(t))
	for n := range t {
		names = append(names, n)
	}
	sort.Strings(names) // a parent sorts before its children
	ino := uint32(1)
	var off int64
	write := func(name string, e cpioEntry) error {
		hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, e.Mode|e.Type, 0, 0, 1, 0, len(e.Data), 0, 0, 0, 0, len(name)+1, 0)
		ino++
		buf := make([]byte, 0, len(hdr)+len(name)+4)
		buf = append(buf, hdr...)
		buf = append(buf, name...)
		buf = append(buf, 0)
		for (off+int64(len(buf)))%4 != 0 {
			buf = append(buf, 0)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		off += int64(len(buf))
		if _, err := w.Write(e.Data); err != nil {
			return err
		}
		off += int64(len(e.Data))
		if pad := (4 - off%4) % 4; pad != 0 {
			if _, err := w.Write(make([]byte, pad)); err != nil {
				return err
			}
			off += pad
		}
		return nil
	}
	for _, n := range names {
		if err := write(strings.TrimPrefix(n, "/"), t[n]); err != nil {
			return err
		}
	}
	return write("TRAILER!!!", cpioEntry{})
}
