// Package charts draws the site-survey report's charts as SVG with
// gonum/plot: the channel graph of a band, lines over time (with the
// box's silent periods shaded and left as gaps), and the channel
// utilisation heatmap. The SVG it returns is ready to inline in HTML:
// every text in it (SSIDs come from the air) is escaped by the SVG
// writer, and it references nothing outside itself.
package charts

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Size is a chart's size on the page.
type Size struct{ W, H vg.Length }

// Common sizes.
var (
	Wide  = Size{W: 9.5 * vg.Inch, H: 3.6 * vg.Inch}
	Small = Size{W: 9.5 * vg.Inch, H: 2 * vg.Inch}
)

// legendWidth is the room right of the data for the legend.
const legendWidth = 2.3 * vg.Inch

// render draws p (and the legend, if any entries, right of it) to SVG
// and returns the <svg> element without the XML prologue.
func render(p *plot.Plot, leg *plot.Legend, size Size) ([]byte, error) {
	c := vgsvg.New(size.W, size.H)
	dc := draw.New(c)
	if leg != nil {
		p.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
		leg.Top, leg.Left = true, true
		leg.Draw(draw.Crop(dc, size.W-legendWidth+vg.Millimeter*2, 0, 0, 0))
	} else {
		p.Draw(dc)
	}
	return writeSVG(c)
}

// writeSVG returns the canvas's <svg> element, without the XML prologue
// (which has no place inside HTML).
func writeSVG(c *vgsvg.Canvas) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("writing SVG: %w", err)
	}
	b := buf.Bytes()
	if i := bytes.Index(b, []byte("<svg")); i >= 0 {
		b = b[i:]
	}
	// A raster (the heatmap's cells) must fill the rectangle the plot
	// gives it; browsers keep an SVG image's aspect ratio unless told
	// not to, and smooth its pixels into a blur.
	return bytes.ReplaceAll(b, []byte("<image "), []byte(`<image preserveAspectRatio="none" style="image-rendering:pixelated" `)), nil
}

func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 11
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = 9
		a.Tick.Label.Font.Size = 8
	}
	p.Add(plotter.NewGrid())
	return p
}

func newLegend() *plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font.Size = font.Length(8)
	l.ThumbnailWidth = 0.25 * vg.Inch
	return &l
}

// Color returns series i's color: a few distinct dark hues, then
// spread around the wheel.
func Color(i int) color.Color {
	base := []color.RGBA{
		{0x1f, 0x77, 0xb4, 0xff}, {0xd6, 0x27, 0x28, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0x94, 0x67, 0xbd, 0xff},
		{0xff, 0x7f, 0x0e, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
		{0x7f, 0x7f, 0x7f, 0xff}, {0xbc, 0xbd, 0x22, 0xff},
	}
	if i < len(base) {
		return base[i]
	}
	return palette.HSVA{H: math.Mod(float64(i)*0.618033988749895, 1), S: 0.75, V: 0.75, A: 1}
}

// Series is one line over the grid's buckets: Values[i] at bucket i,
// NaN where there is nothing (drawn as a gap). Lo and Hi, when set,
// shade a band around the line (e.g. the bucket's minimum and maximum).
type Series struct {
	Name   string
	Values []float64
	Lo, Hi []float64
}

// Timeline places the buckets in time and says where the box was
// silent.
type Timeline struct {
	Start time.Time
	Width time.Duration
	N     int
	// Silent periods are shaded.
	Silent [][2]time.Time
}

func (tl Timeline) x(i int) float64 {
	return unix(tl.Start.Add(time.Duration(i)*tl.Width + tl.Width/2))
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// timeTicks formats the time axis for the span.
func timeTicks(tl Timeline) plot.TimeTicks {
	span := time.Duration(tl.N) * tl.Width
	f := "Jan 2 15:04"
	if span <= 36*time.Hour {
		f = "15:04"
	}
	return plot.TimeTicks{Format: f}
}

// segments splits values at NaNs into runs of points.
func segments(tl Timeline, vals []float64) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	for i, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, plotter.XY{X: tl.x(i), Y: v})
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// band returns the polygon between lo and hi for each run where both are
// set.
func band(tl Timeline, lo, hi []float64) []plotter.XYs {
	var out []plotter.XYs
	var top, bot plotter.XYs
	flush := func() {
		if len(top) > 0 {
			poly := append(plotter.XYs{}, top...)
			for i := len(bot) - 1; i >= 0; i-- {
				poly = append(poly, bot[i])
			}
			out = append(out, poly)
		}
		top, bot = nil, nil
	}
	for i := range lo {
		if math.IsNaN(lo[i]) || math.IsNaN(hi[i]) {
			flush()
			continue
		}
		top = append(top, plotter.XY{X: tl.x(i), Y: hi[i]})
		bot = append(bot, plotter.XY{X: tl.x(i), Y: lo[i]})
	}
	flush()
	return out
}

// shadeSilent adds grey rectangles over the silent periods between y0
// and y1.
func shadeSilent(p *plot.Plot, tl Timeline, y0, y1 float64) error {
	for _, s := range tl.Silent {
		poly, err := plotter.NewPolygon(plotter.XYs{
			{X: unix(s[0]), Y: y0}, {X: unix(s[1]), Y: y0}, {X: unix(s[1]), Y: y1}, {X: unix(s[0]), Y: y1},
		})
		if err != nil {
			return err
		}
		poly.Color = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
		poly.LineStyle.Width = 0
		p.Add(poly)
	}
	return nil
}

// Lines draws series over time. yMin and yMax fix the value axis.
func Lines(title, ylabel string, tl Timeline, series []Series, yMin, yMax float64, size Size) ([]byte, error) {
	p := newPlot(title, "time (UTC)", ylabel)
	p.X.Tick.Marker = timeTicks(tl)
	p.X.Min, p.X.Max = unix(tl.Start), unix(tl.Start.Add(time.Duration(tl.N)*tl.Width))
	p.Y.Min, p.Y.Max = yMin, yMax
	if err := shadeSilent(p, tl, yMin, yMax); err != nil {
		return nil, err
	}
	leg, entries := newLegend(), 0
	for i, s := range series {
		col := Color(i)
		if s.Lo != nil && s.Hi != nil {
			for _, poly := range band(tl, s.Lo, s.Hi) {
				pg, err := plotter.NewPolygon(poly)
				if err != nil {
					return nil, err
				}
				r, g, b, _ := col.RGBA()
				pg.Color = color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0x40}
				pg.LineStyle.Width = 0
				p.Add(pg)
			}
		}
		var first *plotter.Line
		for _, seg := range segments(tl, s.Values) {
			if len(seg) == 1 { // a lone bucket: a short flat stroke, so it shows
				w := float64(tl.Width) / 1e9 / 3
				seg = plotter.XYs{{X: seg[0].X - w, Y: seg[0].Y}, {X: seg[0].X + w, Y: seg[0].Y}}
			}
			l, err := plotter.NewLine(seg)
			if err != nil {
				return nil, err
			}
			l.Color = col
			l.Width = vg.Points(1.2)
			p.Add(l)
			if first == nil {
				first = l
			}
		}
		if first != nil && s.Name != "" {
			leg.Add(s.Name, first)
			entries++
		}
	}
	if entries == 0 {
		return render(p, nil, size)
	}
	return render(p, leg, size)
}
