//go:build linux

package flash

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Block device ioctls (linux/fs.h).
const (
	ioctlBLKRRPART = 0x125f // re-read the partition table
	ioctlBLKFLSBUF = 0x1261 // flush and drop the device's buffer cache
)

// Bounds on what is read from /proc and /sys.
const (
	maxSysfsValue = 4 << 10
	maxMountinfo  = 16 << 20
	maxStackDepth = 16 // device-mapper/RAID layers followed down to the disks
)

// linuxProbe reads the kernel's view of block devices and mounts.
type linuxProbe struct {
	sys, proc string // "/sys", "/proc"
}

func inspect(_ context.Context, path string) (*Device, error) {
	p := linuxProbe{sys: "/sys", proc: "/proc"}
	return p.inspect(path)
}

func (p linuxProbe) inspect(path string) (*Device, error) {
	resolved, num, err := blockDevice(path)
	if err != nil {
		return nil, err
	}
	dir, err := p.devDir(num)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(dir)
	if partno, ok := p.partition(dir); ok {
		parent := filepath.Base(filepath.Dir(dir))
		return nil, fmt.Errorf("%s is partition %s of /dev/%s: flash writes a whole card; give /dev/%s", path, partno, parent, parent)
	}
	for _, virt := range []string{"dm", "md"} {
		if _, err := os.Stat(filepath.Join(dir, virt)); err == nil {
			return nil, fmt.Errorf("%s (%s) is a device-mapper or RAID device, not a card", path, name)
		}
	}
	d := &Device{Path: resolved, WritePath: resolved, Name: name}
	sectors, err := p.sysInt(dir, "size")
	if err != nil {
		return nil, err
	}
	// sysfs counts 512-byte units whatever the device's sector size.
	if sectors > maxDeviceBytes/512 {
		return nil, fmt.Errorf("%s reports %d sectors, more than any SD card", path, sectors)
	}
	d.Size = sectors * 512
	if d.SectorSize, err = p.sysInt(dir, "queue/logical_block_size"); err != nil {
		return nil, err
	}
	if ro, _ := p.sysValue(dir, "ro"); ro == "1" {
		return nil, fmt.Errorf("%s is read-only: is the SD card's lock switch on?", path)
	}
	d.Removable = p.sysFlag(dir, "removable")
	d.Model, d.Transport = p.describe(dir, name)
	system, uses, err := p.uses(name)
	if err != nil {
		return nil, fmt.Errorf("checking whether %s is in use: %w", path, err)
	}
	if len(uses) > 0 {
		return nil, inUse(path, system, uses)
	}
	return d, nil
}

// blockDevice resolves path (following symlinks such as
// /dev/disk/by-id/…) and returns it with its device number "major:minor".
func blockDevice(path string) (string, string, error) {
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", "", fmt.Errorf("device %s: %w", path, err)
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return "", "", fmt.Errorf("device %s: %w", path, err)
	}
	if fi.Mode()&os.ModeDevice == 0 || fi.Mode()&os.ModeCharDevice != 0 {
		return "", "", fmt.Errorf("%s is not a block device (it is a %s): flash writes whole SD cards such as /dev/sdX or /dev/mmcblkN; an image file comes from surveyctl image -o", path, fileKind(fi.Mode()))
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", "", fmt.Errorf("device %s: no device number", path)
	}
	return resolved, devNum(uint64(st.Rdev)), nil // Rdev is uint32 on some architectures
}

// devNum formats a Linux dev_t as sysfs and mountinfo do.
func devNum(rdev uint64) string {
	major := (rdev>>8)&0xfff | (rdev>>32)&0xfffff000
	minor := rdev&0xff | (rdev>>12)&0xffffff00
	return fmt.Sprintf("%d:%d", major, minor)
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "directory"
	case m&os.ModeCharDevice != 0:
		return "character device"
	default:
		return m.Type().String()
	}
}

// devDir is the device's sysfs directory, e.g. /sys/devices/…/block/sdb
// or …/block/sdb/sdb1 for a partition.
func (p linuxProbe) devDir(num string) (string, error) {
	dir, err := filepath.EvalSymlinks(filepath.Join(p.sys, "dev", "block", num))
	if err != nil {
		return "", fmt.Errorf("looking up block device %s in sysfs: %w", num, err)
	}
	return dir, nil
}

func (p linuxProbe) partition(dir string) (string, bool) {
	n, err := p.sysValue(dir, "partition")
	return n, err == nil
}

func (p linuxProbe) sysValue(dir, name string) (string, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSysfsValue))
	return strings.TrimSpace(string(b)), err
}

func (p linuxProbe) sysInt(dir, name string) (int64, error) {
	s, err := p.sysValue(dir, name)
	if err != nil {
		return 0, fmt.Errorf("reading %s of %s: %w", name, filepath.Base(dir), err)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s of %s: %q is not a count", name, filepath.Base(dir), s)
	}
	return n, nil
}

func (p linuxProbe) sysFlag(dir, name string) bool {
	v, _ := p.sysValue(dir, name)
	return v == "1"
}

// describe names the device the way the operator knows it.
func (p linuxProbe) describe(dir, name string) (model, transport string) {
	switch {
	case strings.HasPrefix(name, "loop"):
		f, _ := p.sysValue(dir, "loop/backing_file")
		return "loop device on " + f, "loop"
	case strings.HasPrefix(name, "mmcblk"):
		n, _ := p.sysValue(dir, "device/name")
		t, _ := p.sysValue(dir, "device/type")
		return strings.TrimSpace(t + " " + n), "mmc"
	}
	vendor, _ := p.sysValue(dir, "device/vendor")
	m, _ := p.sysValue(dir, "device/model")
	model = strings.Join(strings.Fields(vendor+" "+m), " ")
	switch {
	case strings.Contains(dir, "/usb"):
		transport = "usb"
	case strings.HasPrefix(name, "nvme"):
		transport = "nvme"
	}
	return model, transport
}

// disksUnder returns the whole disks a block device lives on: the disk
// itself, a partition's disk, or, through device-mapper and RAID layers
// (slaves), the disks beneath.
func (p linuxProbe) disksUnder(dir string, depth int) []string {
	if depth > maxStackDepth {
		return nil
	}
	slaves, _ := os.ReadDir(filepath.Join(dir, "slaves"))
	if len(slaves) == 0 {
		if _, ok := p.partition(dir); ok {
			return []string{filepath.Base(filepath.Dir(dir))}
		}
		return []string{filepath.Base(dir)}
	}
	var disks []string
	for _, s := range slaves {
		sd, err := filepath.EvalSymlinks(filepath.Join(dir, "slaves", s.Name()))
		if err != nil {
			continue
		}
		disks = append(disks, p.disksUnder(sd, depth+1)...)
	}
	return disks
}

// onDisk reports whether the device numbered num lives on the disk name.
func (p linuxProbe) onDisk(num, name string) bool {
	dir, err := p.devDir(num)
	if err != nil {
		return false
	}
	return slices.Contains(p.disksUnder(dir, 0), name)
}

// uses lists what holds the disk name: mounted file systems on it (also
// through device-mapper or RAID), swap on it, and devices stacked on it.
// system is whether the root file system is among them.
func (p linuxProbe) uses(name string) (system bool, uses []string, err error) {
	mounts, err := p.mounts()
	if err != nil {
		return false, nil, err
	}
	for _, m := range mounts {
		nums := []string{m.dev}
		// btrfs reports an anonymous device number; its source names the disk.
		if strings.HasPrefix(m.source, "/dev/") {
			if _, n, err := blockDevice(m.source); err == nil && n != m.dev {
				nums = append(nums, n)
			}
		}
		if slices.ContainsFunc(nums, func(n string) bool { return p.onDisk(n, name) }) {
			uses = append(uses, fmt.Sprintf("%s is mounted on %s", m.source, m.point))
			system = system || m.point == "/"
		}
	}
	swaps, err := p.swaps()
	if err != nil {
		return false, nil, err
	}
	for _, s := range swaps {
		if _, n, err := blockDevice(s); err == nil && p.onDisk(n, name) {
			uses = append(uses, s+" is in use as swap")
		}
	}
	uses = append(uses, p.loopsOn(name)...)
	holders, err := p.holders(name)
	if err != nil {
		return false, nil, err
	}
	return system, append(uses, holders...), nil
}

// loopsOn lists the loop devices whose backing file is the disk or one
// of its partitions: they register no holder.
func (p linuxProbe) loopsOn(name string) []string {
	loops, _ := filepath.Glob(filepath.Join(p.sys, "class", "block", "loop*", "loop", "backing_file"))
	var out []string
	for _, f := range loops {
		backing, err := p.sysValue(filepath.Dir(f), "backing_file")
		if err != nil || !strings.HasPrefix(backing, "/dev/") {
			continue
		}
		if _, n, err := blockDevice(backing); err == nil && p.onDisk(n, name) {
			out = append(out, fmt.Sprintf("%s backs /dev/%s", backing, filepath.Base(filepath.Dir(filepath.Dir(f)))))
		}
	}
	return out
}

// holders lists the devices stacked on the disk or its partitions.
func (p linuxProbe) holders(name string) ([]string, error) {
	dir := filepath.Join(p.sys, "class", "block", name)
	devs := []string{dir}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	for _, e := range entries {
		if _, ok := p.partition(filepath.Join(dir, e.Name())); ok {
			devs = append(devs, filepath.Join(dir, e.Name()))
		}
	}
	var out []string
	for _, d := range devs {
		hs, _ := os.ReadDir(filepath.Join(d, "holders"))
		for _, h := range hs {
			what := h.Name()
			if dm, err := p.sysValue(filepath.Join(p.sys, "class", "block", h.Name()), "dm/name"); err == nil && dm != "" {
				what += " (" + dm + ")"
			}
			out = append(out, fmt.Sprintf("%s is held by %s", filepath.Base(d), what))
		}
	}
	return out, nil
}

type mount struct {
	dev, source, point string
}

func (p linuxProbe) mounts() ([]mount, error) {
	f, err := os.Open(filepath.Join(p.proc, "self", "mountinfo"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountinfo(f)
}

// parseMountinfo reads /proc/self/mountinfo (proc(5)): the device number
// (field 3), the mount point (field 5) and the source after the " - "
// separator.
func parseMountinfo(r io.Reader) ([]mount, error) {
	lr := &io.LimitedReader{R: r, N: maxMountinfo + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
	var ms []mount
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if len(fields) < 6 || sep < 6 || len(fields) < sep+3 {
			return nil, fmt.Errorf("mountinfo: malformed line %q", sc.Text())
		}
		ms = append(ms, mount{dev: fields[2], point: unescapeMount(fields[4]), source: unescapeMount(fields[sep+2])})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("mountinfo: longer than %d bytes", maxMountinfo)
	}
	return ms, nil
}

// unescapeMount undoes the kernel's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// swaps lists the swap areas' paths (/proc/swaps).
func (p linuxProbe) swaps() ([]string, error) {
	f, err := os.Open(filepath.Join(p.proc, "swaps"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // kernel without swap support
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxMountinfo))
	var out []string
	for first := true; sc.Scan(); first = false {
		if fields := strings.Fields(sc.Text()); !first && len(fields) > 0 {
			out = append(out, unescapeMount(fields[0]))
		}
	}
	return out, sc.Err()
}

// openDevice opens the disk for writing with O_EXCL: on Linux, the kernel
// then refuses (EBUSY) a disk that has a mounted partition or anything
// else holding it, and keeps others from mounting it while it is open.
func openDevice(d *Device) (*os.File, error) {
	f, err := os.OpenFile(d.WritePath, os.O_RDWR|os.O_EXCL, 0)
	if errors.Is(err, syscall.EBUSY) {
		return nil, fmt.Errorf("%s is in use: the kernel refused exclusive access (mounted, swap, or held by device-mapper, RAID or ZFS)", d.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s for writing: %w", d.WritePath, err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("size of %s: %w", d.Path, err)
	}
	if size != d.Size {
		f.Close()
		return nil, fmt.Errorf("%s is now %d bytes, not %d: was the card swapped?", d.Path, size, d.Size)
	}
	return f, nil
}

// flushDevice writes what the kernel holds for the device to the card and
// drops its cached blocks, so that what is read next comes from the card.
func flushDevice(f *os.File) error {
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", f.Name(), err)
	}
	if err := ioctl(f, ioctlBLKFLSBUF); err != nil {
		return fmt.Errorf("dropping the cache of %s: %w", f.Name(), err)
	}
	return nil
}

// rereadPartitions asks the kernel to read the new partition table, so
// that /dev/sdX4 is /perm at its new size without replugging the card.
func rereadPartitions(f *os.File) error {
	if err := ioctl(f, ioctlBLKRRPART); err != nil {
		return fmt.Errorf("the kernel did not re-read the partition table of %s (replug the card to see it): %w", f.Name(), err)
	}
	return nil
}

func ioctl(f *os.File, req uintptr) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, 0)
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}
