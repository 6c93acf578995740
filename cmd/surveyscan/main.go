// Command surveyscan is the survey engine's explorer for developers: it
// scans with nl80211 as the box does and prints what it finds, as text or
// JSON, once or in cycles, and can capture the raw netlink replies for
// testdata. It needs Linux, a wireless interface and root (or
// CAP_NET_ADMIN). The box's own service is package appliance.
//
//	surveyscan -once -json -iface wlan0          one JSON object per BSS
//	surveyscan -once -json -survey -iface wlan0  the channel survey
//	surveyscan -json -cycles 10 -interval 5s     ten cycles, a summary line each
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/surveybox/surveybox/survey"
	"github.com/surveybox/surveybox/wifi"
	"golang.org/x/sys/unix"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command-line flags.
type options struct {
	once      bool
	json      bool
	iface     string
	survey    bool
	noTrigger bool
	passive   bool
	ssids     []string
	freqs     []int
	flush     bool
	capture   string
	cycles    int
	interval  time.Duration
	timeout   time.Duration
	verbose   bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("surveyscan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.once, "once", false, "scan once, print the results and exit")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per line")
	fs.StringVar(&o.iface, "iface", "", "wireless interface to scan with (default: the first one)")
	fs.BoolVar(&o.survey, "survey", false, "with -once: print the channel survey instead of the BSSes")
	fs.BoolVar(&o.noTrigger, "no-trigger", false, "with -once: dump the kernel's scan cache without triggering a scan")
	fs.BoolVar(&o.passive, "passive", false, "passive scan: send no probe requests")
	fs.Func("ssid", "also probe for this SSID (repeatable; finds hidden networks)", func(v string) error {
		if len(v) > 32 {
			return fmt.Errorf("SSID %q is longer than 32 bytes", v)
		}
		o.ssids = append(o.ssids, v)
		return nil
	})
	fs.Func("freq", "comma-separated frequencies in MHz to scan (default: all)", func(v string) error {
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				return fmt.Errorf("bad frequency %q", f)
			}
			o.freqs = append(o.freqs, n)
		}
		return nil
	})
	fs.BoolVar(&o.flush, "flush", false, "expire cached results older than the scan")
	fs.StringVar(&o.capture, "capture", "", "with -once: write the raw netlink replies into this directory")
	fs.IntVar(&o.cycles, "cycles", 0, "scan this many cycles, printing one JSON summary line per cycle, then exit (0: run until stopped)")
	fs.DurationVar(&o.interval, "interval", 30*time.Second, "pause between scan cycles")
	fs.DurationVar(&o.timeout, "scan-timeout", 30*time.Second, "give up waiting for a scan after this long")
	fs.BoolVar(&o.verbose, "v", false, "log debug details")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.passive && len(o.ssids) > 0 {
		return o, errors.New("-passive and -ssid exclude each other: a passive scan sends no probes")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "surveyscan:", err)
		return 2
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := scanMain(ctx, o, log, stdout); err != nil {
		log.Error("surveyscan failed", "err", err)
		return 1
	}
	return 0
}

// scanMain scans as the flags say.
func scanMain(ctx context.Context, o options, log *slog.Logger, stdout io.Writer) error {
	sc, err := survey.Open(ctx, survey.Config{Interface: o.iface, Logger: log, ScanTimeout: o.timeout})
	if err != nil {
		return err
	}
	defer sc.Close()
	ifc := sc.Interface()
	log.Debug("using wireless interface", "iface", ifc.Name, "phy", ifc.PHYName, "ifindex", ifc.Index)
	if err := survey.BringUp(ifc.Name); err != nil {
		return err
	}
	req := survey.ScanRequest{Passive: o.passive, Frequencies: o.freqs, Flush: o.flush}
	for _, s := range o.ssids {
		req.SSIDs = append(req.SSIDs, []byte(s))
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)

	switch {
	case o.once && o.survey:
		return onceSurvey(ctx, sc, o, log, enc, stdout)
	case o.once:
		return onceScan(ctx, sc, o, req, log, enc, stdout)
	}
	return runCycles(ctx, sc, o, req, log, enc)
}

func onceScan(ctx context.Context, sc *survey.Scanner, o options, req survey.ScanRequest, log *slog.Logger, enc *json.Encoder, stdout io.Writer) error {
	if !o.noTrigger {
		res, err := sc.Scan(ctx, req)
		if err != nil {
			return err
		}
		if !res.Triggered {
			log.Warn("another program kept scanning; printing its results", "busy", res.Busy)
		}
		if res.Aborted {
			log.Warn("the scan was aborted; results may be partial")
		}
	}
	// Dump after the scan: the capture gets exactly the bytes decoded.
	msgs, err := sc.DumpRaw(ctx, unix.NL80211_CMD_GET_SCAN)
	if err != nil {
		return err
	}
	if err := writeCapture(o.capture, "scan.nl", msgs); err != nil {
		return err
	}
	bsses, decErrs := survey.DecodeScan(msgs)
	for _, e := range decErrs {
		log.Warn("undecodable scan entry", "err", e)
	}
	for i := range bsses {
		if err := printRecord(enc, stdout, o.json, bsses[i].Record()); err != nil {
			return err
		}
	}
	return nil
}

func onceSurvey(ctx context.Context, sc *survey.Scanner, o options, log *slog.Logger, enc *json.Encoder, stdout io.Writer) error {
	msgs, err := sc.DumpRaw(ctx, unix.NL80211_CMD_GET_SURVEY)
	if err != nil {
		return fmt.Errorf("reading the channel survey: %w", err)
	}
	if err := writeCapture(o.capture, "survey.nl", msgs); err != nil {
		return err
	}
	chans, decErrs := survey.DecodeSurvey(msgs)
	for _, e := range decErrs {
		log.Warn("undecodable survey entry", "err", e)
	}
	for i := range chans {
		r := chans[i].Record()
		if o.json {
			if err := enc.Encode(r); err != nil {
				return err
			}
			continue
		}
		noise := "-"
		if r.NoiseDBm != nil {
			noise = strconv.Itoa(*r.NoiseDBm)
		}
		fmt.Fprintf(stdout, "%5d MHz ch %-3d noise %4s dBm active %s busy %s in_use=%v\n",
			r.Frequency, r.Channel, noise, msOrDash(r.Active), msOrDash(r.Busy), r.InUse)
	}
	return nil
}

func msOrDash(v *uint64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatUint(*v, 10) + "ms"
}

func printRecord(enc *json.Encoder, w io.Writer, asJSON bool, r wifi.Record) error {
	if asJSON {
		return enc.Encode(r)
	}
	sig := "?"
	if r.SignalDBm != nil {
		sig = strconv.FormatFloat(*r.SignalDBm, 'f', 2, 64)
	}
	ssid := r.SSID
	if r.Hidden && ssid == "" {
		ssid = "<hidden>"
	}
	_, err := fmt.Fprintf(w, "%s %5d MHz ch %-3d %3d MHz %7s dBm %-12s %-8s %q\n",
		r.BSSID, r.FreqMHz, r.Channel, r.WidthMHz, sig, r.Security, strings.Join(r.Standards, "/"), ssid)
	return err
}

// cycleLine is the JSON summary printed for each scan cycle.
type cycleLine struct {
	Type       string       `json:"type"` // "cycle" or "follow-up"
	TimeMs     int64        `json:"t_ms"` // when the snapshot was delivered, Unix ms
	Cycle      int          `json:"cycle,omitempty"`
	OK         bool         `json:"ok"`
	Error      string       `json:"error,omitempty"`
	BSSes      int          `json:"bss"`
	SSIDs      []string     `json:"ssids,omitempty"`
	Triggered  bool         `json:"triggered"`
	Busy       int          `json:"busy,omitempty"`
	Aborted    bool         `json:"aborted,omitempty"`
	EventsLost bool         `json:"events_lost,omitempty"`
	DurationMs int64        `json:"duration_ms"`
	Stats      survey.Stats `json:"stats"`
}

func runCycles(ctx context.Context, sc *survey.Scanner, o options, req survey.ScanRequest, log *slog.Logger, enc *json.Encoder) error {
	failed := 0
	err := sc.Run(ctx, survey.RunOptions{Request: req, Interval: o.interval, Cycles: o.cycles}, func(s survey.Snapshot) {
		l := cycleLine{Type: "follow-up", TimeMs: time.Now().UnixMilli(), Cycle: s.Cycle, OK: s.Err == nil, BSSes: len(s.Result.BSSes),
			Triggered: s.Result.Triggered, Busy: s.Result.Busy, Aborted: s.Result.Aborted,
			EventsLost: s.Result.EventsLost, Stats: sc.Stats()}
		if s.Own {
			l.Type = "cycle"
		}
		if !s.Result.Finished.IsZero() {
			l.DurationMs = s.Result.Finished.Sub(s.Result.Started).Milliseconds()
		}
		if s.Err != nil {
			l.Error = s.Err.Error()
			if s.Own {
				failed++
			}
			log.Warn("scan cycle failed", "cycle", s.Cycle, "err", s.Err)
		}
		seen := map[string]bool{}
		for i := range s.Result.BSSes {
			name := wifi.DisplaySSID(s.Result.BSSes[i].SSID())
			if !seen[name] {
				seen[name] = true
				l.SSIDs = append(l.SSIDs, name)
			}
		}
		if o.json || o.cycles > 0 {
			_ = enc.Encode(l)
		} else {
			log.Info("scan", "type", l.Type, "cycle", l.Cycle, "bss", l.BSSes, "ok", l.OK, "ms", l.DurationMs)
		}
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of the scan cycles failed", failed)
	}
	return nil
}

// writeCapture stores raw netlink replies for testdata when dir is set.
func writeCapture(dir, name string, msgs []netlink.Message) error {
	if dir == "" {
		return nil
	}
	b, err := survey.MarshalMessages(msgs)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the capture directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		return fmt.Errorf("writing the capture: %w", err)
	}
	return nil
}
