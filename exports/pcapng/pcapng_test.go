package pcapng

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/surveybox/surveybox/internal/testrecords"
	"github.com/surveybox/surveybox/wifi"
)

// akmTypes are the RSN AKM suite types (00-0f-ac) Wireshark prints for
// the AKM names wifi uses.
var akmTypes = map[string]string{"eap": "1", "psk": "2", "ft-eap": "3", "ft-psk": "4", "eap-sha256": "5", "psk-sha256": "6", "sae": "8", "ft-sae": "9", "owe": "18"}

// TestTshark writes the captured records (and copies with their own
// BSSIDs and SSIDs) as beacons and reads them back with tshark: every
// BSSID, SSID, frequency, signal and RSN AKM must be what the records
// say.
func TestTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Fatalf("tshark is needed (Debian package tshark; make testbed-assets installs it): %v", err)
	}
	recs := testrecords.RealisticBSS(t, 40)
	path := filepath.Join(t.TempDir(), "beacons.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(f, "surveyctl test")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	for i := range recs {
		if err := w.WriteBeacon(t0.Add(time.Duration(i)*time.Second), &recs[i], "box acme"); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	cmd := exec.Command(tshark, "-n", "-r", path, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,",
		"-e", "frame.time_epoch", "-e", "wlan.bssid", "-e", "wlan.ssid", "-e", "radiotap.channel.freq", "-e", "wlan_radio.channel",
		"-e", "radiotap.dbm_antsignal", "-e", "wlan.rsn.akms.type", "-e", "wlan.fixed.capabilities.privacy", "-e", "frame.comment")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(recs) {
		t.Fatalf("tshark read %d frames, want %d:\n%s\n%s", len(lines), len(recs), out, stderr.String())
	}
	for i, line := range lines {
		r := &recs[i]
		f := strings.Split(line, "\t")
		if len(f) != 9 {
			t.Fatalf("frame %d: %q", i, line)
		}
		if ts, _ := strconv.ParseFloat(f[0], 64); int64(ts) != t0.Unix()+int64(i) {
			t.Errorf("frame %d: time %s", i, f[0])
		}
		if f[1] != r.BSSID {
			t.Errorf("frame %d: BSSID %s, want %s", i, f[1], r.BSSID)
		}
		if want := r.SSIDHex; f[2] != want { // tshark prints the SSID's bytes
			t.Errorf("frame %d (%s): SSID %q, want %q", i, r.BSSID, f[2], want)
		}
		if f[3] != strconv.Itoa(r.FreqMHz) || f[4] != strconv.Itoa(r.Channel) {
			t.Errorf("frame %d (%s): %s MHz channel %s, want %d MHz channel %d", i, r.BSSID, f[3], f[4], r.FreqMHz, r.Channel)
		}
		if f[5] != strconv.Itoa(int(*r.SignalDBm)) {
			t.Errorf("frame %d (%s): signal %s, want %v", i, r.BSSID, f[5], *r.SignalDBm)
		}
		if want := wantAKMs(r); f[6] != want {
			t.Errorf("frame %d (%s, %s): AKMs %q, want %q", i, r.BSSID, r.Security, f[6], want)
		}
		if priv := f[7] == "1" || f[7] == "True"; priv != (r.Security != "open") {
			t.Errorf("frame %d (%s, %s): privacy bit %s", i, r.BSSID, r.Security, f[7])
		}
		if f[8] != "box acme" {
			t.Errorf("frame %d: comment %q", i, f[8])
		}
	}
}

func wantAKMs(r *wifi.Record) string {
	var out []string
	for _, a := range r.AKM {
		if n, ok := akmTypes[a]; ok && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if r.WPA1 && !strings.Contains(r.Security, "wpa2") && !strings.Contains(r.Security, "wpa3") {
		return "" // only a WPA element: no RSN AKMs
	}
	return strings.Join(out, ",")
}

func TestBeaconRefuses(t *testing.T) {
	r := testrecords.BSS(t)[0]
	bad := r
	bad.BSSID = "not a mac"
	if _, err := Beacon(nil, &bad, 0); err == nil {
		t.Error("a record without a MAC address made a beacon")
	}
	bad = r
	bad.IEsHex = "zz"
	if _, err := Beacon(nil, &bad, 0); err == nil {
		t.Error("IEs that are not hex made a beacon")
	}
	bad = r
	bad.IEsHex = strings.Repeat("00", MaxFrame)
	if _, err := Beacon(nil, &bad, 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized IEs: %v", err)
	}
	good, err := Beacon(nil, &r, 5)
	if err != nil {
		t.Fatal(err)
	}
	// radiotap (15 bytes with a signal) + 24 header + 12 fixed + IEs
	if want := 15 + 24 + 12 + len(r.IEsHex)/2; len(good) != want {
		t.Errorf("beacon of %d bytes, want %d", len(good), want)
	}
}
