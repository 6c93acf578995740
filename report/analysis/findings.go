package analysis

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/surveybox/surveybox/wifi"
)

// Severity ranks findings.
type Severity int

const (
	Info Severity = iota
	Warning
	Serious
)

// severity names as the report prints them
func (s Severity) String() string {
	switch s {
	case Serious:
		return "problem"
	case Warning:
		return "warning"
	}
	return "info"
}

// Finding is one statement for people, with its details.
type Finding struct {
	Severity Severity
	Topic    string // "security", "channels", "networks", "box"
	Text     string
	// Items name what the finding is about (networks, channels,
	// periods), at most maxItems.
	Items []string
	// More counts items left out.
	More  int
	score float64
}

const maxItems = 12

func (f *Finding) items(s []string) {
	if len(s) > maxItems {
		f.More = len(s) - maxItems
		s = s[:maxItems]
	}
	f.Items = s
}

// Label names a BSS for people: "SSID (bssid)", or "hidden (bssid)".
func (x *BSS) Label() string {
	if x.Hidden || x.SSID == "" {
		return "hidden network (" + x.BSSID + ")"
	}
	return fmt.Sprintf("%q (%s)", x.SSID, x.BSSID)
}

// BandName is "2.4 GHz" for "2.4".
func BandName(b string) string {
	if b == "" {
		return "unknown band"
	}
	return b + " GHz"
}

// Pct formats a share in percent.
func Pct(v float64) string {
	p := v * 100
	switch {
	case p == 0:
		return "0%"
	case p < 1:
		return fmt.Sprintf("%.2f%%", p)
	case p < 10:
		return fmt.Sprintf("%.1f%%", p)
	}
	return fmt.Sprintf("%.0f%%", p)
}

// Dur formats a duration for people, to the minute (seconds below one).
func Dur(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	d = d.Round(time.Minute)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h, m := d/time.Hour, (d%time.Hour)/time.Minute
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh %dm", days, h, m)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	}
	return fmt.Sprintf("%dm", m)
}

// findings derives the report's findings, most important first.
func findings(r *Report) []Finding {
	var fs []Finding
	fs = append(fs, securityFindings(r)...)
	fs = append(fs, healthFindings(r)...)
	fs = append(fs, channelFindings(r)...)
	fs = append(fs, networkFindings(r)...)
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), cmp.Compare(b.score, a.score))
	})
	return fs
}

func labels(xs []*BSS) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.Label()
	}
	return out
}

func filter(r *Report, keep func(*BSS) bool) []*BSS {
	var out []*BSS
	for _, x := range r.BSS {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func securityFindings(r *Report) []Finding {
	type rule struct {
		sev  Severity
		keep func(*BSS) bool
		text string
	}
	rules := []rule{
		{Serious, func(x *BSS) bool { return x.Security == "open" }, "%s with no encryption at all (open): anyone nearby can read their traffic."},
		{Serious, func(x *BSS) bool { return x.Security == "wep" }, "%s use WEP, which is broken: the key can be recovered in minutes."},
		{Warning, func(x *BSS) bool { return slices.Contains(x.Pairwise, "tkip") || x.Group == "tkip" }, "%s still offer TKIP, a deprecated cipher that limits every client to 54 Mbit/s."},
		{Warning, func(x *BSS) bool { return x.WPA1 }, "%s still advertise WPA (version 1)."},
		{Warning, func(x *BSS) bool {
			return (x.Security == "wpa3" && x.PMF != "required") || (x.Security == "wpa2/wpa3" && x.PMF == "none")
		}, "%s offer WPA3 without the protected management frames it requires (PMF)."},
	}
	var fs []Finding
	for _, rl := range rules {
		xs := filter(r, rl.keep)
		if len(xs) == 0 {
			continue
		}
		f := Finding{Severity: rl.sev, Topic: "security", Text: fmt.Sprintf(rl.text, plural(len(xs), "BSS", "BSSes")), score: float64(len(xs))}
		f.items(labels(xs))
		fs = append(fs, f)
	}
	return fs
}

func healthFindings(r *Report) []Finding {
	var fs []Finding
	if n := len(r.Gaps); n > 0 {
		s := r.Summary
		share := float64(s.SilentTotal) / float64(max(r.Last.Sub(r.First), time.Second))
		sev := Warning
		if share > 0.1 {
			sev = Serious
		}
		f := Finding{Severity: sev, Topic: "box", score: share * 100,
			Text: fmt.Sprintf("The box was silent %s for %s in all (%s of the survey); the longest lasted %s from %s. Cycles during these periods are missing, not zero.",
				plural(n, "time", "times"), Dur(s.SilentTotal), Pct(share), Dur(s.LongestGap.Duration()), s.LongestGap.From.UTC().Format("Jan 2 15:04 MST"))}
		var items []string
		for _, g := range r.Gaps {
			items = append(items, fmt.Sprintf("%s – %s (%s, about %d cycles)", g.From.UTC().Format("Jan 2 15:04:05"), g.To.UTC().Format("Jan 2 15:04:05 MST"), Dur(g.Duration()), g.Missed))
		}
		f.items(items)
		fs = append(fs, f)
	}
	if m := r.Store.Missing; m > 0 {
		fs = append(fs, Finding{Severity: Serious, Topic: "box", score: float64(m),
			Text: fmt.Sprintf("%s never reached the collector: the box evicted them from its full spool before they were delivered (counted over all time, not only this range).", plural(int(m), "record", "records"))})
	}
	if q := r.Store.Quarantined; q > 0 {
		fs = append(fs, Finding{Severity: Warning, Topic: "box", score: float64(q),
			Text: fmt.Sprintf("%s arrived but could not be read (kept apart in the collector's quarantine).", plural(int(q), "stored cycle", "stored cycles"))})
	}
	if r.Corrupt > 0 {
		fs = append(fs, Finding{Severity: Warning, Topic: "box", score: float64(r.Corrupt),
			Text: fmt.Sprintf("%s in the store do not decode and were skipped.", plural(r.Corrupt, "cycle", "cycles"))})
	}
	if n := r.Aborted + r.EventsLost; n > 0 {
		fs = append(fs, Finding{Severity: Info, Topic: "box", score: float64(n),
			Text: fmt.Sprintf("%d scans were aborted and %d ended without the kernel's notice; their results may be incomplete.", r.Aborted, r.EventsLost)})
	}
	if len(r.Problems) > 0 {
		total := 0
		var items []string
		for _, p := range r.Problems {
			total += p.Count
			items = append(items, fmt.Sprintf("%s (%d×)", p.Text, p.Count))
		}
		f := Finding{Severity: Warning, Topic: "box", score: float64(total),
			Text: fmt.Sprintf("The box's decoder reported %s.", plural(total, "problem", "problems"))}
		f.items(items)
		fs = append(fs, f)
	}
	return fs
}

// CongestedAt is the number of BSSes sharing a primary channel from which
// a channel counts as crowded.
const CongestedAt = 4

func channelFindings(r *Report) []Finding {
	var fs []Finding
	for _, c := range r.Channels {
		if c.CoChannel < CongestedAt {
			continue
		}
		sev := Info
		if c.CoChannel >= 2*CongestedAt {
			sev = Warning
		}
		text := fmt.Sprintf("Channel %d (%s) is crowded: %s use it as their primary channel and %d more overlap it.",
			c.Channel, BandName(c.Band), plural(c.CoChannel, "BSS", "BSSes"), c.Overlapping)
		if c.HasShare {
			text += fmt.Sprintf(" The radio found it busy %s of the time.", Pct(c.Share))
		}
		fs = append(fs, Finding{Severity: sev, Topic: "channels", Text: text, score: float64(c.CoChannel + c.Overlapping)})
	}
	return fs
}

// margin is how long after the first or before the last cycle a BSS must
// first or last be seen to count as appearing or vanishing mid-survey:
// a tenth of the survey, at least three cycles (a BSS missed by one scan is
// not gone) and at most five minutes (an access point that rebooted).
func margin(r *Report) time.Duration {
	return max(3*r.Interval, min(5*time.Minute, r.Last.Sub(r.First)/10))
}

func networkFindings(r *Report) []Finding {
	var fs []Finding
	m := margin(r)
	add := func(xs []*BSS, f Finding) {
		if len(xs) == 0 {
			return
		}
		f.score = float64(len(xs))
		f.items(labels(xs))
		fs = append(fs, f)
	}
	app := filter(r, func(x *BSS) bool { return x.First.Sub(r.First) > m })
	add(app, Finding{Topic: "networks", Text: fmt.Sprintf("%s appeared during the survey (first seen more than %s after it began).", plural(len(app), "BSS", "BSSes"), Dur(m))})
	van := filter(r, func(x *BSS) bool { return r.Last.Sub(x.Last) > m })
	add(van, Finding{Topic: "networks", Text: fmt.Sprintf("%s vanished during the survey (last seen more than %s before it ended).", plural(len(van), "BSS", "BSSes"), Dur(m))})
	moved := filter(r, func(x *BSS) bool { return len(x.PrimaryChannels) > 1 })
	f := Finding{Topic: "networks", Text: fmt.Sprintf("%s changed channel during the survey.", plural(len(moved), "BSS", "BSSes"))}
	if len(moved) > 0 {
		var items []string
		for _, x := range moved {
			var chs []string
			for _, c := range x.PrimaryChannels {
				chs = append(chs, fmt.Sprintf("%d (%d×)", c.Channel, c.Count))
			}
			items = append(items, x.Label()+": channels "+strings.Join(chs, ", "))
		}
		f.score = float64(len(moved))
		f.items(items)
		fs = append(fs, f)
	}
	hidden := filter(r, func(x *BSS) bool { return x.Hidden })
	add(hidden, Finding{Topic: "networks", Text: fmt.Sprintf("%s hide their network name (SSID); clients must know it to connect.", plural(len(hidden), "BSS", "BSSes"))})
	return fs
}

// QuietestText describes a channel pick for people.
func (p ChannelPick) Text() string {
	kind := ""
	if p.Band == wifi.Band5GHz {
		kind = " without radar detection (non-DFS)"
		if p.DFS {
			kind = " with radar detection (DFS)"
		}
	}
	var parts []string
	for _, c := range p.Channels {
		parts = append(parts, fmt.Sprintf("%d (busy %s, %d BSSes on or over it)", c.Channel, Pct(c.Share), c.CoChannel+c.Overlapping))
	}
	return fmt.Sprintf("Least busy %s channels%s: %s.", BandName(p.Band), kind, strings.Join(parts, ", "))
}
