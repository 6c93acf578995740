package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/cycles"
	"github.com/surveybox/surveybox/report"
	"github.com/surveybox/surveybox/report/analysis"
)

func reportCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fset := flag.NewFlagSet("report", flag.ContinueOnError)
	fset.SetOutput(stderr)
	dir := fset.String("dir", defaultDir(), "data directory holding collector.db")
	box := fset.String("box", "", "the box to report on (default: the only box in the store)")
	var rf rangeFlags
	rf.register(fset)
	out := fset.String("o", "", "output file (default BOX-report.html)")
	fset.Usage = func() {
		fmt.Fprintf(stderr, "usage: surveyctl report [-box B] [-from T] [-to T | -last D] [-o FILE]\n\n"+
			"Writes one self-contained HTML file for the box and time range (default: all\n"+
			"of it): summary, ranked findings, the network table, channel graphs, signal\n"+
			"and channel utilisation over time, BSS Load and the box's health. It opens\n"+
			"offline by double-click and prints well.\n\n")
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return errUsage
	}
	if fset.NArg() != 0 {
		fmt.Fprintf(stderr, "report: unexpected arguments %q\n", fset.Args())
		return errUsage
	}
	rng, err := rf.parse(time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return errUsage
	}
	st, err := openStore(*dir)
	if err != nil {
		return err
	}
	defer st.Close()
	name, err := pickBox(st, *box)
	if err != nil {
		return err
	}
	path := *out
	if path == "" {
		path = name + "-report.html"
	}
	start := time.Now()
	prog := newProgress(stderr, "report "+name)
	r, err := analysis.Build(ctx, st, name, analysis.Options{Range: rng, Progress: prog.cycles})
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = report.Write(f, r, report.Options{Version: version()})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "report %s: %d cycles, %d BSSes, %d findings in %s (%.1f MB) in %s\n",
		name, r.Cycles, len(r.BSS), len(r.Findings), path, float64(fi.Size())/1e6, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// openStore opens DIR/collector.db for reading what was collected.
func openStore(dir string) (*collector.Store, error) {
	path := filepath.Join(dir, "collector.db")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("nothing collected in %s: no collector.db (run surveyctl collect or pull first, or set -dir)", dir)
	}
	return collector.Open(path)
}

// pickBox returns box if the store has it, or the store's only box.
func pickBox(st *collector.Store, box string) (string, error) {
	all, err := st.Boxes()
	if err != nil {
		return "", err
	}
	var names []string
	for _, b := range all {
		if b.Box == box {
			return box, nil
		}
		names = append(names, b.Box)
	}
	switch {
	case box != "":
		return "", fmt.Errorf("no data for box %q in %s (boxes: %s)", box, st.Path(), strings.Join(names, ", "))
	case len(names) == 1:
		return names[0], nil
	case len(names) == 0:
		return "", fmt.Errorf("no box has data in %s", st.Path())
	}
	return "", fmt.Errorf("the store holds several boxes: choose one with -box (%s)", strings.Join(names, ", "))
}

// rangeFlags select a time range.
type rangeFlags struct {
	from, to string
	last     time.Duration
}

func (rf *rangeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&rf.from, "from", "", "first cycle's start, RFC 3339 (2026-11-02T08:00:00Z) or a UTC date (2026-11-02); default: the first stored")
	fs.StringVar(&rf.to, "to", "", "end of the range (exclusive), same forms; default: the last stored")
	fs.DurationVar(&rf.last, "last", 0, "only the last D before now (e.g. 24h); instead of -from")
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 (2026-11-02T08:00:00Z) nor a date (2026-11-02)", s)
	}
	return t, nil
}

func (rf *rangeFlags) parse(now time.Time) (cycles.Range, error) {
	var r cycles.Range
	var err error
	if rf.last != 0 && rf.from != "" {
		return r, errors.New("give -from or -last, not both")
	}
	if rf.last < 0 {
		return r, errors.New("-last must be positive")
	}
	if rf.from != "" {
		if r.From, err = parseTime(rf.from); err != nil {
			return r, fmt.Errorf("-from: %w", err)
		}
	}
	if rf.last > 0 {
		r.From = now.Add(-rf.last)
	}
	if rf.to != "" {
		if r.To, err = parseTime(rf.to); err != nil {
			return r, fmt.Errorf("-to: %w", err)
		}
	}
	if !r.From.IsZero() && !r.To.IsZero() && !r.From.Before(r.To) {
		return r, errors.New("-from must be before -to")
	}
	return r, nil
}

// progress prints how far long work has come, at most every two
// seconds.
type progress struct {
	w    io.Writer
	what string
	last time.Time
}

func newProgress(w io.Writer, what string) *progress {
	return &progress{w: w, what: what, last: time.Now()}
}

func (p *progress) cycles(done, total int) {
	if done != total && time.Since(p.last) < 2*time.Second {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "%s: %d of %d cycles (%d%%)\n", p.what, done, total, done*100/max(total, 1))
}

// version is surveyctl's module version, or "devel".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func msDuration(ms uint32) time.Duration { return time.Duration(ms) * time.Millisecond }
