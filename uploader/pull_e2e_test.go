package uploader_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/config"
	"github.com/surveybox/surveybox/uploader"
	"github.com/surveybox/surveybox/uploader/pull"
)

// cutAfter ends a response body after n bytes, as a dropped connection.
type cutAfter struct {
	rt http.RoundTripper
	n  int64
}

func (c cutAfter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if err == nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(resp.Body, c.n), resp.Body}
	}
	return resp, err
}

func TestPullResumeAndExport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tn := newTailnet(t, ctx) // "collector" is tag:surveyops: an operator
	boxLC, _ := tn.box.LocalClient()
	serve(t, tn.box, ":80", pull.NewHandler(pull.Options{
		Spool: tn.sp, WhoIs: boxLC, Version: "v-test", Hostname: "box",
		Operators: config.Operators{Tags: []string{"tag:surveyops"}},
		Radio:     func() pull.RadioState { return pull.RadioState{Interface: "wlan0", Present: true, State: "scanning"} },
		Uploads:   func() uploader.Status { return uploader.Status{Collector: "http://collector:8080", Uploads: 7} },
	}))
	want := appendCycles(t, tn.sp, 0, 30)
	st, err := collector.Open(filepath.Join(t.TempDir(), "pulled.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// A stream cut halfway stores the complete cycles and says so.
	cut := &http.Client{Transport: cutAfter{tn.collector.HTTPClient().Transport, 20 << 10}}
	res, err := collector.Pull(ctx, cut, "http://box", "box", st)
	if err == nil || res.Complete || res.Cycles == 0 {
		t.Fatalf("cut pull: %+v, %v", res, err)
	}
	t.Logf("cut pull: %v; stored %d cycles up to %d", err, res.Cycles, res.HighSeq)
	// Resumed: the rest, nothing twice.
	res, err = collector.Pull(ctx, tn.collector.HTTPClient(), "http://box", "box", st)
	if err != nil || !res.Complete || res.HighSeq != want || res.Duplicates != 0 {
		t.Fatalf("resumed pull: %+v, %v", res, err)
	}
	want += appendCycles(t, tn.sp, 30, 5)
	res, err = collector.Pull(ctx, tn.collector.HTTPClient(), "http://box", "box", st)
	if err != nil || res.Cycles != 5 || res.HighSeq != want {
		t.Fatalf("pull of 5 new cycles: %+v, %v", res, err)
	}
	checkExactlyOnce(t, st, "box", want)

	// Pulled cycles equal what the box spooled, record for record.
	var jl bytes.Buffer
	n, err := collector.Export(st, &jl, collector.ExportOptions{Format: "jsonl"})
	if err != nil || uint64(n) != want {
		t.Fatalf("export: %d records, %v; want %d", n, err, want)
	}
	var spooled bytes.Buffer
	enc := json.NewEncoder(&spooled)
	for e, err := range tn.sp.Entries(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		b, _ := e.Decode()
		for _, l := range pull.Lines(e, &b, 0)[1:] {
			if l.BSS != nil {
				enc.Encode(l.BSS)
			} else {
				enc.Encode(l.Channel)
			}
		}
	}
	var exported bytes.Buffer
	dec := json.NewDecoder(&jl)
	enc = json.NewEncoder(&exported)
	for dec.More() {
		var r collector.ExportRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		if r.Box != "box" || r.Source != "pull" {
			t.Fatalf("export record %+v", r)
		}
		if r.BSS != nil {
			enc.Encode(r.BSS)
		} else {
			enc.Encode(r.Channel)
		}
	}
	if !bytes.Equal(spooled.Bytes(), exported.Bytes()) {
		t.Fatal("exported records differ from the spooled ones")
	}
	var cb bytes.Buffer
	nb, err := collector.Export(st, &cb, collector.ExportOptions{Format: "csv", Kind: "bss"})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cb).ReadAll()
	if err != nil || len(rows) != nb+1 || rows[0][3] != "bssid" {
		t.Fatalf("csv: %d rows for %d records, %v", len(rows), nb, err)
	}

	// Status and metrics.
	resp, err := tn.collector.HTTPClient().Get("http://box/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	var s pull.Status
	json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	if s.Version != "v-test" || s.Spool.Records != want || s.Radio == nil || !s.Radio.Present || s.Upload == nil || s.Upload.Uploads != 7 {
		t.Errorf("status %+v", s)
	}
	resp, err = tn.collector.HTTPClient().Get("http://box/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{`surveybox_build_info{version="v-test"} 1`, "surveybox_spool_records " + strings.TrimSpace(jsonNum(want)), "surveybox_radio_present 1", "surveybox_upload_requests_total 7"} {
		if !bytes.Contains(m, []byte("\n"+line+"\n")) {
			t.Errorf("metrics lack %q:\n%s", line, m)
		}
	}
}

func jsonNum(v uint64) string { b, _ := json.Marshal(v); return string(b) }
