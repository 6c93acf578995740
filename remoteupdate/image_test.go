package remoteupdate

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/surveybox/surveybox/internal/testimage"
	"github.com/surveybox/surveybox/sdimage"
)

// built is the update image both tests read, built once.
var built struct {
	once sync.Once
	dir  string
	res  *sdimage.Result
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// updateImage builds an amd64 update image naming root 3 for disk
// 0x1234abcd (the architecture changes nothing here).
func updateImage(t *testing.T) *sdimage.Result {
	t.Helper()
	built.once.Do(func() {
		ctx := context.Background()
		b, err := testimage.New(ctx, "amd64")
		if err != nil {
			built.err = err
			return
		}
		defer b.Close()
		if built.dir, built.err = os.MkdirTemp("", "remoteupdate-"); built.err != nil {
			return
		}
		built.res, built.err = b.Image(ctx, sdimage.Options{
			Output: filepath.Join(built.dir, "update.img"), Hostname: "box",
			DiskID: 0x1234abcd, RootPartition: 3,
		})
	})
	if built.err != nil {
		t.Fatalf("building the image: %v", built.err)
	}
	return built.res
}

func TestOpenImage(t *testing.T) {
	if _, err := exec.LookPath("mcopy"); err != nil {
		t.Fatalf("mcopy not found (Debian: apt-get install mtools): %v", err)
	}
	res := updateImage(t)
	img, err := OpenImage(res.Path)
	if err != nil {
		t.Fatalf("OpenImage: %v", err)
	}
	defer img.Close()
	if img.DiskID != 0x1234abcd || img.RootPartition != 3 {
		t.Errorf("disk ID %08x, root %d; want 1234abcd, 3", img.DiskID, img.RootPartition)
	}
	if want := (res.RootBytes + 4095) &^ 4095; img.RootBytes != want {
		t.Errorf("root: %d bytes, want the squashfs's %d", img.RootBytes, want)
	}
	t.Logf("an update sends %d bytes of root and %d bytes of boot partition (of %d), %d MBR bytes", img.RootBytes, img.BootBytes, res.Layout.Boot.Size, len(img.mbrCode))
	if img.BootBytes <= 0 || img.BootBytes >= res.Layout.Boot.Size/2 {
		t.Errorf("boot partition: sends %d bytes of %d", img.BootBytes, res.Layout.Boot.Size)
	}

	// What is sent of the boot partition, on a partition that held
	// something else before, reads as the image's whole boot partition.
	sent, err := io.ReadAll(img.Boot())
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(t.TempDir(), "boot.part")
	junk := []byte(strings.Repeat("stale data ", 1<<16))
	f, err := os.Create(old)
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < res.Layout.Boot.Size; off += int64(len(junk)) {
		f.WriteAt(junk, off)
	}
	f.WriteAt(sent, 0)
	f.Truncate(res.Layout.Boot.Size)
	f.Close()
	full := filepath.Join(t.TempDir(), "full.part")
	whole := make([]byte, res.Layout.Boot.Size)
	src, _ := os.Open(res.Path)
	src.ReadAt(whole, res.Layout.Boot.Start)
	src.Close()
	os.WriteFile(full, whole, 0o600)
	a, b := t.TempDir(), t.TempDir()
	for _, c := range [][]string{{"-i", old, "-s", "::/", a}, {"-i", full, "-s", "::/", b}} {
		if out, err := exec.Command("mcopy", append([]string{"-n", "-m"}, c...)...).CombinedOutput(); err != nil {
			t.Fatalf("mcopy %v: %v\n%s", c, err, out)
		}
	}
	if out, err := exec.Command("diff", "-r", a, b).CombinedOutput(); err != nil {
		t.Errorf("the boot partition as written by an update differs from the image's: %v\n%s", err, out)
	}
	cl, err := os.ReadFile(filepath.Join(a, "cmdline.txt"))
	if err != nil || !strings.Contains(string(cl), "root=PARTUUID=1234abcd-03") {
		t.Errorf("cmdline.txt %q (%v)", cl, err)
	}
}

func TestOpenImageRefuses(t *testing.T) {
	res := updateImage(t)
	boot, root := res.Layout.Boot.Start, res.Layout.RootA.Start
	bootPart := make([]byte, 64<<20)
	if f, err := os.Open(res.Path); err != nil {
		t.Fatal(err)
	} else {
		f.ReadAt(bootPart, boot)
		f.Close()
	}
	put32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	for _, tc := range []struct {
		name, want string
		at         int64
		data       []byte
		size       int64 // truncate to this, when not 0
	}{
		{name: "empty", want: "reading the MBR", size: -1},
		{name: "no MBR", want: "no MBR", at: 510, data: []byte{0}},
		{name: "other layout", want: "partition 2 is at", at: 446 + 16 + 8, data: put32(4096)},
		{name: "no FAT", want: "not a FAT16 file system", at: boot + 54, data: []byte("NOFAT")},
		{name: "FAT geometry", want: "unexpected FAT16 geometry", at: boot + 13, data: []byte{0}},
		{name: "cmdline of another disk", want: "cmdline.txt names disk 1234abce, the MBR says 1234abcd",
			at: boot + int64(strings.Index(string(bootPart), "root=PARTUUID=1234abcd")), data: []byte("root=PARTUUID=1234abce")},
		{name: "no squashfs", want: "no squashfs", at: root, data: []byte("nope")},
		{name: "squashfs too large", want: "squashfs of", at: root + 40, data: binary.LittleEndian.AppendUint64(nil, 1<<40)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.img")
			if out, err := exec.Command("cp", "--sparse=always", res.Path, p).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v\n%s", err, out)
			}
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tc.size < 0 {
				f.Truncate(0)
			} else if _, err := f.WriteAt(tc.data, tc.at); err != nil {
				t.Fatal(err)
			}
			f.Close()
			img, err := OpenImage(p)
			if err == nil {
				img.Close()
				t.Fatalf("OpenImage of a damaged image: no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("OpenImage: %v, want %q", err, tc.want)
			}
		})
	}
}
