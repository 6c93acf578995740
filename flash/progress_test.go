package flash

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestMeter(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := newMeter(&out, "writing", 100<<20)
	m.now = func() time.Time { return now }
	m.start, m.last = now, now
	for range 10 {
		now = now.Add(time.Second)
		m.add(5 << 20) // 5 MiB/s
	}
	now = now.Add(10 * time.Second)
	m.add(50 << 20)
	if d := m.finish(); d != 20*time.Second {
		t.Errorf("finish = %v, want 20s", d)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"writing 25.0 MiB of 100.0 MiB   25%  5.0 MiB/s  0:15 left",
		"writing 50.0 MiB of 100.0 MiB   50%  5.0 MiB/s  0:10 left",
		"writing 100.0 MiB of 100.0 MiB  100%  5.0 MiB/s  0:00 left",
		"writing 100.0 MiB: 100% in 0:20 (5.0 MiB/s)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("progress:\n%s\nwant:\n%s", out.String(), strings.Join(want, "\n"))
	}
}

func TestClock(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0:00", 59 * time.Second: "0:59", 61 * time.Second: "1:01", 3725 * time.Second: "1:02:05",
	} {
		if got := clock(d); got != want {
			t.Errorf("clock(%v) = %q, want %q", d, got, want)
		}
	}
}
