package flash

import (
	"context"
	"fmt"
	"strings"
)

// sectorSize is the logical sector size the image's MBR is laid out in.
// Devices with another logical sector size (4Kn disks) are refused: their
// MBR would be read in units the image was not written for.
const sectorSize = 512

// maxDeviceBytes bounds the size a device may report (1 PiB).
const maxDeviceBytes = 1 << 50

// Device is a whole disk that Inspect found safe to overwrite.
type Device struct {
	Path       string // as resolved: /dev/sdb, /dev/mmcblk0, /dev/loop3, /dev/disk4
	WritePath  string // what is opened for writing: Path, or /dev/rdisk4 on macOS (unbuffered, much faster)
	Name       string // the kernel's name: sdb, mmcblk0, disk4
	Size       int64  // bytes
	Model      string // vendor and model, or a loop device's backing file; "" if unknown
	Transport  string // usb, mmc, loop, USB, SD, Disk Image…; "" if unknown
	Removable  bool
	SectorSize int64 // logical
}

// String describes the device for the operator: what will be overwritten.
func (d *Device) String() string {
	var parts []string
	parts = append(parts, humanBytes(d.Size))
	if d.Model != "" {
		parts = append(parts, d.Model)
	}
	var attrs []string
	if d.Transport != "" {
		attrs = append(attrs, d.Transport)
	}
	if d.Removable {
		attrs = append(attrs, "removable")
	}
	s := d.Path + ": " + strings.Join(parts, ", ")
	if len(attrs) > 0 {
		s += " (" + strings.Join(attrs, ", ") + ")"
	}
	return s
}

// Inspect examines the device at path and returns it if it may be
// flashed: a whole disk (not a partition) that is a block device, not
// read-only, with 512-byte sectors, holding no mounted file system, no swap
// and nothing stacked on it (device-mapper, RAID), and not the disk the
// running system lives on. It writes nothing.
func Inspect(ctx context.Context, path string) (*Device, error) {
	d, err := inspect(ctx, path)
	if err != nil {
		return nil, err
	}
	if d.SectorSize != sectorSize {
		return nil, fmt.Errorf("%s has %d-byte logical sectors; the image's partition table is laid out in %d-byte sectors", d.Path, d.SectorSize, sectorSize)
	}
	if d.Size < sectorSize {
		return nil, fmt.Errorf("%s reports a size of %d bytes: is there a card in the reader?", d.Path, d.Size)
	}
	return d, nil
}

// inUse is the refusal for a device that holds something in use: the
// mounts, swaps and holders found on it.
func inUse(d string, system bool, uses []string) error {
	if system {
		return fmt.Errorf("%s holds the running system (%s): refusing to overwrite it", d, strings.Join(uses, "; "))
	}
	return fmt.Errorf("%s is in use: %s; unmount it (and stop what holds it) first", d, strings.Join(uses, "; "))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
