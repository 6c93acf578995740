package web_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tailscale.com/client/tailscale/apitype"
	"tailscale.com/tailcfg"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/internal/browsertest"
	"github.com/surveybox/surveybox/internal/reportcheck"
	"github.com/surveybox/surveybox/internal/surveyfixture"
	"github.com/surveybox/surveybox/report/web"
	"github.com/surveybox/surveybox/tailnet"
)

// whoIs names every caller as the same tagged node.
type whoIs struct{ tags []string }

func (w whoIs) WhoIs(ctx context.Context, remote string) (*apitype.WhoIsResponse, error) {
	if _, err := netip.ParseAddrPort(remote); err != nil {
		return nil, err
	}
	return &apitype.WhoIsResponse{
		Node:        &tailcfg.Node{Name: "viewer.tail-scale.ts.net.", Tags: w.tags},
		UserProfile: &tailcfg.UserProfile{LoginName: tailnet.TaggedLogin},
	}, nil
}

func store(t *testing.T) *collector.Store {
	t.Helper()
	st, err := collector.Open(filepath.Join(t.TempDir(), "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestViewersOnly(t *testing.T) {
	st := store(t)
	o := surveyfixture.Default("acme-box-1")
	o.Cycles, o.BSS = 50, 10
	surveyfixture.Write(t, st, o)
	allow, _ := tailnet.ParseList("tag:surveyops")
	for _, tc := range []struct {
		tags []string
		code int
	}{{[]string{"tag:surveyops"}, 200}, {[]string{"tag:other"}, 403}, {nil, 403}} {
		srv := httptest.NewServer(&web.Handler{Store: st, WhoIs: whoIs{tc.tags}, Allow: allow})
		for _, path := range []string{"/", "/stamp", "/box/acme-box-1", "/box/acme-box-1/stamp"} {
			if code, body := get(t, srv.URL+path); code != tc.code {
				t.Errorf("%v %s: %d %.200s", tc.tags, path, code, body)
			}
		}
		srv.Close()
	}
	srv := httptest.NewServer(&web.Handler{Store: st, WhoIs: whoIs{[]string{"tag:surveyops"}}, Allow: allow})
	defer srv.Close()
	for path, code := range map[string]int{"/box/nobody": 404, "/box/acme-box-1?last=-1h": 400, "/box/acme-box-1?from=yesterday": 400, "/nothing": 404} {
		if c, body := get(t, srv.URL+path); c != code {
			t.Errorf("%s: %d %.200s, want %d", path, c, body, code)
		}
	}
}

// TestFleetAndReportLive: the fleet page and a box's report in Chromium,
// checked like the report file; a box that stopped long ago is marked
// silent; when more data arrives the open report reloads by itself.
func TestFleetAndReportLive(t *testing.T) {
	st := store(t)
	o := surveyfixture.Default("acme-box-1")
	o.Cumulative, o.Hostile = true, true
	surveyfixture.Write(t, st, o)
	old := surveyfixture.Default("old-box")
	old.Cycles, old.BSS, old.Silent, old.EvictAt = 30, 5, nil, nil
	surveyfixture.Write(t, st, old)

	allow, _ := tailnet.ParseList("tag:surveyops")
	// The clock: just after acme-box-1's data arrived (now), so that the
	// other box, which delivered at the same moment, is not silent yet;
	// the silence check is tested on the fleet rows below.
	h := &web.Handler{Store: st, WhoIs: whoIs{[]string{"tag:surveyops"}}, Allow: allow, Version: "test", Ctx: context.Background()}
	srv := httptest.NewServer(h)
	defer srv.Close()

	b := browsertest.Start(t, browsertest.Options{})
	fleet := b.Open(srv.URL + "/")
	if errs := fleet.Errors(); len(errs) > 0 {
		t.Errorf("fleet page errors:\n%s", strings.Join(errs, "\n"))
	}
	var boxes []string
	fleet.Eval(`Array.from(document.querySelectorAll('#fleet tbody tr')).map(r => r.dataset.box + ' ' + r.querySelector('td.status').textContent)`, &boxes)
	if len(boxes) != 2 || boxes[0] != "acme-box-1 ok" || boxes[1] != "old-box ok" {
		t.Errorf("fleet rows %q", boxes)
	}

	// Follow the link to the box, as a person would.
	var href string
	fleet.Eval(`document.querySelector('#fleet a').getAttribute('href')`, &href)
	p := b.Open(srv.URL + href)
	var buf bytes.Buffer
	if _, err := collector.Export(st, &buf, collector.ExportOptions{Format: "jsonl", Boxes: []string{"acme-box-1"}}); err != nil {
		t.Fatal(err)
	}
	want, err := reportcheck.Compute(&buf)
	if err != nil {
		t.Fatal(err)
	}
	reportcheck.CheckPage(t, p, want, srv.URL+href)

	// More data arrives: the page reloads itself with it.
	var before string
	p.Eval(`document.getElementById('cycles').textContent`, &before)
	more := o
	more.Spool, more.Start, more.Cycles, more.Silent, more.EvictAt = 2, o.Start.Add(24*time.Hour), 20, nil, nil
	surveyfixture.Write(t, st, more)
	deadline := time.Now().Add(40 * time.Second)
	var after string
	for time.Now().Before(deadline) {
		time.Sleep(time.Second)
		p.Eval(`document.getElementById('cycles') ? document.getElementById('cycles').textContent : ''`, &after)
		if after != before && after != "" {
			break
		}
	}
	if after == before {
		t.Errorf("the report did not update: still %q", after)
	}
	if errs := p.Errors(); len(errs) > 0 {
		t.Errorf("report page errors:\n%s", strings.Join(errs, "\n"))
	}
}

func TestSilentBox(t *testing.T) {
	st := store(t)
	o := surveyfixture.Default("quiet-box")
	o.Cycles, o.BSS, o.Silent, o.EvictAt = 40, 5, nil, nil
	surveyfixture.Write(t, st, o)
	allow, _ := tailnet.ParseList("tag:surveyops")
	for _, tc := range []struct {
		after  time.Duration
		silent bool
	}{{time.Minute, false}, {6 * time.Minute, true}} {
		h := &web.Handler{Store: st, WhoIs: whoIs{[]string{"tag:surveyops"}}, Allow: allow, SilentCycles: 10,
			Now: func() time.Time { return time.Now().Add(tc.after) }}
		srv := httptest.NewServer(h)
		_, body := get(t, srv.URL+"/")
		srv.Close()
		if got := strings.Contains(body, "<b class=\"warn\">silent</b>"); got != tc.silent {
			t.Errorf("%s after the last upload (cycles every 30 s, 10 cycles): silent %v, want %v", tc.after, got, tc.silent)
		}
	}
}
