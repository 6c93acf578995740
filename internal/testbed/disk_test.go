package testbed

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVMDisk: a host disk image (ext4, made with mkfs.ext4) is the
// guest's /dev/vda, readable and writable, and what the guest wrote is
// on the image afterwards.
func TestVMDisk(t *testing.T) {
	a := testAssets(t)
	img := filepath.Join(t.TempDir(), "perm.img")
	if err := Ext4Image(img, 64<<20, "perm"); err != nil {
		t.Fatal(err)
	}
	opts := Options{Radios: 1, Disks: []string{img}, Timeout: 120 * time.Second}
	opts.Script = `
mkdir -p /perm
mount -t ext4 /dev/vda /perm > /out/mount.txt 2>&1 || { dmesg | tail -20 >> /out/mount.txt; ls -l /dev >> /out/mount.txt; }
grep /perm /proc/mounts > /out/mounts.txt
echo from-guest > /perm/hello
umount /perm
`
	res, err := Run(context.Background(), a, opts)
	if err != nil {
		if res != nil {
			t.Logf("console:\n%s", res.Console)
		}
		t.Fatal(err)
	}
	if m := string(res.Files["mounts.txt"]); !strings.HasPrefix(m, "/dev/vda /perm ext4 rw") {
		t.Fatalf("/perm in the guest: %q; mount said:\n%s", m, res.Files["mount.txt"])
	}
	out, err := exec.Command("debugfs", "-R", "cat /hello", img).Output()
	if err != nil || strings.TrimSpace(string(out)) != "from-guest" {
		t.Errorf("the guest's file on the image: %q (%v)", out, err)
	}
}
