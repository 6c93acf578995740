package sdimage

import (
	"io/fs"
	"syscall"
)

// allocated returns the bytes a (sparse) file really occupies on disk.
func allocated(st fs.FileInfo) int64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Blocks * 512
	}
	return st.Size()
}
