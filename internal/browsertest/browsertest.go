// Package browsertest opens pages in a real headless Chromium (Debian's
// chromium, driven with chromedp) for tests that look at what a person
// sees: it records console errors, uncaught exceptions, failed loads and
// every network request a page makes, and evaluates JavaScript in it.
// Tests fail, never skip, when Chromium is missing. Test-only.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Options tune Start.
type Options struct {
	// HostRules is Chromium's --host-resolver-rules, e.g.
	// "MAP collector 127.0.0.1:8080", for pages served under a name.
	HostRules string
}

// Browser is a headless Chromium for one test.
type Browser struct {
	t   testing.TB
	ctx context.Context
}

// Start launches Chromium with a fresh profile and no network services
// of its own (this machine and CI have no internet); it is closed when
// the test ends.
func Start(t testing.TB, o Options) *Browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is needed (Debian package chromium; make testbed-assets installs it): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.WindowSize(1300, 1000),
	}
	if o.HostRules != "" {
		opts = append(opts, chromedp.Flag("host-resolver-rules", o.HostRules))
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	// The first Run starts the browser; it must not carry a deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &Browser{t: t, ctx: ctx}
}

// Page is a loaded page and what happened while it loaded.
type Page struct {
	b   *Browser
	ctx context.Context
	URL string

	mu       sync.Mutex
	errors   []string
	requests []string
}

// Open loads url in a new tab, waits for it to load and for the
// scripts to settle, and returns the page.
func (b *Browser) Open(url string) *Page {
	b.t.Helper()
	tab, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	p := &Page{b: b, ctx: tab, URL: url}
	if err := chromedp.Listen(tab, p.event); err != nil {
		b.t.Fatal(err)
	}
	err := chromedp.Do(tab,
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			if _, err := cdp.Call(ctx, t, log.Enable, cdp.Empty{}); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{})
			return err
		}),
	)
	if err != nil {
		b.t.Fatalf("enabling the log: %v", err)
	}
	lctx, lcancel := context.WithTimeout(tab, 60*time.Second)
	defer lcancel()
	if err := chromedp.Do(lctx, chromedp.Navigate(url), chromedp.WaitReady("body")); err != nil {
		b.t.Fatalf("loading %s: %v", url, err)
	}
	// Let late scripts and events run.
	p.Eval(`new Promise(r => setTimeout(r, 300))`, nil)
	return p
}

func (p *Page) event(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			p.errors = append(p.errors, "console."+string(e.Type)+": "+strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		msg := e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			msg += " " + e.ExceptionDetails.Exception.Description
		}
		p.errors = append(p.errors, "exception: "+msg)
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
			p.errors = append(p.errors, fmt.Sprintf("log %s (%s): %s %s", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL))
		}
	case *network.EventRequestWillBeSent:
		p.requests = append(p.requests, e.Request.Method+" "+e.Request.URL)
	case *network.EventLoadingFailed:
		p.errors = append(p.errors, "load failed: "+e.ErrorText)
	}
}

// Errors returns the console errors and warnings, exceptions, error log
// entries and failed loads seen so far.
func (p *Page) Errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errors...)
}

// Requests returns every request the page made ("GET url"), the page's
// own included.
func (p *Page) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// Eval evaluates a JavaScript expression (promises awaited) and stores
// its JSON value in out (if not nil).
func (p *Page) Eval(expr string, out any) {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, runtime.Evaluate, runtime.EvaluateParams{
			Expression: expr, ReturnByValue: ptr(true), AwaitPromise: ptr(true),
		})
		if err != nil {
			return err
		}
		if res.ExceptionDetails != nil {
			return fmt.Errorf("%s: %s", res.ExceptionDetails.Text, description(res.ExceptionDetails))
		}
		if out == nil || res.Result == nil {
			return nil
		}
		return unmarshal(res.Result.Value, out)
	}))
	if err != nil {
		p.b.t.Fatalf("evaluating %.200s: %v", expr, err)
	}
}

func description(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}

// Reload reloads the page and waits for it.
func (p *Page) Reload() {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitReady("body")); err != nil {
		p.b.t.Fatalf("reloading %s: %v", p.URL, err)
	}
}

// Context is the tab's context, for chromedp actions of a test's own.
func (p *Page) Context() context.Context { return p.ctx }

func ptr[T any](v T) *T { return &v }

func unmarshal(v []byte, out any) error {
	if len(v) == 0 {
		return nil
	}
	return json.Unmarshal(v, out)
}
