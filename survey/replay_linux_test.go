package survey

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/surveybox/surveybox/wifi"
)

var update = flag.Bool("update", false, "rewrite the golden JSON files in testdata/capture")

// TestReplayCaptures decodes real GET_SCAN and GET_SURVEY replies captured
// from the kernel in the test VM and compares the JSON records with golden
// files. The VM test (internal/vmtest) checks the same JSON against iw.
func TestReplayCaptures(t *testing.T) {
	files := captureFiles(t)
	if len(files) == 0 {
		t.Fatal("no captures in testdata/capture")
	}
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			msgs, err := UnmarshalMessages(readCapture(t, name))
			if err != nil {
				t.Fatalf("splitting the capture: %v", err)
			}
			if !consistent(msgs) {
				t.Errorf("captured dump is not a consistent snapshot")
			}
			var recs []any
			if strings.HasPrefix(filepath.Base(name), "survey") {
				chans, errs := DecodeSurvey(msgs)
				if len(errs) != 0 || len(chans) != len(msgs) {
					t.Fatalf("DecodeSurvey: %d channels of %d messages, errors %v", len(chans), len(msgs), errs)
				}
				for i := range chans {
					recs = append(recs, chans[i].Record())
				}
			} else {
				bsses, errs := DecodeScan(msgs)
				if len(errs) != 0 || len(bsses) != len(msgs) {
					t.Fatalf("DecodeScan: %d BSSes of %d messages, errors %v", len(bsses), len(msgs), errs)
				}
				for i := range bsses {
					if p := bsses[i].Record().Problems; len(p) != 0 {
						t.Errorf("%s: problems decoding a real BSS: %v", bsses[i].BSSID, p)
					}
					recs = append(recs, bsses[i].Record())
				}
			}
			var got bytes.Buffer
			enc := json.NewEncoder(&got)
			enc.SetEscapeHTML(false)
			for _, r := range recs {
				if err := enc.Encode(r); err != nil {
					t.Fatal(err)
				}
			}
			golden := strings.TrimSuffix(name, ".nl") + ".golden.jsonl"
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./survey -run TestReplayCaptures -update)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("decoded records differ from %s:\n got: %s\nwant: %s", golden, got.Bytes(), want)
			}
		})
	}
}

// TestReplayCorrupted damages real captures: every truncation point of
// the stream, and every truncation of one BSS's IEs. Decoding never
// panics, keeps the BSSes before the damage, and keeps the elements before
// a truncated one (the SSID element comes first, so it survives every cut
// after its end).
func TestReplayCorrupted(t *testing.T) {
	raw := readCapture(t, filepath.Join("testdata", "capture", "scan-standard.nl"))
	full, err := UnmarshalMessages(raw)
	if err != nil {
		t.Fatal(err)
	}
	for cut := 0; cut < len(raw); cut++ {
		msgs, _ := UnmarshalMessages(raw[:cut])
		bsses, _ := DecodeScan(msgs)
		for i := range bsses {
			_ = bsses[i].Record()
		}
		if len(bsses) > len(full) {
			t.Fatalf("cut %d: %d BSSes from a prefix of %d", cut, len(bsses), len(full))
		}
	}

	bsses, _ := DecodeScan(full)
	ies := bsses[0].IEs
	want := bsses[0].Record()
	for cut := 2 + int(ies[1]); cut < len(ies); cut++ {
		e := wifi.ParseElements(ies[:cut])
		if !bytes.Equal(e.SSID, bsses[0].Elements.SSID) {
			t.Fatalf("IEs cut at %d: SSID %q, want %q (the SSID element comes first)", cut, e.SSID, want.SSID)
		}
	}
}
