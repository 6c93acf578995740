package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tailscale.com/tsnet"

	"github.com/surveybox/surveybox/internal/browsertest"
	"github.com/surveybox/surveybox/internal/tailtest"
)

// TestServe: `surveyctl serve -allow tag:surveyops -boxes tag:surveybox`
// is the collector a box pushes to and shows the fleet and the box's
// report to an operator's node, in Chromium; other nodes get 403.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	ctl := tailtest.StartControl(t)
	dir := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "collector.key")
	if err := os.WriteFile(keyFile, []byte("tskey-auth-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(ctx)
	defer stop()
	var serveErr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(serveCtx, []string{"serve", "-allow", "tag:surveyops", "-boxes", "tag:surveybox", "-dir", dir,
			"-control-url", ctl.URL, "-hostname", "collector", "-authkey-file", keyFile}, &syncBuffer{}, &serveErr)
	}()
	defer func() {
		stop()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d:\n%s", code, serveErr.String())
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
	}()

	box := ctl.StartNode(t, ctx, "box", "tag:surveybox")
	sp := openSpool(t)
	want := appendCycles(t, sp, 0, 12)
	_, stopPush := pushAll(t, ctx, box, sp, 0, want.records, "serve", done, &serveErr)
	defer stopPush()

	viewer := ctl.StartNode(t, ctx, "ops", "tag:surveyops")
	stranger := ctl.StartNode(t, ctx, "stranger", "tag:other")
	for _, tc := range []struct {
		node *tsnet.Server
		code int
	}{{viewer, 200}, {stranger, 403}, {box, 403}} {
		for _, path := range []string{"/", "/box/box"} {
			resp, err := tc.node.HTTPClient().Get("http://collector" + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Errorf("GET %s: %d %.200s, want %d", path, resp.StatusCode, body, tc.code)
			}
			if tc.code == 200 && path == "/" && !strings.Contains(string(body), `data-box="box"`) {
				t.Errorf("the fleet page does not list the box")
			}
		}
	}
	// A page elsewhere cannot make the operator's browser read the views.
	req, _ := http.NewRequest("GET", "http://collector/", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Sec-Fetch-Mode", "cors")
	if resp, err := viewer.HTTPClient().Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("cross-site read: %v %v", resp.StatusCode, err)
	}

	// The operator's browser, through the operator's node.
	addr := tailtest.Forward(t, ctx, viewer, "collector:80")
	b := browsertest.Start(t, browsertest.Options{HostRules: "MAP collector " + addr})
	fleet := b.Open("http://collector/")
	var rows []string
	fleet.Eval(`Array.from(document.querySelectorAll('#fleet tbody tr')).map(r => r.dataset.box)`, &rows)
	if len(rows) != 1 || rows[0] != "box" {
		t.Errorf("fleet rows %q", rows)
	}
	page := b.Open("http://collector/box/box")
	var cycles string
	page.Eval(`document.getElementById('cycles').textContent`, &cycles)
	if !strings.HasPrefix(cycles, fmt.Sprint(want.cycles)) {
		t.Errorf("report shows %q cycles, want %d", cycles, want.cycles)
	}
	var svgs int
	page.Eval(`Array.from(document.querySelectorAll('figure[data-chart="signal"] svg path')).length`, &svgs)
	if svgs == 0 {
		t.Error("no signal chart drawn")
	}
	for _, pg := range []*browsertest.Page{fleet, page} {
		if errs := pg.Errors(); len(errs) > 0 {
			t.Errorf("%s: errors:\n%s", pg.URL, strings.Join(errs, "\n"))
		}
	}
}
