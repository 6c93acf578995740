package sdimage

import (
	"fmt"
	"path"
	"strings"
)

// piBoard is a Raspberry Pi the image supports.
type piBoard struct {
	name string
	// dtbs are the device trees the Pi firmware hands the kernel on this
	// board (from the kernel module's boot files).
	dtbs []string
	// compatible is the first string of the device tree's root
	// "compatible": brcmfmac's board type.
	compatible string
	// radios are the WiFi chips the board has been made with; the driver
	// reads the chip's ID and revision from the chip itself, so a board
	// revision with another chip needs other firmware.
	radios []wifiRadio
	// wiredLAN is false for boards with no Ethernet port of their own.
	wiredLAN bool
}

// wifiRadio is an SDIO WiFi chip as brcmfmac identifies it.
type wifiRadio struct {
	chipID, rev uint32
	// fwBase is the name brcmfmac's SDIO firmware table gives the chip
	// (brcmf_sdio_fwnames in sdio.c), without the extension.
	fwBase string
}

// String is the chip as brcmfmac logs it (brcmf_chip_name): BCM43430/1,
// BCM4345/6.
func (r wifiRadio) String() string {
	if r.chipID > 0xa000 || r.chipID < 0x4000 {
		return fmt.Sprintf("BCM%d/%d", r.chipID, r.rev)
	}
	return fmt.Sprintf("BCM%x/%d", r.chipID, r.rev)
}

// piBoards lists the supported Raspberry Pis.
func piBoards() []piBoard {
	// Chip IDs and revisions as the pinned kernel's brcmfmac reads them
	// from the chip, and the firmware name its table maps them to (checked
	// against brcmfmac.ko by the tests).
	var (
		radio43430a1 = wifiRadio{chipID: 43430, rev: 1, fwBase: "brcmfmac43430-sdio"}   // BCM43438: Pi 3B, early Zero 2 W
		radio43430b0 = wifiRadio{chipID: 43430, rev: 2, fwBase: "brcmfmac43430b0-sdio"} // CYW43436: later Zero 2 W
		radio43455   = wifiRadio{chipID: 0x4345, rev: 6, fwBase: "brcmfmac43455-sdio"}  // CYW43455
		radio43456   = wifiRadio{chipID: 0x4345, rev: 9, fwBase: "brcmfmac43456-sdio"}  // CYW43456: Pi 400
	)
	return []piBoard{
		{name: "Raspberry Pi 3 Model B", dtbs: []string{"bcm2710-rpi-3-b.dtb"}, compatible: "raspberrypi,3-model-b", radios: []wifiRadio{radio43430a1}, wiredLAN: true},
		{name: "Raspberry Pi 3 Model B+", dtbs: []string{"bcm2710-rpi-3-b-plus.dtb"}, compatible: "raspberrypi,3-model-b-plus", radios: []wifiRadio{radio43455}, wiredLAN: true},
		{name: "Raspberry Pi 4 Model B", dtbs: []string{"bcm2711-rpi-4-b.dtb"}, compatible: "raspberrypi,4-model-b", radios: []wifiRadio{radio43455}, wiredLAN: true},
		{name: "Raspberry Pi 400", dtbs: []string{"bcm2711-rpi-400.dtb"}, compatible: "raspberrypi,400", radios: []wifiRadio{radio43456}, wiredLAN: true},
		{name: "Raspberry Pi Compute Module 4", dtbs: []string{"bcm2711-rpi-cm4.dtb"}, compatible: "raspberrypi,4-compute-module", radios: []wifiRadio{radio43455}, wiredLAN: true},
		{name: "Raspberry Pi 5", dtbs: []string{"bcm2712-rpi-5-b.dtb", "bcm2712d0-rpi-5-b.dtb"}, compatible: "raspberrypi,5-model-b", radios: []wifiRadio{radio43455}, wiredLAN: true},
		{name: "Raspberry Pi Zero 2 W", dtbs: []string{"bcm2710-rpi-zero-2-w.dtb"}, compatible: "raspberrypi,model-zero-2-w", radios: []wifiRadio{radio43430a1, radio43430b0}, wiredLAN: false},
	}
}

// fwRequest is one file brcmfmac asks the firmware loader for when it
// brings a radio up.
type fwRequest struct {
	kind string // "firmware", "nvram" or "clm"
	// names are the paths under /lib/firmware in the order the driver
	// tries them; the first one found is used.
	names []string
	// optional: the driver goes on without it (a CLM blob: without it the
	// radio may offer fewer channels).
	optional bool
}

// driverRequests are the files brcmfmac (Linux 6.12, firmware.c and
// sdio.c) asks for on a board: the code (.bin), the NVRAM (.txt) and the
// regulatory CLM blob (.clm_blob, optional), each first under its
// board-specific name <base>.<board type>.<ext>, then under <base>.<ext>.
// The board type is the device tree root's first compatible with every '/'
// replaced by '-' (of.c).
func driverRequests(r wifiRadio, compatible string) []fwRequest {
	boardType := strings.ReplaceAll(compatible, "/", "-")
	var reqs []fwRequest
	for _, f := range []struct {
		kind, ext string
		optional  bool
	}{
		{"firmware", ".bin", false},
		{"nvram", ".txt", false},
		{"clm", ".clm_blob", true},
	} {
		base := path.Join("brcm", r.fwBase)
		reqs = append(reqs, fwRequest{
			kind:     f.kind,
			names:    []string{base + "." + boardType + f.ext, base + f.ext},
			optional: f.optional,
		})
	}
	return reqs
}
