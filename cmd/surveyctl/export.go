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
	"strings"

	"github.com/surveybox/surveybox/collector"
)

func exportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("export", flag.ContinueOnError)
	fset.SetOutput(stderr)
	dir := fset.String("dir", defaultDir(), "data directory holding collector.db")
	format := fset.String("format", "jsonl", "jsonl or csv")
	box := fset.String("box", "", "only these boxes (comma-separated); default all")
	kind := fset.String("kind", "", "bss or channel; default both for jsonl, bss for csv")
	out := fset.String("o", "-", "output file; - is stdout")
	fset.Usage = func() {
		fmt.Fprintf(stderr, "usage: surveyctl export [-dir D] [-format jsonl|csv] [-box B] [-kind bss|channel] [-o F]\n\nWrites what was collected or pulled, one record per line, in sequence order.\n\n")
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return errUsage
	}
	if fset.NArg() != 0 {
		fmt.Fprintf(stderr, "export: unexpected arguments %q\n", fset.Args())
		return errUsage
	}
	if *format != "jsonl" && *format != "csv" {
		fmt.Fprintf(stderr, "export: -format must be jsonl or csv, not %q\n", *format)
		return errUsage
	}
	path := filepath.Join(*dir, "collector.db")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("nothing collected in %s: no collector.db (run surveyctl collect or pull first, or set -dir)", *dir)
	}
	st, err := collector.Open(path)
	if err != nil {
		return err
	}
	defer st.Close()
	opt := collector.ExportOptions{Format: *format, Kind: *kind}
	if *box != "" {
		opt.Boxes = strings.Split(*box, ",")
	}
	w := stdout
	var f *os.File
	if *out != "-" {
		if f, err = os.Create(*out); err != nil {
			return err
		}
		w = f
	}
	n, err := collector.Export(st, w, opt)
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
