package charts

import (
	"cmp"
	"image/color"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Span is one BSS on the channel graph: the frequency ranges it
// occupies (two for 80+80 MHz) at its signal.
type Span struct {
	Label     string
	Ranges    [][2]float64 // MHz
	SignalDBm float64
}

// BandAxis is a band's frequency range and the channels to mark.
type BandAxis struct {
	Name     string
	Min, Max float64 // MHz
	// Ticks are the channels labelled on the axis: number -> centre.
	Ticks []ChannelTick
}

// ChannelTick is a labelled channel.
type ChannelTick struct {
	Channel int
	Freq    float64
}

// Axes for the three bands: every channel in 2.4 GHz, every other 20 MHz
// channel in 5 GHz, the preferred scanning channels in 6 GHz.
func Axis(band string) BandAxis {
	switch band {
	case "2.4":
		a := BandAxis{Name: "2.4 GHz", Min: 2397, Max: 2497}
		for ch := 1; ch <= 13; ch++ {
			a.Ticks = append(a.Ticks, ChannelTick{ch, float64(2407 + 5*ch)})
		}
		a.Ticks = append(a.Ticks, ChannelTick{14, 2484})
		return a
	case "5":
		a := BandAxis{Name: "5 GHz", Min: 5150, Max: 5895}
		for ch := 36; ch <= 177; ch += 8 {
			a.Ticks = append(a.Ticks, ChannelTick{ch, float64(5000 + 5*ch)})
		}
		return a
	case "6":
		a := BandAxis{Name: "6 GHz", Min: 5925, Max: 7125}
		for ch := 5; ch <= 229; ch += 16 {
			a.Ticks = append(a.Ticks, ChannelTick{ch, float64(5950 + 5*ch)})
		}
		return a
	}
	return BandAxis{Name: band + " GHz"}
}

type channelTicks []ChannelTick

func (t channelTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for _, c := range t {
		if c.Freq >= lo && c.Freq <= hi {
			out = append(out, plot.Tick{Value: c.Freq, Label: strconv.Itoa(c.Channel)})
		}
	}
	return out
}

// FloorDBm is the channel graph's bottom.
const FloorDBm = -100

// MaxLabels bounds the BSSes named on a channel graph (the strongest).
const MaxLabels = 14

// Short cuts a label to n runes.
func Short(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// ChannelGraph draws each span as a trapezoid across its width, up to
// its signal, so that overlapping BSSes overlap on the graph; the
// strongest are named.
func ChannelGraph(ax BandAxis, spans []Span, size Size) ([]byte, error) {
	p := newPlot("Channel graph, "+ax.Name+" (each BSS across its width, at its median signal)", "channel", "signal (dBm)")
	p.X.Min, p.X.Max = ax.Min, ax.Max
	p.X.Tick.Marker = channelTicks(ax.Ticks)
	top := -20.0
	for _, s := range spans {
		top = max(top, math.Ceil(s.SignalDBm/10)*10+10)
	}
	p.Y.Min, p.Y.Max = FloorDBm, top
	order := slices.Clone(spans)
	// weakest first, so the strong ones are drawn on top
	slices.SortStableFunc(order, func(a, b Span) int { return cmp.Compare(a.SignalDBm, b.SignalDBm) })
	var lab plotter.XYLabels
	for i, s := range order {
		col := Color(len(order) - 1 - i)
		for _, r := range s.Ranges {
			ramp := min(2.0, (r[1]-r[0])/8)
			poly, err := plotter.NewPolygon(plotter.XYs{
				{X: r[0], Y: FloorDBm}, {X: r[0] + ramp, Y: s.SignalDBm}, {X: r[1] - ramp, Y: s.SignalDBm}, {X: r[1], Y: FloorDBm},
			})
			if err != nil {
				return nil, err
			}
			rr, gg, bb, _ := col.RGBA()
			poly.Color = color.NRGBA{uint8(rr >> 8), uint8(gg >> 8), uint8(bb >> 8), 0x30}
			poly.LineStyle.Color = col
			poly.LineStyle.Width = vg.Points(1)
			p.Add(poly)
		}
		if len(order)-i <= MaxLabels && len(s.Ranges) > 0 {
			r := s.Ranges[0]
			lab.XYs = append(lab.XYs, plotter.XY{X: (r[0] + r[1]) / 2, Y: s.SignalDBm + 1})
			lab.Labels = append(lab.Labels, Short(s.Label, 22))
		}
	}
	if len(lab.XYs) > 0 {
		l, err := plotter.NewLabels(lab)
		if err != nil {
			return nil, err
		}
		for i := range l.TextStyle {
			l.TextStyle[i].Font.Size = 7
			l.TextStyle[i].XAlign = -0.5
		}
		p.Add(l)
	}
	return render(p, nil, size)
}
