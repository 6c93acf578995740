package sdimage

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const brcmfmacKo = "kernel/drivers/net/wireless/broadcom/brcm80211/brcmfmac/brcmfmac.ko"

// TestBoardDeviceTrees checks each board against the device trees the
// pinned kernel module ships: the board type brcmfmac derives from the
// root's compatible, and an SDIO WiFi node for brcmfmac.
func TestBoardDeviceTrees(t *testing.T) {
	kernel := kernelModuleDir(t, DefaultKernelPackage)
	for _, b := range piBoards() {
		for _, dtb := range b.dtbs {
			t.Run(dtb, func(t *testing.T) {
				nodes := readDTB(t, filepath.Join(kernel, dtb))
				if got := nodes[0].strings("compatible"); len(got) == 0 || got[0] != b.compatible {
					t.Errorf("%s (%s): root compatible %q, want %q first", dtb, b.name, got, b.compatible)
				}
				var wifi []string
				for _, n := range nodes {
					if slices.Contains(n.strings("compatible"), "brcm,bcm4329-fmac") {
						status := n.strings("status")
						if len(status) > 0 && status[0] != "okay" {
							t.Errorf("%s: WiFi node %s has status %q", dtb, n.path, status)
						}
						wifi = append(wifi, n.path)
					}
				}
				if len(wifi) != 1 {
					t.Errorf("%s: %d brcm,bcm4329-fmac nodes %q, want one", dtb, len(wifi), wifi)
				}
				t.Logf("%s: %s, board type %q, WiFi node %s", dtb, b.name, b.compatible, strings.Join(wifi, " "))
			})
		}
	}
}

// TestDriverFirmwareNames checks each radio's firmware name against the
// chip table compiled into the pinned kernel's brcmfmac.ko, and that the
// driver tries board-specific names (brcm_alt_fw_path).
func TestDriverFirmwareNames(t *testing.T) {
	release := moduleRelease(t, kernelModuleDir(t, DefaultKernelPackage))
	ko := filepath.Join(release, brcmfmacKo)
	table, err := sdioFirmwareTable(ko)
	if err != nil {
		t.Fatal(err)
	}
	if len(table) < 10 {
		t.Fatalf("brcmf_sdio_fwnames has %d entries: not the table", len(table))
	}
	for _, b := range piBoards() {
		for _, r := range b.radios {
			got := ""
			for _, m := range table { // the driver takes the first match
				if m.chipID == r.chipID && m.revmask&(1<<r.rev) != 0 {
					got = m.fwBase
					break
				}
			}
			if want := "brcm/" + r.fwBase; got != want {
				t.Errorf("%s %s: brcmfmac.ko maps it to %q, want %q", b.name, r, got, want)
			}
		}
	}
	f, err := elf.Open(ko)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(syms, func(s elf.Symbol) bool { return s.Name == "brcm_alt_fw_path" }) {
		t.Errorf("%s has no brcm_alt_fw_path: it does not try board-specific names for every file", ko)
	}
	b, err := os.ReadFile(ko)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"\x00%s.%s%s\x00", "\x00.bin\x00", "\x00.txt\x00", "\x00.clm_blob\x00"} {
		if !strings.Contains(string(b), s) {
			t.Errorf("%s lacks the string %q the firmware names are made of", ko, strings.Trim(s, "\x00"))
		}
	}
}

func TestDriverRequests(t *testing.T) {
	for _, tt := range []struct {
		radio      wifiRadio
		compatible string
		want       []string // kind: names
	}{
		{
			wifiRadio{chipID: 43430, rev: 2, fwBase: "brcmfmac43430b0-sdio"}, "raspberrypi,model-zero-2-w",
			[]string{
				"firmware: brcm/brcmfmac43430b0-sdio.raspberrypi,model-zero-2-w.bin brcm/brcmfmac43430b0-sdio.bin",
				"nvram: brcm/brcmfmac43430b0-sdio.raspberrypi,model-zero-2-w.txt brcm/brcmfmac43430b0-sdio.txt",
				"clm (optional): brcm/brcmfmac43430b0-sdio.raspberrypi,model-zero-2-w.clm_blob brcm/brcmfmac43430b0-sdio.clm_blob",
			},
		},
		{
			// of.c replaces '/' in the board type with '-'.
			wifiRadio{chipID: 0x4345, rev: 9, fwBase: "brcmfmac43456-sdio"}, "vendor,a/b",
			[]string{
				"firmware: brcm/brcmfmac43456-sdio.vendor,a-b.bin brcm/brcmfmac43456-sdio.bin",
				"nvram: brcm/brcmfmac43456-sdio.vendor,a-b.txt brcm/brcmfmac43456-sdio.txt",
				"clm (optional): brcm/brcmfmac43456-sdio.vendor,a-b.clm_blob brcm/brcmfmac43456-sdio.clm_blob",
			},
		},
	} {
		var got []string
		for _, r := range driverRequests(tt.radio, tt.compatible) {
			opt := ""
			if r.optional {
				opt = " (optional)"
			}
			got = append(got, r.kind+opt+": "+strings.Join(r.names, " "))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("driverRequests(%s, %q) =\n%s\nwant\n%s", tt.radio, tt.compatible, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
	}
	for _, tt := range []struct {
		radio wifiRadio
		want  string
	}{
		{wifiRadio{chipID: 43430, rev: 1}, "BCM43430/1"},
		{wifiRadio{chipID: 0x4345, rev: 6}, "BCM4345/6"},
	} {
		if got := tt.radio.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.radio, got, tt.want)
		}
	}
}

// unavailableRadios are the radios whose firmware no source the build can
// reach carries: Debian packages no CYW43436 (BCM43430/2) firmware, and
// Raspberry Pi OS's firmware-nonfree, which has it, is on no mirror these
// machines reach.
func unavailableRadios() map[string]bool {
	return map[string]bool{"Raspberry Pi Zero 2 W BCM43430/2": true}
}

// TestWiFiFirmwareFiles resolves, in the pinned Debian packages the build
// fetches, every file brcmfmac will ask for on every supported board.
func TestWiFiFirmwareFiles(t *testing.T) {
	root, err := FetchFirmware(context.Background(), CacheDir(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	checkFirmwareResolution(t, resolveWiFiFirmware(firmwareDir(root)), func(string) bool { return true })
}

// checkFirmwareResolution logs board → chip → files, each with where it
// was found (present reports whether the found file is also in the
// image), and fails for a missing file unless the radio is known to be
// unavailable.
func checkFirmwareResolution(t *testing.T, resolved []fwResolution, present func(string) bool) {
	t.Helper()
	unavailable := unavailableRadios()
	complete := map[string]bool{}
	var table strings.Builder
	for _, r := range resolved {
		key := r.board.name + " " + r.radio.String()
		if _, ok := complete[key]; !ok {
			complete[key] = true
			fmt.Fprintf(&table, "%s (%s) → %s → brcmfmac's %s\n", r.board.name, r.board.compatible, r.radio, r.radio.fwBase)
		}
		status := "MISSING"
		switch {
		case r.found != "" && present(r.found):
			status = "present: " + r.found
		case r.found != "":
			status = "NOT IN THE IMAGE: " + r.found
		}
		kind := r.req.kind
		if r.req.optional {
			kind += " (optional)"
		}
		fmt.Fprintf(&table, "    %-15s tries %s: %s\n", kind, strings.Join(r.req.names, ", "), status)
		if r.found == "" || !present(r.found) {
			complete[key] = false
			if !unavailable[key] {
				t.Errorf("%s: %s file %s", key, r.req.kind, status)
			}
		}
	}
	t.Logf("WiFi firmware per board:\n%s", table.String())
	for key := range unavailable {
		if complete[key] {
			t.Errorf("%s: all its firmware is there now: drop it from unavailableRadios", key)
		}
	}
}
