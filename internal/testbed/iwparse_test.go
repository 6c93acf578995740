package testbed

import (
	"os"
	"testing"
)

func TestParseIWScanStandard(t *testing.T) {
	text, err := os.ReadFile("testdata/iw-scan-standard.txt")
	if err != nil {
		t.Fatal(err)
	}
	bsses, err := ParseIWScan(string(text))
	if err != nil {
		t.Fatal(err)
	}
	sc := StandardScenario()
	if len(bsses) != len(sc.BSSes()) {
		t.Errorf("parsed %d BSSes, want %d", len(bsses), len(sc.BSSes()))
	}
	reportErrs(t, checkScan(sc, bsses))

	var b IWBSS
	for _, x := range bsses {
		if x.BSSID == "02:00:00:00:02:00" {
			b = x
		}
	}
	if string(b.SSID) != "tb-ht40" || b.Freq != 2412 || b.BeaconInterval != 100 ||
		b.TSF == 0 || b.LastSeenBoot == 0 || b.IEsFrom != "Probe Response" || b.DSChannel != 1 || !b.WMM {
		t.Errorf("first BSS: %+v", b)
	}
}

func TestParseIWSurveyStandard(t *testing.T) {
	text, err := os.ReadFile("testdata/iw-survey-standard.txt")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseIWSurvey(string(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(s) < 20 {
		t.Fatalf("only %d survey entries", len(s))
	}
	reportErrs(t, checkSurvey(StandardScenario(), s))
}

func TestParseIWScanSynthetic(t *testing.T) {
	const text = "BSS 14:22:DB:00:B6:65(on wlan0) -- associated\n" +
		"\tlast seen: 710.456s [boottime]\n" +
		"\tfreq: 5955.5\n" +
		"\tcapability: ESS Privacy SpectrumMgmt (0x0111)\n" +
		"\tsignal: -43.25 dBm\n" +
		"\tlast seen: 490 ms ago\n" +
		"\tSSID: \\x20Rowan's\\x5cDesk \\xe2\\x98\\x83\\x20\n" +
		"\tSupported rates: 6.0* 9.0 12.0* 18.0 24.0* 36.0 48.0 54.0 VHT\n" +
		"\tBSS Load:\n" +
		"\t\t * station count: 3\n" +
		"\t\t * channel utilisation: 28/255\n" +
		"\t\t * available admission capacity: 0 [*32us]\n" +
		"\tRSN:\t * Version: 1\n" +
		"\t\t * Group cipher: CCMP\n" +
		"\t\t * Pairwise ciphers: CCMP GCMP-256\n" +
		"\t\t * Authentication suites: IEEE 802.1X FT/IEEE 802.1X SAE\n" +
		"\t\t * Capabilities: 16-PTKSA-RC 1-GTKSA-RC MFP-required MFP-capable (0x00cc)\n" +
		"\t\t * 0 PMKIDs\n" +
		"\t\t * Group mgmt cipher suite: BIP-CMAC-128\n" +
		"\tHE capabilities:\n" +
		"\t\tHE MAC Capabilities (0x000000000000):\n" +
		"\tHE Operation:\n" +
		"\t\tHE Operation Parameters: (0x000000)\n" +
		"\t\t6 GHz Operation Information: 0x2\n" +
		"\t\t\tPrimary Channel: 5\n" +
		"\t\t\tChannel Width: 80 MHz\n" +
		"\t\t\tChannel Center Frequency Segment 0: 7\n" +
		"\t\t\tChannel Center Frequency Segment 1: 0\n" +
		"\tEHT capabilities:\n" +
		"BSS 02:00:00:00:00:01(on wlan0)\n" +
		"\tfreq: 2412\n" +
		"\tcapability: ESS (0x0001)\n" +
		"\tSSID: \n"
	bs, err := ParseIWScan(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 {
		t.Fatalf("got %d BSSes", len(bs))
	}
	b := bs[0]
	if b.BSSID != "14:22:db:00:b6:65" || b.Status != "associated" || b.Freq != 5955.5 || b.Capability != 0x111 ||
		b.SignalDBm != -43.25 || b.LastSeenMS != 490 || b.LastSeenBoot != 710.456 {
		t.Errorf("header: %+v", b)
	}
	if got, want := string(b.SSID), " Rowan's\\Desk \u2603 "; got != want {
		t.Errorf("ssid %q, want %q", got, want)
	}
	if len(b.Rates) != 8 || len(b.BasicRates) != 3 {
		t.Errorf("rates %v basic %v", b.Rates, b.BasicRates)
	}
	if b.BSSLoad == nil || *b.BSSLoad != (IWBSSLoad{StationCount: 3, ChannelUtilisation: 28}) {
		t.Errorf("bss load %+v", b.BSSLoad)
	}
	r := b.RSN
	if r == nil || r.Version != 1 || r.GroupCipher != "CCMP" || len(r.PairwiseCiphers) != 2 || !r.MFPRequired || !r.MFPCapable ||
		r.CapabilitiesRaw != 0xcc || r.GroupMgmtCipher != "BIP-CMAC-128" {
		t.Errorf("rsn %+v", r)
	}
	if got := splitAKMs("IEEE 802.1X FT/IEEE 802.1X SAE"); len(got) != 3 || got[1] != "FT/IEEE 802.1X" {
		t.Errorf("akms %q", got)
	}
	if sec, akm, _, _, pmf := IWSecurity(b); sec != "wpa3-eap" || len(akm) != 2 || pmf != "required" {
		t.Errorf("security %s %v %s", sec, akm, pmf)
	}
	if !b.HE || !b.EHT || b.HEOp == nil || !b.HEOp.Has6GHz || b.HEOp.PrimaryChannel != 5 || b.HEOp.CCFS0 != 7 || b.HEOp.ChannelWidth != "80 MHz" {
		t.Errorf("he %v eht %v op %+v", b.HE, b.EHT, b.HEOp)
	}
	if !bs[1].HasSSID || len(bs[1].SSID) != 0 {
		t.Errorf("hidden: %+v", bs[1])
	}
}
