package vmtest

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/surveybox/surveybox/internal/testbed"
	"github.com/surveybox/surveybox/survey"
	"github.com/surveybox/surveybox/wifi"
)

// cycleLine mirrors surveyscan's per-cycle JSON summary.
type cycleLine struct {
	Type       string       `json:"type"`
	TimeMs     int64        `json:"t_ms"`
	Cycle      int          `json:"cycle"`
	OK         bool         `json:"ok"`
	Error      string       `json:"error"`
	BSSes      int          `json:"bss"`
	SSIDs      []string     `json:"ssids"`
	Triggered  bool         `json:"triggered"`
	Busy       int          `json:"busy"`
	DurationMs int64        `json:"duration_ms"`
	Stats      survey.Stats `json:"stats"`
}

// TestScannerSurvivesScanStorm is the libnl failure replayed on the real
// kernel: while surveyscan scans in cycles, another process keeps
// triggering scans (`iw dev wlan0 scan trigger` in a loop) and access
// points go down and come back. Every cycle must complete, and once the
// storm is over the scanner must still deliver every access point.
func TestScannerSurvivesScanStorm(t *testing.T) {
	sc := testbed.StandardScenario()
	// wlan3 carries tb-legacy-g and tb-wpa-mixed, wlan6 the HE BSSes.
	// Scans are limited to the scenario's channels so that a cycle takes
	// a second or two under TCG and the storm overlaps many of them.
	const freqs = "2412,2462,5180,5745"
	script := `
FREQS="` + strings.ReplaceAll(freqs, ",", " ") + `"
surveyscan -json -iface wlan0 -freq ` + freqs + ` -cycles 0 -interval 200ms > /out/cycles.jsonl 2> /out/surveyscan.err &
APP=$!
cycles() { n=$(grep -c '"type":"cycle"' /out/cycles.jsonl 2>/dev/null); echo ${n:-0}; }
date +%s > /out/storm-start
# Another process keeps triggering scans until told to stop.
( n=0; while [ ! -e /tmp/stop-storm ]; do
    timeout 5 iw dev wlan0 scan trigger freq $FREQS >> /out/storm.log 2>&1 && n=$((n+1))
    sleep 0.05
  done; echo $n > /out/storm-accepted ) &
STORM=$!
# Access points come and go during the storm, at least three times and
# until the scanner has completed 6 cycles under it (bounded).
k=0
while { [ $k -lt 3 ] || [ $(cycles) -lt 6 ]; } && [ $k -lt 12 ]; do
  ap_stop wlan3; ap_stop wlan6; sleep 1
  ap_start wlan3; ap_start wlan6; ap_wait -t 20 wlan3 wlan6
  k=$((k+1))
done
echo $k > /out/ap-restarts
touch /tmp/stop-storm; wait $STORM
START=$(cycles); echo $START > /out/cycles-at-storm-end
# The scanner keeps delivering: three more full cycles, bounded in time.
i=0; while [ $(cycles) -lt $((START + 4)) ] && [ $i -lt 120 ]; do sleep 0.5; i=$((i+1)); done
kill -TERM $APP; wait $APP; echo $? > /out/surveyscan.rc
`
	res := runVM(t, sc, script, 240*time.Second)
	file := func(name string) string { return strings.TrimSpace(string(res.Files[name])) }
	if rc := file("surveyscan.rc"); rc != "0" {
		t.Errorf("surveyscan exit status %q, stderr:\n%s", rc, file("surveyscan.err"))
	}
	lines := jsonLines[cycleLine](t, res.Files["cycles.jsonl"])
	if len(lines) == 0 {
		t.Fatalf("surveyscan printed no cycles; stderr:\n%s", file("surveyscan.err"))
	}
	// Cycles numbered after this one started once the storm had stopped.
	stormEnd, err := strconv.Atoi(file("cycles-at-storm-end"))
	if err != nil {
		t.Fatalf("cycles-at-storm-end: %v", err)
	}
	var own []cycleLine
	followUps := 0
	for _, l := range lines {
		if l.Type == "cycle" {
			own = append(own, l)
		} else {
			followUps++
		}
		if !l.OK {
			t.Errorf("%s %d failed: %s", l.Type, l.Cycle, l.Error)
		}
	}
	for i, l := range own {
		if l.Cycle != i+1 {
			t.Fatalf("cycle numbers jump: got %d at position %d", l.Cycle, i+1)
		}
	}
	var want []string
	for _, b := range sc.BSSes() {
		if b.Hidden == 0 {
			want = append(want, wifi.DisplaySSID(b.SSID))
		}
	}
	after, during := 0, 0
	for _, l := range own {
		if l.Cycle <= stormEnd+1 { // the cycle running at the end began under the storm
			during++
			continue
		}
		after++
		for _, ssid := range want {
			if !slices.Contains(l.SSIDs, ssid) {
				t.Errorf("cycle %d after the storm misses %q (has %q)", l.Cycle, ssid, l.SSIDs)
			}
		}
	}
	if during < 6 {
		t.Errorf("only %d cycles completed during the storm, want 6", during)
	}
	if after < 3 {
		t.Errorf("only %d cycles completed after the storm, want 3", after)
	}
	last := lines[len(lines)-1].Stats
	accepted, _ := strconv.Atoi(file("storm-accepted"))
	t.Logf("%d cycles (%d during the storm, %d after), %d follow-up dumps for foreign scans, %d foreign triggers accepted, %s AP restarts; stats %+v",
		len(own), during, after, followUps, accepted, file("ap-restarts"), last)
	if last.TriggerBusy == 0 && followUps == 0 {
		t.Errorf("no contention seen (no EBUSY, no foreign scans): the storm did not exercise the scanner")
	}
}
