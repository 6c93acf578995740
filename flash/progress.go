package flash

import (
	"fmt"
	"io"
	"os"
	"time"
)

// meter reports a long copy's progress: bytes done of the total, rate and
// time left. On a terminal it rewrites one line twice a second; elsewhere
// (a log file, CI) it prints a line every few seconds.
type meter struct {
	w      io.Writer
	verb   string // "writing", "verifying"
	total  int64
	done   int64
	start  time.Time
	last   time.Time
	every  time.Duration
	tty    bool
	now    func() time.Time
	active bool // a terminal line is open
}

func newMeter(w io.Writer, verb string, total int64) *meter {
	m := &meter{w: w, verb: verb, total: total, every: 5 * time.Second, now: time.Now}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			m.tty, m.every = true, 500*time.Millisecond
		}
	}
	m.start = m.now()
	m.last = m.start
	return m
}

func (m *meter) add(n int64) {
	if m.w == nil {
		return
	}
	m.done += n
	if now := m.now(); now.Sub(m.last) >= m.every {
		m.last = now
		m.print(m.line(now))
	}
}

func (m *meter) print(s string) {
	if m.tty {
		// Pad so that a shorter line covers the previous one.
		fmt.Fprintf(m.w, "\r%-72s", s)
		m.active = true
	} else {
		fmt.Fprintln(m.w, s)
	}
}

// line is e.g. "writing  512.0 MiB of 1.3 GiB  39%  21.4 MiB/s  1:02 left".
func (m *meter) line(now time.Time) string {
	elapsed := now.Sub(m.start)
	rate := rateOf(m.done, elapsed)
	pct := 100.0
	if m.total > 0 {
		pct = 100 * float64(m.done) / float64(m.total)
	}
	left := "?"
	if rate > 0 {
		left = clock(time.Duration(float64(m.total-m.done) / rate * float64(time.Second)))
	}
	return fmt.Sprintf("%s %s of %s  %3.0f%%  %s/s  %s left", m.verb, humanBytes(m.done), humanBytes(m.total), pct, humanBytes(int64(rate)), left)
}

// finish prints the total, the time it took and the average rate.
func (m *meter) finish() time.Duration {
	elapsed := m.now().Sub(m.start)
	if m.w == nil {
		return elapsed
	}
	s := fmt.Sprintf("%s %s: 100%% in %s (%s/s)", m.verb, humanBytes(m.done), clock(elapsed), humanBytes(int64(rateOf(m.done, elapsed))))
	if m.active {
		fmt.Fprintf(m.w, "\r%-72s\n", s)
	} else {
		fmt.Fprintln(m.w, s)
	}
	return elapsed
}

func rateOf(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// clock formats a duration as m:ss (or h:mm:ss).
func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
