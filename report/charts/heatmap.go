package charts

import (
	"fmt"
	"image/color"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// HeatRow is one channel's values over the timeline's buckets (NaN: no
// reading).
type HeatRow struct {
	Channel int
	Values  []float64
}

type heatGrid struct {
	tl   Timeline
	rows []HeatRow
}

func (g heatGrid) Dims() (c, r int)   { return g.tl.N, len(g.rows) }
func (g heatGrid) Z(c, r int) float64 { return g.rows[r].Values[c] }
func (g heatGrid) X(c int) float64    { return g.tl.x(c) }
func (g heatGrid) Y(r int) float64    { return float64(r) }

type rowTicks []HeatRow

func (t rowTicks) Ticks(lo, hi float64) []plot.Tick {
	step := max(1, len(t)/24)
	var out []plot.Tick
	for i, r := range t {
		out = append(out, plot.Tick{Value: float64(i)})
		if i%step == 0 {
			out[len(out)-1].Label = strconv.Itoa(r.Channel)
		}
	}
	return out
}

// Heatmap draws rows (channels) × time as colours from 0 to max, with a
// colour bar. The cells are one raster image, so the size does not grow
// with channels × buckets as vector cells would.
func Heatmap(title, unit string, tl Timeline, rows []HeatRow, maxVal float64, size Size) ([]byte, error) {
	if len(rows) == 0 || tl.N == 0 {
		return nil, fmt.Errorf("heatmap %q: no data", title)
	}
	cmap := moreland.ExtendedBlackBody()
	cmap.SetMin(0)
	cmap.SetMax(maxVal)
	pal := cmap.Palette(64)
	p := newPlot(title, "time (UTC)", "channel")
	h := plotter.NewHeatMap(heatGrid{tl: tl, rows: rows}, pal)
	h.Min, h.Max = 0, maxVal
	h.Rasterized = true
	h.NaN = color.RGBA{0xf4, 0xf4, 0xf4, 0xff}
	h.Overflow = pal.Colors()[len(pal.Colors())-1]
	p.Add(h)
	p.X.Tick.Marker = timeTicks(tl)
	p.Y.Tick.Marker = rowTicks(rows)
	if len(rows) == 1 {
		p.Y.Min, p.Y.Max = -0.5, 0.5
	}

	bar := plot.New()
	bar.HideY()
	bar.X.Label.Text = unit
	bar.X.Label.TextStyle.Font.Size = 8
	bar.X.Tick.Label.Font.Size = 7
	cb := &plotter.ColorBar{ColorMap: cmap}
	bar.Add(cb)

	c := vgsvg.New(size.W, size.H)
	dc := draw.New(c)
	barH := 0.55 * vg.Inch
	p.Draw(draw.Crop(dc, 0, 0, barH, 0))
	bar.Draw(draw.Crop(dc, size.W*0.55, -0.3*vg.Inch, 0, -(size.H - barH)))
	return writeSVG(c)
}
