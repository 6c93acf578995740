//go:build darwin

package flash

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// DKIOCSYNCHRONIZECACHE (sys/disk.h): flush the drive's write cache.
const ioctlDKIOCSYNCHRONIZECACHE = 0x20006416

func inspect(ctx context.Context, path string) (*Device, error) {
	whole, slice, ok := darwinDisk(path)
	if !ok {
		if fi, err := os.Stat(path); err == nil && !fi.Mode().IsDir() && fi.Mode()&os.ModeDevice == 0 {
			return nil, fmt.Errorf("%s is not a disk (it is a regular file): flash writes whole SD cards such as /dev/disk4 (see diskutil list); an image file comes from surveyctl image -o", path)
		}
		return nil, fmt.Errorf("%s is not a disk: give the card's whole disk, such as /dev/disk4 (see diskutil list)", path)
	}
	if slice {
		return nil, fmt.Errorf("%s is a partition of /dev/%s: flash writes a whole card; give /dev/%s", path, whole, whole)
	}
	node := "/dev/" + whole
	if fi, err := os.Stat(node); err != nil {
		return nil, fmt.Errorf("device %s: %w", node, err)
	} else if fi.Mode()&os.ModeDevice == 0 {
		return nil, fmt.Errorf("%s is not a device", node)
	}
	p := darwinProbe{run: runTool}
	return p.check(ctx, node, whole)
}

// runTool runs a command and returns its standard output, at most
// maxToolOutput bytes of it.
func runTool(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	stdout, stderr := &boundedBuffer{max: maxToolOutput}, &boundedBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	if stdout.over {
		return nil, fmt.Errorf("%s %s: more than %d bytes of output", name, strings.Join(args, " "), maxToolOutput)
	}
	return stdout.Bytes(), nil
}

// openDevice opens the raw disk (/dev/rdiskN: unbuffered, several times
// faster than /dev/diskN for large writes).
func openDevice(d *Device) (*os.File, error) {
	f, err := os.OpenFile(d.WritePath, os.O_RDWR, 0)
	if errors.Is(err, syscall.EBUSY) {
		return nil, fmt.Errorf("%s is in use (diskutil unmountDisk %s)", d.Path, d.Path)
	}
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		return nil, fmt.Errorf("opening %s for writing: %w (run surveyctl flash with sudo)", d.WritePath, err)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s for writing: %w", d.WritePath, err)
	}
	return f, nil
}

// flushDevice asks the card reader to write its cache to the card. Writes
// to a raw disk bypass macOS's buffer cache, so reads come from the card.
func flushDevice(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, ioctlDKIOCSYNCHRONIZECACHE, 0)
	}); err != nil {
		return err
	}
	if errno == 0 {
		return nil
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("flushing %s: %v, and %w", f.Name(), errno, err)
	}
	return nil
}

// rereadPartitions has nothing to do: macOS reads the new partition table
// when the device is closed (and may then mount the boot partition).
func rereadPartitions(*os.File) error { return nil }
