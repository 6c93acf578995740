package e2etest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tailscale.com/tsnet"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/internal/tailtest"
	"github.com/surveybox/surveybox/internal/testrecords"
	"github.com/surveybox/surveybox/spool"
	"github.com/surveybox/surveybox/tailnet"
	"github.com/surveybox/surveybox/uploader"
)

// childEnv makes the test binary run childBox instead of the tests: a box
// process (tsnet node with state on disk, spool, appender, push loop)
// against the parent's in-process control server and collector.
const childEnv = "SURVEYBOX_TEST_CHILD_BOX"

type childConfig struct {
	ControlURL, StateDir, SpoolPath, Collector string
	Append                                     bool
	Round                                      int
	BatchMaxBytes                              int
	MemoryLimit                                int64
}

// vmHWM returns the process's peak resident set size in bytes.
func vmHWM() int64 { return procStatus("VmHWM") }

// procStatus returns a size field of /proc/self/status in bytes.
func procStatus(field string) int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		var kb int64
		if n, _ := fmt.Sscanf(l, field+": %d kB", &kb); n == 1 {
			return kb << 10
		}
	}
	return -1
}

func childBox() int {
	var cfg childConfig
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &cfg); err != nil {
		fmt.Println("ERROR", err)
		return 2
	}
	fail := func(err error) int { fmt.Println("ERROR", err); return 1 }
	ctx := context.Background()
	tailnet.ApplyMemoryLimit(cfg.MemoryLimit)
	if cfg.BatchMaxBytes == 0 {
		cfg.BatchMaxBytes = 8 << 10
	}
	sp, err := spool.Open(cfg.SpoolPath, spool.Options{QuotaBytes: -1})
	if err != nil {
		return fail(err)
	}
	if err := sp.Check(ctx); err != nil {
		return fail(fmt.Errorf("spool does not open clean: %w", err))
	}
	node := &tsnet.Server{Dir: cfg.StateDir, ControlURL: cfg.ControlURL, Hostname: "kbox", UserLogf: func(string, ...any) {}}
	upCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := tailtest.Up(upCtx, node); err != nil {
		return fail(err)
	}
	fmt.Println("UP")
	fmt.Printf("BASEFILE %d\n", procStatus("RssFile"))
	// Measure the upload, not the start-up integrity check above (which
	// reads the whole spool): reset the peak (VmHWM) now.
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fail(fmt.Errorf("resetting VmHWM: %w", err))
	}
	p, err := uploader.New(uploader.Options{Spool: sp, Client: node.HTTPClient(), Collector: cfg.Collector,
		BatchMaxBytes: cfg.BatchMaxBytes, BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	if err != nil {
		return fail(err)
	}
	go p.Run(ctx)
	var peakAnon, peakFile atomic.Int64 // anonymous memory: what the Go heap and pools use
	go func() {
		for {
			if a := procStatus("RssAnon"); a > peakAnon.Load() {
				peakAnon.Store(a)
			}
			if f := procStatus("RssFile"); f > peakFile.Load() {
				peakFile.Store(f)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if cfg.Append {
		for i := 0; ; i++ {
			f, l, err := sp.Append(ctx, testrecords.Cycle(cfg.Round*100000+i, 3+i%13, i%2*8))
			if err != nil {
				return fail(err)
			}
			fmt.Printf("APPENDED %d %d\n", f, l)
			time.Sleep(3 * time.Millisecond)
		}
	}
	for {
		st, err := sp.Stats()
		if err != nil {
			return fail(err)
		}
		if st.Entries == 0 {
			fmt.Printf("DRAINED %d\n", st.LastAck)
			fmt.Printf("VMHWM %d\n", vmHWM())
			fmt.Printf("PEAKANON %d\n", peakAnon.Load())
			fmt.Printf("PEAKFILE %d\n", peakFile.Load())
			return 0
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKillBoxMidUpload runs the box as a child process (the test binary
// re-executed) on the test tailnet, appending and uploading, and kills it
// with SIGKILL several times; then a last run drains the spool. Every
// sequence number the box ever committed must reach the collector exactly
// once, and the spool must open clean every time.
func TestKillBoxMidUpload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	ctl := tailtest.StartControl(t)
	col := ctl.StartNode(t, ctx, "collector")
	st, err := collector.Open(filepath.Join(t.TempDir(), "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lc, _ := col.LocalClient()
	serve(t, col, ":8080", &collector.Handler{Store: st, WhoIs: lc, Allow: tailnet.Policy{Nodes: []string{"kbox"}}})

	dir := t.TempDir()
	cfg := childConfig{ControlURL: ctl.URL, StateDir: filepath.Join(dir, "tsnet"), SpoolPath: filepath.Join(dir, "spool.db"),
		Collector: "http://collector:8080"}
	run := func(cfg childConfig, killAfter time.Duration) (lastAppended uint64, out []string) {
		b, _ := json.Marshal(cfg)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmd.Env = append(append(os.Environ(), tailtest.Env...), childEnv+"="+string(b))
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		var timer <-chan time.Time
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					if err := cmd.Wait(); err != nil && killAfter == 0 {
						t.Fatalf("child: %v; output %q", err, out)
					}
					return lastAppended, out
				}
				out = append(out, l)
				var f, last uint64
				switch {
				case l == "UP" && killAfter > 0:
					timer = time.After(killAfter)
				case strings.HasPrefix(l, "ERROR"):
					t.Fatalf("child: %s", l)
				default:
					if n, _ := fmt.Sscanf(l, "APPENDED %d %d", &f, &last); n == 2 {
						lastAppended = last
					}
				}
			case <-timer:
				cmd.Process.Signal(syscall.SIGKILL)
				timer = nil
			}
		}
	}

	var committed uint64 // highest sequence a child reported durable
	for round := range 6 {
		cfg.Append, cfg.Round = true, round
		kill := time.Duration(150+rand.IntN(500)) * time.Millisecond
		last, _ := run(cfg, kill)
		if last < committed {
			t.Fatalf("round %d: appended up to %d after %d: sequence went back", round, last, committed)
		}
		committed = max(committed, last)
		bs, _ := st.Box("kbox")
		t.Logf("round %d: killed after %v; committed up to %d, collector has up to %d (%d duplicates so far)", round, kill, committed, bs.HighSeq, bs.Duplicates)
	}
	cfg.Append = false
	_, out := run(cfg, 0)
	var acked uint64
	for _, l := range out {
		fmt.Sscanf(l, "DRAINED %d", &acked)
	}
	if acked < committed {
		t.Fatalf("drained up to %d, but %d were committed", acked, committed)
	}
	checkExactlyOnce(t, st, "kbox", acked)
	sp := openSpool(t, cfg.SpoolPath)
	if err := sp.Check(ctx); err != nil {
		t.Fatal(err)
	}
	ss, _ := sp.Stats()
	bs, _ := st.Box("kbox")
	if ss.Entries != 0 || ss.LastAck != acked || ss.NextSeq != acked+1 {
		t.Fatalf("spool after drain: %+v", ss)
	}
	t.Logf("all %d records delivered exactly once across 6 SIGKILLs (%d redelivered entries skipped)", acked, bs.Duplicates)
}
