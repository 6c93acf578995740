package sdimage

// A small FAT16 writer for the boot partition (p1).
//
// gokrazy's on-device code does not mount the boot partition: it reads and
// rewrites cmdline.txt, and reads pieeprom.sig / vl805.sig / RECOVERY.000,
// with a minimal FAT reader (github.com/gokrazy/internal/fat, reader.go)
// that only understands what gokrazy's own packer writes. That reader
//
//   - takes the FAT size from the 16-bit BPB_FATSz16 field and ignores
//     BPB_NumFATs: it expects the root directory right after ONE FAT at
//     (reserved + FATSz16) × bytes-per-sector (reader.go:61, :93), so the
//     file system must be FAT16 (FAT32 has FATSz16 = 0) with a single FAT;
//   - adds reserved + FATSz16 as uint16 values (reader.go:93);
//   - finds the data area after BPB_RootEntCnt fixed root entries
//     (reader.go:94) and cluster c at data + (c-2) × cluster size
//     (reader.go:137);
//   - matches only short (8.3) names, case-insensitively against the
//     upper-cased name (reader.go:116-135); long names are ignored;
//   - returns the first cluster's offset and the size, so a file must be
//     stored in consecutive clusters (reader.go:88-91, :143);
//   - treats an entry as a directory only if its attribute byte is exactly
//     0x10 (reader.go:138).
//
// The writer below produces such a file system, laid out like mkfs.fat's
// FAT16 for the same size but with one FAT, every file and directory in
// consecutive clusters, 8.3 names for the files gokrazy looks up, and
// VFAT long names where a name does not fit 8.3 (the firmware needs those:
// bcm2711-rpi-4-b.dtb, overlays/*.dtbo).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

const (
	fatSectorSize = 512
	// 8 KiB clusters: about 32,700 on the 256 MiB partition, well inside
	// FAT16 (4085..65524) for every implementation that reads it (mkfs.fat
	// -F 16 would pick 4 KiB, 65,499 clusters: 26 from the FAT32 boundary,
	// untried on the Pi boot ROM and firmware).
	fatClusterSectors = 16
	fatClusterBytes   = fatSectorSize * fatClusterSectors
	fatReserved       = fatClusterSectors // boot sector, padded to one cluster
	fatMinRootEntries = 512               // mkfs.fat's FAT16 default
	fatDirEntry       = 32

	fat16MinClusters = 4085  // fewer is FAT12
	fat16MaxClusters = 65524 // more is FAT32

	attrReadOnly  = 0x01
	attrHidden    = 0x02
	attrSystem    = 0x04
	attrVolumeID  = 0x08
	attrDirectory = 0x10
	attrArchive   = 0x20
	attrLongName  = attrReadOnly | attrHidden | attrSystem | attrVolumeID

	ntresLowerBase = 0x08 // short name's base is lower case (Windows NT, Linux, mtools)
	ntresLowerExt  = 0x10 // short name's extension is lower case
)

// fatNode is a file or directory in the tree being built.
type fatNode struct {
	name   string // as given (the long name)
	parent *fatNode
	isDir  bool

	// directories
	children []*fatNode
	byKey    map[string]*fatNode // upper-cased name: FAT names are case-insensitive

	// files: either data or src (a host file of size bytes)
	data []byte
	src  string
	size int64

	// layout
	short    [11]byte // 8.3 name, space padded
	ntres    byte
	long     bool // needs VFAT long name entries
	cluster  uint16
	clusters int
}

// fat16 collects the boot partition's files, then writes them as a FAT16
// file system with fat16.write.
type fat16 struct {
	root    *fatNode
	files   []*fatNode // in the order added: the order of their data
	label   [11]byte
	modTime time.Time
}

// fat16Geometry is the layout write chose.
type fat16Geometry struct {
	TotalSectors  uint32
	FATSectors    uint16
	RootEntries   uint16
	DataStart     int64 // byte offset within the partition
	Clusters      int   // data clusters
	UsedClusters  int
	ClusterBytes  int
	ReservedSects uint16
}

func newFAT16(label string, modTime time.Time) (*fat16, error) {
	fs := &fat16{
		root:    &fatNode{isDir: true, byKey: map[string]*fatNode{}},
		modTime: modTime.UTC(),
	}
	if len(label) > 11 {
		return nil, fmt.Errorf("FAT volume label %q is longer than 11 characters", label)
	}
	copy(fs.label[:], "           ")
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !shortNameChar(c) || c >= 'a' && c <= 'z' {
			return nil, fmt.Errorf("FAT volume label %q: want upper-case letters, digits or _-", label)
		}
		fs.label[i] = c
	}
	return fs, nil
}

// mkdirAll returns the directory p ("" or "." is the root), creating it
// and its parents.
func (fs *fat16) mkdirAll(p string) (*fatNode, error) {
	d := fs.root
	if p == "" || p == "." {
		return d, nil
	}
	for _, c := range strings.Split(p, "/") {
		if err := checkLongName(c); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		next, ok := d.byKey[strings.ToUpper(c)]
		if !ok {
			next = &fatNode{name: c, parent: d, isDir: true, byKey: map[string]*fatNode{}}
			d.children = append(d.children, next)
			d.byKey[strings.ToUpper(c)] = next
		} else if !next.isDir {
			return nil, fmt.Errorf("%s: %s is a file", p, next.name)
		} else if next.name != c {
			return nil, fmt.Errorf("%s: clashes with %s (FAT names ignore case)", p, next.name)
		}
		d = next
	}
	return d, nil
}

func (fs *fat16) add(p string, n *fatNode) error {
	p = strings.TrimPrefix(p, "/")
	dir, base := path.Split(p)
	if err := checkLongName(base); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	d, err := fs.mkdirAll(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return err
	}
	if other, ok := d.byKey[strings.ToUpper(base)]; ok {
		if other.name == base {
			return fmt.Errorf("%s is installed twice", p)
		}
		return fmt.Errorf("%s clashes with %s (FAT names ignore case)", p, path.Join(dir, other.name))
	}
	if n.size > 0xFFFFFFFF {
		return fmt.Errorf("%s: %d bytes is too large for FAT", p, n.size)
	}
	n.name, n.parent = base, d
	d.children = append(d.children, n)
	d.byKey[strings.ToUpper(base)] = n
	fs.files = append(fs.files, n)
	return nil
}

// addBytes adds a file with the given content.
func (fs *fat16) addBytes(p string, data []byte) error {
	return fs.add(p, &fatNode{data: data, size: int64(len(data))})
}

// addFile adds the host file src as p. Its content is read by write.
func (fs *fat16) addFile(p, src string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	return fs.add(p, &fatNode{src: src, size: st.Size()})
}

// has reports whether the file p was added.
func (fs *fat16) has(p string) bool {
	d := fs.root
	for _, c := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if d == nil || !d.isDir {
			return false
		}
		d = d.byKey[strings.ToUpper(c)]
	}
	return d != nil && !d.isDir
}

// write writes the file system into w at byte offset off, filling size
// bytes (the partition). hiddenSectors is the partition's first LBA.
// Clusters that hold no file or directory are not written.
func (fs *fat16) write(w io.WriterAt, off, size int64, hiddenSectors, volumeID uint32) (fat16Geometry, error) {
	var g fat16Geometry
	if size%fatSectorSize != 0 || size/fatSectorSize > 0xFFFFFFFF {
		return g, fmt.Errorf("FAT16 size %d: not a whole number of sectors or too large", size)
	}

	// Short names and directory sizes.
	var dirs []*fatNode // pre-order, without the root
	var walk func(d *fatNode) error
	walk = func(d *fatNode) error {
		if err := assignShortNames(d); err != nil {
			return err
		}
		for _, c := range d.children {
			if c.isDir {
				dirs = append(dirs, c)
				if err := walk(c); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(fs.root); err != nil {
		return g, err
	}
	rootEntries := dirEntryCount(fs.root)
	if rootEntries < fatMinRootEntries {
		rootEntries = fatMinRootEntries
	}
	// Whole clusters of root directory, so the data area stays aligned.
	perCluster := fatClusterBytes / fatDirEntry
	rootEntries = (rootEntries + perCluster - 1) / perCluster * perCluster
	if rootEntries > 0xFFFF-perCluster {
		return g, fmt.Errorf("FAT16 root directory needs %d entries, too many", rootEntries)
	}
	rootSectors := int64(rootEntries * fatDirEntry / fatSectorSize)

	// The FAT: as small as the clusters that remain need, in whole
	// clusters (the reserved area is one cluster and the root directory
	// whole clusters, so the data area starts cluster-aligned; gokrazy's
	// writer keeps the reserved area cluster-aligned for the Pi 3, see
	// github.com/gokrazy/internal fat/writer.go:672-674).
	total := size / fatSectorSize
	var fatSectors, clusters int64
	for {
		clusters = (total - fatReserved - fatSectors - rootSectors) / fatClusterSectors
		need := ((clusters+2)*2 + fatSectorSize - 1) / fatSectorSize
		need = (need + fatClusterSectors - 1) / fatClusterSectors * fatClusterSectors
		if need <= fatSectors {
			break
		}
		fatSectors = need
	}
	if clusters < fat16MinClusters || clusters > fat16MaxClusters {
		return g, fmt.Errorf("a %d-byte partition gives %d clusters of %d bytes, outside FAT16's %d-%d", size, clusters, fatClusterBytes, fat16MinClusters, fat16MaxClusters)
	}
	if fatReserved+fatSectors > 0xFFFF { // gokrazy's reader adds them as uint16
		return g, fmt.Errorf("FAT16 FAT of %d sectors is too large", fatSectors)
	}
	dataStart := (fatReserved + fatSectors + rootSectors) * fatSectorSize

	// Clusters: directories first, then files in the order added, each in
	// consecutive clusters.
	next := 2
	alloc := func(n *fatNode, bytes int64) error {
		c := int((bytes + fatClusterBytes - 1) / fatClusterBytes)
		if c == 0 {
			n.cluster, n.clusters = 0, 0
			return nil
		}
		if next+c-2 > int(clusters) {
			return fmt.Errorf("boot files do not fit into the %d MiB FAT16 partition", size>>20)
		}
		n.cluster, n.clusters = uint16(next), c
		next += c
		return nil
	}
	for _, d := range dirs {
		if err := alloc(d, int64(dirEntryCount(d)*fatDirEntry)); err != nil {
			return g, err
		}
	}
	for _, f := range fs.files {
		if err := alloc(f, f.size); err != nil {
			return g, err
		}
	}

	// Reserved area (boot sector), FAT and root directory: one write.
	meta := make([]byte, dataStart)
	fs.putBootSector(meta[:fatSectorSize], uint32(total), uint16(fatSectors), uint16(rootEntries), hiddenSectors, volumeID)
	fat := meta[fatReserved*fatSectorSize : (fatReserved+fatSectors)*fatSectorSize]
	binary.LittleEndian.PutUint16(fat[0:], 0xFF00|0xF8) // media descriptor
	binary.LittleEndian.PutUint16(fat[2:], 0xFFFF)      // end of chain; clean, no I/O errors
	chain := func(n *fatNode) {
		for i := 0; i < n.clusters; i++ {
			c := int(n.cluster) + i
			v := uint16(c + 1)
			if i == n.clusters-1 {
				v = 0xFFFF
			}
			binary.LittleEndian.PutUint16(fat[2*c:], v)
		}
	}
	for _, d := range dirs {
		chain(d)
	}
	for _, f := range fs.files {
		chain(f)
	}
	rootDir := meta[(fatReserved+fatSectors)*fatSectorSize:]
	fs.putDirEntries(rootDir, fs.root)
	if _, err := w.WriteAt(meta, off); err != nil {
		return g, err
	}

	clusterOff := func(c uint16) int64 { return off + dataStart + int64(c-2)*fatClusterBytes }
	for _, d := range dirs {
		buf := make([]byte, d.clusters*fatClusterBytes)
		fs.putDirEntries(buf, d)
		if _, err := w.WriteAt(buf, clusterOff(d.cluster)); err != nil {
			return g, err
		}
	}
	buf := make([]byte, 1<<20)
	for _, f := range fs.files {
		if f.clusters == 0 {
			continue
		}
		if err := fs.writeData(w, clusterOff(f.cluster), f, buf); err != nil {
			return g, err
		}
	}
	return fat16Geometry{
		TotalSectors:  uint32(total),
		FATSectors:    uint16(fatSectors),
		RootEntries:   uint16(rootEntries),
		DataStart:     dataStart,
		Clusters:      int(clusters),
		UsedClusters:  next - 2,
		ClusterBytes:  fatClusterBytes,
		ReservedSects: fatReserved,
	}, nil
}

// writeData writes f's content at at and zeroes the rest of its last
// cluster.
func (fs *fat16) writeData(w io.WriterAt, at int64, f *fatNode, buf []byte) error {
	var r io.Reader
	if f.src != "" {
		h, err := os.Open(f.src)
		if err != nil {
			return err
		}
		defer h.Close()
		r = h
	} else {
		r = bytes.NewReader(f.data)
	}
	n, err := io.CopyBuffer(io.NewOffsetWriter(w, at), io.LimitReader(r, f.size+1), buf)
	if err != nil {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	if n != f.size {
		return fmt.Errorf("%s changed size while building the image (%d bytes, was %d)", f.src, n, f.size)
	}
	if tail := int64(f.clusters)*fatClusterBytes - n; tail > 0 {
		if _, err := w.WriteAt(make([]byte, tail), at+n); err != nil {
			return err
		}
	}
	return nil
}

func (fs *fat16) putBootSector(b []byte, total uint32, fatSectors, rootEntries uint16, hidden, volumeID uint32) {
	le := binary.LittleEndian
	copy(b[0:], []byte{0xEB, 0x3C, 0x90}) // jmp 0x3E; nop
	copy(b[3:11], "SURVEYBX")             // OEM name
	le.PutUint16(b[11:], fatSectorSize)   // BPB_BytsPerSec
	b[13] = fatClusterSectors             // BPB_SecPerClus
	le.PutUint16(b[14:], fatReserved)     // BPB_RsvdSecCnt
	b[16] = 1                             // BPB_NumFATs: gokrazy's reader assumes one
	le.PutUint16(b[17:], rootEntries)     // BPB_RootEntCnt
	if total <= 0xFFFF {
		le.PutUint16(b[19:], uint16(total)) // BPB_TotSec16
	} else {
		le.PutUint32(b[32:], total) // BPB_TotSec32
	}
	b[21] = 0xF8                                 // BPB_Media: fixed disk
	le.PutUint16(b[22:], fatSectors)             // BPB_FATSz16
	le.PutUint16(b[24:], 63)                     // BPB_SecPerTrk (unused with LBA)
	le.PutUint16(b[26:], 255)                    // BPB_NumHeads (unused with LBA)
	le.PutUint32(b[28:], hidden)                 // BPB_HiddSec: the partition's LBA
	b[36] = 0x80                                 // BS_DrvNum
	b[38] = 0x29                                 // BS_BootSig: the next three fields are valid
	le.PutUint32(b[39:], volumeID)               // BS_VolID
	copy(b[43:54], fs.label[:])                  // BS_VolLab
	copy(b[54:62], "FAT16   ")                   // BS_FilSysType
	copy(b[62:], []byte{0xFA, 0xF4, 0xEB, 0xFD}) // not bootable on a PC: cli; hlt; jmp hlt
	b[510], b[511] = 0x55, 0xAA
}

// dirEntryCount is the number of 32-byte entries directory d needs.
func dirEntryCount(d *fatNode) int {
	n := 2 // "." and ".."
	if d.parent == nil {
		n = 1 // volume label
	}
	for _, c := range d.children {
		n++
		if c.long {
			n += longEntryCount(c.name)
		}
	}
	return n
}

func longEntryCount(name string) int {
	return (len(utf16.Encode([]rune(name))) + 12) / 13
}

// putDirEntries encodes d's entries into b (zeroed, large enough).
func (fs *fat16) putDirEntries(b []byte, d *fatNode) {
	i := 0
	entry := func() []byte { e := b[i*fatDirEntry : (i+1)*fatDirEntry]; i++; return e }
	if d.parent == nil {
		e := entry()
		copy(e[0:11], fs.label[:])
		e[11] = attrVolumeID
		fs.putTimes(e)
	} else {
		dot := [11]byte{'.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '}
		fs.putShort(entry(), dot, attrDirectory, 0, d.cluster, 0)
		dot[1] = '.'
		fs.putShort(entry(), dot, attrDirectory, 0, d.parent.cluster, 0) // 0 for the root
	}
	for _, c := range d.children {
		if c.long {
			units := utf16.Encode([]rune(c.name))
			n := longEntryCount(c.name)
			sum := shortNameChecksum(c.short)
			for seq := n; seq >= 1; seq-- {
				e := entry()
				e[0] = byte(seq)
				if seq == n {
					e[0] |= 0x40 // last (first stored) entry
				}
				e[11] = attrLongName
				e[13] = sum
				for k, pos := range [13]int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
					j := (seq-1)*13 + k
					u := uint16(0xFFFF) // padding after the terminator
					switch {
					case j < len(units):
						u = units[j]
					case j == len(units):
						u = 0
					}
					binary.LittleEndian.PutUint16(e[pos:], u)
				}
			}
		}
		attr := byte(attrArchive)
		var size uint32
		if c.isDir {
			attr = attrDirectory // exactly 0x10: gokrazy's reader compares with ==
		} else {
			size = uint32(c.size)
		}
		fs.putShort(entry(), c.short, attr, c.ntres, c.cluster, size)
	}
}

func (fs *fat16) putShort(e []byte, name [11]byte, attr, ntres byte, cluster uint16, size uint32) {
	copy(e[0:11], name[:])
	e[11] = attr
	e[12] = ntres
	fs.putTimes(e)
	binary.LittleEndian.PutUint16(e[26:], cluster) // DIR_FstClusLO (HI stays 0)
	binary.LittleEndian.PutUint32(e[28:], size)
}

func (fs *fat16) putTimes(e []byte) {
	t := fs.modTime
	if t.Year() < 1980 {
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	} else if t.Year() > 2107 {
		t = time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
	}
	tm := uint16(t.Hour())<<11 | uint16(t.Minute())<<5 | uint16(t.Second()/2)
	dt := uint16(t.Year()-1980)<<9 | uint16(t.Month())<<5 | uint16(t.Day())
	le := binary.LittleEndian
	le.PutUint16(e[14:], tm) // DIR_CrtTime
	le.PutUint16(e[16:], dt) // DIR_CrtDate
	le.PutUint16(e[18:], dt) // DIR_LstAccDate
	le.PutUint16(e[22:], tm) // DIR_WrtTime
	le.PutUint16(e[24:], dt) // DIR_WrtDate
}

func shortNameChecksum(n [11]byte) byte {
	var sum byte
	for _, c := range n {
		sum = (sum&1)<<7 + sum>>1 + c
	}
	return sum
}

// shortNameChar reports whether c (upper case) may appear in an 8.3 name.
func shortNameChar(c byte) bool {
	switch {
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'()-@^_`{}~", c) >= 0
}

// checkLongName rejects names FAT cannot store.
func checkLongName(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("invalid file name %q", name)
	}
	if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		return fmt.Errorf("file name %q ends in a dot or space", name)
	}
	if len(utf16.Encode([]rune(name))) > 255 {
		return fmt.Errorf("file name %q is longer than 255 characters", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7F || strings.ContainsRune(`"*/:<>?\|`, r) {
			return fmt.Errorf("file name %q has a character FAT does not allow (%q)", name, r)
		}
	}
	return nil
}

// fit83 returns the 8.3 entry for name if name is an 8.3 name whose base
// and extension are each all lower or all upper case (stored upper case
// with the NT lower-case flags, as Linux and mtools do: no long name).
func fit83(name string) (short [11]byte, ntres byte, ok bool) {
	base, ext, dot := strings.Cut(name, ".")
	if base == "" || len(base) > 8 || len(ext) > 3 || (dot && ext == "") || strings.Contains(ext, ".") {
		return short, 0, false
	}
	caseOf := func(s string) (lower bool, ok bool) {
		var hasLower, hasUpper bool
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !shortNameChar(c) {
				return false, false
			}
			hasLower = hasLower || c >= 'a' && c <= 'z'
			hasUpper = hasUpper || c >= 'A' && c <= 'Z'
		}
		return hasLower, !(hasLower && hasUpper)
	}
	lb, okb := caseOf(base)
	le, oke := caseOf(ext)
	if !okb || !oke {
		return short, 0, false
	}
	if lb {
		ntres |= ntresLowerBase
	}
	if le {
		ntres |= ntresLowerExt
	}
	copy(short[:], strings.ToUpper(fmt.Sprintf("%-8s%-3s", base, ext)))
	return short, ntres, true
}

// assignShortNames gives d's children their 8.3 names: the name itself if
// it fits, else a numbered alias ("BCM271~1.DTB") plus a long name.
func assignShortNames(d *fatNode) error {
	used := map[[11]byte]bool{}
	var rest []*fatNode
	for _, c := range d.children {
		if s, nt, ok := fit83(c.name); ok {
			if used[s] {
				return fmt.Errorf("%s: 8.3 name clash", c.name)
			}
			c.short, c.ntres, c.long = s, nt, false
			used[s] = true
		} else {
			rest = append(rest, c)
		}
	}
	for _, c := range rest {
		up := strings.TrimLeft(strings.ReplaceAll(strings.ToUpper(c.name), " ", ""), ".")
		base, ext := up, ""
		if i := strings.LastIndexByte(up, '.'); i >= 0 {
			base, ext = up[:i], up[i+1:]
		}
		clean := func(s string, max int) string {
			var b strings.Builder
			for i := 0; i < len(s) && b.Len() < max; i++ {
				switch c := s[i]; {
				case c == '.':
				case shortNameChar(c):
					b.WriteByte(c)
				default:
					b.WriteByte('_')
				}
			}
			return b.String()
		}
		base, ext = clean(base, 8), clean(ext, 3)
		if base == "" {
			base = "_"
		}
		found := false
		for n := 1; n <= 999999 && !found; n++ {
			tail := "~" + strconv.Itoa(n)
			b := base
			if len(b)+len(tail) > 8 {
				b = b[:8-len(tail)]
			}
			var s [11]byte
			copy(s[:], fmt.Sprintf("%-8s%-3s", b+tail, ext))
			if !used[s] {
				c.short, c.ntres, c.long = s, 0, true
				used[s] = true
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s: no free 8.3 alias", c.name)
		}
	}
	return nil
}
