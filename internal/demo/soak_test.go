//go:build soak

package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/surveybox/surveybox/internal/testbed"
)

var soakFor = flag.Duration("soak.duration", 10*time.Minute, "how long the storm lasts")

// soakScript runs the appliance as the box's service under a scan storm:
// another process triggers scans in a loop and two radios' access points
// go down and come back, until the host says stop.
func soakScript(director, gateway string) string {
	return fmt.Sprintf(`
mkdir -p /perm && mount -t ext4 /dev/vda /perm && mkdir -p /perm/surveybox
hostname %[2]s
TS_AUTHKEY=tskey-auth-soak GOKRAZY_FIRST_START=1 /user/appliance > /out/appliance.log 2>&1 &
APP=$!
( while kill -0 $APP 2>/dev/null; do
	echo "$(cut -d' ' -f1 /proc/uptime) $(grep VmRSS /proc/$APP/status)" >> /out/rss.txt; sleep 30
done ) &
( n=0; while [ ! -e /tmp/stop-storm ]; do
	timeout 5 iw dev wlan0 scan trigger >> /tmp/storm.log 2>&1 && n=$((n+1)); sleep 0.1
  done; echo $n > /out/storm-accepted ) &
( k=0; while [ ! -e /tmp/stop-storm ]; do
	ap_stop wlan2; ap_stop wlan5; sleep 3; ap_start wlan2; ap_start wlan5; ap_wait -t 30 wlan2 wlan5
	k=$((k+1)); echo $k > /out/ap-restarts; sleep 20
  done ) &
i=0
while kill -0 $APP 2>/dev/null; do
	cmd=$(echo "next $i" | nc -w 5 %[1]s 2>/dev/null)
	case "$cmd" in
	"") sleep 2; continue;;
	calm) touch /tmp/stop-storm;;
	stop) echo "done stop" | nc -w 5 %[1]s > /dev/null 2>&1; break;;
	esac
	echo "done $cmd" | nc -w 5 %[1]s > /dev/null 2>&1
	i=$((i+1))
done
kill -TERM $APP 2>/dev/null
wait $APP
echo "appliance exit $?" >> /out/appliance.log
`, director, boxName)
}

// TestSoak is the scan storm for -soak.duration on the real kernel while
// the box pushes to a collector that goes down and comes back: no scan
// cycle may get stuck, and every observation must reach the collector
// exactly once. `make soak` runs it; it prints the figures.
func TestSoak(t *testing.T) {
	r := newRig(t)
	data := r.path("soak-collector")
	os.RemoveAll(data)
	start := time.Now()
	progress := func(format string, args ...any) {
		t.Logf("[%6.1fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	dir, ctl := r.dir, r.ctl
	ctx, cancel := context.WithTimeout(context.Background(), *soakFor+15*time.Minute)
	defer cancel()

	collectLog := newLogWriter(t, "surveyctl collect:", r.path("soak-collect.log"))
	var collect *exec.Cmd
	startCollect := func() {
		collect = surveyctl(ctx, collectLog, "collect", "-dir", data, "-hostname", "collector",
			"-control-url", ctl.URL, "-advertise-tags", "tag:surveyops", "-allow", "tag:surveybox")
		if err := collect.Start(); err != nil {
			t.Fatal(err)
		}
	}
	stopCollect := func() {
		collect.Process.Signal(os.Interrupt)
		collect.Wait()
	}
	startCollect()

	opts := r.boxOptions(t, testbed.StandardScenario(), soakScript, filepath.Join(t.TempDir(), "perm.img"))
	opts.Timeout = *soakFor + 12*time.Minute
	opts.ScriptTimeout = *soakFor + 10*time.Minute
	opts.Console = newLogWriter(t, "box:", r.path("soak-console.log"))
	box := r.runBox(ctx, opts)

	ops := ctl.StartNode(t, ctx, "ops", "tag:surveyops")
	var last map[string]any
	status := func() (map[string]any, error) {
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(rctx, "GET", "http://"+boxName+"/v1/status", nil)
		resp, err := ops.HTTPClient().Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var st map[string]any
		err = json.NewDecoder(resp.Body).Decode(&st)
		if err == nil {
			last = st
		}
		return st, err
	}
	num := func(st map[string]any, path ...string) float64 {
		var v any = st
		for _, p := range path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		f, _ := v.(float64)
		return f
	}
	for {
		if st, err := status(); err == nil && num(st, "upload", "uploads") > 0 {
			break
		}
		select {
		case err := <-box.done:
			t.Fatalf("the box stopped: %v", err)
		case <-time.After(3 * time.Second):
		}
	}
	progress("box on the tailnet, pushing; the storm runs for %v, the collector goes down for 30 s every 2 min", *soakFor)

	end := time.Now().Add(*soakFor)
	for time.Now().Before(end) {
		time.Sleep(min(90*time.Second, time.Until(end)))
		if _, err := status(); err == nil {
			progress("box: %.0f cycles (%.0f failed), longest %.1fs, %.0f EBUSY waits, %.0f redials; %.0f uploads, %.0f failed attempts",
				num(last, "radio", "cycles"), num(last, "radio", "failed_cycles"), num(last, "radio", "max_cycle_ms")/1000,
				num(last, "radio", "trigger_busy"), num(last, "radio", "redials"), num(last, "upload", "uploads"), num(last, "upload", "failures"))
		}
		if time.Until(end) > time.Minute {
			stopCollect()
			progress("collector down")
			time.Sleep(30 * time.Second)
			startCollect()
			progress("collector up")
		}
	}
	dir.do(t, ctx, "calm")
	progress("storm over; waiting for the backlog")
	for {
		st, err := status()
		if err == nil && num(st, "upload", "acked_seq")+1 >= num(st, "spool", "NextSeq") && num(st, "spool", "Entries") == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("backlog not delivered: %v", last)
		}
		time.Sleep(3 * time.Second)
	}
	final := last
	dir.do(t, ctx, "stop")
	if err := <-box.done; err != nil {
		t.Fatalf("the box: %v", err)
	}
	stopCollect()

	// Every observation exactly once: contiguous entries from 1, nothing
	// missing, nothing quarantined, up to what the box saw acknowledged.
	high := checkStore(t, filepath.Join(data, "collector.db"))
	if acked := uint64(num(final, "upload", "acked_seq")); high != acked {
		t.Errorf("the collector holds records 1..%d once; the box saw 1..%d acknowledged", high, acked)
	}
	// Stuck cycles: a cycle longer than the scan timeout plus slack.
	if mx := num(final, "radio", "max_cycle_ms"); mx > 30000 {
		t.Errorf("longest cycle %.1fs: a cycle got stuck", mx/1000)
	}
	if f := num(final, "radio", "failed_cycles"); f != 0 {
		t.Errorf("%.0f scan cycles failed", f)
	}
	var rss []string
	sc2 := bufio.NewScanner(strings.NewReader(string(box.res.Files["rss.txt"])))
	for sc2.Scan() {
		var up float64
		var kb int
		if n, _ := fmt.Sscanf(sc2.Text(), "%f VmRSS: %d kB", &up, &kb); n == 2 {
			rss = append(rss, fmt.Sprintf("%.0fs:%dMiB", up, kb>>10))
		}
	}
	progress("soak: %.0f cycles (%.0f failed, %.0f follow-ups), longest %.1fs, %.0f EBUSY waits, %.0f redials, %.0f retried dumps; "+
		"storm triggers accepted %s, AP restarts %s; %d records delivered once in %.0f uploads (%.0f failed attempts); RSS over time %s",
		num(final, "radio", "cycles"), num(final, "radio", "failed_cycles"), num(final, "radio", "follow_ups"),
		num(final, "radio", "max_cycle_ms")/1000, num(final, "radio", "trigger_busy"), num(final, "radio", "redials"),
		num(final, "radio", "dump_retries"), strings.TrimSpace(string(box.res.Files["storm-accepted"])),
		strings.TrimSpace(string(box.res.Files["ap-restarts"])), high, num(final, "upload", "uploads"),
		num(final, "upload", "failures"), strings.Join(rss, " "))
}
