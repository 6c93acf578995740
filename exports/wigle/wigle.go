// Package wigle writes a box's BSSes as a WiGLE CSV 1.6 file, the format
// WiGLE's uploader and many wardriving tools read: one row per BSSID
// with its first sighting, its strongest signal and the place the box
// stood (a survey box does not move, so every row has the same place).
// SSIDs are written exactly as the box displays them, not defused for
// spreadsheets: the file is meant for WiGLE.
package wigle

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/surveybox/surveybox/wifi"
)

// Location is where the box stood.
type Location struct {
	Lat, Lon float64
	// AltitudeM is metres above sea level; AccuracyM the radius the
	// position is known to.
	AltitudeM, AccuracyM float64
}

// Validate checks the coordinates' ranges.
func (l Location) Validate() error {
	switch {
	case math.IsNaN(l.Lat) || l.Lat < -90 || l.Lat > 90:
		return fmt.Errorf("latitude %v is not in [-90, 90]", l.Lat)
	case math.IsNaN(l.Lon) || l.Lon < -180 || l.Lon > 180:
		return fmt.Errorf("longitude %v is not in [-180, 180]", l.Lon)
	case math.IsNaN(l.AccuracyM) || l.AccuracyM < 0:
		return errors.New("accuracy must be zero or more metres")
	case math.IsNaN(l.AltitudeM):
		return errors.New("altitude is not a number")
	}
	return nil
}

// Columns is the WiGLE CSV 1.6 header row.
var Columns = []string{"MAC", "SSID", "AuthMode", "FirstSeen", "Channel", "Frequency", "RSSI",
	"CurrentLatitude", "CurrentLongitude", "AltitudeMeters", "AccuracyMeters", "RCOIs", "MfgrId", "Type"}

type entry struct {
	first  time.Time
	last   time.Time
	best   float64
	hasSig bool
	r      wifi.Record // latest
}

// Collector gathers observations, one entry per BSSID.
type Collector struct {
	m map[string]*entry
}

// NewCollector returns an empty Collector.
func NewCollector() *Collector { return &Collector{m: map[string]*entry{}} }

// Add records that r was observed at t.
func (c *Collector) Add(t time.Time, r *wifi.Record) {
	e := c.m[r.BSSID]
	if e == nil {
		e = &entry{first: t}
		c.m[r.BSSID] = e
	}
	if t.Before(e.first) {
		e.first = t
	}
	if !t.Before(e.last) {
		e.last = t
		e.r = *r
		e.r.IEsHex, e.r.VendorOUIs = "", nil // not written; keeps memory small
	}
	if r.SignalDBm != nil && (!e.hasSig || *r.SignalDBm > e.best) {
		e.best, e.hasSig = *r.SignalDBm, true
	}
}

// Len is the number of BSSIDs collected.
func (c *Collector) Len() int { return len(c.m) }

// Header names the device in the file's first line.
type Header struct {
	App, Device string
}

// WriteTo writes the file: the pre-header, the column names, then one
// row per BSSID in the order first seen.
func (c *Collector) Write(w io.Writer, h Header, loc Location) error {
	if err := loc.Validate(); err != nil {
		return err
	}
	pre := fmt.Sprintf("WigleWifi-1.6,appRelease=%s,model=surveybox,release=%s,device=%s,display=none,board=surveybox,brand=surveybox,star=Sol,body=3,subBody=0\n",
		clean(h.App), clean(h.App), clean(h.Device))
	if _, err := io.WriteString(w, pre); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.Write(Columns)
	es := make([]*entry, 0, len(c.m))
	for _, e := range c.m {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b *entry) int { return cmp.Or(a.first.Compare(b.first), cmp.Compare(a.r.BSSID, b.r.BSSID)) })
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, e := range es {
		rssi := "-100"
		if e.hasSig {
			rssi = strconv.Itoa(int(math.Round(e.best)))
		}
		ssid := e.r.SSID
		if e.r.Hidden {
			ssid = ""
		}
		cw.Write([]string{strings.ToUpper(e.r.BSSID), ssid, AuthMode(&e.r), e.first.UTC().Format("2006-01-02 15:04:05"),
			strconv.Itoa(e.r.Channel), strconv.Itoa(e.r.FreqMHz), rssi, f(loc.Lat), f(loc.Lon), f(loc.AltitudeM), f(loc.AccuracyM), "", "", "WIFI"})
	}
	cw.Flush()
	return cw.Error()
}

// clean keeps a header value from breaking the pre-header's key=value
// list.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ',' || r == '=' || r < 0x20 {
			return '_'
		}
		return r
	}, s)
}

// AuthMode renders a BSS's security the way Android's scan results (and
// so WiGLE) spell it: "[WPA2-PSK-CCMP][ESS]", "[WEP][ESS]", "[ESS]".
func AuthMode(r *wifi.Record) string {
	var b strings.Builder
	ciphers := strings.ToUpper(strings.Join(r.Pairwise, "+"))
	akms := strings.ToUpper(strings.Join(r.AKM, "+"))
	switch {
	case r.Security == "open":
	case r.Security == "wep":
		b.WriteString("[WEP]")
	default:
		if r.WPA1 {
			fmt.Fprintf(&b, "[WPA-%s-%s]", cmp.Or(akms, "PSK"), cmp.Or(ciphers, "TKIP"))
		}
		proto := "WPA2"
		switch r.Security {
		case "wpa3", "wpa3-eap", "owe":
			proto = "WPA3"
		case "wpa", "wpa-eap":
			proto = ""
		}
		if proto != "" {
			fmt.Fprintf(&b, "[%s-%s-%s]", proto, cmp.Or(akms, "PSK"), cmp.Or(ciphers, "CCMP"))
		}
	}
	b.WriteString("[ESS]")
	return b.String()
}
