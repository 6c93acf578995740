package wifi

import (
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// ieHex decodes hex with optional spaces, panicking on bad test input.
func ieHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// joinIEs concatenates element blobs.
func joinIEs(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// ieElem builds one element from an ID and a body.
func ieElem(id byte, body []byte) []byte {
	return append([]byte{id, byte(len(body))}, body...)
}

// Suites used in the tests.
const (
	sCCMP    = Suite(0x000fac04)
	sTKIP    = Suite(0x000fac02)
	sGCMP256 = Suite(0x000fac09)
	sBIP256  = Suite(0x000fac0d)
	sEAP     = Suite(0x000fac01)
	sPSK     = Suite(0x000fac02)
	sSAE     = Suite(0x000fac08)
	sOWE     = Suite(0x000fac12)
	sSB192   = Suite(0x000fac0c)
	sWPATKIP = Suite(0x0050f202)
	sWPACCMP = Suite(0x0050f204)
	sWPAEAP  = Suite(0x0050f201)
	sWPAPSK  = Suite(0x0050f202)
)

// RSN element blobs shared by the element and security tests.
var (
	rsnWPA2PSK    = ieHex("30 14 01 00 00 0f ac 04 01 00 00 0f ac 04 01 00 00 0f ac 02 00 00")
	rsnSAE        = ieHex("30 14 01 00 00 0f ac 04 01 00 00 0f ac 04 01 00 00 0f ac 08 c0 00")
	rsnTransition = ieHex("30 18 01 00 00 0f ac 04 01 00 00 0f ac 04 02 00 00 0f ac 02 00 0f ac 08 80 00")
	rsnOWE        = ieHex("30 14 01 00 00 0f ac 04 01 00 00 0f ac 04 01 00 00 0f ac 12 c0 00")
	rsnEAP        = ieHex("30 14 01 00 00 0f ac 04 01 00 00 0f ac 04 01 00 00 0f ac 01 00 00")
	wpa1PSK       = ieHex("dd 16 00 50 f2 01 01 00 00 50 f2 02 01 00 00 50 f2 02 01 00 00 50 f2 02")
)

// elementCase is one ParseElements test: want is compared field by field,
// Problems only by ID, Ext and Offset.
type elementCase struct {
	name string
	ies  []byte
	want Elements
}

func elementCases() []elementCase {
	htCap := ieElem(45, make([]byte, 26))
	htOper := ieElem(61, append([]byte{36, 0x05}, make([]byte, 20)...))
	vhtCap := ieElem(191, make([]byte, 12))
	heCap := ieElem(255, append([]byte{35}, make([]byte, 21)...))
	ehtCap := ieElem(255, append([]byte{108}, make([]byte, 13)...))
	return []elementCase{
		{
			name: "empty",
			ies:  nil,
			want: Elements{},
		},
		{
			name: "ssid",
			ies:  ieHex("00 04 63 61 66 65"),
			want: Elements{SSID: []byte("cafe"), HasSSID: true},
		},
		{
			name: "hidden zero-length ssid",
			ies:  ieHex("00 00 03 01 06"),
			want: Elements{SSID: []byte{}, HasSSID: true, DSChannel: 6},
		},
		{
			name: "hidden NUL-filled ssid",
			ies:  ieHex("00 04 00 00 00 00"),
			want: Elements{SSID: []byte{0, 0, 0, 0}, HasSSID: true},
		},
		{
			name: "non-UTF-8 ssid bytes preserved",
			ies:  ieHex("00 04 c4 e3 ba c3"),
			want: Elements{SSID: []byte{0xc4, 0xe3, 0xba, 0xc3}, HasSSID: true},
		},
		{
			name: "ssid too long",
			ies:  joinIEs(ieElem(0, make([]byte, 33)), ieHex("03 01 01")),
			want: Elements{DSChannel: 1, Problems: []ElementProblem{{ID: 0, Offset: 0}}},
		},
		{
			name: "first ssid wins",
			ies:  ieHex("00 01 61 00 01 62"),
			want: Elements{SSID: []byte("a"), HasSSID: true},
		},
		{
			name: "rates with basic bits and membership selectors",
			ies:  ieHex("01 0a 82 84 8b 96 0c 12 18 24 ff fb 32 05 30 48 60 6c fa"),
			want: Elements{
				Rates:      []uint8{2, 4, 11, 22, 12, 18, 24, 36, 48, 72, 96, 108},
				BasicRates: []uint8{2, 4, 11, 22},
			},
		},
		{
			name: "selector value without basic bit is a rate",
			ies:  ieHex("01 02 7f 8c"),
			want: Elements{Rates: []uint8{127, 12}, BasicRates: []uint8{12}},
		},
		{
			name: "ds tim country",
			ies:  ieHex("03 01 0b 05 04 00 03 00 00 07 06 44 45 20 01 0d 14"),
			want: Elements{DSChannel: 11, DTIMPeriod: 3, Country: "DE", Environment: ' '},
		},
		{
			name: "country with unprintable code kept",
			ies:  ieHex("07 03 00 ff 49"),
			want: Elements{Country: "\x00\xff", Environment: 'I'},
		},
		{
			name: "country too short",
			ies:  ieHex("07 02 44 45"),
			want: Elements{Problems: []ElementProblem{{ID: 7}}},
		},
		{
			name: "bss load and erp",
			ies:  ieHex("0b 05 0c 00 80 10 27 2a 01 04"),
			want: Elements{BSSLoad: &BSSLoad{Stations: 12, Utilization: 128, AdmissionCapacity: 10000}, ERP: true},
		},
		{
			name: "bad bss load in the middle",
			ies:  ieHex("00 01 61 0b 04 01 00 02 03 03 01 0b 2a 01 00"),
			want: Elements{
				SSID: []byte("a"), HasSSID: true, DSChannel: 11, ERP: true,
				Problems: []ElementProblem{{ID: 11, Offset: 3}},
			},
		},
		{
			name: "zero-length ds is a problem",
			ies:  ieHex("03 00 00 01 61"),
			want: Elements{SSID: []byte("a"), HasSSID: true, Problems: []ElementProblem{{ID: 3}}},
		},
		{
			name: "ht capabilities and operation",
			ies:  joinIEs(htCap, htOper),
			want: Elements{
				HTCapabilities: true,
				HTOperation:    &HTOperation{PrimaryChannel: 36, SecondaryOffset: 1, STAChannelWidth: true},
			},
		},
		{
			name: "ht operation wrong length",
			ies:  joinIEs(ieElem(61, make([]byte, 21)), htCap),
			want: Elements{HTCapabilities: true, Problems: []ElementProblem{{ID: 61}}},
		},
		{
			name: "ht capabilities wrong length",
			ies:  joinIEs(ieElem(45, make([]byte, 27))),
			want: Elements{Problems: []ElementProblem{{ID: 45}}},
		},
		{
			name: "vht capabilities and operation with ccfs1",
			ies:  joinIEs(vhtCap, ieHex("c0 05 01 2a 32 fc ff")),
			want: Elements{VHTCapabilities: true, VHTOperation: &VHTOperation{ChannelWidth: 1, CCFS0: 42, CCFS1: 50}},
		},
		{
			name: "vht operation too short",
			ies:  ieHex("c0 04 01 2a 32 fc"),
			want: Elements{Problems: []ElementProblem{{ID: 192}}},
		},
		{
			name: "he capabilities and operation without 6 GHz",
			ies:  joinIEs(heCap, ieHex("ff 07 24 04 00 00 85 fc ff")),
			want: Elements{HECapabilities: true, HEOperation: &HEOperation{BSSColor: 5}},
		},
		{
			name: "he operation with 6 GHz info",
			ies:  ieHex("ff 0c 24 00 00 02 2a fc ff 25 03 27 2f 00"),
			want: Elements{HEOperation: &HEOperation{
				BSSColor: 42,
				SixGHz:   &SixGHzOperation{PrimaryChannel: 37, ChannelWidth: 3, CCFS0: 39, CCFS1: 47},
			}},
		},
		{
			name: "he operation with vht info, co-hosted bss and 6 GHz info",
			ies:  ieHex("ff 10 24 00 c0 02 01 fc ff 01 2a 00 07 05 02 07 00 00"),
			want: Elements{HEOperation: &HEOperation{
				BSSColor: 1,
				SixGHz:   &SixGHzOperation{PrimaryChannel: 5, ChannelWidth: 2, CCFS0: 7},
			}},
		},
		{
			name: "he operation 6 GHz info truncated",
			ies:  ieHex("ff 0b 24 00 00 02 03 fc ff 25 03 27 2f"),
			want: Elements{
				HEOperation: &HEOperation{BSSColor: 3},
				Problems:    []ElementProblem{{ID: 255, Ext: 36}},
			},
		},
		{
			name: "he operation too short",
			ies:  ieHex("ff 06 24 00 00 00 03 fc"),
			want: Elements{Problems: []ElementProblem{{ID: 255, Ext: 36}}},
		},
		{
			name: "he capabilities too short",
			ies:  joinIEs(ieElem(255, append([]byte{35}, make([]byte, 20)...))),
			want: Elements{Problems: []ElementProblem{{ID: 255, Ext: 35}}},
		},
		{
			name: "eht capabilities, operation and basic multi-link",
			ies:  joinIEs(ehtCap, ieHex("ff 09 6a 01 11 22 33 44 04 0f 1f"), ieHex("ff 0a 6b 00 00 09 02 00 00 00 00 00")),
			want: Elements{
				EHTCapabilities: true,
				EHTOperation:    &EHTOperation{HasInfo: true, ChannelWidth: 4, CCFS0: 15, CCFS1: 31},
				MultiLink:       true,
			},
		},
		{
			name: "eht operation without info, non-basic multi-link",
			ies:  ieHex("ff 06 6a 00 11 22 33 44 ff 06 6b 01 00 00 00 00"),
			want: Elements{EHTOperation: &EHTOperation{}},
		},
		{
			name: "eht operation info truncated",
			ies:  ieHex("ff 07 6a 01 11 22 33 44 04"),
			want: Elements{EHTOperation: &EHTOperation{}, Problems: []ElementProblem{{ID: 255, Ext: 106}}},
		},
		{
			name: "empty extension element",
			ies:  ieHex("ff 00 03 01 01"),
			want: Elements{DSChannel: 1, Problems: []ElementProblem{{ID: 255}}},
		},
		{
			name: "rsn wpa2-psk (hostapd)",
			ies:  rsnWPA2PSK,
			want: Elements{RSN: &RSN{
				Version: 1, GroupCipher: sCCMP, PairwiseCipher: []Suite{sCCMP},
				AKM: []Suite{sPSK}, HasCapabilities: true,
			}},
		},
		{
			name: "rsn sae mfpr mfpc",
			ies:  rsnSAE,
			want: Elements{RSN: &RSN{
				Version: 1, GroupCipher: sCCMP, PairwiseCipher: []Suite{sCCMP},
				AKM: []Suite{sSAE}, Capabilities: 0xc0, HasCapabilities: true,
			}},
		},
		{
			name: "rsn psk+sae transition",
			ies:  rsnTransition,
			want: Elements{RSN: &RSN{
				Version: 1, GroupCipher: sCCMP, PairwiseCipher: []Suite{sCCMP},
				AKM: []Suite{sPSK, sSAE}, Capabilities: 0x80, HasCapabilities: true,
			}},
		},
		{
			name: "rsn with pmkid and group management cipher",
			ies: joinIEs(ieElem(48, joinIEs(ieHex("01 00 00 0f ac 09 01 00 00 0f ac 09 01 00 00 0f ac 0c e0 00 01 00"),
				make([]byte, 16), ieHex("00 0f ac 0d")))),
			want: Elements{RSN: &RSN{
				Version: 1, GroupCipher: sGCMP256, PairwiseCipher: []Suite{sGCMP256},
				AKM: []Suite{sSB192}, Capabilities: 0xe0, HasCapabilities: true,
				PMKIDCount: 1, GroupMgmtCipher: sBIP256,
			}},
		},
		{
			name: "rsn version only uses defaults",
			ies:  ieHex("30 02 01 00"),
			want: Elements{RSN: &RSN{Version: 1, GroupCipher: sCCMP, PairwiseCipher: []Suite{sCCMP}, AKM: []Suite{sEAP}}},
		},
		{
			name: "rsn group only uses default pairwise and akm",
			ies:  ieHex("30 06 01 00 00 0f ac 02"),
			want: Elements{RSN: &RSN{Version: 1, GroupCipher: sTKIP, PairwiseCipher: []Suite{sCCMP}, AKM: []Suite{sEAP}}},
		},
		{
			name: "rsn too short",
			ies:  ieHex("30 01 01 03 01 01"),
			want: Elements{DSChannel: 1, Problems: []ElementProblem{{ID: 48}}},
		},
		{
			name: "rsn pairwise count overflow keeps group",
			ies:  ieHex("30 0c 01 00 00 0f ac 04 05 00 00 0f ac 04 03 01 01"),
			want: Elements{
				RSN:       &RSN{Version: 1, GroupCipher: sCCMP},
				DSChannel: 1,
				Problems:  []ElementProblem{{ID: 48}},
			},
		},
		{
			name: "rsn pmkid count overflow",
			ies:  ieHex("30 18 01 00 00 0f ac 04 01 00 00 0f ac 04 01 00 00 0f ac 02 00 00 01 00 00 00"),
			want: Elements{
				RSN: &RSN{
					Version: 1, GroupCipher: sCCMP, PairwiseCipher: []Suite{sCCMP},
					AKM: []Suite{sPSK}, HasCapabilities: true,
				},
				Problems: []ElementProblem{{ID: 48}},
			},
		},
		{
			name: "wpa1 vendor element",
			ies:  wpa1PSK,
			want: Elements{
				WPA:        &RSN{Version: 1, GroupCipher: sWPATKIP, PairwiseCipher: []Suite{sWPATKIP}, AKM: []Suite{sWPAPSK}},
				VendorOUIs: []string{"00:50:f2"},
			},
		},
		{
			name: "wpa1 version only uses tkip and 802.1x",
			ies:  ieHex("dd 06 00 50 f2 01 01 00"),
			want: Elements{
				WPA:        &RSN{Version: 1, GroupCipher: sWPATKIP, PairwiseCipher: []Suite{sWPATKIP}, AKM: []Suite{sWPAEAP}},
				VendorOUIs: []string{"00:50:f2"},
			},
		},
		{
			name: "wpa1 too short",
			ies:  ieHex("dd 05 00 50 f2 01 01"),
			want: Elements{VendorOUIs: []string{"00:50:f2"}, Problems: []ElementProblem{{ID: 221}}},
		},
		{
			name: "wmm and vendor ouis in order",
			ies:  ieHex("dd 07 00 50 f2 02 00 01 00 dd 05 00 10 18 02 00 dd 04 00 50 f2 08 dd 03 8c fd f0"),
			want: Elements{WMM: true, VendorOUIs: []string{"00:50:f2", "00:10:18", "8c:fd:f0"}},
		},
		{
			name: "vendor element too short",
			ies:  ieHex("dd 02 00 50 03 01 01"),
			want: Elements{DSChannel: 1, Problems: []ElementProblem{{ID: 221}}},
		},
		{
			name: "wps",
			ies: joinIEs(ieElem(221, joinIEs(ieHex("00 50 f2 04"),
				ieHex("10 4a 00 01 10"), ieHex("10 44 00 01 02"),
				ieHex("10 11 00 05 41 50 ff 31 00"), ieHex("10 21 00 04 41 43 4d 45"),
				ieHex("10 23 00 02 58 31"), ieHex("10 24 00 03 31 2e 30")))),
			want: Elements{
				WPS:        &WPS{DeviceName: `AP\xff1`, Manufacturer: "ACME", ModelName: "X1", ModelNumber: "1.0", Configured: true},
				VendorOUIs: []string{"00:50:f2"},
			},
		},
		{
			name: "wps split across two elements",
			ies: joinIEs(ieElem(221, ieHex("00 50 f2 04 10 44 00 01 01 10 11 00 06 52 6f")),
				ieHex("03 01 06"),
				ieElem(221, ieHex("00 50 f2 04 75 74 65 72"))),
			want: Elements{
				WPS:        &WPS{DeviceName: "Router"},
				DSChannel:  6,
				VendorOUIs: []string{"00:50:f2"},
			},
		},
		{
			name: "wps attribute overrun",
			ies:  ieHex("dd 0c 00 50 f2 04 10 44 00 01 02 10 11 00"),
			want: Elements{
				WPS:        &WPS{Configured: true},
				VendorOUIs: []string{"00:50:f2"},
				Problems:   []ElementProblem{{ID: 221}},
			},
		},
		{
			name: "owe transition",
			ies:  ieHex("dd 0f 50 6f 9a 1c 02 11 22 33 44 55 04 6f 77 65 31"),
			want: Elements{
				OWETransition: &OWETransition{BSSID: [6]byte{2, 0x11, 0x22, 0x33, 0x44, 0x55}, SSID: []byte("owe1")},
				VendorOUIs:    []string{"50:6f:9a"},
			},
		},
		{
			name: "owe transition ssid overrun keeps bssid",
			ies:  ieHex("dd 0d 50 6f 9a 1c 02 11 22 33 44 55 04 6f 77"),
			want: Elements{
				OWETransition: &OWETransition{BSSID: [6]byte{2, 0x11, 0x22, 0x33, 0x44, 0x55}},
				VendorOUIs:    []string{"50:6f:9a"},
				Problems:      []ElementProblem{{ID: 221}},
			},
		},
		{
			name: "rsnx, mobility domain, rm and extended capabilities",
			ies:  ieHex("f4 01 20 36 03 34 12 00 46 05 73 00 00 00 00 7f 08 04 00 08 00 00 00 01 40"),
			want: Elements{
				RSNX:           []byte{0x20},
				FastTransition: true, MobilityDomain: 0x1234,
				RadioMeasurement: true, NeighborReport: true,
				BSSTransition: true, UTF8SSID: true,
				ExtendedCaps: ieHex("04 00 08 00 00 00 01 40"),
			},
		},
		{
			name: "short extended capabilities and rm without neighbor report",
			ies:  ieHex("7f 00 46 05 01 00 00 00 00"),
			want: Elements{ExtendedCaps: []byte{}, RadioMeasurement: true},
		},
		{
			name: "rm capabilities wrong length",
			ies:  ieHex("46 04 02 00 00 00"),
			want: Elements{Problems: []ElementProblem{{ID: 70}}},
		},
		{
			name: "truncated trailing element keeps earlier ones",
			ies:  ieHex("00 03 61 62 63 03 01 06 30 14 01 00"),
			want: Elements{
				SSID: []byte("abc"), HasSSID: true, DSChannel: 6,
				Problems: []ElementProblem{{ID: 48, Offset: 8}},
			},
		},
		{
			name: "truncated trailing extension element",
			ies:  ieHex("03 01 06 ff 05 24 00"),
			want: Elements{DSChannel: 6, Problems: []ElementProblem{{ID: 255, Ext: 36, Offset: 3}}},
		},
		{
			name: "lone trailing byte",
			ies:  ieHex("03 01 06 dd"),
			want: Elements{DSChannel: 6, Problems: []ElementProblem{{ID: 221, Offset: 3}}},
		},
		{
			name: "unknown elements are skipped",
			ies:  ieHex("20 01 03 e8 00 03 01 0b"),
			want: Elements{DSChannel: 11},
		},
	}
}

func TestParseElements(t *testing.T) {
	for _, tc := range elementCases() {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseElements(tc.ies)
			for _, d := range diffElements(got, tc.want) {
				t.Error(d)
			}
			for _, p := range got.Problems {
				if p.Reason == "" {
					t.Errorf("problem %+v has no reason", p)
				}
			}
		})
	}
}

// diffElements lists the fields in which got differs from want, comparing
// Problems by ID, Ext and Offset only.
func diffElements(got, want Elements) []string {
	var diffs []string
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < gv.NumField(); i++ {
		name := gv.Type().Field(i).Name
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if name == "Problems" {
			g, w = problemKeys(got.Problems), problemKeys(want.Problems)
		}
		if !reflect.DeepEqual(g, w) {
			diffs = append(diffs, fmt.Sprintf("%s = %s, want %s", name, show(g), show(w)))
		}
	}
	return diffs
}

// problemKeys strips the reasons from problems.
func problemKeys(ps []ElementProblem) []ElementProblem {
	var out []ElementProblem
	for _, p := range ps {
		out = append(out, ElementProblem{ID: p.ID, Ext: p.Ext, Offset: p.Offset})
	}
	return out
}

// show formats a value, following pointers.
func show(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		return "&" + fmt.Sprintf("%#v", rv.Elem().Interface())
	}
	return fmt.Sprintf("%#v", v)
}

func TestParseElementsProblemReasons(t *testing.T) {
	tests := []struct {
		ies  []byte
		want string
	}{
		{ieHex("0b 04 01 00 02 03"), "invalid length 4, want 5"},
		{ieHex("07 02 44 45"), "invalid length 2, want at least 3"},
		{ieElem(0, make([]byte, 33)), "invalid length 33, want 0 to 32"},
		{ieHex("30 14 01 00"), "truncated: length 20 but only 2 bytes left"},
		{ieHex("dd 01 00"), "vendor element too short: 1 bytes"},
	}
	for _, tc := range tests {
		got := ParseElements(tc.ies)
		if len(got.Problems) != 1 || got.Problems[0].Reason != tc.want {
			t.Errorf("ParseElements(% x).Problems = %+v, want one with reason %q", tc.ies, got.Problems, tc.want)
		}
	}
}

func TestEscapeString(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{nil, ""},
		{[]byte("Living Room"), "Living Room"},
		{[]byte("Küche"), "Küche"},
		{[]byte{'A', 0xff, 'B'}, `A\xffB`},
		{[]byte{0xc4, 0xe3}, `\xc4\xe3`},
		{[]byte{'x', 0, 0}, "x"},
		{[]byte{0, 'x'}, "\x00x"},
		{[]byte{'a', 0xe2, 0x82}, `a\xe2\x82`},
	}
	for _, tc := range tests {
		if got := escapeString(tc.in); got != tc.want {
			t.Errorf("escapeString(% x) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// checkElementInvariants reports violations of what ParseElements
// promises for any input.
func checkElementInvariants(t *testing.T, b []byte, e Elements) {
	t.Helper()
	if len(e.SSID) > 32 {
		t.Errorf("SSID length %d > 32", len(e.SSID))
	}
	if !e.HasSSID && e.SSID != nil {
		t.Errorf("SSID %q without HasSSID", e.SSID)
	}
	for _, r := range append(e.Rates, e.BasicRates...) {
		if r >= 0x80 {
			t.Errorf("rate %#x has the basic bit", r)
		}
	}
	if len(e.BasicRates) > len(e.Rates) {
		t.Errorf("%d basic rates but only %d rates", len(e.BasicRates), len(e.Rates))
	}
	if op := e.HTOperation; op != nil && op.SecondaryOffset > 3 {
		t.Errorf("HT secondary offset %d", op.SecondaryOffset)
	}
	if op := e.HEOperation; op != nil && (op.BSSColor > 63 || op.SixGHz != nil && op.SixGHz.ChannelWidth > 3) {
		t.Errorf("HE operation %+v", op)
	}
	if op := e.EHTOperation; op != nil && (op.ChannelWidth > 7 || !op.HasInfo && *op != (EHTOperation{})) {
		t.Errorf("EHT operation %+v", op)
	}
	seen := map[string]bool{}
	for _, o := range e.VendorOUIs {
		if len(o) != 8 || seen[o] {
			t.Errorf("bad or repeated vendor OUI %q in %q", o, e.VendorOUIs)
		}
		seen[o] = true
	}
	for _, p := range e.Problems {
		if p.Offset < 0 || p.Offset >= len(b) || b[p.Offset] != p.ID || p.Reason == "" {
			t.Errorf("problem %+v does not point at an element header", p)
		}
	}
	// An independent walk: a blob that does not end on an element
	// boundary must report a problem at the last header.
	off := 0
	for len(b)-off >= 2 && len(b)-off-2 >= int(b[off+1]) {
		off += 2 + int(b[off+1])
	}
	if off < len(b) {
		found := false
		for _, p := range e.Problems {
			found = found || p.Offset == off
		}
		if !found {
			t.Errorf("no problem reported for the truncated element at offset %d", off)
		}
	}
}

func FuzzParseElements(f *testing.F) {
	for _, tc := range elementCases() {
		f.Add(tc.ies)
	}
	f.Add(benchmarkIEs())
	f.Fuzz(func(t *testing.T, b []byte) {
		e := ParseElements(b)
		checkElementInvariants(t, b, e)
		if again := ParseElements(b); !reflect.DeepEqual(e, again) {
			t.Errorf("ParseElements is not deterministic")
		}
		// Good elements survive garbage appended after them: everything
		// decoded from b is decoded again, only Problems may grow.
		if len(e.Problems) == 0 {
			more := ParseElements(append(b[:len(b):len(b)], 0x30, 0xff, 0x01))
			if more.RSN != nil && e.RSN == nil {
				t.Errorf("a truncated element was decoded")
			}
			more.Problems = nil
			if !reflect.DeepEqual(e, more) {
				t.Errorf("appending a truncated element changed the decoded fields")
			}
		}
		DeriveSecurity(&e, true)
		Standards(&e, 2437)
	})
}

// benchmarkIEs returns a realistic beacon element list of about 300 bytes:
// a dual-band Wi-Fi 6 access point with WPA2/WPA3 transition, WMM and WPS.
func benchmarkIEs() []byte {
	return joinIEs(
		ieElem(0, []byte("Office-Guest-5G")),
		ieHex("01 08 8c 12 98 24 b0 48 60 6c"),
		ieHex("05 04 00 01 00 00"),
		ieHex("07 0a 44 45 20 24 04 17 64 0b 1e 00"),
		ieHex("0b 05 04 00 3c 00 00"),
		ieElem(45, ieHex("ef 09 1b ff ff ff 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00 00")),
		ieElem(61, ieHex("24 05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00")),
		rsnTransition,
		ieHex("46 05 73 d0 00 00 0c"),
		ieHex("7f 0b 04 00 4f 02 00 00 40 40 00 00 21"),
		ieElem(191, ieHex("b2 79 83 0f aa ff 00 00 aa ff 00 20")),
		ieHex("c0 05 01 2a 00 fc ff"),
		ieHex("c3 04 02 02 02 02"),
		ieElem(255, ieHex("23 0d 01 08 1a 40 10 00 60 40 88 0f 43 81 1c 11 08 00 aa ff aa ff 3b 1c c7 71 1c c7 71")),
		ieHex("ff 07 24 f4 3f 00 19 fc ff"),
		ieHex("ff 0e 26 00 03 a4 ff 27 a4 ff 42 43 ff 62 32 ff"),
		ieHex("f4 01 20"),
		ieHex("dd 18 00 50 f2 02 01 01 80 00 03 a4 00 00 27 a4 00 00 42 43 5e 00 62 32 2f 00"),
		ieElem(221, joinIEs(ieHex("00 50 f2 04"), ieHex("10 4a 00 01 10"), ieHex("10 44 00 01 02"),
			ieHex("10 11 00 0a 4f 66 66 69 63 65 2d 41 50 31"), ieHex("10 21 00 04 41 43 4d 45"),
			ieHex("10 23 00 05 41 58 33 30 30"), ieHex("10 24 00 03 31 2e 30"))),
		ieHex("dd 09 00 10 18 02 00 00 1c 00 00"),
		ieHex("dd 07 8c fd f0 01 01 02 01"),
	)
}

func BenchmarkParseElements(b *testing.B) {
	blob := benchmarkIEs()
	b.ReportAllocs()
	b.SetBytes(int64(len(blob)))
	for b.Loop() {
		ParseElements(blob)
	}
}

func TestBenchmarkIEsAreValid(t *testing.T) {
	blob := benchmarkIEs()
	e := ParseElements(blob)
	if len(e.Problems) != 0 {
		t.Errorf("benchmark blob has problems: %+v", e.Problems)
	}
	if len(blob) < 250 || len(blob) > 350 {
		t.Errorf("benchmark blob is %d bytes, want about 300", len(blob))
	}
	if e.RSN == nil || e.HEOperation == nil || e.WPS == nil || !e.WMM || !e.HECapabilities {
		t.Errorf("benchmark blob decoded incompletely: %+v", e)
	}
}

func TestVendorOUIString(t *testing.T) {
	for _, oui := range []uint32{0, 0x0050f2, 0x506f9a, 0x001018, 0x00904c, 0x8cfdf0, 0x00037f,
		0x000ce7, 0x000c43, 0x00e04c, 0x004096, 0x000b86, 0x0017f2, 0xabcdef, 0xffffff} {
		if got, want := vendorOUIString(oui), formatOUI(oui, ':'); got != want {
			t.Errorf("vendorOUIString(%06x) = %q, want %q", oui, got, want)
		}
	}
	if got := formatOUI(0xabcdef, '-'); got != "ab-cd-ef" {
		t.Errorf("formatOUI = %q", got)
	}
}
