package wigle

import (
	"bytes"
	"encoding/csv"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/surveybox/surveybox/internal/testrecords"
)

func TestWrite(t *testing.T) {
	recs := testrecords.BSS(t)
	c := NewCollector()
	t0 := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	for k := range 3 { // three cycles; the strongest signal is kept
		for i := range recs {
			r := recs[i]
			s := -60.0 + float64(k*5)
			r.SignalDBm = &s
			c.Add(t0.Add(time.Duration(k)*30*time.Second), &r)
		}
	}
	var buf bytes.Buffer
	loc := Location{Lat: 47.3769, Lon: 8.5417, AltitudeM: 408, AccuracyM: 25}
	if err := c.Write(&buf, Header{App: "v1.2,x", Device: "acme-box-1"}, loc); err != nil {
		t.Fatal(err)
	}
	pre, rest, _ := strings.Cut(buf.String(), "\n")
	if !strings.HasPrefix(pre, "WigleWifi-1.6,appRelease=v1.2_x,") || !strings.Contains(pre, "device=acme-box-1,") {
		t.Errorf("pre-header %q", pre)
	}
	rows, err := csv.NewReader(strings.NewReader(rest)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "MAC,SSID,AuthMode,FirstSeen,Channel,Frequency,RSSI,CurrentLatitude,CurrentLongitude,AltitudeMeters,AccuracyMeters,RCOIs,MfgrId,Type" {
		t.Errorf("header %q", rows[0])
	}
	if len(rows) != len(recs)+1 {
		t.Fatalf("%d rows, want %d", len(rows)-1, len(recs))
	}
	want := map[string]string{
		"tb-open": "[ESS]", "tb-wpa2": "[WPA2-PSK-CCMP][ESS]", "tb-wpa3": "[WPA3-SAE-CCMP][ESS]",
		"tb-transition": "[WPA2-PSK+SAE-CCMP][ESS]", "tb-owe": "[WPA3-OWE-CCMP][ESS]", "tb-eap": "[WPA2-EAP-CCMP][ESS]",
		"tb-wpa-mixed": "[WPA-PSK-CCMP][WPA2-PSK-CCMP][ESS]",
	}
	seen := 0
	for _, row := range rows[1:] {
		if row[3] != "2026-11-02 08:00:00" || row[6] != "-50" || row[7] != "47.3769" || row[8] != "8.5417" || row[9] != "408" || row[10] != "25" || row[13] != "WIFI" {
			t.Errorf("row %q", row)
		}
		if w, ok := want[row[1]]; ok {
			seen++
			if row[2] != w {
				t.Errorf("%s: AuthMode %q, want %q", row[1], row[2], w)
			}
		}
		if row[0] != strings.ToUpper(row[0]) || len(row[0]) != 17 {
			t.Errorf("MAC %q", row[0])
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of the %d networks checked", seen, len(want))
	}
}

func TestLocationValidate(t *testing.T) {
	for _, tc := range []struct {
		l  Location
		ok bool
	}{
		{Location{Lat: 47, Lon: 8}, true},
		{Location{Lat: 91, Lon: 8}, false},
		{Location{Lat: 0, Lon: -181}, false},
		{Location{Lat: math.NaN()}, false},
		{Location{AccuracyM: -1}, false},
	} {
		if err := tc.l.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.l, err)
		}
	}
}
