//go:build linux

package flash

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	in := `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
31 22 0:29 / /sys rw,nosuid - sysfs sysfs rw
95 22 7:1 / /mnt/my\040card rw,relatime - vfat /dev/loop1p1 rw
96 22 0:45 /@home /home rw shared:2 master:1 - btrfs /dev/sda3 rw,subvol=/@home
`
	ms, err := parseMountinfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []mount{
		{dev: "254:0", source: "/dev/vda", point: "/"},
		{dev: "0:29", source: "sysfs", point: "/sys"},
		{dev: "7:1", source: "/dev/loop1p1", point: "/mnt/my card"},
		{dev: "0:45", source: "/dev/sda3", point: "/home"},
	}
	if len(ms) != len(want) {
		t.Fatalf("got %d mounts, want %d: %+v", len(ms), len(want), ms)
	}
	for i := range want {
		if ms[i] != want[i] {
			t.Errorf("mount %d = %+v, want %+v", i, ms[i], want[i])
		}
	}
	for _, bad := range []string{"22 1 254:0 / / rw\n", "1 2 3 4 5 6 - x\n"} {
		if _, err := parseMountinfo(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	long := strings.Repeat("22 1 254:0 / / rw - ext4 /dev/vda rw\n", maxMountinfo/36+1)
	if _, err := parseMountinfo(strings.NewReader(long)); err == nil {
		t.Error("accepted a mountinfo over the bound")
	}
}

func TestDevNum(t *testing.T) {
	// glibc's makedev.
	mkdev := func(major, minor uint64) uint64 {
		return (major&0xfffff000)<<32 | (major&0xfff)<<8 | (minor&0xffffff00)<<12 | minor&0xff
	}
	for _, mm := range [][2]uint64{{7, 0}, {8, 1}, {179, 0}, {259, 1 << 20}, {4096, 300}} {
		if got, want := devNum(mkdev(mm[0], mm[1])), fmt.Sprintf("%d:%d", mm[0], mm[1]); got != want {
			t.Errorf("devNum(makedev(%d, %d)) = %s, want %s", mm[0], mm[1], got, want)
		}
	}
	// Compare with what the kernel itself says for the devices here.
	entries, err := os.ReadDir("/sys/dev/block")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("no block devices in /sys/dev/block")
	}
	for _, e := range entries {
		dir, err := filepath.EvalSymlinks(filepath.Join("/sys/dev/block", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		node := "/dev/" + filepath.Base(dir)
		if _, err := os.Stat(node); err != nil {
			continue
		}
		_, num, err := blockDevice(node)
		if err != nil {
			t.Fatal(err)
		}
		if num != e.Name() {
			t.Errorf("%s: device number %s, sysfs says %s", node, num, e.Name())
		}
	}
}

func TestInspectRefusesWhatIsNotADisk(t *testing.T) {
	file := filepath.Join(t.TempDir(), "card.img")
	if err := os.WriteFile(file, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		file:                     "is not a block device (it is a regular file)",
		filepath.Dir(file):       "is not a block device (it is a directory)",
		"/dev/null":              "is not a block device (it is a character device)",
		"/dev/no-such-disk":      "no such file",
		"/dev/disk/by-id/nobody": "no such file",
	} {
		if _, err := Inspect(t.Context(), path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Inspect(%s) = %v, want an error with %q", path, err, want)
		}
	}
}

// TestInspectRefusesSystemDisk asks Inspect about the disk / is on. Inspect
// writes nothing, so a wrong answer here costs nothing but the test. Where
// / is on no block device (a container's overlay, a tmpfs), a loop device
// stands in for the system disk: the probe reads a mountinfo that says /
// is mounted from it, and the kernel's real /sys.
func TestInspectRefusesSystemDisk(t *testing.T) {
	p := linuxProbe{sys: "/sys", proc: "/proc"}
	mounts, err := p.mounts()
	if err != nil {
		t.Fatal(err)
	}
	var root string
	for _, m := range mounts {
		if m.point == "/" && strings.HasPrefix(m.source, "/dev/") {
			root = m.source
		}
	}
	if root == "" {
		requireTools(t, "losetup")
		root = loopDevice(t, filepath.Join(t.TempDir(), "system.img"), 64<<20)
		_, num, err := blockDevice(root)
		if err != nil {
			t.Fatal(err)
		}
		p.proc = t.TempDir()
		if err := os.MkdirAll(filepath.Join(p.proc, "self"), 0o755); err != nil {
			t.Fatal(err)
		}
		info := fmt.Sprintf("22 1 %s / / rw,relatime shared:1 - ext4 %s rw\n", num, root)
		if err := os.WriteFile(filepath.Join(p.proc, "self", "mountinfo"), []byte(info), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("/ is on no block device here: %s stands in for the system disk", root)
	}
	_, num, err := blockDevice(root)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := p.devDir(num)
	if err != nil {
		t.Fatal(err)
	}
	disks := p.disksUnder(dir, 0)
	if len(disks) == 0 {
		t.Fatalf("no disk found under %s", root)
	}
	for _, disk := range disks {
		_, err := p.inspect("/dev/" + disk)
		if err == nil || !strings.Contains(err.Error(), "holds the running system") || !strings.Contains(err.Error(), "mounted on /") {
			t.Errorf("Inspect(/dev/%s), the disk of / (%s) = %v, want a refusal naming the running system", disk, root, err)
		}
		t.Logf("Inspect(/dev/%s): %v", disk, err)
	}
}
