// Package remoteupdate updates a surveybox over the tailnet the way
// gokrazy's updater does: it writes the inactive root partition, the boot
// partition and the MBR's boot code through the box's gokrazy update
// handlers, switches the root, reboots and checks what came back.
package remoteupdate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"

	"github.com/surveybox/surveybox/sdimage"
)

const sector = 512

// Image is an image file built by surveyctl image, as an update sends it:
// the used part of the boot partition, the root squashfs and the MBR's
// boot code (the partition table is never sent).
type Image struct {
	Path string
	// DiskID is the MBR disk signature; it must be the box's, since the
	// kernel finds its root by PARTUUID=<disk ID>-<partition>.
	DiskID uint32
	// RootPartition is the root (2 or 3) the boot partition's cmdline.txt
	// names: the box's inactive one.
	RootPartition int
	// BootBytes and RootBytes are what is sent of each partition.
	BootBytes, RootBytes int64

	f         *os.File
	bootStart int64
	rootStart int64
	mbrCode   []byte
}

// OpenImage reads an image's partition table, boot partition and root
// squashfs superblock. The image must have surveybox's partition layout
// (the boot and root partitions of every surveybox image are the same).
func OpenImage(path string) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	img, err := readImage(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	img.Path = path
	return img, nil
}

// Close closes the image file.
func (img *Image) Close() error { return img.f.Close() }

func readImage(f *os.File) (*Image, error) {
	mbr := make([]byte, sector)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		return nil, fmt.Errorf("reading the MBR: %w", err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xaa {
		return nil, errors.New("no MBR (boot signature missing)")
	}
	want, err := sdimage.NewLayout(sdimage.MinSize)
	if err != nil {
		return nil, err
	}
	for i, p := range []sdimage.Partition{want.Boot, want.RootA, want.RootB} {
		e := mbr[446+16*i:]
		start := int64(binary.LittleEndian.Uint32(e[8:])) * sector
		size := int64(binary.LittleEndian.Uint32(e[12:])) * sector
		if start != p.Start || size != p.Size {
			return nil, fmt.Errorf("partition %d is at %d+%d, not where a surveybox image has it (%d+%d)", i+1, start, size, p.Start, p.Size)
		}
	}
	img := &Image{
		f:         f,
		DiskID:    binary.LittleEndian.Uint32(mbr[440:]),
		bootStart: want.Boot.Start,
		rootStart: want.RootA.Start,
		mbrCode:   mbr[:446],
	}
	if img.BootBytes, err = fatUsedBytes(io.NewSectionReader(f, want.Boot.Start, want.Boot.Size), want.Boot.Size); err != nil {
		return nil, fmt.Errorf("boot partition: %w", err)
	}
	if img.RootPartition, err = cmdlineRoot(io.NewSectionReader(f, want.Boot.Start, img.BootBytes), img.DiskID); err != nil {
		return nil, fmt.Errorf("boot partition: %w", err)
	}
	if img.RootBytes, err = squashfsBytes(io.NewSectionReader(f, want.RootA.Start, want.RootA.Size), want.RootA.Size); err != nil {
		return nil, fmt.Errorf("root partition: %w", err)
	}
	return img, nil
}

// Boot returns the boot partition's used bytes.
func (img *Image) Boot() *io.SectionReader {
	return io.NewSectionReader(img.f, img.bootStart, img.BootBytes)
}

// Root returns the root squashfs (from root A, where the image builder
// writes it whichever root the boot partition names).
func (img *Image) Root() *io.SectionReader {
	return io.NewSectionReader(img.f, img.rootStart, img.RootBytes)
}

// MBRCode returns the MBR's first 446 bytes: boot code and disk
// signature, not the partition table (which on a flashed card spans the
// card and must stay).
func (img *Image) MBRCode() *bytes.Reader { return bytes.NewReader(img.mbrCode) }

// fatUsedBytes returns how much of a FAT16 file system must be written
// for it to read the same: everything up to the end of its last
// allocated cluster. The rest is free space whose content does not
// matter, so a partition of 256 MiB with 30 MiB of files sends 30 MiB.
func fatUsedBytes(r io.ReaderAt, partSize int64) (int64, error) {
	bs := make([]byte, sector)
	if _, err := r.ReadAt(bs, 0); err != nil {
		return 0, fmt.Errorf("reading the boot sector: %w", err)
	}
	if bs[510] != 0x55 || bs[511] != 0xaa || string(bs[54:59]) != "FAT16" {
		return 0, errors.New("not a FAT16 file system")
	}
	bps := int64(binary.LittleEndian.Uint16(bs[11:]))
	spc := int64(bs[13])
	reserved := int64(binary.LittleEndian.Uint16(bs[14:]))
	fats := int64(bs[16])
	rootEntries := int64(binary.LittleEndian.Uint16(bs[17:]))
	fatSectors := int64(binary.LittleEndian.Uint16(bs[22:]))
	if bps != sector || spc == 0 || spc > 128 || reserved == 0 || fats == 0 || fats > 2 || fatSectors == 0 {
		return 0, fmt.Errorf("unexpected FAT16 geometry (%d bytes per sector, %d per cluster, %d FATs)", bps, spc, fats)
	}
	dataStart := (reserved + fats*fatSectors) * bps
	dataStart += (rootEntries*32 + bps - 1) / bps * bps
	clusterBytes := spc * bps
	if dataStart > partSize {
		return 0, fmt.Errorf("FAT16 data area starts at %d, past the partition's end (%d)", dataStart, partSize)
	}
	// The first FAT: 2 bytes per cluster, clusters numbered from 2.
	fat := make([]byte, fatSectors*bps)
	if _, err := r.ReadAt(fat, reserved*bps); err != nil {
		return 0, fmt.Errorf("reading the FAT: %w", err)
	}
	last := int64(1)
	for c := int64(len(fat)/2 - 1); c >= 2; c-- {
		if binary.LittleEndian.Uint16(fat[2*c:]) != 0 {
			last = c
			break
		}
	}
	end := dataStart + (last-1)*clusterBytes
	if end > partSize {
		return 0, fmt.Errorf("FAT16 cluster %d lies past the partition's end", last)
	}
	return end, nil
}

// cmdlineRoot finds root=PARTUUID=<diskID>-<NN> in the boot partition
// (cmdline.txt is stored as it is) and returns NN: 2 or 3.
func cmdlineRoot(r io.Reader, diskID uint32) (int, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	re := regexp.MustCompile(`root=PARTUUID=([0-9a-f]{8})-(0[0-9])`)
	part := 0
	for _, m := range re.FindAllSubmatch(b, -1) {
		if string(m[1]) != fmt.Sprintf("%08x", diskID) {
			return 0, fmt.Errorf("cmdline.txt names disk %s, the MBR says %08x", m[1], diskID)
		}
		n, _ := strconv.Atoi(string(m[2]))
		if part != 0 && n != part {
			return 0, fmt.Errorf("the boot partition names root partitions %d and %d", part, n)
		}
		part = n
	}
	if part != 2 && part != 3 {
		return 0, errors.New("no cmdline.txt naming root=PARTUUID=<disk ID>-02 or -03")
	}
	return part, nil
}

// squashfsBytes returns the squashfs's size from its superblock,
// rounded up to 4 KiB as the kernel reads it.
func squashfsBytes(r io.ReaderAt, partSize int64) (int64, error) {
	sb := make([]byte, 96)
	if _, err := r.ReadAt(sb, 0); err != nil {
		return 0, fmt.Errorf("reading the squashfs superblock: %w", err)
	}
	if string(sb[:4]) != "hsqs" {
		return 0, errors.New("no squashfs")
	}
	used := binary.LittleEndian.Uint64(sb[40:])
	n := (int64(used) + 4095) &^ 4095
	if used == 0 || used > uint64(partSize) || n > partSize {
		return 0, fmt.Errorf("squashfs of %d bytes in a partition of %d", used, partSize)
	}
	return n, nil
}
