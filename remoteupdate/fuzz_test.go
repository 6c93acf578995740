package remoteupdate

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzImageParts feeds the readers of an update image (FAT16 boot sector
// and table, cmdline search, squashfs superblock) arbitrary bytes: no
// panic, no allocation from a declared size beyond the partition, and
// sizes within it.
func FuzzImageParts(f *testing.F) {
	bs := make([]byte, 1024)
	copy(bs[54:], "FAT16")
	binary.LittleEndian.PutUint16(bs[11:], 512)
	bs[13], bs[16] = 8, 1
	binary.LittleEndian.PutUint16(bs[14:], 1)
	binary.LittleEndian.PutUint16(bs[17:], 16)
	binary.LittleEndian.PutUint16(bs[22:], 1)
	bs[510], bs[511] = 0x55, 0xaa
	f.Add(bs, uint32(0x1234abcd))
	sq := make([]byte, 96)
	copy(sq, "hsqs")
	binary.LittleEndian.PutUint64(sq[40:], 4000)
	f.Add(sq, uint32(1))
	f.Add([]byte("console=tty1 root=PARTUUID=1234abcd-03 rootwait"), uint32(0x1234abcd))
	f.Fuzz(func(t *testing.T, b []byte, diskID uint32) {
		size := int64(len(b))
		if n, err := fatUsedBytes(bytes.NewReader(b), size); err == nil && (n < 0 || n > size) {
			t.Fatalf("FAT: %d used bytes of %d", n, size)
		}
		if n, err := squashfsBytes(bytes.NewReader(b), size); err == nil && (n <= 0 || n > size) {
			t.Fatalf("squashfs: %d bytes of %d", n, size)
		}
		if p, err := cmdlineRoot(bytes.NewReader(b), diskID); err == nil && p != 2 && p != 3 {
			t.Fatalf("root partition %d", p)
		}
	})
}
