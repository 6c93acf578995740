package testbed

import (
	"fmt"
	"os"
	"os/exec"
)

// Ext4Image makes a disk image of size bytes at path holding an empty ext4
// file system labelled label (mkfs.ext4, from e2fsprogs), for
// Options.Disks.
func Ext4Image(path string, size int64, label string) error {
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		return err
	}
	if err := os.Truncate(path, size); err != nil {
		return err
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-L", label, path).CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.ext4 (Debian: e2fsprogs): %w\n%s", err, out)
	}
	return nil
}
