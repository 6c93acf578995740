package sdimage

// Checks that gokrazy's on-device code can use the boot partition.
//
// gokrazy's runtime (github.com/gokrazy/gokrazy update.go, eeprom.go) reads
// the boot partition with github.com/gokrazy/internal/fat's Reader, at the
// version this module's go.mod selects (that is what the image's init is
// built with). Its import path contains "internal", so this package cannot
// import it. The checks therefore run twice:
//
//   - gokrazyExtents below re-implements Reader.NewReader/Extents from its
//     source (fat/reader.go at v0.0.0-20251208203110-3c1aa9087c82, line
//     numbers cited), quirks included;
//   - runGokrazyFAT builds and runs a small program, in a temporary module
//     whose path is under github.com/gokrazy/ (so the go command allows the
//     import), that calls the real fat.Reader the way update.go and
//     eeprom.go do and rewrites root= in cmdline.txt like
//     switchRootPartition.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// gokrazyExtents returns what gokrazy's fat.Reader.Extents(p) returns for
// the FAT file system in r.
func gokrazyExtents(r io.ReaderAt, p string) (offset, length int64, err error) {
	var bpb [24]byte
	if _, err := r.ReadAt(bpb[:], 0); err != nil {
		return 0, 0, err
	}
	// reader.go:30-63: skips jump and OEM (11 bytes), reads the sector
	// size, sectors per cluster, reserved sectors, skips the FAT count (!),
	// reads the root entry count, skips total sectors (16-bit) and media,
	// reads the 16-bit FAT size.
	sectorSize := binary.LittleEndian.Uint16(bpb[11:])
	sectorsPerCluster := bpb[13]
	reservedSectors := binary.LittleEndian.Uint16(bpb[14:])
	rootDirEntries := binary.LittleEndian.Uint16(bpb[17:])
	fatSectors := binary.LittleEndian.Uint16(bpb[22:])

	// reader.go:68-75
	fullSectors := func(bytes int64) int64 {
		s := bytes / int64(sectorSize)
		if bytes%int64(sectorSize) > 0 {
			s++
		}
		return s
	}
	// reader.go:93-94: one FAT; uint16 sum.
	dirOffset := int64(reservedSectors+fatSectors) * int64(sectorSize)
	dataOffset := dirOffset + fullSectors(int64(rootDirEntries)*32)*int64(sectorSize)
	numDirEntries := int(rootDirEntries)

	for _, component := range strings.Split(p[1:], "/") { // reader.go:98-99
		for i := 0; i < numDirEntries; i++ {
			var e [32]byte
			if _, err := r.ReadAt(e[:], dirOffset+int64(i*32)); err != nil {
				return 0, 0, err
			}
			if e[0] == 0 { // reader.go:111-114: skipped, not the end
				continue
			}
			// reader.go:116-124: the name up to the first space, then
			// "." and all three extension bytes.
			var name string
			if idx := bytes.IndexByte(e[:8], ' '); idx > -1 {
				name = string(e[:idx])
			} else {
				name = string(e[:8])
			}
			if e[8] != ' ' {
				name += "." + string(e[8:11])
			}
			// reader.go:127-135 with writer.go:406-469 (shortFileName of
			// the upper-cased component, fresh "seen" map).
			primary, ext := gokrazyShortFileName(strings.ToUpper(component))
			shortName := strings.TrimSpace(primary)
			if ext != "" {
				shortName += "." + strings.TrimSpace(ext)
			}
			if strings.ToLower(name) != strings.ToLower(shortName) && name != component {
				continue
			}
			firstCluster := binary.LittleEndian.Uint16(e[26:])
			off := dataOffset + int64(firstCluster-2)*int64(sectorsPerCluster)*int64(sectorSize) // reader.go:137
			if e[11] == 0x10 {                                                                   // reader.go:138-141
				dirOffset = off
				break
			}
			return off, int64(binary.LittleEndian.Uint32(e[28:])), nil // reader.go:143
		}
	}
	return 0, 0, fmt.Errorf("%q not found", p) // reader.go:147
}

// gokrazyShortFileName follows fat/writer.go:417-469 (shortFileNameBoth).
func gokrazyShortFileName(name string) (primary, ext string) {
	if name == "." || name == ".." {
		return name + strings.Repeat(" ", 8-len(name)), "   "
	}
	basis := strings.ReplaceAll(name, " ", "")
	basis = strings.TrimLeft(basis, ".")
	fit := true
	primary = basis
	if idx := strings.LastIndex(primary, "."); idx > -1 {
		primary = primary[:idx]
	}
	if len(primary) > 8 {
		primary, fit = primary[:8], false
	}
	ext = "   "
	if idx := strings.LastIndex(basis, "."); idx > -1 {
		ext = basis[idx+1:]
		if len(ext) > 3 {
			ext, fit = ext[:3], false
		}
		ext += strings.Repeat(" ", 3-len(ext))
	}
	if !fit { // numeric tail; the reader's "seen" map is always empty
		if len(primary)+2 > 8 {
			primary = primary[:6]
		}
		primary += "~1"
	}
	return primary + strings.Repeat(" ", 8-len(primary)), ext
}

// gokrazyFATProgram calls the real reader as gokrazy's runtime does.
//
//	extents PATH      Reader.Extents (update.go readCmdline, eeprom.go)
//	modtime PATH      Reader.ModTime (eeprom.go, RECOVERY.000)
//	setroot ROOT      switchRootPartition (update.go): root=… in
//	                  cmdline.txt replaced in place, padded with spaces
const gokrazyFATProgram = `package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"os"
	"regexp"

	"github.com/gokrazy/internal/fat"
)

func main() {
	f, err := os.OpenFile(os.Args[1], os.O_RDWR, 0)
	if err != nil {
		log.Fatal(err)
	}
	rd, err := fat.NewReader(f)
	if err != nil {
		log.Fatal(err)
	}
	switch os.Args[2] {
	case "extents":
		off, n, err := rd.Extents(os.Args[3])
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(off, n)
	case "modtime":
		t, err := rd.ModTime(os.Args[3])
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(t.UTC().Format("2006-01-02T15:04:05Z"))
	case "setroot":
		off, n, err := rd.Extents("/cmdline.txt")
		if err != nil {
			log.Fatal(err)
		}
		b := make([]byte, n)
		if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
			log.Fatal(err)
		}
		rep := regexp.MustCompile("root=[^ ]+").ReplaceAllLiteral(b, []byte("root="+os.Args[3]))
		if pad := len(b) - len(rep); pad > 0 {
			rep = bytes.ReplaceAll(rep, []byte{'\n'}, append(bytes.Repeat([]byte{' '}, pad), '\n'))
		}
		if _, err := f.WriteAt(rep, off); err != nil {
			log.Fatal(err)
		}
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
		fmt.Println("ok")
	}
}
`

var (
	gokrazyFATOnce sync.Once
	gokrazyFATBin  string
	gokrazyFATErr  error
)

// gokrazyFATTool builds gokrazyFATProgram against the gokrazy/internal
// version go.mod selects, once per test binary.
func gokrazyFATTool(t *testing.T) string {
	t.Helper()
	gokrazyFATOnce.Do(func() {
		gokrazyFATErr = func() error {
			out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/gokrazy/internal").Output()
			if err != nil {
				return fmt.Errorf("go list -m github.com/gokrazy/internal: %v", err)
			}
			version := strings.TrimSpace(string(out))
			sums, err := os.ReadFile("../go.sum")
			if err != nil {
				return err
			}
			var sum strings.Builder
			for _, l := range strings.Split(string(sums), "\n") {
				if strings.HasPrefix(l, "github.com/gokrazy/internal "+version+" ") || strings.HasPrefix(l, "github.com/gokrazy/internal "+version+"/go.mod ") {
					sum.WriteString(l + "\n")
				}
			}
			dir, err := os.MkdirTemp("", "gokrazy-fatcheck-")
			if err != nil {
				return err
			}
			files := map[string]string{
				"go.mod":  "module github.com/gokrazy/surveybox-fatcheck\n\ngo 1.24\n\nrequire github.com/gokrazy/internal " + version + "\n",
				"go.sum":  sum.String(),
				"main.go": gokrazyFATProgram,
			}
			for name, content := range files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					return err
				}
			}
			gokrazyFATBin = filepath.Join(dir, "fatcheck")
			cmd := exec.Command("go", "build", "-o", gokrazyFATBin, ".")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly", "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("building the gokrazy FAT reader check: %v\n%s", err, out)
			}
			return nil
		}()
	})
	if gokrazyFATErr != nil {
		t.Fatal(gokrazyFATErr)
	}
	return gokrazyFATBin
}

func runGokrazyFAT(t *testing.T, part string, args ...string) string {
	t.Helper()
	out, err := exec.Command(gokrazyFATTool(t), append([]string{part}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("gokrazy fat.Reader %q: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// checkGokrazyReads checks that both the re-implementation and gokrazy's
// real reader find each of files (root-level paths like "/cmdline.txt")
// at the same place with the given content.
func checkGokrazyReads(t *testing.T, part string, files map[string][]byte) {
	t.Helper()
	f, err := os.Open(part)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for p, want := range files {
		off, n, err := gokrazyExtents(f, p)
		if err != nil {
			t.Errorf("gokrazyExtents(%s): %v", p, err)
			continue
		}
		got := make([]byte, n)
		if _, err := f.ReadAt(got, off); err != nil {
			t.Errorf("reading %s at %d: %v", p, off, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("gokrazyExtents(%s) = %d bytes at %d, not the file's content", p, n, off)
		}
		real := runGokrazyFAT(t, part, "extents", p)
		if real != strconv.FormatInt(off, 10)+" "+strconv.FormatInt(n, 10) {
			t.Errorf("gokrazy's fat.Reader.Extents(%s) = %q, the re-implementation %d %d", p, real, off, n)
		}
		if mt := runGokrazyFAT(t, part, "modtime", p); strings.HasPrefix(mt, "error") {
			t.Errorf("gokrazy's fat.Reader.ModTime(%s): %s", p, mt)
		}
	}
	// update.go modifyCmdline also looks for the systemd-boot entry; it
	// must be reported missing (then ignored), not found somewhere wrong.
	if real := runGokrazyFAT(t, part, "extents", "/loader/entries/gokrazy.conf"); real != `error: "/loader/entries/gokrazy.conf" not found` {
		t.Errorf("gokrazy's fat.Reader.Extents(/loader/entries/gokrazy.conf) = %q", real)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if gokrazyFATBin != "" {
		os.RemoveAll(filepath.Dir(gokrazyFATBin))
	}
	os.Exit(code)
}
