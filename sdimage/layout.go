package sdimage

import (
	"debug/elf"
	"fmt"
	"strconv"
	"strings"
)

const (
	sector = 512
	mib    = 1 << 20

	firstPartitionOffset = 4 * mib   // 8192 sectors, as gokrazy
	bootSize             = 256 * mib // FAT16 with 4 KiB clusters (fat16.go); gokrazy uses 100 MiB
	rootSize             = 500 * mib // per root slot, as gokrazy
	minPermSize          = 100 * mib
)

// MinSize is the smallest image: boot, two root slots, 100 MiB /perm.
const MinSize = firstPartitionOffset + bootSize + 2*rootSize + minPermSize

// Partition is one MBR partition, in bytes.
type Partition struct {
	Start, Size int64
}

// Layout is the MBR partition layout gokrazy expects.
type Layout struct {
	Size  int64
	Boot  Partition // p1 FAT16 (one FAT, as gokrazy reads it)
	RootA Partition // p2 squashfs (active after first boot)
	RootB Partition // p3 squashfs (empty until the first update)
	Perm  Partition // p4 ext4
}

// NewLayout lays out an image of size bytes (a multiple of 1 MiB).
func NewLayout(size int64) (Layout, error) {
	if size%mib != 0 {
		return Layout{}, fmt.Errorf("image size %d is not a multiple of 1 MiB", size)
	}
	if size < MinSize {
		return Layout{}, fmt.Errorf("image size %s is too small: need at least %d MiB (4 MiB + 256 MiB boot + 2×500 MiB root + 100 MiB /perm)", humanBytes(size), MinSize/mib)
	}
	if size/sector > 0xFFFFFFFF {
		return Layout{}, fmt.Errorf("image size %s is too large for an MBR (max 2 TiB)", humanBytes(size))
	}
	l := Layout{Size: size}
	l.Boot = Partition{firstPartitionOffset, bootSize}
	l.RootA = Partition{l.Boot.Start + l.Boot.Size, rootSize}
	l.RootB = Partition{l.RootA.Start + l.RootA.Size, rootSize}
	l.Perm = Partition{l.RootB.Start + l.RootB.Size, 0}
	l.Perm.Size = size - l.Perm.Start
	return l, nil
}

// ParseSize parses an image size like "2G", "1500M", "2GiB" or a byte
// count. K/M/G/T are binary (powers of 1024), as for dd and truncate.
func ParseSize(s string) (int64, error) {
	orig := s
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimSuffix(s, "iB"), "B")
	mult := int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		case 't', 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bad size %q: want a positive number with an optional K, M, G or T suffix (e.g. 2G)", orig)
	}
	if v > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q: too large", orig)
	}
	return v * mult, nil
}

var elfMachine = map[string]elf.Machine{
	"arm64": elf.EM_AARCH64,
	"amd64": elf.EM_X86_64,
}

// checkELF verifies that path is a static ELF executable for goarch.
func checkELF(path, goarch string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: not an ELF binary: %w", path, err)
	}
	defer f.Close()
	if want := elfMachine[goarch]; f.Machine != want {
		return fmt.Errorf("%s: ELF machine %v, want %v", path, f.Machine, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s: dynamically linked (has an ELF interpreter); gokrazy needs static binaries", path)
		}
	}
	return nil
}
