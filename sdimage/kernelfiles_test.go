package sdimage

// Readers for the pinned kernel module's own files, so that the tests
// check the image against what the kernel really does: device tree blobs
// (which board, which SDIO WiFi node) and brcmfmac.ko's firmware table.

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fdtNode is a device tree node: its path and properties.
type fdtNode struct {
	path  string
	props map[string][]byte
}

// strings returns a string-list property (NUL-separated).
func (n fdtNode) strings(prop string) []string {
	v, ok := n.props[prop]
	if !ok || len(v) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(v), "\x00"), "\x00")
}

const maxDTB = 1 << 20 // the largest Pi device tree is about 100 KiB

// parseFDT reads a flattened device tree (devicetree specification v0.4,
// chapter 5) into its nodes, bounds-checking every offset and length.
func parseFDT(b []byte) ([]fdtNode, error) {
	if len(b) < 40 || binary.BigEndian.Uint32(b) != 0xd00dfeed {
		return nil, errors.New("not a flattened device tree")
	}
	be := func(off int) uint32 { return binary.BigEndian.Uint32(b[off:]) }
	total, structOff, stringsOff := int(be(4)), int(be(8)), int(be(12))
	structSize, stringsSize := int(be(36)), int(be(32))
	if total > len(b) || total > maxDTB || structOff+structSize > total || stringsOff+stringsSize > total || structOff < 40 {
		return nil, fmt.Errorf("device tree header out of bounds (total %d, struct %d+%d, strings %d+%d)", total, structOff, structSize, stringsOff, stringsSize)
	}
	st := b[structOff : structOff+structSize]
	strs := b[stringsOff : stringsOff+stringsSize]
	var nodes []fdtNode
	var stack []int // indexes into nodes
	for off := 0; ; {
		if off+4 > len(st) {
			return nil, errors.New("device tree structure ends without FDT_END")
		}
		tok := binary.BigEndian.Uint32(st[off:])
		off += 4
		switch tok {
		case 1: // FDT_BEGIN_NODE
			end := bytes.IndexByte(st[off:], 0)
			if end < 0 {
				return nil, errors.New("unterminated node name")
			}
			name := string(st[off : off+end])
			off += (end + 1 + 3) &^ 3
			p := "/"
			if len(stack) > 0 {
				p = strings.TrimSuffix(nodes[stack[len(stack)-1]].path, "/") + "/" + name
			}
			nodes = append(nodes, fdtNode{path: p, props: map[string][]byte{}})
			stack = append(stack, len(nodes)-1)
		case 2: // FDT_END_NODE
			if len(stack) == 0 {
				return nil, errors.New("unbalanced FDT_END_NODE")
			}
			stack = stack[:len(stack)-1]
		case 3: // FDT_PROP
			if off+8 > len(st) || len(stack) == 0 {
				return nil, errors.New("truncated property")
			}
			n, nameOff := int(binary.BigEndian.Uint32(st[off:])), int(binary.BigEndian.Uint32(st[off+4:]))
			off += 8
			if n < 0 || off+n > len(st) || nameOff >= len(strs) {
				return nil, errors.New("property out of bounds")
			}
			end := bytes.IndexByte(strs[nameOff:], 0)
			if end < 0 {
				return nil, errors.New("unterminated property name")
			}
			nodes[stack[len(stack)-1]].props[string(strs[nameOff:nameOff+end])] = st[off : off+n]
			off += (n + 3) &^ 3
		case 4: // FDT_NOP
		case 9: // FDT_END
			return nodes, nil
		default:
			return nil, fmt.Errorf("unknown device tree token %#x", tok)
		}
	}
}

func readDTB(t *testing.T, p string) []fdtNode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > maxDTB {
		t.Fatalf("%s: %d bytes, more than a device tree has", p, st.Size())
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := parseFDT(b)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return nodes
}

// fwMapping is an entry of brcmfmac's chip → firmware name table.
type fwMapping struct {
	chipID, revmask uint32
	fwBase          string // brcm/brcmfmac43455-sdio
}

// sdioFirmwareTable reads brcmf_sdio_fwnames (struct brcmf_firmware_mapping
// {u32 chipid; u32 revmask; const char *fw_base;}) from an arm64
// brcmfmac.ko: the numbers from its section, each name through the
// relocation that fills in the pointer.
func sdioFirmwareTable(ko string) ([]fwMapping, error) {
	f, err := elf.Open(ko)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 {
		return nil, fmt.Errorf("%s: %v %v, want a 64-bit arm64 module", ko, f.Class, f.Machine)
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, err
	}
	var tab *elf.Symbol
	for i := range syms {
		if syms[i].Name == "brcmf_sdio_fwnames" {
			tab = &syms[i]
		}
	}
	if tab == nil || int(tab.Section) >= len(f.Sections) || tab.Size%16 != 0 {
		return nil, fmt.Errorf("%s: no brcmf_sdio_fwnames table of 16-byte entries", ko)
	}
	sec := f.Sections[tab.Section]
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	if tab.Value+tab.Size > uint64(len(data)) {
		return nil, fmt.Errorf("%s: brcmf_sdio_fwnames lies outside %s", ko, sec.Name)
	}
	relSec := f.Section(".rela" + sec.Name)
	if relSec == nil {
		return nil, fmt.Errorf("%s: no .rela%s", ko, sec.Name)
	}
	relData, err := relSec.Data()
	if err != nil {
		return nil, err
	}
	relocs := map[uint64]elf.Rela64{}
	for off := 0; off+24 <= len(relData); off += 24 {
		r := elf.Rela64{
			Off:    binary.LittleEndian.Uint64(relData[off:]),
			Info:   binary.LittleEndian.Uint64(relData[off+8:]),
			Addend: int64(binary.LittleEndian.Uint64(relData[off+16:])),
		}
		relocs[r.Off] = r
	}
	var out []fwMapping
	for off := tab.Value; off < tab.Value+tab.Size; off += 16 {
		m := fwMapping{chipID: binary.LittleEndian.Uint32(data[off:]), revmask: binary.LittleEndian.Uint32(data[off+4:])}
		r, ok := relocs[off+8]
		if !ok {
			return nil, fmt.Errorf("%s: no relocation for the name at %#x", ko, off+8)
		}
		m.fwBase, err = relocatedString(f, syms, r)
		if err != nil {
			return nil, fmt.Errorf("%s: entry at %#x: %w", ko, off, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// relocatedString is the NUL-terminated string a relocation points at.
func relocatedString(f *elf.File, syms []elf.Symbol, r elf.Rela64) (string, error) {
	i := int(elf.R_SYM64(r.Info)) - 1 // Symbols() drops the null symbol
	if i < 0 || i >= len(syms) || int(syms[i].Section) >= len(f.Sections) {
		return "", fmt.Errorf("relocation symbol %d out of range", i+1)
	}
	data, err := f.Sections[syms[i].Section].Data()
	if err != nil {
		return "", err
	}
	p := syms[i].Value + uint64(r.Addend)
	if p >= uint64(len(data)) {
		return "", fmt.Errorf("string offset %#x out of range", p)
	}
	end := bytes.IndexByte(data[p:], 0)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	return string(data[p : p+uint64(end)]), nil
}

// kernelModuleDir is the module cache directory of a module go.mod pins.
func kernelModuleDir(t *testing.T, mod string) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	g := &goTool{dir: root, env: os.Environ(), logf: t.Logf}
	dir, _, err := g.moduleDir(context.Background(), "test", mod)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// moduleRelease is the single /lib/modules/<release> directory of a
// kernel module.
func moduleRelease(t *testing.T, kernelDir string) string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(kernelDir, "lib", "modules", "*", "modules.dep"))
	if err != nil || len(matches) != 1 {
		t.Fatalf("%s: want one lib/modules/<release>/modules.dep, found %q (%v)", kernelDir, matches, err)
	}
	return filepath.Dir(matches[0])
}
