package sdimage

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/squashfs"
	"github.com/diskfs/go-diskfs/partition/mbr"
)

// bootFiles is what goes onto the FAT boot partition.
type bootFiles struct {
	kernelDir, firmwareDir, eepromDir string
	cmdline, configTxt                string
	modTime                           time.Time // of every file
}

type diskWriter struct {
	path   string
	layout Layout
	diskID uint32
	logf   func(string, ...any)
}

// bootPartitionType is p1's MBR type byte: 0x0c, although the file system
// is FAT16, because that is what gokrazy writes for its FAT16 boot
// partition (github.com/gokrazy/tools packer/packer.go: FAT = byte(0xc))
// and the combination every Pi model gokrazy supports boots from.
const bootPartitionType = mbr.Fat32LBA

// write creates the image: MBR, FAT16 boot, squashfs root A (root B stays
// empty until the first update), ext4 /perm. It returns the squashfs size.
func (w *diskWriter) write(boot bootFiles, rootDir string, authKey []byte) (int64, error) {
	l := w.layout
	// The boot files first: a missing firmware file fails the build before
	// the slow squashfs. They are written once go-diskfs is done.
	bootFS, err := w.bootFS(boot)
	if err != nil {
		return 0, fmt.Errorf("boot partition: %w", err)
	}
	d, err := diskfs.Create(w.path, l.Size, diskfs.SectorSizeDefault)
	if err != nil {
		return 0, fmt.Errorf("creating %s: %w", w.path, err)
	}
	closed := false
	defer func() {
		if !closed {
			d.Close()
		}
	}()
	part := func(idx int, typ mbr.Type, p Partition, bootable bool) *mbr.Partition {
		return &mbr.Partition{Index: idx, Type: typ, Bootable: bootable, Start: uint32(p.Start / sector), Size: uint32(p.Size / sector)}
	}
	table := &mbr.Table{
		LogicalSectorSize:  sector,
		PhysicalSectorSize: sector,
		Partitions: []*mbr.Partition{
			part(1, bootPartitionType, l.Boot, true),
			part(2, mbr.Linux, l.RootA, false),
			part(3, mbr.Linux, l.RootB, false),
			part(4, mbr.Linux, l.Perm, false),
		},
	}
	if err := d.Partition(table); err != nil {
		return 0, fmt.Errorf("writing the partition table: %w", err)
	}

	w.logf("p2 root: squashfs")
	rootBytes, err := w.writeRoot(d, rootDir)
	if err != nil {
		return 0, fmt.Errorf("root partition: %w", err)
	}
	if rootBytes > l.RootA.Size {
		return 0, fmt.Errorf("root file system is %s, larger than the %s root partition", humanBytes(rootBytes), humanBytes(l.RootA.Size))
	}
	w.logf("p4 /perm: ext4 %s", humanBytes(l.Perm.Size))
	if err := w.writePerm(d, authKey); err != nil {
		return 0, fmt.Errorf("/perm partition: %w", err)
	}
	closed = true
	if err := d.Close(); err != nil {
		return 0, err
	}
	// go-diskfs writes only the partition entries; the 4-byte disk
	// signature at 440 (followed by two zero bytes, which gokrazy's rootdev
	// checks) is what root=PARTUUID=<id>-02 refers to.
	f, err := os.OpenFile(w.path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	geo, err := bootFS.write(f, l.Boot.Start, l.Boot.Size, uint32(l.Boot.Start/sector), w.diskID)
	if err != nil {
		return 0, fmt.Errorf("boot partition: %w", err)
	}
	w.logf("p1 boot: FAT16 %s, one FAT, %d-byte clusters, %d of %d clusters used", humanBytes(l.Boot.Size), geo.ClusterBytes, geo.UsedClusters, geo.Clusters)
	var sig [6]byte
	binary.LittleEndian.PutUint32(sig[:4], w.diskID)
	if _, err := f.WriteAt(sig[:], 440); err != nil {
		return 0, err
	}
	return rootBytes, f.Close()
}

// bootFS collects the boot partition's files: the same globs and EEPROM
// procedure as gokrazy's packer.
func (w *diskWriter) bootFS(b bootFiles) (*fat16, error) {
	fsys, err := newFAT16("GOKRAZY", b.modTime)
	if err != nil {
		return nil, err
	}
	copyGlobs := func(dir string, globs []string) (int, error) {
		n := 0
		for _, g := range globs {
			matches, err := filepath.Glob(filepath.Join(dir, g))
			if err != nil {
				return n, err
			}
			sort.Strings(matches)
			for _, m := range matches {
				rel, _ := filepath.Rel(dir, m)
				if err := fsys.addFile(filepath.ToSlash(rel), m); err != nil {
					return n, err
				}
				n++
			}
		}
		return n, nil
	}
	// Same globs as gokrazy's packer.
	n, err := copyGlobs(b.kernelDir, []string{"vmlinuz", "*.dtb", "overlays/*.dtbo", "overlays/overlay_map.dtb"})
	if err != nil {
		return nil, err
	}
	if !fsys.has("vmlinuz") {
		return nil, fmt.Errorf("kernel module %s has no vmlinuz", b.kernelDir)
	}
	w.logf("  kernel: %d files", n)
	if b.firmwareDir != "" {
		n, err := copyGlobs(b.firmwareDir, piFirmwareGlobs(b.configTxt))
		if err != nil {
			return nil, err
		}
		if !fsys.has("start4.elf") || !fsys.has("bootcode.bin") {
			return nil, fmt.Errorf("firmware module %s lacks bootcode.bin/start4.elf", b.firmwareDir)
		}
		w.logf("  Pi firmware: %d files", n)
	}
	if b.eepromDir != "" {
		// Pi 4 EEPROM update: the newest pieeprom/vl805 images with their
		// SHA-256 in a .sig file, and recovery.bin which flashes them.
		for _, e := range []struct{ glob, dest string }{
			{"pieeprom-*.bin", "pieeprom.upd"},
			{"vl805-*.bin", "vl805.bin"},
		} {
			matches, _ := filepath.Glob(filepath.Join(b.eepromDir, e.glob))
			if len(matches) == 0 {
				return nil, fmt.Errorf("EEPROM module %s has no %s", b.eepromDir, e.glob)
			}
			sort.Strings(matches)
			newest := matches[len(matches)-1]
			data, err := os.ReadFile(newest)
			if err != nil {
				return nil, err
			}
			if err := fsys.addBytes(e.dest, data); err != nil {
				return nil, err
			}
			sig := fmt.Sprintf("%x\n", sha256.Sum256(data))
			if err := fsys.addBytes(strings.TrimSuffix(e.dest, path.Ext(e.dest))+".sig", []byte(sig)); err != nil {
				return nil, err
			}
			w.logf("  EEPROM: %s as %s (sha256 %s)", filepath.Base(newest), e.dest, sig[:10])
		}
		if err := fsys.addFile("recovery.bin", filepath.Join(b.eepromDir, "recovery.bin")); err != nil {
			return nil, err
		}
	}
	// Padded like gokrazy's, so an in-place rewrite can grow it.
	if err := fsys.addBytes("cmdline.txt", []byte(b.cmdline+strings.Repeat(" ", 64))); err != nil {
		return nil, err
	}
	if b.firmwareDir != "" {
		if err := fsys.addBytes("config.txt", []byte(b.configTxt)); err != nil {
			return nil, err
		}
	}
	return fsys, nil
}

// piFirmwareGlobs selects the Pi's boot firmware. The Pi 3 and Zero 2 W
// boot bootcode.bin, start.elf and fixup.dat, the Pi 4, 400 and CM4
// start4.elf and fixup4.dat (the Pi 5's firmware is in its EEPROM). The
// other variants (_x: camera, _cd: cut down, _db: debug) are only loaded
// when config.txt asks for them with start_*, fixup_* or gpu_mem settings;
// then all of them are shipped, as gokrazy's packer does.
func piFirmwareGlobs(configTxt string) []string {
	for _, line := range strings.Split(configTxt, "\n") {
		key, _, _ := strings.Cut(strings.TrimSpace(line), "=")
		if strings.HasPrefix(key, "start_") || strings.HasPrefix(key, "fixup_") || strings.HasPrefix(key, "gpu_mem") {
			return []string{"*.bin", "*.dat", "*.elf", "*.upd", "*.sig", "overlays/*.dtbo"}
		}
	}
	return []string{"bootcode.bin", "start.elf", "fixup.dat", "start4.elf", "fixup4.dat", "*.upd", "*.sig", "overlays/*.dtbo"}
}

// squashfsMu serialises Finalize: go-diskfs v1.9.4 reads symlink targets
// with os.Readlink(<path relative to the workspace>), i.e. relative to the
// process's working directory, so Finalize must run inside the workspace.
var squashfsMu sync.Mutex

// rootCompression is the root squashfs's compressor: zlib ("gzip" in
// squashfs terms), the only one both kernels read (kernel.rpi and
// kernel.amd64 set CONFIG_SQUASHFS_ZLIB and none of _XZ, _ZSTD, _LZ4,
// _LZO). At the default level the root is half its size; level 9 takes
// four times as long for 0.1% less.
func rootCompression() *squashfs.CompressorGzip {
	return &squashfs.CompressorGzip{
		CompressionLevel: 6,
		WindowSize:       15,
		Strategies:       map[squashfs.GzipStrategy]bool{squashfs.GzipDefault: true},
	}
}

func (w *diskWriter) writeRoot(d *disk.Disk, rootDir string) (int64, error) {
	// Not d.CreateFilesystem: that passes the 512-byte sector size as the
	// squashfs block size, which squashfs rejects; 0 means 128 KiB.
	sq, err := squashfs.Create(d.Backend, w.layout.RootA.Size, w.layout.RootA.Start, 0)
	if err != nil {
		return 0, err
	}
	ws := sq.Workspace()
	defer os.RemoveAll(ws)
	// Move the staged tree into the workspace (same file system: /tmp).
	entries, err := os.ReadDir(rootDir)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(rootDir, e.Name()), filepath.Join(ws, e.Name())); err != nil {
			return 0, err
		}
	}
	if err := os.Chmod(ws, 0o755); err != nil {
		return 0, err
	}
	zero := uint32(0)
	squashfsMu.Lock()
	defer squashfsMu.Unlock()
	wd, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	if err := os.Chdir(ws); err != nil {
		return 0, err
	}
	err = sq.Finalize(squashfs.FinalizeOptions{Compression: rootCompression(), FileUID: &zero, FileGID: &zero})
	if cerr := os.Chdir(wd); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	// The squashfs superblock records bytes_used at offset 40.
	var sb [48]byte
	if _, err := d.Backend.ReadAt(sb[:], w.layout.RootA.Start); err != nil {
		return 0, err
	}
	if string(sb[:4]) != "hsqs" {
		return 0, fmt.Errorf("no squashfs superblock after Finalize")
	}
	return int64(binary.LittleEndian.Uint64(sb[40:48])), nil
}

func (w *diskWriter) writePerm(d *disk.Disk, authKey []byte) error {
	fsys, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 4, FSType: filesystem.TypeExt4, VolumeLabel: "perm"})
	if err != nil {
		return err
	}
	if err := fsys.Mkdir(PermDir); err != nil {
		return err
	}
	if err := fsys.Chmod(PermDir, 0o700); err != nil {
		return err
	}
	if authKey != nil {
		f, err := fsys.OpenFile(AuthKeyPermPath, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return err
		}
		if _, err := f.Write(authKey); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := fsys.Chmod(AuthKeyPermPath, 0o600); err != nil {
			return err
		}
	}
	return nil
}
