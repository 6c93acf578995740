package collector

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/wifi"
)

// ExportOptions select what Export writes.
type ExportOptions struct {
	// Format is "jsonl" (default) or "csv".
	Format string
	// Boxes limits the export to these boxes; empty: all.
	Boxes []string
	// Kind is "bss", "channel" or "" (both; jsonl only — csv needs one,
	// and defaults to "bss").
	Kind string
	// After skips records with sequence numbers up to it (in each of a
	// box's spools).
	After uint64
}

// ExportRecord is one line of the jsonl export.
type ExportRecord struct {
	Box string `json:"box"`
	// Spool is the ID of the box's spool the record came from: sequence
	// numbers count per spool (a box whose spool starts over numbers from
	// 1 again).
	Spool        batch.SpoolID       `json:"spool"`
	Seq          uint64              `json:"seq"`
	Kind         string              `json:"kind"`
	CycleStarted time.Time           `json:"cycle_started"`
	Interface    string              `json:"interface,omitempty"`
	Source       string              `json:"source"`
	BSS          *wifi.Record        `json:"bss,omitempty"`
	Channel      *wifi.ChannelRecord `json:"channel,omitempty"`
}

var bssColumns = []string{"box", "seq", "cycle_started", "bssid", "ssid", "ssid_hex", "hidden", "freq_mhz", "channel",
	"band", "width_mhz", "center_mhz", "signal_dbm", "security", "akm", "pairwise", "group", "pmf", "standards",
	"country", "bss_load_stations", "bss_load_utilization", "rrm_11k", "btm_11v", "ft_11r", "wps_device_name", "seen_ms_ago", "spool"}

var channelColumns = []string{"box", "seq", "cycle_started", "freq_mhz", "channel", "band", "noise_dbm", "active_ms",
	"busy_ms", "ext_busy_ms", "rx_ms", "tx_ms", "in_use", "spool"}

// Export writes the store's records ordered by (spool ID, sequence) per box
// and returns how many it wrote. Every record carries its spool's ID (the
// last csv column, after the columns of earlier versions), so records of
// a box whose spool started over stay apart.
func Export(st *Store, w io.Writer, opt ExportOptions) (int, error) {
	switch opt.Format {
	case "", "jsonl", "csv":
	default:
		return 0, fmt.Errorf("unknown format %q (want jsonl or csv)", opt.Format)
	}
	switch opt.Kind {
	case "", "bss", "channel":
	default:
		return 0, fmt.Errorf("unknown kind %q (want bss or channel)", opt.Kind)
	}
	boxes := opt.Boxes
	if len(boxes) == 0 {
		all, err := st.Boxes()
		if err != nil {
			return 0, err
		}
		for _, b := range all {
			boxes = append(boxes, b.Box)
		}
	} else {
		all, err := st.Boxes()
		if err != nil {
			return 0, err
		}
		for _, b := range boxes {
			if !slices.ContainsFunc(all, func(s BoxStats) bool { return s.Box == b }) {
				return 0, fmt.Errorf("no data for box %q in %s", b, st.Path())
			}
		}
	}
	bw := bufio.NewWriter(w)
	var (
		enc *json.Encoder
		cw  *csv.Writer
	)
	kind := opt.Kind
	if opt.Format == "csv" {
		if kind == "" {
			kind = "bss"
		}
		cw = csv.NewWriter(bw)
		if kind == "bss" {
			cw.Write(bssColumns)
		} else {
			cw.Write(channelColumns)
		}
	} else {
		enc = json.NewEncoder(bw)
	}
	n := 0
	for _, box := range boxes {
		for e, err := range st.Entries(box, opt.After) {
			if err != nil {
				return n, err
			}
			b, err := e.Decode()
			if err != nil {
				return n, err
			}
			started := b.Started.UTC()
			seq := e.FirstSeq
			for i := range b.BSS {
				s := seq
				seq++
				if s <= opt.After || (kind != "" && kind != "bss") {
					continue
				}
				r := &b.BSS[i]
				if cw != nil {
					cw.Write(append(bssRow(box, s, started, r), batch.SpoolID(e.Spool).String()))
				} else if err := enc.Encode(ExportRecord{Box: box, Spool: batch.SpoolID(e.Spool), Seq: s, Kind: "bss", CycleStarted: started, Interface: b.Interface, Source: e.Source.String(), BSS: r}); err != nil {
					return n, err
				}
				n++
			}
			for i := range b.Channels {
				s := seq
				seq++
				if s <= opt.After || (kind != "" && kind != "channel") {
					continue
				}
				c := &b.Channels[i]
				if cw != nil {
					cw.Write(append(channelRow(box, s, started, c), batch.SpoolID(e.Spool).String()))
				} else if err := enc.Encode(ExportRecord{Box: box, Spool: batch.SpoolID(e.Spool), Seq: s, Kind: "channel", CycleStarted: started, Interface: b.Interface, Source: e.Source.String(), Channel: c}); err != nil {
					return n, err
				}
				n++
			}
		}
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, err
		}
	}
	return n, bw.Flush()
}

// csvText makes text that came over the air safe for spreadsheets: a cell
// starting with =, +, -, @, a tab or a carriage return is a formula to
// Excel, LibreOffice and Google Sheets (anyone in radio range can name a
// network "=HYPERLINK(…)"), so it gets a leading apostrophe, which they
// show as text. ssid_hex keeps the exact bytes.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func u(v uint64) string { return strconv.FormatUint(v, 10) }
func i(v int) string    { return strconv.Itoa(v) }
func bl(v bool) string  { return strconv.FormatBool(v) }

func opt[T any](p *T, f func(T) string) string {
	if p == nil {
		return ""
	}
	return f(*p)
}

func bssRow(box string, seq uint64, started time.Time, r *wifi.Record) []string {
	return []string{box, u(seq), started.Format(time.RFC3339Nano), r.BSSID, csvText(r.SSID), r.SSIDHex, bl(r.Hidden),
		i(r.FreqMHz), i(r.Channel), r.Band, i(r.WidthMHz), i(r.CenterMHz),
		opt(r.SignalDBm, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }),
		r.Security, strings.Join(r.AKM, " "), strings.Join(r.Pairwise, " "), r.Group, r.PMF,
		strings.Join(r.Standards, " "), csvText(r.Country),
		opt(r.Stations, func(v uint16) string { return u(uint64(v)) }),
		opt(r.Utilization, func(v uint8) string { return u(uint64(v)) }),
		bl(r.RRM), bl(r.BTM), bl(r.FT), csvText(r.WPSName), u(uint64(r.SeenMsAgo))}
}

func channelRow(box string, seq uint64, started time.Time, c *wifi.ChannelRecord) []string {
	return []string{box, u(seq), started.Format(time.RFC3339Nano), i(c.Frequency), i(c.Channel), c.Band,
		opt(c.NoiseDBm, i), opt(c.Active, u), opt(c.Busy, u), opt(c.ExtBusy, u), opt(c.RX, u), opt(c.TX, u), bl(c.InUse)}
}
