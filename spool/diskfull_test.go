package spool

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/surveybox/surveybox/internal/testrecords"
)

// TestDiskFullTmpfs appends to a spool on a 1 MiB tmpfs until the disk is
// really full (ENOSPC from the kernel): appends evict the oldest batches
// and go on, or fail with ErrDiskFull, and the spool stays usable and
// consistent. It needs root to mount; elsewhere it is skipped
// (TestMaxFileBytes covers the same path with bbolt's MaxSize).
func TestDiskFullTmpfs(t *testing.T) {
	// CI runs as root: there, and wherever root can mount, the real
	// full-disk test must run, not skip.
	skip := t.Skipf
	if os.Getenv("CI") != "" || os.Geteuid() == 0 {
		skip = t.Fatalf
	}
	if os.Geteuid() != 0 {
		skip("needs root to mount a tmpfs")
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		skip("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmounting %s: %v", mnt, err)
		}
	})
	ctx := context.Background()
	path := filepath.Join(mnt, "spool.db")
	var logs syncBuffer
	s, err := Open(path, Options{QuotaBytes: -1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	batch := testrecords.Batch(t, 30, true)
	var ok, full int
	for range 1000 {
		_, _, err := s.Append(ctx, batch)
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrDiskFull):
			full++
		default:
			t.Fatalf("append: %v", err)
		}
	}
	st := mustStats(t, s)
	t.Logf("%d appends ok, %d disk full; %d evicted in %d evictions; %d batches, file %d bytes",
		ok, full, st.EvictedEntries, st.Evictions, st.Entries, st.FileBytes)
	if st.EvictedEntries == 0 || !strings.Contains(logs.String(), "disk full") {
		t.Errorf("the disk never filled up: %+v", st)
	}
	if ok < 500 {
		t.Errorf("only %d of 1000 appends succeeded", ok)
	}
	mustCheck(t, s)
	// Acknowledging and appending still work, and so does a reopen.
	if err := s.Ack(ctx, st.NewestSeq); err != nil {
		t.Errorf("ack on a full disk: %v", err)
	}
	if _, _, err := s.Append(ctx, batch); err != nil {
		t.Errorf("append after ack: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, Options{})
	mustCheck(t, s)
}
