package wifi

import (
	"reflect"
	"testing"
)

func TestStandards(t *testing.T) {
	var (
		bRates = ieHex("01 04 82 84 8b 96")
		gRates = ieHex("01 08 82 84 8b 96 0c 12 18 24 32 04 30 48 60 6c")
		aRates = ieHex("01 08 8c 12 98 24 b0 48 60 6c")
		gOnly  = ieHex("01 08 8c 12 98 24 b0 48 60 6c")
		erp    = ieHex("2a 01 00")
		htCap  = ieElem(45, make([]byte, 26))
		vhtCap = ieElem(191, make([]byte, 12))
		heCap  = ieElem(255, append([]byte{35}, make([]byte, 21)...))
		ehtCap = ieElem(255, append([]byte{108}, make([]byte, 13)...))
	)
	tests := []struct {
		name string
		ies  []byte
		freq int
		want []string
	}{
		{"2.4 GHz b only", bRates, 2412, []string{"b"}},
		{"2.4 GHz b/g", gRates, 2437, []string{"b", "g"}},
		{"2.4 GHz g only", gOnly, 2462, []string{"g"}},
		{"2.4 GHz erp without ofdm rates", joinIEs(bRates, erp), 2484, []string{"b", "g"}},
		{"2.4 GHz b/g/n/ax", joinIEs(gRates, htCap, heCap), 2437, []string{"b", "g", "n", "ax"}},
		{"2.4 GHz basic-only ofdm", ieHex("01 03 8c 98 b0"), 2412, []string{"g"}},
		{"2.4 GHz no rates", htCap, 2412, []string{"n"}},
		{"5 GHz a", aRates, 5180, []string{"a"}},
		{"5 GHz a/n/ac/ax/be", joinIEs(aRates, htCap, vhtCap, heCap, ehtCap), 5500, []string{"a", "n", "ac", "ax", "be"}},
		{"5 GHz public safety edge", aRates, 4920, []string{"a"}},
		{"5 GHz upper edge", aRates, 5925, []string{"a"}},
		{"6 GHz ax/be only", joinIEs(aRates, htCap, vhtCap, heCap, ehtCap), 5955, []string{"ax", "be"}},
		{"6 GHz ax", heCap, 7115, []string{"ax"}},
		{"6 GHz nothing", aRates, 6115, nil},
		{"unknown band", joinIEs(aRates, htCap), 60480, []string{"n"}},
		{"no frequency", joinIEs(gRates, htCap), 0, []string{"n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := ParseElements(tc.ies)
			if len(e.Problems) != 0 {
				t.Fatalf("test blob has problems: %+v", e.Problems)
			}
			if got := Standards(&e, tc.freq); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Standards(%d) = %q, want %q", tc.freq, got, tc.want)
			}
		})
	}
	if got := Standards(nil, 2412); got != nil {
		t.Errorf("Standards(nil) = %q", got)
	}
}
