package report_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/internal/browsertest"
	"github.com/surveybox/surveybox/internal/reportcheck"
	"github.com/surveybox/surveybox/internal/surveyfixture"
	"github.com/surveybox/surveybox/report"
	"github.com/surveybox/surveybox/report/analysis"
)

// fixture stores a day of one box's survey and returns the store.
func fixture(t *testing.T, o surveyfixture.Options) *collector.Store {
	t.Helper()
	st, err := collector.Open(filepath.Join(t.TempDir(), "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	surveyfixture.Write(t, st, o)
	return st
}

func expect(t *testing.T, st *collector.Store, box string) reportcheck.Expect {
	t.Helper()
	var buf bytes.Buffer
	if _, err := collector.Export(st, &buf, collector.ExportOptions{Format: "jsonl", Boxes: []string{box}}); err != nil {
		t.Fatal(err)
	}
	e, err := reportcheck.Compute(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestReportInBrowser renders the report of a fixture store to a file,
// opens it in headless Chromium and checks what a reader sees against
// numbers computed independently from the JSON lines export, for a
// driver whose survey counters are cumulative and one whose are per
// scan.
func TestReportInBrowser(t *testing.T) {
	b := browsertest.Start(t, browsertest.Options{})
	for _, cumulative := range []bool{true, false} {
		t.Run(fmt.Sprintf("cumulative=%v", cumulative), func(t *testing.T) {
			o := surveyfixture.Default("acme-box-1")
			o.Cumulative, o.Hostile = cumulative, true
			st := fixture(t, o)
			want := expect(t, st, o.Box)
			if want.Cumulative != cumulative {
				t.Fatalf("the independent computation reads the counters as cumulative=%v", want.Cumulative)
			}
			r, err := analysis.Build(context.Background(), st, o.Box, analysis.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Cumulative != cumulative {
				t.Errorf("report reads the counters as cumulative=%v", r.Cumulative)
			}
			path := filepath.Join(t.TempDir(), "acme-box-1-report.html")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := report.Write(f, r, report.Options{Version: "test"}); err != nil {
				t.Fatal(err)
			}
			f.Close()
			p := b.Open("file://" + path)
			reportcheck.CheckPage(t, p, want, "file://"+path)
		})
	}
}
