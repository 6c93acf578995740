package tailsvc

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/surveybox/surveybox/internal/browsertest"
	"github.com/surveybox/surveybox/internal/tailtest"
)

// attackPage is what a site the operator visits could serve: requests the
// browser sends to the box with the operator's tailnet identity, a
// text/plain POST that needs no preflight, a form posted by script, an
// image and a script loaded from the box.
const attackPage = `<!doctype html><title>cat pictures</title>
<img src="http://box/">
<script src="http://box/v1/observations?after=0"></script>
<form id="f" method="POST" action="http://box/update/switch"><input name="a" value="b"></form>
<script>
fetch("http://box/reboot", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: "x"});
fetch("http://box/poweroff", {method: "POST", mode: "no-cors"});
setTimeout(() => document.getElementById("f").submit(), 500);
</script>`

// TestBrowserAttacksInChromium: what TestBrowserAttacks sends by hand, a
// real browser sends on its own. Chromium on the operator's machine (its
// connections to the box go through the operator's tailnet node) opens a
// hostile page, and a page that rebound its own name to the box's
// address: neither changes anything on the box (gokrazy sees no POST), the
// rebound name reads nothing, while the operator opening the box's page in
// the same browser does reach it.
func TestBrowserAttacksInChromium(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tb := startBox(t, ctx)
	if code, _ := do(t, ctx, tb.op.HTTPClient(), mustRequest(t, "GET", "http://box/v1/status")); code != 200 {
		t.Fatalf("the operator cannot reach the box: %d", code)
	}
	box := tailtest.Forward(t, ctx, tb.op, "box:80")

	attacker := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, attackPage)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go attacker.Serve(ln)
	t.Cleanup(func() { attacker.Close() })

	b := browsertest.Start(t, browsertest.Options{HostRules: fmt.Sprintf(
		"MAP box %s, MAP attacker.example %s, MAP rebind.attacker.example %s", box, ln.Addr(), box)})

	page := b.Open("http://attacker.example/")
	time.Sleep(2 * time.Second) // the form is posted after 500 ms
	sent := strings.Join(page.Requests(), "\n")
	for _, want := range []string{"GET http://box/\n", "GET http://box/v1/observations?after=0", "POST http://box/reboot", "POST http://box/poweroff", "POST http://box/update/switch"} {
		if !strings.Contains(sent+"\n", want) {
			t.Errorf("the browser did not send %s (sent:\n%s)", want, sent)
		}
	}
	// Over plain HTTP Chromium sends no Sec-Fetch-* headers, so the
	// image's GET arrives (gokrazy acts on no GET; the page cannot read
	// it). Nothing else may.
	hostile := tb.gokrazy.requests()
	for _, r := range hostile {
		if !strings.HasPrefix(r, "GET ") {
			t.Errorf("the hostile page reached gokrazy through the operator's browser: %q", r)
		}
	}
	t.Logf("gokrazy saw from the hostile page: %q", hostile)

	// DNS rebinding: the attacker's name now resolves to the box.
	rebound := b.Open("http://rebind.attacker.example/v1/status")
	var text string
	rebound.Eval(`document.body.textContent`, &text)
	if strings.Contains(text, `"hostname"`) || !strings.Contains(text, "is not this node's tailnet name") {
		t.Errorf("a rebound name read %q from the box", text)
	}

	// The operator, in the same browser, on the box's own page.
	own := b.Open("http://box/")
	own.Eval(`document.body.textContent`, &text)
	if text != "gokrazy" {
		t.Errorf("the operator's own visit to http://box/ shows %q, want gokrazy's page", text)
	}
	if got := tb.gokrazy.requests()[len(hostile):]; len(got) == 0 || !strings.HasPrefix(got[0], "GET / ") {
		t.Errorf("gokrazy saw %q after the hostile page, want the operator's own GET /", got)
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
