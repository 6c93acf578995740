package reportcheck

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/surveybox/surveybox/internal/browsertest"
	"github.com/surveybox/surveybox/internal/surveyfixture"
)

// strongestCharted is how many BSSes the report's signal chart shows.
const strongestCharted = 8

// CheckPage checks a loaded report page: no errors, no fetches (but a
// live page's poll of own+"/stamp"),
// charts drawn, the numbers as want says, and that the reader's tools
// (sort, filter, pick) work.
func CheckPage(t *testing.T, p *browsertest.Page, want Expect, own string) {
	t.Helper()
	if errs := p.Errors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
	for _, req := range p.Requests() {
		url := strings.SplitN(req, " ", 2)[1]
		// the page itself, its inline images, and a live page's poll
		if url != own && !strings.HasPrefix(url, "data:") && url != own+"/stamp" {
			t.Errorf("the page fetched %s", req)
		}
	}

	// An SSID is text: no script ran, no element came from it.
	var title string
	var injected int
	p.Eval(`document.title`, &title)
	p.Eval(`document.querySelectorAll('img[src="x"], script:not(:last-of-type)').length`, &injected)
	if title == "pwned" || injected != 0 || !strings.HasPrefix(title, "Site survey: ") {
		t.Errorf("title %q, %d injected elements", title, injected)
	}
	var ssids []string
	p.Eval(`Array.from(document.querySelectorAll('#bss-table td.ssid')).map(td => td.textContent)`, &ssids)
	if !slices.Contains(ssids, surveyfixture.HostileSSID) {
		t.Errorf("the hostile SSID is not shown as text")
	}

	checkCharts(t, p)
	checkNumbers(t, p, want)
	checkTools(t, p)
}

type chart struct {
	Kind, Band  string
	W, H        float64
	Polys       int // filled translucent polygons (channel graph)
	Lines       int // paths of 10 points or more
	Images      int
	ImageW      float64
	Texts       []string
	Hidden      bool
	BSSes, Chns string
}

func checkCharts(t *testing.T, p *browsertest.Page) {
	t.Helper()
	var charts []chart
	p.Eval(`Array.from(document.querySelectorAll('figure[data-chart]')).map(f => {
		const svg = f.querySelector('svg');
		const bb = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
		const paths = svg ? Array.from(svg.querySelectorAll('path')) : [];
		const img = svg ? Array.from(svg.querySelectorAll('image')) : [];
		return {Kind: f.dataset.chart, Band: f.dataset.band || '', W: bb.width, H: bb.height,
			Polys: paths.filter(p => /fill-opacity:0\.18/.test(p.getAttribute('style') || '')).length,
			Lines: paths.filter(p => ((p.getAttribute('d') || '').match(/L/g) || []).length >= 9 && /stroke:/.test(p.getAttribute('style') || '')).length,
			Images: img.filter(i => (i.getAttribute('href') || i.getAttribute('xlink:href') || '').startsWith('data:image/')).length,
			ImageW: img.length ? img[0].getBoundingClientRect().width : 0,
			Texts: svg ? Array.from(svg.querySelectorAll('text')).map(x => x.textContent) : [],
			Hidden: f.hidden, BSSes: f.dataset.bsses || '', Chns: f.dataset.channels || ''};
	})`, &charts)
	kinds := map[string]int{}
	for _, c := range charts {
		kinds[c.Kind]++
		if c.Hidden {
			continue
		}
		if c.W < 300 || c.H < 100 {
			t.Errorf("chart %s %s drawn %vx%v px", c.Kind, c.Band, c.W, c.H)
		}
		switch c.Kind {
		case "channel-graph":
			n, _ := strconv.Atoi(c.BSSes)
			if n == 0 || c.Polys < n {
				t.Errorf("channel graph %s: %d BSS shapes for %d BSSes", c.Band, c.Polys, n)
			}
		case "signal":
			// eight series, each at least one line, named in the legend
			if c.Lines < strongestCharted {
				t.Errorf("signal chart: %d lines", c.Lines)
			}
			named := 0
			for _, s := range c.Texts {
				if strings.Contains(s, " ch ") {
					named++
				}
			}
			if named != strongestCharted {
				t.Errorf("signal chart legend: %d series named (%q)", named, c.Texts)
			}
		case "heatmap":
			// the cells and the colour bar
			if c.Images != 2 || c.ImageW < 0.5*c.W {
				t.Errorf("heatmap %s: %d images, %v px wide in %v", c.Band, c.Images, c.ImageW, c.W)
			}
		case "noise", "bssload-util", "bssload-stations":
			if c.Lines < 1 {
				t.Errorf("%s chart: no line", c.Kind)
			}
		}
	}
	for _, k := range []string{"channel-graph", "signal", "heatmap", "noise", "bssload-util", "bssload-stations", "bss-signal"} {
		if kinds[k] == 0 {
			t.Errorf("no %s chart (%v)", k, kinds)
		}
	}
}

type row struct {
	BSSID, Median, MedianV string
}

type shownChannel struct {
	Band, Channel, Busy, BusyV string
}

type pick struct {
	Band, DFS string
	Channels  []string
}

func checkNumbers(t *testing.T, p *browsertest.Page, want Expect) {
	t.Helper()
	var rows []row
	p.Eval(`Array.from(document.querySelectorAll('#bss-table tbody tr')).map(r => ({BSSID: r.dataset.bssid,
		Median: r.querySelector('td.median').textContent, MedianV: r.querySelector('td.median').dataset.v}))`, &rows)
	if len(rows) != want.BSSes {
		t.Errorf("%d BSS rows, want %d", len(rows), want.BSSes)
	}
	for _, r := range rows {
		m, ok := want.Median[r.BSSID]
		shown, err := strconv.ParseFloat(r.Median, 64)
		if !ok || err != nil || math.Abs(shown-m) > 0.005 {
			t.Errorf("%s: median %q shown, want %v", r.BSSID, r.Median, m)
		}
	}
	var chans []shownChannel
	p.Eval(`Array.from(document.querySelectorAll('#channel-table tbody tr')).map(r => ({Band: r.dataset.band, Channel: r.dataset.channel,
		Busy: r.querySelector('td.busy').textContent, BusyV: r.querySelector('td.busy').dataset.v}))`, &chans)
	checked := 0
	for _, c := range chans {
		k := c.Band + "/" + c.Channel
		s, ok := want.Share[k]
		if !ok {
			if c.Busy != "—" {
				t.Errorf("channel %s: busy %q shown, no survey data", k, c.Busy)
			}
			continue
		}
		checked++
		v, err := strconv.ParseFloat(c.BusyV, 64)
		if err != nil || math.Abs(v-s) > 1e-9 {
			t.Errorf("channel %s: busy share %q, want %v", k, c.BusyV, s)
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(c.Busy, "%"), 64)
		if err != nil || math.Abs(pct-s*100) > 0.5 {
			t.Errorf("channel %s: busy %q shown, want %.3f%%", k, c.Busy, s*100)
		}
	}
	if checked != len(want.Share) || checked == 0 {
		t.Errorf("%d channels with a busy share shown, want %d", checked, len(want.Share))
	}
	var picks []pick
	p.Eval(`Array.from(document.querySelectorAll('#quietest li')).map(li => ({Band: li.dataset.band, DFS: li.dataset.dfs,
		Channels: Array.from(li.querySelectorAll('span.ch')).map(s => s.dataset.channel)}))`, &picks)
	if len(picks) != len(want.Quietest) || len(picks) < 3 {
		t.Errorf("%d channel picks shown, want %d (%v)", len(picks), len(want.Quietest), want.Quietest)
	}
	for _, pk := range picks {
		var got []int
		for _, c := range pk.Channels {
			n, _ := strconv.Atoi(c)
			got = append(got, n)
		}
		if w := want.Quietest[pk.Band+"/"+pk.DFS]; !slices.Equal(got, w) {
			t.Errorf("least busy %s GHz (DFS %s): %v shown, want %v", pk.Band, pk.DFS, got, w)
		}
	}
}

func checkTools(t *testing.T, p *browsertest.Page) {
	t.Helper()
	// Sort by median signal: a click sorts ascending, a second descending.
	var meds []float64
	p.Eval(`(() => { const th = Array.from(document.querySelectorAll('#bss-table th')).find(h => h.textContent.startsWith('Median')); th.click();
		return Array.from(document.querySelectorAll('#bss-table tbody td.median')).map(td => parseFloat(td.dataset.v)); })()`, &meds)
	if !slices.IsSorted(meds) || len(meds) == 0 {
		t.Errorf("after sorting by median: %v", meds)
	}
	// Filter: only matching rows stay, and the count says so.
	var filtered struct {
		Shown   string
		Visible int
		All     int
	}
	p.Eval(`(() => { const f = document.getElementById('bss-filter'); f.value = 'wpa3'; f.dispatchEvent(new Event('input'));
		const rows = Array.from(document.querySelectorAll('#bss-table tbody tr'));
		return {Shown: document.getElementById('bss-shown').textContent, Visible: rows.filter(r => !r.hidden).length, All: rows.length}; })()`, &filtered)
	if filtered.Visible == 0 || filtered.Visible >= filtered.All || filtered.Shown != strconv.Itoa(filtered.Visible) {
		t.Errorf("filter: %+v", filtered)
	}
	// Pick a BSS: its own chart appears, drawn.
	var picked struct {
		Hidden bool
		W      float64
		Hash   string
	}
	p.Eval(`(() => { const f = document.getElementById('bss-filter'); f.value = ''; f.dispatchEvent(new Event('input'));
		const box = document.querySelector('#bss-table input.pick'); box.click();
		const fig = document.getElementById('chart-' + box.value);
		return {Hidden: fig.hidden, W: fig.querySelector('svg').getBoundingClientRect().width, Hash: location.hash}; })()`, &picked)
	if picked.Hidden || picked.W < 300 || !strings.Contains(picked.Hash, "p=") {
		t.Errorf("picking a BSS: %+v", picked)
	}
}
