package survey

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func openFake(t *testing.T, k *fakeKernel) *Scanner {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, k.config())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestOpenFindsInterface(t *testing.T) {
	k := newFakeKernel(t, 1)
	s := openFake(t, k)
	got := s.Interface()
	if got.Name != "wlan0" || got.Index != fakeIfindex || got.PHYName != "phy0" || got.Type != unix.NL80211_IFTYPE_STATION {
		t.Fatalf("Interface() = %+v", got)
	}
}

func TestOpenUnknownInterface(t *testing.T) {
	k := newFakeKernel(t, 1)
	cfg := k.config()
	cfg.Interface = "wlan9"
	_, err := Open(testCtx(t), cfg)
	if err == nil || !strings.Contains(err.Error(), `"wlan9" not found`) {
		t.Fatalf("Open(wlan9) error = %v, want not found", err)
	}
}

func TestScan(t *testing.T) {
	tests := []struct {
		name string
		set  func(k *fakeKernel)
		want func(t *testing.T, res ScanResult, st Stats)
	}{
		{"plain", func(k *fakeKernel) {}, func(t *testing.T, res ScanResult, st Stats) {
			if !res.Triggered || res.Busy != 0 || st.Redials != 0 || st.DumpRetries != 0 {
				t.Errorf("result %+v stats %+v", res, st)
			}
		}},
		{"EBUSY once: wait for the other scan, then trigger", func(k *fakeKernel) { k.triggerBusy = 1 }, func(t *testing.T, res ScanResult, st Stats) {
			if !res.Triggered || res.Busy != 1 || st.TriggerBusy != 1 {
				t.Errorf("result %+v stats %+v", res, st)
			}
		}},
		{"EBUSY forever: settle for the other scans' results", func(k *fakeKernel) { k.triggerBusy = 1000 }, func(t *testing.T, res ScanResult, st Stats) {
			if res.Triggered || res.Busy != maxBusyWaits {
				t.Errorf("result %+v stats %+v", res, st)
			}
		}},
		{"DUMP_INTR retried", func(k *fakeKernel) { k.dumpIntr = 2 }, func(t *testing.T, res ScanResult, st Stats) {
			if st.DumpRetries != 2 {
				t.Errorf("DumpRetries = %d, want 2", st.DumpRetries)
			}
		}},
		{"generation change retried", func(k *fakeKernel) { k.genChange = 1 }, func(t *testing.T, res ScanResult, st Stats) {
			if st.DumpRetries != 1 {
				t.Errorf("DumpRetries = %d, want 1", st.DumpRetries)
			}
		}},
		{"foreign sequence: redial", func(k *fakeKernel) { k.desync = 1 }, func(t *testing.T, res ScanResult, st Stats) {
			if st.Redials != 1 {
				t.Errorf("Redials = %d, want 1", st.Redials)
			}
		}},
		{"broken socket: redial", func(k *fakeKernel) { k.sockErr = 1 }, func(t *testing.T, res ScanResult, st Stats) {
			if st.Redials != 1 {
				t.Errorf("Redials = %d, want 1", st.Redials)
			}
		}},
		{"event socket breaks: redialled, scan still completes", func(k *fakeKernel) { k.eventErr = 1 }, func(t *testing.T, res ScanResult, st Stats) {
			if st.EventsLost == 0 {
				t.Errorf("EventsLost = 0, want > 0")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newFakeKernel(t, 5)
			s := openFake(t, k)
			k.mu.Lock()
			tt.set(k)
			k.mu.Unlock()
			res, err := s.Scan(testCtx(t), ScanRequest{})
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if len(res.BSSes) != 5 || len(res.DecodeErrors) != 0 {
				t.Fatalf("Scan got %d BSSes, errors %v; want 5, none", len(res.BSSes), res.DecodeErrors)
			}
			tt.want(t, res, s.Stats())
			// Whatever happened, the scanner keeps working.
			if bsses, _, err := s.Dump(testCtx(t)); err != nil || len(bsses) != 5 {
				t.Fatalf("Dump after recovery: %d BSSes, %v", len(bsses), err)
			}
		})
	}
}

func TestScanTimeoutAbortsAndDumps(t *testing.T) {
	k := newFakeKernel(t, 2)
	k.noEndEvent = true
	cfg := k.config()
	cfg.ScanTimeout = 50 * time.Millisecond
	s, err := Open(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Scan(testCtx(t), ScanRequest{})
	if err != nil || !res.Aborted || len(res.BSSes) != 2 {
		t.Fatalf("Scan = %+v, %v; want aborted with 2 BSSes", res, err)
	}
}

func TestDumpErrorMidStream(t *testing.T) {
	k := newFakeKernel(t, 4)
	s := openFake(t, k)
	k.mu.Lock()
	k.dumpErr = 1
	k.mu.Unlock()
	_, _, err := s.Dump(testCtx(t))
	if !errors.Is(err, unix.EIO) {
		t.Fatalf("Dump error = %v, want EIO", err)
	}
	bsses, _, err := s.Dump(testCtx(t))
	if err != nil || len(bsses) != 4 {
		t.Fatalf("Dump after the error: %d BSSes, %v", len(bsses), err)
	}
}

func TestDumpGivesUpOnEndlessInterruption(t *testing.T) {
	k := newFakeKernel(t, 3)
	s := openFake(t, k)
	k.mu.Lock()
	k.dumpIntr = 1000
	k.mu.Unlock()
	_, _, err := s.Dump(testCtx(t))
	if !errors.Is(err, ErrInconsistentDump) {
		t.Fatalf("Dump error = %v, want ErrInconsistentDump", err)
	}
	if got := s.Stats().DumpRetries; got != maxDumpAttempts {
		t.Fatalf("DumpRetries = %d, want %d", got, maxDumpAttempts)
	}
}

func TestSurveyDump(t *testing.T) {
	k := newFakeKernel(t, 1)
	s := openFake(t, k)
	chans, errs, err := s.SurveyDump(testCtx(t))
	if err != nil || len(errs) != 0 || len(chans) != 1 {
		t.Fatalf("SurveyDump = %v, %v, %v", chans, errs, err)
	}
	c := chans[0]
	if c.Frequency != 2412 || !c.HasNoise || c.Noise != -92 || *c.Active != 100 || *c.Busy != 12 {
		t.Fatalf("channel = %+v", c)
	}
}

// TestConcurrentUse runs scans, dumps and surveys from several goroutines
// at once (run with -race): requests are serialised, never interleaved.
func TestConcurrentUse(t *testing.T) {
	k := newFakeKernel(t, 3)
	s := openFake(t, k)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for g := 0; g < 3; g++ {
		wg.Add(3)
		go func() {
			defer wg.Done()
			if _, err := s.Scan(ctx, ScanRequest{}); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			if b, _, err := s.Dump(ctx); err != nil || len(b) != 3 {
				errs <- errors.Join(err, errors.New("short dump"))
			}
		}()
		go func() {
			defer wg.Done()
			if _, _, err := s.SurveyDump(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRunCollapsesEvents: scan-done events that arrive while a dump runs
// become one follow-up dump, not one dump each.
func TestRunCollapsesEvents(t *testing.T) {
	k := newFakeKernel(t, 2)
	s := openFake(t, k)
	k.mu.Lock()
	k.dumpDelay = 30 * time.Millisecond
	k.mu.Unlock()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()

	var mu sync.Mutex
	var cycles, followUps int
	firstCycle := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, RunOptions{Interval: time.Hour}, func(snap Snapshot) {
			mu.Lock()
			defer mu.Unlock()
			if snap.Err != nil {
				t.Errorf("snapshot error: %v", snap.Err)
			}
			if snap.Own {
				cycles++
				if cycles == 1 {
					close(firstCycle)
				}
			} else {
				followUps++
			}
		})
	}()
	<-firstCycle
	const storm = 50
	for i := 0; i < storm; i++ {
		k.event(unix.NL80211_CMD_NEW_SCAN_RESULTS)
	}
	// Wait until the storm has been absorbed: a dump after the last event.
	deadline := time.Now().Add(10 * time.Second)
	for {
		k.mu.Lock()
		n := k.dumps
		k.mu.Unlock()
		mu.Lock()
		f := followUps
		mu.Unlock()
		if len(k.events) == 0 && f > 0 && n >= 2 {
			time.Sleep(100 * time.Millisecond) // let a trailing follow-up finish
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no follow-up dump after the event storm")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if cycles != 1 || followUps < 1 || followUps > storm/5 {
		t.Fatalf("cycles %d, follow-up dumps %d for %d events; want 1 cycle and a few collapsed follow-ups", cycles, followUps, storm)
	}
}
