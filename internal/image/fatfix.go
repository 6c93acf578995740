package image

import (
	"encoding/binary"
	"fmt"
	"io"
)

// fixFAT32 repairs two things go-diskfs v1.9.4 gets wrong in the FAT32 it
// creates, both reported by `fsck.fat -n`:
//
//   - the ".." entry of a directory directly below the root points at the
//     root's cluster (2) instead of 0, as the FAT specification requires;
//   - the FSInfo sector's free-cluster count and next-free hint are left
//     "unknown" (0xFFFFFFFF).
//
// f is the whole disk, start the partition's byte offset.
func fixFAT32(f io.ReaderAt, w io.WriterAt, start int64) error {
	var bs [512]byte
	if _, err := f.ReadAt(bs[:], start); err != nil {
		return err
	}
	bps := int64(binary.LittleEndian.Uint16(bs[11:]))
	spc := int64(bs[13])
	reserved := int64(binary.LittleEndian.Uint16(bs[14:]))
	numFATs := int64(bs[16])
	totSec := int64(binary.LittleEndian.Uint32(bs[32:]))
	fatSz := int64(binary.LittleEndian.Uint32(bs[36:]))
	rootCluster := binary.LittleEndian.Uint32(bs[44:])
	fsInfoSec := int64(binary.LittleEndian.Uint16(bs[48:]))
	backupSec := int64(binary.LittleEndian.Uint16(bs[50:]))
	if bps == 0 || spc == 0 || fatSz == 0 || string(bs[82:87]) != "FAT32" {
		return fmt.Errorf("not a FAT32 boot sector")
	}
	fat := make([]byte, fatSz*bps)
	if _, err := f.ReadAt(fat, start+reserved*bps); err != nil {
		return err
	}
	entry := func(c uint32) uint32 { return binary.LittleEndian.Uint32(fat[4*int64(c):]) & 0x0FFFFFFF }
	dataStart := start + (reserved+numFATs*fatSz)*bps
	clusterBytes := spc * bps
	clusters := uint32((totSec - reserved - numFATs*fatSz) / spc)
	clusterOff := func(c uint32) int64 { return dataStart + int64(c-2)*clusterBytes }

	// ".." of the root's subdirectories.
	for c, n := rootCluster, 0; c >= 2 && c < 0x0FFFFFF8; c, n = entry(c), n+1 {
		if n > int(clusters) {
			return fmt.Errorf("root directory cluster chain loops")
		}
		buf := make([]byte, clusterBytes)
		if _, err := f.ReadAt(buf, clusterOff(c)); err != nil {
			return err
		}
		for off := 0; off+32 <= len(buf); off += 32 {
			e := buf[off : off+32]
			if e[0] == 0 {
				break
			}
			if e[0] == 0xE5 || e[11] == 0x0F || e[11]&0x10 == 0 || e[0] == '.' {
				continue
			}
			sub := uint32(binary.LittleEndian.Uint16(e[20:]))<<16 | uint32(binary.LittleEndian.Uint16(e[26:]))
			if sub < 2 || sub >= clusters+2 {
				continue
			}
			var dotdot [32]byte
			at := clusterOff(sub) + 32
			if _, err := f.ReadAt(dotdot[:], at); err != nil {
				return err
			}
			if string(dotdot[:11]) != "..         " {
				continue
			}
			dotdot[20], dotdot[21], dotdot[26], dotdot[27] = 0, 0, 0, 0
			if _, err := w.WriteAt(dotdot[:], at); err != nil {
				return err
			}
		}
	}

	// FSInfo free count and next-free hint.
	var free, next uint32
	for c := uint32(2); c < clusters+2; c++ {
		if entry(c) == 0 {
			if free == 0 {
				next = c
			}
			free++
		}
	}
	for _, sec := range []int64{fsInfoSec, backupSec + fsInfoSec} {
		if sec == 0 || (sec == backupSec+fsInfoSec && backupSec == 0) {
			continue
		}
		var fi [512]byte
		at := start + sec*bps
		if _, err := f.ReadAt(fi[:], at); err != nil {
			return err
		}
		if binary.LittleEndian.Uint32(fi[0:]) != 0x41615252 || binary.LittleEndian.Uint32(fi[484:]) != 0x61417272 {
			continue // not an FSInfo sector
		}
		binary.LittleEndian.PutUint32(fi[488:], free)
		binary.LittleEndian.PutUint32(fi[492:], next)
		if _, err := w.WriteAt(fi[:], at); err != nil {
			return err
		}
	}
	return nil
}
