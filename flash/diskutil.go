package flash

// What macOS's tools say about disks: diskutil's property lists and
// mount(8)'s table. Parsed here, on every OS, so that the parsing is tested
// wherever the tests run; device_darwin.go runs the tools.

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

const (
	maxToolOutput = 4 << 20
	maxPlistDepth = 16
	maxPlistItems = 100000
)

// plistDict is a property list dictionary: values are string, int64,
// bool, []any or plistDict.
type plistDict map[string]any

func (d plistDict) str(key string) string {
	s, _ := d[key].(string)
	return s
}

func (d plistDict) boolean(key string) bool {
	b, _ := d[key].(bool)
	return b
}

func (d plistDict) integer(key string) (int64, bool) {
	n, ok := d[key].(int64)
	return n, ok
}

// physicalStores lists the partitions an APFS container or volume lives
// on (diskutil info writes APFSPhysicalStore, diskutil list
// DeviceIdentifier).
func (d plistDict) physicalStores() []string {
	arr, _ := d["APFSPhysicalStores"].([]any)
	var out []string
	for _, v := range arr {
		if s, ok := v.(plistDict); ok {
			for _, k := range []string{"APFSPhysicalStore", "DeviceIdentifier"} {
				if id := s.str(k); id != "" {
					out = append(out, id)
				}
			}
		}
	}
	return out
}

// decodePlist decodes an XML property list whose top level is a dict.
func decodePlist(b []byte) (plistDict, error) {
	if len(b) > maxToolOutput {
		return nil, fmt.Errorf("property list of %d bytes is too long", len(b))
	}
	p := &plistParser{dec: xml.NewDecoder(bytes.NewReader(b))}
	for {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, fmt.Errorf("property list: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local != "plist" {
			v, err := p.value(se, 0)
			if err != nil {
				return nil, fmt.Errorf("property list: %w", err)
			}
			d, ok := v.(plistDict)
			if !ok {
				return nil, errors.New("property list: top level is not a dict")
			}
			return d, nil
		}
	}
}

type plistParser struct {
	dec   *xml.Decoder
	items int
}

// value decodes the element se has opened.
func (p *plistParser) value(se xml.StartElement, depth int) (any, error) {
	if p.items++; p.items > maxPlistItems {
		return nil, fmt.Errorf("more than %d items", maxPlistItems)
	}
	if depth > maxPlistDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxPlistDepth)
	}
	switch se.Name.Local {
	case "dict":
		return p.dict(depth)
	case "array":
		var arr []any
		for {
			child, end, err := p.next()
			if err != nil || end {
				return arr, err
			}
			v, err := p.value(child, depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
	case "true", "false":
		if err := p.dec.Skip(); err != nil {
			return nil, err
		}
		return se.Name.Local == "true", nil
	case "integer":
		s, err := p.text()
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 0, 64)
		if err != nil {
			return nil, fmt.Errorf("integer %q: %w", s, err)
		}
		return n, nil
	default: // string, date, data, real: kept as text
		return p.text()
	}
}

func (p *plistParser) dict(depth int) (plistDict, error) {
	d := plistDict{}
	for {
		child, end, err := p.next()
		if err != nil || end {
			return d, err
		}
		if child.Name.Local != "key" {
			return nil, fmt.Errorf("<%s> where a <key> belongs", child.Name.Local)
		}
		key, err := p.text()
		if err != nil {
			return nil, err
		}
		child, end, err = p.next()
		if err != nil {
			return nil, err
		}
		if end {
			return nil, fmt.Errorf("key %q has no value", key)
		}
		if d[key], err = p.value(child, depth+1); err != nil {
			return nil, err
		}
	}
}

// next returns the next child element, or end at the parent's end.
func (p *plistParser) next() (xml.StartElement, bool, error) {
	for {
		tok, err := p.dec.Token()
		if err == io.EOF {
			return xml.StartElement{}, false, io.ErrUnexpectedEOF
		}
		if err != nil {
			return xml.StartElement{}, false, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, false, nil
		case xml.EndElement:
			return xml.StartElement{}, true, nil
		}
	}
}

// text returns the character data up to the current element's end.
func (p *plistParser) text() (string, error) {
	var b strings.Builder
	for {
		tok, err := p.dec.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.EndElement:
			return b.String(), nil
		case xml.StartElement:
			return "", fmt.Errorf("<%s> inside a scalar", t.Name.Local)
		}
	}
}

// darwinDisk splits a macOS disk name (disk4, /dev/disk4, /dev/rdisk4,
// disk4s1, disk3s1s1) into its whole disk ("disk4") and whether it names a
// slice (a partition or volume) of it.
func darwinDisk(name string) (whole string, slice bool, ok bool) {
	s := strings.TrimPrefix(name, "/dev/")
	s = strings.TrimPrefix(s, "r")
	rest, found := strings.CutPrefix(s, "disk")
	if !found {
		return "", false, false
	}
	n := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
	if n == 0 {
		return "", false, false
	}
	whole, rest = "disk"+rest[:n], rest[n:]
	for rest != "" {
		tail, found := strings.CutPrefix(rest, "s")
		digits := len(tail) - len(strings.TrimLeft(tail, "0123456789"))
		if !found || digits == 0 {
			return "", false, false
		}
		rest, slice = tail[digits:], true
	}
	return whole, slice, true
}

// darwinMounts returns the devices and mount points in mount(8)'s output,
// "/dev/disk4s1 on /Volumes/NO NAME (msdos, local, nodev, nosuid, noowners)".
func darwinMounts(out []byte) map[string][]string {
	mounts := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		dev, rest, ok := strings.Cut(line, " on ")
		if !ok || !strings.HasPrefix(dev, "/dev/") {
			continue
		}
		point := rest
		if i := strings.LastIndex(rest, " ("); i >= 0 {
			point = rest[:i]
		}
		mounts[dev] = append(mounts[dev], strings.TrimSpace(point))
	}
	return mounts
}

// darwinProbe asks macOS's tools about disks; run runs a tool and returns
// its standard output (bounded), so that tests can stand in for diskutil.
type darwinProbe struct {
	run func(ctx context.Context, name string, args ...string) ([]byte, error)
}

// check examines the whole disk node (/dev/disk4): diskutil's description
// of it, and whether anything on it is mounted or it holds the system.
func (p darwinProbe) check(ctx context.Context, node, whole string) (*Device, error) {
	info, err := p.info(ctx, node)
	if err != nil {
		return nil, err
	}
	d, err := deviceFromInfo(node, whole, info)
	if err != nil {
		return nil, err
	}
	uses, system, err := p.uses(ctx, whole)
	if err != nil {
		return nil, fmt.Errorf("checking whether %s is in use: %w", node, err)
	}
	if len(uses) > 0 {
		err := inUse(node, system, uses)
		if !system {
			err = fmt.Errorf("%w (diskutil unmountDisk %s)", err, node)
		}
		return nil, err
	}
	return d, nil
}

// deviceFromInfo checks diskutil's description of the whole disk.
func deviceFromInfo(node, whole string, info plistDict) (*Device, error) {
	if !info.boolean("WholeDisk") {
		return nil, fmt.Errorf("%s is not a whole disk", node)
	}
	if stores := info.physicalStores(); len(stores) > 0 {
		return nil, fmt.Errorf("%s is an APFS container on %s, not a card", node, strings.Join(stores, ", "))
	}
	if info.boolean("OSInternalMedia") {
		return nil, fmt.Errorf("%s is macOS's internal system disk: refusing to overwrite it", node)
	}
	if w, ok := info["WritableMedia"].(bool); ok && !w {
		return nil, fmt.Errorf("%s is read-only: is the SD card's lock switch on?", node)
	}
	d := &Device{Path: node, WritePath: "/dev/r" + whole, Name: whole}
	size, ok := info.integer("TotalSize")
	if !ok {
		size, ok = info.integer("Size")
	}
	if !ok || size <= 0 || size > maxDeviceBytes {
		return nil, fmt.Errorf("diskutil gives %s no usable size", node)
	}
	d.Size = size
	if d.SectorSize, ok = info.integer("DeviceBlockSize"); !ok {
		return nil, fmt.Errorf("diskutil gives %s no block size", node)
	}
	d.Model = strings.TrimSpace(info.str("MediaName"))
	if d.Model == "" {
		d.Model = strings.TrimSpace(info.str("IORegistryEntryName"))
	}
	d.Transport = info.str("BusProtocol")
	d.Removable = info.boolean("RemovableMedia") || info.boolean("Removable") || info.boolean("Ejectable")
	return d, nil
}

// uses lists the mounted volumes on the disk whole, directly or through
// an APFS container on one of its partitions. system is whether the root
// volume lives on it.
func (p darwinProbe) uses(ctx context.Context, whole string) (uses []string, system bool, err error) {
	rootDisks, err := p.disksOf(ctx, "/")
	if err != nil {
		return nil, false, fmt.Errorf("finding the system disk: %w", err)
	}
	out, err := p.run(ctx, "mount")
	if err != nil {
		return nil, false, err
	}
	mounts := darwinMounts(out)
	devs := slices.Sorted(maps.Keys(mounts))
	under := map[string][]string{} // a mounted volume's whole disk → the physical disks beneath
	for _, dev := range devs {
		w, _, ok := darwinDisk(dev)
		if !ok {
			continue
		}
		disks, seen := under[w]
		if !seen {
			if disks, err = p.disksOf(ctx, "/dev/"+w); err != nil {
				return nil, false, err
			}
			under[w] = disks
		}
		if slices.Contains(disks, whole) {
			for _, m := range mounts[dev] {
				uses = append(uses, fmt.Sprintf("%s is mounted on %s", dev, m))
			}
		}
	}
	if slices.Contains(rootDisks, whole) {
		return append(uses, "/ is on it"), true, nil
	}
	return uses, false, nil
}

// disksOf returns the physical whole disks that target (a disk, volume or
// path) lives on: through an APFS container to its physical stores' disks.
func (p darwinProbe) disksOf(ctx context.Context, target string) ([]string, error) {
	info, err := p.info(ctx, target)
	if err != nil {
		return nil, err
	}
	var disks []string
	for _, s := range info.physicalStores() {
		if w, _, ok := darwinDisk(s); ok {
			disks = append(disks, w)
		}
	}
	if len(disks) == 0 {
		parent := info.str("ParentWholeDisk")
		if parent == "" {
			parent = info.str("DeviceIdentifier")
		}
		if w, _, ok := darwinDisk(parent); ok {
			disks = append(disks, w)
		}
	}
	return disks, nil
}

func (p darwinProbe) info(ctx context.Context, target string) (plistDict, error) {
	out, err := p.run(ctx, "diskutil", "info", "-plist", target)
	if err != nil {
		// diskutil explains itself in a property list on stdout.
		if info, perr := decodePlist(out); perr == nil && info.str("ErrorMessage") != "" {
			return nil, fmt.Errorf("diskutil info %s: %s", target, info.str("ErrorMessage"))
		}
		return nil, err
	}
	info, err := decodePlist(out)
	if err != nil {
		return nil, fmt.Errorf("diskutil info %s: %w", target, err)
	}
	return info, nil
}

// boundedBuffer keeps the first max bytes written to it.
type boundedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		b.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
