package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/cycles"
	"github.com/surveybox/surveybox/exports/pcapng"
	"github.com/surveybox/surveybox/exports/wigle"
)

func exportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("export", flag.ContinueOnError)
	fset.SetOutput(stderr)
	dir := fset.String("dir", defaultDir(), "data directory holding collector.db")
	format := fset.String("format", "jsonl", "jsonl, csv, wigle (WiGLE CSV 1.6) or pcapng (beacons for Wireshark)")
	box := fset.String("box", "", "only these boxes (comma-separated); default all (wigle: the only box, or give one)")
	kind := fset.String("kind", "", "bss or channel; default both for jsonl, bss for csv")
	out := fset.String("o", "-", "output file; - is stdout")
	var rf rangeFlags
	rf.register(fset)
	loc := wigle.Location{Lat: math.NaN(), Lon: math.NaN()}
	floatFlag(fset, "lat", "wigle: the box's latitude in degrees (required: the box has no GPS)", &loc.Lat)
	floatFlag(fset, "lon", "wigle: the box's longitude in degrees (required)", &loc.Lon)
	floatFlag(fset, "alt", "wigle: the box's altitude in metres", &loc.AltitudeM)
	loc.AccuracyM = 30
	floatFlag(fset, "accuracy", "wigle: how well the position is known, in metres (default 30)", &loc.AccuracyM)
	fset.Usage = func() {
		fmt.Fprintf(stderr, "usage: surveyctl export [-dir D] [-format jsonl|csv|wigle|pcapng] [-box B] [-kind bss|channel] [-o F]\n"+
			"       surveyctl export -format wigle -lat 47.3769 -lon 8.5417 [-alt M] [-accuracy M] [-box B] -o F\n\n"+
			"Writes what was collected or pulled. jsonl and csv: one record per line, in\n"+
			"sequence order, every box. wigle: one row per BSSID (first seen, strongest\n"+
			"signal) at the place you give, since the box does not know where it stands.\n"+
			"pcapng: every observation as an 802.11 beacon with a radiotap header (channel,\n"+
			"signal), the box's name as the packet comment. -from/-to/-last apply to wigle\n"+
			"and pcapng.\n\n")
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return errUsage
	}
	if fset.NArg() != 0 {
		fmt.Fprintf(stderr, "export: unexpected arguments %q\n", fset.Args())
		return errUsage
	}
	switch *format {
	case "jsonl", "csv", "pcapng":
	case "wigle":
		if math.IsNaN(loc.Lat) || math.IsNaN(loc.Lon) {
			fmt.Fprintf(stderr, "export: -format wigle needs the box's place: -lat and -lon (degrees)\n")
			return errUsage
		}
		if err := loc.Validate(); err != nil {
			fmt.Fprintf(stderr, "export: %v\n", err)
			return errUsage
		}
	default:
		fmt.Fprintf(stderr, "export: -format must be jsonl or csv, not %q — or wigle, or pcapng\n", *format)
		return errUsage
	}
	rng, err := rf.parse(time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "export: %v\n", err)
		return errUsage
	}
	st, err := openStore(*dir)
	if err != nil {
		return err
	}
	defer st.Close()
	var boxes []string
	if *box != "" {
		boxes = strings.Split(*box, ",")
	}
	w := stdout
	var f *os.File
	if *out != "-" {
		if f, err = os.Create(*out); err != nil {
			return err
		}
		w = f
	}
	var n int
	switch *format {
	case "wigle":
		n, err = exportWigle(ctx, st, w, boxes, rng, loc, stderr)
	case "pcapng":
		n, err = exportPcapng(ctx, st, w, boxes, rng, stderr)
	default:
		n, err = collector.Export(st, w, collector.ExportOptions{Format: *format, Kind: *kind, Boxes: boxes})
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "exported %d records\n", n)
	return nil
}

// floatFlag defines a float flag that keeps *p's value (NaN: unset)
// until given.
func floatFlag(fs *flag.FlagSet, name, usage string, p *float64) {
	fs.Func(name, usage, func(s string) error {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%q is not a number", s)
		}
		*p = v
		return nil
	})
}

func exportWigle(ctx context.Context, st *collector.Store, w io.Writer, boxes []string, rng cycles.Range, loc wigle.Location, stderr io.Writer) (int, error) {
	if len(boxes) > 1 {
		return 0, errors.New("wigle: one box at a time (each stood somewhere else): give -box")
	}
	name, err := pickBox(st, strings.Join(boxes, ""))
	if err != nil {
		return 0, err
	}
	c := wigle.NewCollector()
	err = eachCycle(ctx, st, name, rng, stderr, func(cy cycles.Cycle) error {
		for i := range cy.Batch.BSS {
			c.Add(cy.Batch.Started, &cy.Batch.BSS[i])
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return c.Len(), c.Write(w, wigle.Header{App: "surveyctl-" + version(), Device: name}, loc)
}

func exportPcapng(ctx context.Context, st *collector.Store, w io.Writer, boxes []string, rng cycles.Range, stderr io.Writer) (int, error) {
	if len(boxes) == 0 {
		all, err := st.Boxes()
		if err != nil {
			return 0, err
		}
		for _, b := range all {
			boxes = append(boxes, b.Box)
		}
	}
	pw, err := pcapng.NewWriter(w, "surveyctl "+version())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, box := range boxes {
		name, err := pickBox(st, box)
		if err != nil {
			return n, err
		}
		skipped := 0
		err = eachCycle(ctx, st, name, rng, stderr, func(cy cycles.Cycle) error {
			b := &cy.Batch
			for i := range b.BSS {
				r := &b.BSS[i]
				// When the BSS was last heard: the scan's end less its age.
				at := b.Finished.Add(-msDuration(r.SeenMsAgo))
				if at.Before(b.Started) {
					at = b.Started
				}
				if err := pw.WriteBeacon(at, r, "box "+name); err != nil {
					if errors.Is(err, pcapng.ErrTooLarge) {
						skipped++
						continue
					}
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		if skipped > 0 {
			fmt.Fprintf(stderr, "export %s: %d observations too large for a frame were left out\n", name, skipped)
		}
	}
	return n, pw.Flush()
}

// eachCycle calls fn for box's decodable cycles in rng, reporting
// progress and counting the cycles that do not decode.
func eachCycle(ctx context.Context, st *collector.Store, box string, rng cycles.Range, stderr io.Writer, fn func(cycles.Cycle) error) error {
	plan, err := cycles.Survey(ctx, st, box, rng)
	if err != nil {
		return err
	}
	prog := newProgress(stderr, "export "+box)
	done, bad := 0, 0
	for cy, err := range cycles.Read(ctx, st, box, cycles.Options{Range: rng}) {
		if err != nil {
			return err
		}
		done++
		prog.cycles(done, plan.Cycles)
		if cy.Err != nil {
			bad++
			continue
		}
		if err := fn(cy); err != nil {
			return err
		}
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "export %s: %d stored cycles do not decode and were skipped\n", box, bad)
	}
	return nil
}
