package wifi

import (
	"reflect"
	"testing"
)

func TestSuiteName(t *testing.T) {
	tests := []struct {
		s    Suite
		want string
	}{
		{0x000fac00, "use-group"},
		{0x000fac01, "wep40"},
		{0x000fac02, "tkip"},
		{0x000fac04, "ccmp"},
		{0x000fac05, "wep104"},
		{0x000fac06, "bip-cmac-128"},
		{0x000fac07, "group-not-allowed"},
		{0x000fac08, "gcmp"},
		{0x000fac09, "gcmp-256"},
		{0x000fac0a, "ccmp-256"},
		{0x000fac0b, "bip-gmac-128"},
		{0x000fac0c, "bip-gmac-256"},
		{0x000fac0d, "bip-cmac-256"},
		{0x000fac03, "00-0f-ac:3"},
		{0x000fac0e, "00-0f-ac:14"},
		{0x0050f201, "wep40"},
		{0x0050f202, "tkip"},
		{0x0050f204, "ccmp"},
		{0x0050f205, "wep104"},
		{0x0050f200, "00-50-f2:0"},
		{0x0050f206, "00-50-f2:6"},
		{0xaabbccff, "aa-bb-cc:255"},
		{0, "00-00-00:0"},
	}
	for _, tc := range tests {
		if got := SuiteName(tc.s); got != tc.want {
			t.Errorf("SuiteName(%#08x) = %q, want %q", uint32(tc.s), got, tc.want)
		}
	}
}

func TestAKMName(t *testing.T) {
	ieee := []string{
		1: "eap", 2: "psk", 3: "ft-eap", 4: "ft-psk", 5: "eap-sha256", 6: "psk-sha256",
		7: "tdls", 8: "sae", 9: "ft-sae", 10: "ap-peerkey", 11: "eap-suite-b",
		12: "eap-suite-b-192", 13: "ft-eap-sha384", 14: "fils-sha256", 15: "fils-sha384",
		16: "ft-fils-sha256", 17: "ft-fils-sha384", 18: "owe", 19: "ft-psk-sha384",
		20: "psk-sha384", 24: "sae-ext-key", 25: "ft-sae-ext-key",
	}
	for typ, want := range ieee {
		if want == "" {
			continue
		}
		if got := AKMName(Suite(0x000fac00 | typ)); got != want {
			t.Errorf("AKMName(00-0f-ac:%d) = %q, want %q", typ, got, want)
		}
	}
	tests := []struct {
		s    Suite
		want string
	}{
		{0x000fac00, "00-0f-ac:0"},
		{0x000fac15, "00-0f-ac:21"},
		{0x000fac1a, "00-0f-ac:26"},
		{0x0050f201, "eap"},
		{0x0050f202, "psk"},
		{0x0050f203, "00-50-f2:3"},
		{0x506f9a01, "osen"},
		{0x506f9a02, "dpp"},
		{0x506f9a03, "50-6f-9a:3"},
		{0x00904c01, "00-90-4c:1"},
	}
	for _, tc := range tests {
		if got := AKMName(tc.s); got != tc.want {
			t.Errorf("AKMName(%#08x) = %q, want %q", uint32(tc.s), got, tc.want)
		}
	}
}

// rsnElem builds an RSN element from group, pairwise and AKM suites and
// capabilities.
func rsnElem(group Suite, pairwise, akm []Suite, caps uint16) []byte {
	b := []byte{1, 0}
	b = appendSuite(b, group)
	b = append(b, byte(len(pairwise)), 0)
	for _, s := range pairwise {
		b = appendSuite(b, s)
	}
	b = append(b, byte(len(akm)), 0)
	for _, s := range akm {
		b = appendSuite(b, s)
	}
	b = append(b, byte(caps), byte(caps>>8))
	return ieElem(48, b)
}

func appendSuite(b []byte, s Suite) []byte {
	return append(b, byte(s>>24), byte(s>>16), byte(s>>8), byte(s))
}

func TestDeriveSecurity(t *testing.T) {
	ccmp := []Suite{sCCMP}
	tests := []struct {
		name    string
		ies     []byte
		privacy bool
		want    Security
	}{
		{
			name: "open",
			ies:  ieHex("00 04 6f 70 65 6e"),
			want: Security{Label: "open", PMF: "none"},
		},
		{
			name:    "wep",
			ies:     ieHex("00 03 77 65 70"),
			privacy: true,
			want:    Security{Label: "wep", PMF: "none"},
		},
		{
			name: "open with owe transition element",
			ies:  ieHex("dd 0f 50 6f 9a 1c 02 11 22 33 44 55 04 6f 77 65 31"),
			want: Security{Label: "open", PMF: "none"},
		},
		{
			name:    "wpa2-psk hostapd",
			ies:     rsnWPA2PSK,
			privacy: true,
			want:    Security{Label: "wpa2", AKM: []string{"psk"}, Pairwise: []string{"ccmp"}, Group: "ccmp", PMF: "none"},
		},
		{
			name:    "wpa3 sae",
			ies:     rsnSAE,
			privacy: true,
			want: Security{Label: "wpa3", AKM: []string{"sae"}, Pairwise: []string{"ccmp"}, Group: "ccmp",
				GroupMgmt: "bip-cmac-128", PMF: "required"},
		},
		{
			name:    "wpa2/wpa3 transition",
			ies:     rsnTransition,
			privacy: true,
			want: Security{Label: "wpa2/wpa3", AKM: []string{"psk", "sae"}, Pairwise: []string{"ccmp"}, Group: "ccmp",
				GroupMgmt: "bip-cmac-128", PMF: "capable"},
		},
		{
			name:    "transition with ft and sae-ext-key",
			ies:     rsnElem(sCCMP, ccmp, []Suite{sPSK, 0x000fac04, sSAE, 0x000fac18}, 0x80),
			privacy: true,
			want: Security{Label: "wpa2/wpa3", AKM: []string{"psk", "ft-psk", "sae", "sae-ext-key"},
				Pairwise: []string{"ccmp"}, Group: "ccmp", GroupMgmt: "bip-cmac-128", PMF: "capable"},
		},
		{
			name:    "owe",
			ies:     rsnOWE,
			privacy: true,
			want: Security{Label: "owe", AKM: []string{"owe"}, Pairwise: []string{"ccmp"}, Group: "ccmp",
				GroupMgmt: "bip-cmac-128", PMF: "required"},
		},
		{
			name:    "wpa2-eap",
			ies:     rsnEAP,
			privacy: true,
			want:    Security{Label: "wpa2-eap", AKM: []string{"eap"}, Pairwise: []string{"ccmp"}, Group: "ccmp", PMF: "none"},
		},
		{
			name:    "wpa3-eap only mode: eap-sha256 with mfpr",
			ies:     rsnElem(sCCMP, ccmp, []Suite{0x000fac05}, 0xc0),
			privacy: true,
			want: Security{Label: "wpa3-eap", AKM: []string{"eap-sha256"}, Pairwise: []string{"ccmp"}, Group: "ccmp",
				GroupMgmt: "bip-cmac-128", PMF: "required"},
		},
		{
			name:    "wpa3-eap transition: eap and eap-sha256 with mfpc only",
			ies:     rsnElem(sCCMP, ccmp, []Suite{sEAP, 0x000fac05}, 0x80),
			privacy: true,
			want: Security{Label: "wpa2-eap", AKM: []string{"eap", "eap-sha256"}, Pairwise: []string{"ccmp"}, Group: "ccmp",
				GroupMgmt: "bip-cmac-128", PMF: "capable"},
		},
		{
			name: "wpa3-eap 192-bit",
			ies: ieElem(48, joinIEs(ieHex("01 00 00 0f ac 09 01 00 00 0f ac 09 01 00 00 0f ac 0c c0 00 00 00"),
				ieHex("00 0f ac 0c"))),
			privacy: true,
			want: Security{Label: "wpa3-eap", AKM: []string{"eap-suite-b-192"}, Pairwise: []string{"gcmp-256"},
				Group: "gcmp-256", GroupMgmt: "bip-gmac-256", PMF: "required"},
		},
		{
			name:    "wpa3-eap ft-eap-sha384",
			ies:     rsnElem(sGCMP256, []Suite{sGCMP256}, []Suite{0x000fac0d}, 0x80),
			privacy: true,
			want: Security{Label: "wpa3-eap", AKM: []string{"ft-eap-sha384"}, Pairwise: []string{"gcmp-256"},
				Group: "gcmp-256", GroupMgmt: "bip-cmac-128", PMF: "capable"},
		},
		{
			name:    "fils counts as 802.1x",
			ies:     rsnElem(sCCMP, ccmp, []Suite{0x000fac0e}, 0),
			privacy: true,
			want:    Security{Label: "wpa2-eap", AKM: []string{"fils-sha256"}, Pairwise: []string{"ccmp"}, Group: "ccmp", PMF: "none"},
		},
		{
			name:    "wpa1 personal",
			ies:     wpa1PSK,
			privacy: true,
			want:    Security{Label: "wpa", AKM: []string{"psk"}, Pairwise: []string{"tkip"}, Group: "tkip", PMF: "none", WPA1: true},
		},
		{
			name:    "wpa1 enterprise by default",
			ies:     ieHex("dd 06 00 50 f2 01 01 00"),
			privacy: true,
			want:    Security{Label: "wpa-eap", AKM: []string{"eap"}, Pairwise: []string{"tkip"}, Group: "tkip", PMF: "none", WPA1: true},
		},
		{
			name:    "wpa/wpa2 mixed: rsn suites, wpa/ prefix",
			ies:     joinIEs(ieHex("dd 1a 00 50 f2 01 01 00 00 50 f2 02 02 00 00 50 f2 02 00 50 f2 04 01 00 00 50 f2 02"), rsnElem(sTKIP, []Suite{sCCMP, sTKIP, sCCMP}, []Suite{sPSK, sPSK}, 0)),
			privacy: true,
			want: Security{Label: "wpa/wpa2", AKM: []string{"psk"}, Pairwise: []string{"ccmp", "tkip"}, Group: "tkip",
				PMF: "none", WPA1: true},
		},
		{
			name:    "too-short rsn uses defaults",
			ies:     ieHex("30 02 01 00"),
			privacy: true,
			want:    Security{Label: "wpa2-eap", AKM: []string{"eap"}, Pairwise: []string{"ccmp"}, Group: "ccmp", PMF: "none"},
		},
		{
			name:    "rsn with broken lists",
			ies:     ieHex("30 0c 01 00 00 0f ac 04 05 00 00 0f ac 04"),
			privacy: true,
			want:    Security{Label: "wpa2", Group: "ccmp", PMF: "none"},
		},
		{
			name:    "unknown akm",
			ies:     rsnElem(sCCMP, ccmp, []Suite{0x00904c01}, 0),
			privacy: true,
			want:    Security{Label: "wpa2", AKM: []string{"00-90-4c:1"}, Pairwise: []string{"ccmp"}, Group: "ccmp", PMF: "none"},
		},
		{
			name:    "dpp with sae",
			ies:     rsnElem(sCCMP, ccmp, []Suite{sSAE, 0x506f9a02}, 0xc0),
			privacy: true,
			want: Security{Label: "wpa3", AKM: []string{"sae", "dpp"}, Pairwise: []string{"ccmp"}, Group: "ccmp",
				GroupMgmt: "bip-cmac-128", PMF: "required"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := ParseElements(tc.ies)
			got := DeriveSecurity(&e, tc.privacy)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DeriveSecurity =\n%+v, want\n%+v (problems %+v)", got, tc.want, e.Problems)
			}
		})
	}
}

func TestDeriveSecurityNil(t *testing.T) {
	if got := DeriveSecurity(nil, true); got.Label != "wep" || got.PMF != "none" {
		t.Errorf("DeriveSecurity(nil, true) = %+v", got)
	}
}

// validLabel reports whether l is one of the documented labels.
func validLabel(l string) bool {
	switch l {
	case "open", "wep", "wpa", "wpa2", "wpa3", "owe", "wpa2/wpa3", "wpa-eap", "wpa2-eap", "wpa3-eap", "wpa/wpa2", "wpa/wpa2-eap":
		return true
	}
	return false
}

func FuzzDeriveSecurity(f *testing.F) {
	for _, b := range [][]byte{rsnWPA2PSK, rsnSAE, rsnTransition, rsnOWE, rsnEAP, wpa1PSK, ieHex("30 02 01 00")} {
		f.Add(b, true)
	}
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, b []byte, privacy bool) {
		e := ParseElements(b)
		s := DeriveSecurity(&e, privacy)
		if !validLabel(s.Label) {
			t.Errorf("label %q", s.Label)
		}
		switch s.PMF {
		case "required", "capable", "none":
		default:
			t.Errorf("PMF %q", s.PMF)
		}
		if e.RSN == nil && e.WPA == nil {
			want := "open"
			if privacy {
				want = "wep"
			}
			if s.Label != want || s.AKM != nil || s.Group != "" {
				t.Errorf("no RSN/WPA but %+v", s)
			}
		}
		if s.WPA1 != (e.WPA != nil) {
			t.Errorf("WPA1 = %v with WPA %+v", s.WPA1, e.WPA)
		}
		for _, list := range [][]string{s.AKM, s.Pairwise} {
			seen := map[string]bool{}
			for _, n := range list {
				if n == "" || seen[n] {
					t.Errorf("empty or repeated name in %q", list)
				}
				seen[n] = true
			}
		}
	})
}
