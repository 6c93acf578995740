package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/internal/surveyfixture"
	"github.com/surveybox/surveybox/report/analysis"
)

// fixtureDir makes DIR/collector.db holding a day of one box.
func fixtureDir(t *testing.T, o surveyfixture.Options) string {
	t.Helper()
	dir := t.TempDir()
	st, err := collector.Open(filepath.Join(dir, "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	surveyfixture.Write(t, st, o)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestReportAndExports: `surveyctl report` writes the file; `surveyctl
// export -format pcapng` is read back by tshark with the same SSIDs,
// channels and security as the report; `-format wigle` has one row per
// BSS at the place given.
func TestReportAndExports(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o := surveyfixture.Default("acme-box-1")
	dir := fixtureDir(t, o)
	out := t.TempDir()

	html := filepath.Join(out, "acme.html")
	code, _, stderr := cli(t, ctx, "report", "-dir", dir, "-o", html)
	if code != 0 || !strings.Contains(stderr, "report acme-box-1:") {
		t.Fatalf("report: exit %d\n%s", code, stderr)
	}
	if data, err := os.ReadFile(html); err != nil || !strings.Contains(string(data), "<h1>Site survey: <span id=\"box\">acme-box-1</span></h1>") {
		t.Fatalf("report file: %v", err)
	}
	// A range: the last hour of the survey only.
	code, _, stderr = cli(t, ctx, "report", "-dir", dir, "-box", "acme-box-1", "-from", o.Start.Add(2*time.Hour).Format(time.RFC3339), "-o", filepath.Join(out, "r.html"))
	if code != 0 {
		t.Fatalf("report -from: exit %d\n%s", code, stderr)
	}

	// What the report holds, to compare the exports with.
	st, err := collector.Open(filepath.Join(dir, "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := analysis.Build(ctx, st, o.Box, analysis.Options{})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	byBSSID := map[string]*analysis.BSS{}
	obs := 0
	for _, x := range r.BSS {
		byBSSID[x.BSSID] = x
	}

	pcap := filepath.Join(out, "acme.pcapng")
	if code, _, stderr := cli(t, ctx, "export", "-dir", dir, "-format", "pcapng", "-o", pcap); code != 0 {
		t.Fatalf("export pcapng: exit %d\n%s", code, stderr)
	} else {
		fmt.Sscanf(stderr[strings.LastIndex(stderr, "exported "):], "exported %d records", &obs)
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Fatalf("tshark is needed (Debian package tshark): %v", err)
	}
	cmd := exec.CommandContext(ctx, tshark, "-n", "-r", pcap, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,",
		"-e", "wlan.bssid", "-e", "wlan.ssid", "-e", "wlan_radio.channel", "-e", "wlan.rsn.akms.type", "-e", "wlan.fixed.capabilities.privacy")
	data, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != obs || obs == 0 {
		t.Fatalf("tshark read %d frames, export said %d", len(lines), obs)
	}
	akm := map[string]string{"psk": "2", "sae": "8", "eap": "1", "owe": "18"}
	seen := map[string]bool{}
	for _, l := range lines {
		f := strings.Split(l, "\t")
		x := byBSSID[f[0]]
		if x == nil {
			t.Fatalf("tshark shows BSSID %s, which the report does not", f[0])
		}
		// Every frame's SSID and security are the report's (the
		// fixture's BSSes keep them); channels are checked below.
		if x.Hidden && (f[1] == "<MISSING>" || f[1] == "") {
			// tshark's word for an empty SSID element
		} else if f[1] != x.SSIDHex {
			t.Errorf("%s: SSID %s in the capture, %s in the report", f[0], f[1], x.SSIDHex)
		}
		var w []string
		for _, a := range x.AKM {
			if n, ok := akm[a]; ok {
				w = append(w, n)
			}
		}
		if x.WPA1 && x.Security == "wpa" {
			w = nil
		}
		if f[3] != strings.Join(w, ",") {
			t.Errorf("%s (%s): AKMs %q in the capture, want %q", f[0], x.Security, f[3], w)
		}
		if priv := f[4] == "1" || f[4] == "True"; priv != (x.Security != "open") {
			t.Errorf("%s (%s): privacy %s", f[0], x.Security, f[4])
		}
		seen[f[0]] = true
	}
	if len(seen) != len(r.BSS) {
		t.Errorf("the capture has %d BSSes, the report %d", len(seen), len(r.BSS))
	}
	// Channels: the capture's channels of a BSS are those the report
	// saw it on.
	for _, l := range lines {
		f := strings.Split(l, "\t")
		x := byBSSID[f[0]]
		ok := false
		for _, c := range x.PrimaryChannels {
			ok = ok || strconv.Itoa(c.Channel) == f[2]
		}
		if !ok {
			t.Errorf("%s: channel %s in the capture, the report has %+v", f[0], f[2], x.PrimaryChannels)
			break
		}
	}

	wig := filepath.Join(out, "acme.wiglecsv")
	code, _, stderr = cli(t, ctx, "export", "-dir", dir, "-format", "wigle", "-lat", "47.3769", "-lon", "8.5417", "-o", wig)
	if code != 0 || !strings.Contains(stderr, fmt.Sprintf("exported %d records", len(r.BSS))) {
		t.Fatalf("export wigle: exit %d\n%s", code, stderr)
	}
	wf, err := os.ReadFile(wig)
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(string(wf), "\n")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != len(r.BSS)+1 {
		t.Fatalf("wigle: %d rows, %v", len(rows), err)
	}
	for _, row := range rows[1:] {
		x := byBSSID[strings.ToLower(row[0])]
		if x == nil || row[4] != strconv.Itoa(x.Channel) || row[7] != "47.3769" || row[8] != "8.5417" || row[13] != "WIFI" {
			t.Errorf("wigle row %q", row)
		}
		if rssi, _ := strconv.Atoi(row[6]); x != nil && float64(rssi) != x.MaxDBm {
			t.Errorf("wigle %s: RSSI %s, report's maximum %v", row[0], row[6], x.MaxDBm)
		}
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export", "-dir", dir, "-format", "wigle"}, 2, "needs the box's place: -lat and -lon"},
		{[]string{"export", "-dir", dir, "-format", "wigle", "-lat", "95", "-lon", "1"}, 2, "latitude 95 is not in"},
		{[]string{"report", "-dir", dir, "-box", "nobody"}, 1, `no data for box "nobody"`},
		{[]string{"report", "-dir", dir, "-from", "2030-01-01"}, 1, "has no scan cycles in the range"},
		{[]string{"report", "-dir", dir, "-from", "x"}, 2, "-from: \"x\" is neither"},
		{[]string{"report", "-dir", dir, "-last", "1h", "-from", "2026-01-01"}, 2, "give -from or -last"},
		{[]string{"serve", "-dir", dir}, 2, "serve: -allow: say who may view"},
		{[]string{"serve", "-dir", dir, "-allow", "tag:surveyops", "-boxes", "alice@example.com"}, 2, "serve: -boxes: give the boxes' tag"},
	} {
		code, _, stderr := cli(t, ctx, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("surveyctl %q: exit %d, %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}
