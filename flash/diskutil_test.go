package flash

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// The macOS side, run on any OS against what diskutil and mount print.

func plist(body string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
` + body + `
</dict>
</plist>
`
}

// sdCard is `diskutil info -plist /dev/disk4` for a card in a USB reader.
var sdCard = plist(`	<key>Bootable</key>
	<false/>
	<key>BusProtocol</key>
	<string>USB</string>
	<key>Content</key>
	<string>FDisk_partition_scheme</string>
	<key>DeviceBlockSize</key>
	<integer>512</integer>
	<key>DeviceIdentifier</key>
	<string>disk4</string>
	<key>DeviceNode</key>
	<string>/dev/disk4</string>
	<key>Ejectable</key>
	<true/>
	<key>IORegistryEntryName</key>
	<string>Generic STORAGE DEVICE Media</string>
	<key>Internal</key>
	<false/>
	<key>MediaName</key>
	<string>Generic STORAGE DEVICE</string>
	<key>MountPoint</key>
	<string></string>
	<key>OSInternalMedia</key>
	<false/>
	<key>ParentWholeDisk</key>
	<string>disk4</string>
	<key>RemovableMedia</key>
	<true/>
	<key>SMARTDeviceSpecificKeysMayVaryNotGuaranteed</key>
	<dict/>
	<key>Size</key>
	<integer>31914983424</integer>
	<key>TotalSize</key>
	<integer>31914983424</integer>
	<key>VirtualOrPhysical</key>
	<string>Physical</string>
	<key>WholeDisk</key>
	<true/>
	<key>WritableMedia</key>
	<true/>`)

func TestDecodePlist(t *testing.T) {
	d, err := decodePlist([]byte(sdCard))
	if err != nil {
		t.Fatal(err)
	}
	dev, err := deviceFromInfo("/dev/disk4", "disk4", d)
	if err != nil {
		t.Fatal(err)
	}
	want := Device{Path: "/dev/disk4", WritePath: "/dev/rdisk4", Name: "disk4", Size: 31914983424,
		Model: "Generic STORAGE DEVICE", Transport: "USB", Removable: true, SectorSize: 512}
	if *dev != want {
		t.Errorf("device = %+v\nwant %+v", *dev, want)
	}
	if s := dev.String(); s != "/dev/disk4: 29.7 GiB, Generic STORAGE DEVICE (USB, removable)" {
		t.Errorf("String() = %q", s)
	}
	stores, err := decodePlist([]byte(plist(`<key>APFSPhysicalStores</key><array><dict>
		<key>APFSPhysicalStore</key><string>disk0s2</string></dict></array>`)))
	if err != nil {
		t.Fatal(err)
	}
	if got := stores.physicalStores(); len(got) != 1 || got[0] != "disk0s2" {
		t.Errorf("physical stores = %q", got)
	}
}

func TestDecodePlistRefuses(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":       "",
		"not xml":     "diskutil: not found",
		"array":       `<plist><array><string>x</string></array></plist>`,
		"no value":    `<plist><dict><key>Size</key></dict></plist>`,
		"no key":      `<plist><dict><string>x</string></dict></plist>`,
		"bad integer": plist(`<key>Size</key><integer>12x</integer>`),
		"overflow":    plist(`<key>Size</key><integer>99999999999999999999</integer>`),
		"deep":        plist(`<key>a</key>` + strings.Repeat("<array>", 20) + strings.Repeat("</array>", 20)),
		"truncated":   `<plist><dict><key>Size</key><integer>1</integer>`,
		"huge":        plist(`<key>a</key><string>` + strings.Repeat("x", maxToolOutput) + `</string>`),
		"many":        plist(`<key>a</key><array>` + strings.Repeat("<true/>", maxPlistItems+1) + `</array>`),
	} {
		if _, err := decodePlist([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDeviceFromInfoRefuses(t *testing.T) {
	for _, tt := range []struct {
		name, change, want string
	}{
		{"partition", `<key>WholeDisk</key><false/>`, "not a whole disk"},
		{"container", `<key>APFSPhysicalStores</key><array><dict><key>APFSPhysicalStore</key><string>disk0s2</string></dict></array>`, "APFS container"},
		{"internal system", `<key>OSInternalMedia</key><true/>`, "internal system disk"},
		{"locked", `<key>WritableMedia</key><false/>`, "lock switch"},
		{"no size", `<key>TotalSize</key><string>big</string><key>Size</key><integer>0</integer>`, "no usable size"},
	} {
		// A later key replaces an earlier one.
		doc := strings.Replace(sdCard, "\n</dict>\n</plist>", "\n"+tt.change+"\n</dict>\n</plist>", 1)
		d, err := decodePlist([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if _, err := deviceFromInfo("/dev/disk4", "disk4", d); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}

func TestDarwinDisk(t *testing.T) {
	for _, tt := range []struct {
		in           string
		whole        string
		slice, valid bool
	}{
		{"disk4", "disk4", false, true},
		{"/dev/disk4", "disk4", false, true},
		{"/dev/rdisk12", "disk12", false, true},
		{"disk4s1", "disk4", true, true},
		{"/dev/disk3s1s1", "disk3", true, true},
		{"/dev/sda", "", false, false},
		{"disk", "", false, false},
		{"disk4s", "", false, false},
		{"disk4x1", "", false, false},
		{"/tmp/card.img", "", false, false},
	} {
		whole, slice, ok := darwinDisk(tt.in)
		if whole != tt.whole || slice != tt.slice || ok != tt.valid {
			t.Errorf("darwinDisk(%q) = %q, %v, %v; want %q, %v, %v", tt.in, whole, slice, ok, tt.whole, tt.slice, tt.valid)
		}
	}
}

// macOS 14 on Apple silicon, a card (disk4) with its boot partition
// mounted, and an external APFS disk (disk6, container disk7).
const macMounts = `/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)
devfs on /dev (devfs, local, nobrowse)
/dev/disk3s6 on /System/Volumes/VM (apfs, local, noexec, journaled, noatime, nobrowse)
/dev/disk3s5 on /System/Volumes/Data (apfs, local, journaled, nobrowse, protect, root data)
map auto_home on /System/Volumes/Data/home (autofs, automounted, nobrowse)
/dev/disk4s1 on /Volumes/GOKRAZY (msdos, local, nodev, nosuid, noowners, noatime, fskit)
/dev/disk7s1 on /Volumes/Back Up (apfs, local, nodev, nosuid, journaled, noowners)
`

func TestDarwinMounts(t *testing.T) {
	m := darwinMounts([]byte(macMounts))
	if got := m["/dev/disk4s1"]; len(got) != 1 || got[0] != "/Volumes/GOKRAZY" {
		t.Errorf("disk4s1 mounted on %q", got)
	}
	if got := m["/dev/disk7s1"]; len(got) != 1 || got[0] != "/Volumes/Back Up" {
		t.Errorf("disk7s1 mounted on %q", got)
	}
	if len(m) != 5 {
		t.Errorf("%d devices, want 5: %q", len(m), m)
	}
}

// fakeMac answers diskutil and mount as a Mac with these disks would.
type fakeMac struct {
	mounts string
	info   map[string]string // diskutil info target → plist
}

func (f fakeMac) run(_ context.Context, name string, args ...string) ([]byte, error) {
	switch {
	case name == "mount" && len(args) == 0:
		return []byte(f.mounts), nil
	case name == "diskutil" && len(args) == 3 && args[0] == "info" && args[1] == "-plist":
		if out, ok := f.info[args[2]]; ok {
			return []byte(out), nil
		}
		return []byte(plist(`<key>Error</key><true/><key>ErrorMessage</key><string>Could not find disk: ` + args[2] + `</string>`)), errors.New("exit status 1")
	}
	return nil, fmt.Errorf("unexpected command %s %q", name, args)
}

func newFakeMac(mounts string) fakeMac {
	apfs := func(id, parent, store string) string {
		return plist(fmt.Sprintf(`<key>DeviceIdentifier</key><string>%s</string><key>ParentWholeDisk</key><string>%s</string>
			<key>APFSPhysicalStores</key><array><dict><key>APFSPhysicalStore</key><string>%s</string></dict></array>
			<key>WholeDisk</key><%v/><key>TotalSize</key><integer>494384795648</integer><key>DeviceBlockSize</key><integer>4096</integer>`,
			id, parent, store, id == parent))
	}
	whole := func(id string) string {
		return strings.ReplaceAll(sdCard, "disk4", id)
	}
	return fakeMac{mounts: mounts, info: map[string]string{
		"/":          apfs("disk3s1s1", "disk3", "disk0s2"),
		"/dev/disk3": apfs("disk3", "disk3", "disk0s2"),
		"/dev/disk0": whole("disk0"),
		"/dev/disk4": sdCard,
		"/dev/disk6": whole("disk6"),
		"/dev/disk7": apfs("disk7", "disk7", "disk6s2"),
	}}
}

func TestDarwinProbe(t *testing.T) {
	idle := strings.Join(slicesWithout(strings.SplitAfter(macMounts, "\n"), "disk4s1", "disk7s1"), "")
	for _, tt := range []struct {
		name, mounts, disk, want string
	}{
		{"free card", idle, "disk4", ""},
		{"boot partition mounted", macMounts, "disk4", "/dev/disk4s1 is mounted on /Volumes/GOKRAZY; unmount it (and stop what holds it) first (diskutil unmountDisk /dev/disk4)"},
		{"system disk", idle, "disk0", "holds the running system"},
		{"APFS container", idle, "disk3", "APFS container on disk0s2"},
		{"external APFS disk mounted", macMounts, "disk6", "/dev/disk7s1 is mounted on /Volumes/Back Up"},
		{"no such disk", idle, "disk9", "Could not find disk: /dev/disk9"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := darwinProbe{run: newFakeMac(tt.mounts).run}
			d, err := p.check(t.Context(), "/dev/"+tt.disk, tt.disk)
			if tt.want == "" {
				if err != nil || d.WritePath != "/dev/r"+tt.disk {
					t.Fatalf("check = %+v, %v", d, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("check = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func slicesWithout(lines []string, drop ...string) []string {
	var out []string
	for _, l := range lines {
		keep := true
		for _, d := range drop {
			keep = keep && !strings.Contains(l, d)
		}
		if keep {
			out = append(out, l)
		}
	}
	return out
}

func TestBoundedBuffer(t *testing.T) {
	b := &boundedBuffer{max: 5}
	for _, s := range []string{"abc", "def", "g"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if b.String() != "abcde" || !b.over {
		t.Errorf("buffer %q, over %v", b.String(), b.over)
	}
}

// FuzzDecodePlist: diskutil's output is parsed without panicking or
// recursing without bound, whatever it holds.
func FuzzDecodePlist(f *testing.F) {
	f.Add([]byte(plist(`<key>DeviceNode</key><string>/dev/disk4</string><key>Size</key><integer>31914983424</integer><key>Internal</key><false/>`)))
	f.Add([]byte(`<plist><dict><key>a</key><array><dict><key>b</key><array></array></dict></array></dict></plist>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodePlist(b)
		if err == nil {
			d.str("DeviceNode")
			d.integer("Size")
			d.physicalStores()
		}
	})
}
