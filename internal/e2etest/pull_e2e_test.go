package e2etest

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
	"github.com/surveybox/surveybox/proto/pull"
	"github.com/surveybox/surveybox/pullapi"
	"github.com/surveybox/surveybox/spool"
	"github.com/surveybox/surveybox/uploader"
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
	serve(t, tn.box, ":80", pullapi.NewHandler(pullapi.Options{
		Spool: tn.sp, WhoIs: boxLC, Version: "v-test", Hostname: "box",
		Operators: config.Operators{Tags: []string{"tag:surveyops"}},
		Radio: func() pullapi.RadioState {
			return pullapi.RadioState{Interface: "wlan0", Present: true, State: "scanning"}
		},
		Uploads: func() uploader.Status { return uploader.Status{Collector: "http://collector:8080", Uploads: 7} },
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
		for _, l := range pull.Lines(e.FirstSeq, e.LastSeq, &b, 0)[1:] {
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
	var s pullapi.Status
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

// TestPullAfterSpoolStartsOver: the box's spool is replaced by a new file
// (numbering from 1 again under a new ID). The next pull must fetch all of
// the new spool, not resume after the old spool's highest sequence, and
// store it apart from the old spool's records; the pull after that
// resumes within the new spool.
func TestPullAfterSpoolStartsOver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tn := newTailnet(t, ctx)
	boxLC, _ := tn.box.LocalClient()
	handler := func(sp *spool.Spool) http.Handler {
		return pullapi.NewHandler(pullapi.Options{Spool: sp, WhoIs: boxLC, Hostname: "box",
			Operators: config.Operators{Tags: []string{"tag:surveyops"}}})
	}
	old := tn.sp
	stop := serve(t, tn.box, ":80", handler(old))
	wantOld := appendCycles(t, old, 0, 20)
	st, err := collector.Open(filepath.Join(t.TempDir(), "pulled.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := tn.collector.HTTPClient()
	res, err := collector.Pull(ctx, c, "http://box", "box", st)
	if err != nil || res.Spool != old.ID() || res.HighSeq != wantOld || res.Cycles != 20 {
		t.Fatalf("first pull: %+v, %v", res, err)
	}

	// The spool starts over, with more records than the old one had: a
	// pull resuming after the old spool's highest sequence would skip the
	// new spool's first wantOld records.
	stop()
	sp := openSpool(t, filepath.Join(t.TempDir(), "spool.db"))
	serve(t, tn.box, ":80", handler(sp))
	wantNew := appendCycles(t, sp, 33, 30)
	res, err = collector.Pull(ctx, c, "http://box", "box", st)
	if err != nil || !res.Complete || res.Spool != sp.ID() || res.PrevSpool != old.ID() || res.After != 0 ||
		res.Cycles != 30 || res.Records != wantNew || res.HighSeq != wantNew || res.Duplicates != 0 {
		t.Fatalf("pull of the new spool: %+v, %v; want all %d records of spool %016x", res, err, wantNew, sp.ID())
	}
	checkSpoolExactlyOnce(t, st, "box", old.ID(), 0, wantOld)
	checkSpoolExactlyOnce(t, st, "box", sp.ID(), 33, wantNew)

	// Resumes within the new spool.
	more := appendCycles(t, sp, 63, 5)
	res, err = collector.Pull(ctx, c, "http://box", "box", st)
	if err != nil || res.Spool != sp.ID() || res.PrevSpool != sp.ID() || res.After != wantNew || res.Cycles != 5 || res.Records != more {
		t.Fatalf("pull of 5 new cycles: %+v, %v", res, err)
	}
	checkSpoolExactlyOnce(t, st, "box", sp.ID(), 33, wantNew+more)
	bs, _ := st.Box("box")
	if bs.Records != wantOld+wantNew+more || len(bs.Spools) != 2 || bs.Duplicates != 0 {
		t.Fatalf("box stats %+v", bs)
	}

	// The export tells the spools apart: every (spool, seq) once.
	var jl bytes.Buffer
	n, err := collector.Export(st, &jl, collector.ExportOptions{Format: "jsonl"})
	if err != nil || uint64(n) != bs.Records {
		t.Fatalf("export: %d records, %v", n, err)
	}
	seen := map[string]bool{}
	for dec := json.NewDecoder(&jl); dec.More(); {
		var r collector.ExportRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		k := r.Spool.String() + "/" + jsonNum(r.Seq)
		if seen[k] || (uint64(r.Spool) != old.ID() && uint64(r.Spool) != sp.ID()) {
			t.Fatalf("export record %s (twice: %v)", k, seen[k])
		}
		seen[k] = true
	}
}
