// Package report renders the operator's site-survey report for one box
// and time range as a single self-contained HTML page: the summary, the
// ranked findings, the sortable and filterable network table, and the
// charts (drawn by package charts), with its style and script inline, a
// Content-Security-Policy that forbids every fetch, and nothing to load
// from the network. It also renders the fleet page that surveyctl serve
// shows. Every text from the air is escaped by html/template.
package report

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/surveybox/surveybox/report/analysis"
	"github.com/surveybox/surveybox/report/charts"
	"github.com/surveybox/surveybox/wifi"
)

var (
	//go:embed page.html.tmpl
	pageTmpl string
	//go:embed fleet.html.tmpl
	fleetTmpl string
	//go:embed style.css
	styleCSS string
	//go:embed script.js
	scriptJS string

	templates = template.Must(template.New("page").Funcs(funcs).Parse(pageTmpl))
	fleetT    = template.Must(template.New("fleet").Funcs(funcs).Parse(fleetTmpl))
)

// MaxBSSCharts bounds the per-BSS signal charts a reader can pick from
// (the strongest BSSes), which keeps the file small for busy sites.
const MaxBSSCharts = 200

// StrongestCharted is how many BSSes the signal-over-time chart shows.
const StrongestCharted = 8

// Live makes the page part of surveyctl serve: it polls PollURL and
// reloads when the stamp it returns differs from Stamp.
type Live struct {
	PollURL, Stamp, FleetURL string
}

// Options tune Write.
type Options struct {
	// Live is set when serving; nil for a file.
	Live *Live
	// Version is surveyctl's version, shown in the footer.
	Version string
}

// CSP returns the page's Content-Security-Policy: scripts only the
// page's own (by hash), images only inline data, no connections except,
// when live, to the serving origin.
func CSP(live bool) string {
	sum := sha256.Sum256([]byte(scriptJS))
	connect := "'none'"
	if live {
		connect = "'self'"
	}
	return "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-" +
		base64.StdEncoding.EncodeToString(sum[:]) + "'; connect-src " + connect + "; base-uri 'none'; form-action 'none'"
}

type page struct {
	R       *analysis.Report
	Opt     Options
	CSP     string
	Style   template.CSS
	Script  template.JS
	Bands   []bandView
	Signal  template.HTML
	Noise   template.HTML
	Util    template.HTML
	Stas    template.HTML
	BSS     []bssView
	Charted int
	Chans   []*analysis.Channel
	Bucket  string
	// BucketCycles is about how many cycles a bucket holds.
	BucketCycles int
}

type bandView struct {
	Band, Name   string
	Graph, Heat  template.HTML
	HeatNote     string
	BSSes, Chans int
}

type bssView struct {
	*analysis.BSS
	ID    string
	Chart template.HTML
}

// Write renders r as the report page.
func Write(w io.Writer, r *analysis.Report, opt Options) error {
	p := &page{R: r, Opt: opt, CSP: CSP(opt.Live != nil), Style: template.CSS(styleCSS), Script: template.JS(scriptJS)}
	p.Bucket = analysis.Dur(r.Grid.Width)
	if r.Interval > 0 {
		p.BucketCycles = int(math.Round(float64(r.Grid.Width) / float64(r.Interval)))
	}
	if err := p.charts(); err != nil {
		return fmt.Errorf("drawing the charts: %w", err)
	}
	var buf bytes.Buffer
	if err := templates.Execute(&buf, p); err != nil {
		return fmt.Errorf("rendering the report: %w", err)
	}
	_, err := buf.WriteTo(w)
	return err
}

func timeline(r *analysis.Report) charts.Timeline {
	tl := charts.Timeline{Start: r.Grid.Start, Width: r.Grid.Width, N: r.Grid.N}
	for _, g := range r.Gaps {
		tl.Silent = append(tl.Silent, [2]time.Time{g.From, g.To})
	}
	return tl
}

func means(t analysis.Timeline, n int) (mean, lo, hi []float64) {
	mean, lo, hi = make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		if t == nil || t[i].N == 0 {
			mean[i], lo[i], hi[i] = math.NaN(), math.NaN(), math.NaN()
			continue
		}
		mean[i], lo[i], hi[i] = t[i].Mean(), float64(t[i].Min), float64(t[i].Max)
	}
	return
}

func svg(b []byte, err error) (template.HTML, error) {
	// The SVG writer escapes every text it draws (SSIDs included).
	return template.HTML(b), err
}

func (p *page) charts() error {
	r := p.R
	tl := timeline(r)
	var err error
	for _, band := range []string{wifi.Band2GHz, wifi.Band5GHz, wifi.Band6GHz} {
		bv := bandView{Band: band, Name: analysis.BandName(band)}
		var spans []charts.Span
		for _, x := range r.BSS {
			if x.Band == band && x.HasSignal {
				spans = append(spans, charts.Span{Label: displayName(x), Ranges: x.Span(), SignalDBm: x.MedianDBm})
			}
		}
		bv.BSSes = len(spans)
		var rows []charts.HeatRow
		for _, c := range r.Channels {
			if c.Band != band || c.Busy.Den == nil {
				continue
			}
			vals := make([]float64, r.Grid.N)
			for i := range vals {
				vals[i] = c.Busy.At(i) * 100
			}
			rows = append(rows, charts.HeatRow{Channel: c.Channel, Values: vals})
		}
		bv.Chans = len(rows)
		if len(spans) == 0 && len(rows) == 0 {
			continue
		}
		if len(spans) > 0 {
			if bv.Graph, err = svg(charts.ChannelGraph(charts.Axis(band), spans, charts.Wide)); err != nil {
				return err
			}
		}
		if len(rows) > 0 {
			size := charts.Size{W: charts.Wide.W, H: charts.Wide.H}
			if len(rows) > 30 {
				size.H *= 1.5
			}
			if bv.Heat, err = svg(charts.Heatmap("Channel utilisation, "+bv.Name+": busy share of the time the radio listened", "busy %", tl, rows, 100, size)); err != nil {
				return err
			}
		}
		p.Bands = append(p.Bands, bv)
	}
	if err := p.signalCharts(tl); err != nil {
		return err
	}
	if err := p.surveyCharts(tl); err != nil {
		return err
	}
	return p.loadCharts(tl)
}

func displayName(x *analysis.BSS) string {
	if x.Hidden || x.SSID == "" {
		return "(hidden) " + x.BSSID
	}
	return x.SSID
}

func seriesName(x *analysis.BSS) string {
	return charts.Short(displayName(x), 24) + " " + x.BSSID[max(0, len(x.BSSID)-5):] + " ch " + strconv.Itoa(x.Channel)
}

func (p *page) signalCharts(tl charts.Timeline) error {
	r := p.R
	var top []charts.Series
	for i, x := range r.BSS {
		bv := bssView{BSS: x, ID: "b" + strconv.Itoa(i)}
		if x.HasSignal && i < MaxBSSCharts {
			m, lo, hi := means(x.Signal, r.Grid.N)
			if len(top) < StrongestCharted {
				top = append(top, charts.Series{Name: seriesName(x), Values: m})
			}
			title := "Signal of " + displayName(x) + " (" + x.BSSID + "): mean per " + p.Bucket + ", band from min to max"
			chart, err := svg(charts.Lines(charts.Short(title, 110), "dBm", tl, []charts.Series{{Values: m, Lo: lo, Hi: hi}}, charts.FloorDBm, -10, charts.Small))
			if err != nil {
				return err
			}
			bv.Chart = chart
			p.Charted++
		}
		p.BSS = append(p.BSS, bv)
	}
	if len(top) == 0 {
		return nil
	}
	var err error
	p.Signal, err = svg(charts.Lines(fmt.Sprintf("Signal over time, the %d strongest BSSes (mean per %s)", len(top), p.Bucket), "dBm", tl, top, charts.FloorDBm, -10, charts.Wide))
	return err
}

func (p *page) surveyCharts(tl charts.Timeline) error {
	r := p.R
	var noise []charts.Series
	for _, band := range []string{wifi.Band2GHz, wifi.Band5GHz, wifi.Band6GHz} {
		sum, n := make([]float64, r.Grid.N), make([]float64, r.Grid.N)
		for _, c := range r.Channels {
			if c.Band != band || c.Noise == nil {
				continue
			}
			for i, a := range c.Noise {
				if a.N > 0 {
					sum[i] += a.Sum
					n[i] += float64(a.N)
				}
			}
		}
		vals := make([]float64, r.Grid.N)
		any := false
		for i := range vals {
			vals[i] = math.NaN()
			if n[i] > 0 {
				vals[i], any = sum[i]/n[i], true
			}
		}
		if any {
			noise = append(noise, charts.Series{Name: analysis.BandName(band) + " (mean of channels)", Values: vals})
		}
	}
	for _, c := range r.Channels {
		if c.HasShare || c.HasNoise || c.CoChannel > 0 {
			p.Chans = append(p.Chans, c)
		}
	}
	if len(noise) == 0 {
		return nil
	}
	var err error
	p.Noise, err = svg(charts.Lines("Noise floor over time (per "+p.Bucket+")", "dBm", tl, noise, -110, -70, charts.Small))
	return err
}

func (p *page) loadCharts(tl charts.Timeline) error {
	r := p.R
	var util, stas []charts.Series
	for _, x := range r.BSS {
		if !x.HasLoad || len(util) >= StrongestCharted {
			continue
		}
		m, _, _ := means(x.Util, r.Grid.N)
		s, _, _ := means(x.Stations, r.Grid.N)
		util = append(util, charts.Series{Name: seriesName(x), Values: m})
		stas = append(stas, charts.Series{Name: seriesName(x), Values: s})
	}
	if len(util) == 0 {
		return nil
	}
	var err error
	if p.Util, err = svg(charts.Lines("BSS Load: channel utilisation the APs report (strongest advertisers)", "%", tl, util, 0, 100, charts.Small)); err != nil {
		return err
	}
	maxS := 5.0
	for _, x := range r.BSS {
		if x.HasLoad {
			maxS = max(maxS, x.MaxStas+1)
		}
	}
	p.Stas, err = svg(charts.Lines("BSS Load: stations the APs report", "stations", tl, stas, 0, maxS, charts.Small))
	return err
}

// funcs are the templates' formatting helpers.
var funcs = template.FuncMap{
	"pct":  analysis.Pct,
	"dur":  analysis.Dur,
	"band": analysis.BandName,
	"utc": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"unix": func(t time.Time) int64 { return t.Unix() },
	"num":  Num,
	"join": strings.Join,
	"ciphers": func(x *analysis.BSS) string {
		s := strings.Join(x.Pairwise, " ")
		if x.Group != "" && (len(x.Pairwise) != 1 || x.Pairwise[0] != x.Group) {
			s += " / group " + x.Group
		}
		return s
	},
	"f":   func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) },
	"add": func(a, b int) int { return a + b },
}

// Num formats a measured value for the page: at most two decimals.
func Num(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}
