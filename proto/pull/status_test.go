package pull

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBootPartition(t *testing.T) {
	// /proc/cmdline of the amd64 VM after an update.
	cmdline := "console=tty1 console=ttyS0,115200 root=PARTUUID=2f3a4b5c-03 init=/gokrazy/init rootwait panic=10 oops=panic rootdelay=0\n"
	b := Boot{Root: RootFromCmdline(cmdline)}
	id, p, err := b.Partition()
	if err != nil || id != 0x2f3a4b5c || p != 3 {
		t.Errorf("Partition() = %08x, %d, %v", id, p, err)
	}
	for _, bad := range []string{"", "/dev/mmcblk0p2", "PARTUUID=2f3a4b5c-04", "PARTUUID=zzzzzzzz-02", "PARTUUID=2f3a-02", "PARTUUID=2f3a4b5c02"} {
		if _, _, err := (Boot{Root: bad}).Partition(); err == nil {
			t.Errorf("Partition of %q: no error", bad)
		}
	}
}

func TestReadBoot(t *testing.T) {
	proc := t.TempDir()
	os.MkdirAll(filepath.Join(proc, "sys", "kernel"), 0o755)
	os.WriteFile(filepath.Join(proc, "cmdline"), []byte("console=tty1 root=PARTUUID=1234abcd-03 init=/gokrazy/init\n"), 0o644)
	os.WriteFile(filepath.Join(proc, "sys", "kernel", "osrelease"), []byte("6.12.47-v8\n"), 0o644)
	if b := ReadBoot(proc); b.Root != "PARTUUID=1234abcd-03" || b.Kernel != "6.12.47-v8" {
		t.Errorf("ReadBoot: %+v", b)
	}
	if b := ReadBoot(filepath.Join(proc, "missing")); b.Root != "" || b.Kernel != "" {
		t.Errorf("ReadBoot of nothing: %+v", b)
	}
}

func FuzzBootPartition(f *testing.F) {
	f.Add("PARTUUID=1234abcd-03")
	f.Add("PARTUUID=-02")
	f.Add("/dev/mmcblk0p2")
	f.Fuzz(func(t *testing.T, root string) {
		id, part, err := Boot{Root: root}.Partition()
		if err != nil {
			return
		}
		if part != 2 && part != 3 {
			t.Fatalf("%q: partition %d", root, part)
		}
		if want := fmt.Sprintf("PARTUUID=%08x-%02d", id, part); !strings.EqualFold(root, want) {
			t.Fatalf("%q accepted as %s", root, want)
		}
		if RootFromCmdline("a root="+root+" b") != root {
			t.Fatalf("RootFromCmdline lost %q", root)
		}
	})
}
