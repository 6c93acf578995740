package spool

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/surveybox/surveybox/internal/testrecords"
	"github.com/surveybox/surveybox/proto/batch"
)

const writerEnv = "SPOOL_CRASH_WRITER_DB"

// TestHelperWriter is the child of TestCrashKill: it appends batches of
// varying size to the spool named in the environment until it is killed,
// printing "commit FIRST LAST" after each Append returned and "ack SEQ"
// after each Ack returned. It is not a test by itself.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(writerEnv)
	if path == "" {
		t.Skip("helper process for TestCrashKill")
	}
	ctx := context.Background()
	s, err := Open(path, Options{LockTimeout: 10 * time.Second})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	batches := []batch.Batch{testrecords.Batch(t, 0, false), testrecords.Batch(t, 3, false), testrecords.Batch(t, 30, false), testrecords.Batch(t, 30, true)}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; i < 1_000_000; i++ {
		first, last, err := s.Append(ctx, batches[i%len(batches)])
		if err != nil {
			fmt.Fprintln(out, "error", err)
			out.Flush()
			os.Exit(2)
		}
		fmt.Fprintln(out, "commit", first, last)
		out.Flush()
		if i%5 == 4 && last > 200 {
			if err := s.Ack(ctx, last-200); err != nil {
				fmt.Fprintln(out, "error", err)
				out.Flush()
				os.Exit(2)
			}
			fmt.Fprintln(out, "ack", last-200)
			out.Flush()
		}
	}
	s.Close()
}

// TestCrashKill kills a writer with SIGKILL at random moments, many times,
// and checks after each kill that the spool opens clean and holds every
// batch the writer reported committed and not acknowledged, and that
// sequence numbers never go back.
func TestCrashKill(t *testing.T) {
	kills := 20
	if testing.Short() {
		kills = 5
	}
	path := filepath.Join(t.TempDir(), "spool.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	type span struct{ first, last uint64 }
	var committed []span
	var maxAck, maxSeen uint64
	killedMidWrite := 0

	for round := range kills {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), writerEnv+"="+path)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 1 + rng.IntN(40)
		sc := bufio.NewScanner(stdout)
		var roundCommits []span
		var roundAck uint64
		killed := false
		parse := func(line string) {
			f := strings.Fields(line)
			switch {
			case len(f) == 3 && f[0] == "commit":
				a, _ := strconv.ParseUint(f[1], 10, 64)
				b, _ := strconv.ParseUint(f[2], 10, 64)
				roundCommits = append(roundCommits, span{a, b})
			case len(f) == 2 && f[0] == "ack":
				a, _ := strconv.ParseUint(f[1], 10, 64)
				roundAck = max(roundAck, a)
			case len(f) > 0 && f[0] == "error":
				t.Errorf("round %d: writer: %s", round, line)
			}
		}
		for sc.Scan() {
			parse(sc.Text())
			if !killed && len(roundCommits) >= killAfter {
				// Let the next write get under way for a random moment.
				time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
		err = cmd.Wait()
		cancel()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: writer did not die by SIGKILL: %v", round, err)
		}
		if len(roundCommits) == 0 {
			t.Fatalf("round %d: writer reported nothing", round)
		}
		if roundCommits[0].first <= maxSeen {
			t.Errorf("round %d: sequence %d reused (had seen %d)", round, roundCommits[0].first, maxSeen)
		}
		committed = append(committed, roundCommits...)
		maxSeen = roundCommits[len(roundCommits)-1].last
		maxAck = max(maxAck, roundAck)

		s, err := Open(path, Options{LockTimeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("round %d: reopening after kill: %v", round, err)
		}
		if err := s.Check(context.Background()); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.LastAck < maxAck {
			t.Errorf("round %d: last ack %d, writer acknowledged %d", round, st.LastAck, maxAck)
		}
		if st.NextSeq <= maxSeen {
			t.Errorf("round %d: next sequence %d, writer committed up to %d", round, st.NextSeq, maxSeen)
		}
		if st.NextSeq > maxSeen+1 {
			killedMidWrite++ // committed, killed before it could say so
		}
		present := make(map[uint64]uint64)
		for e, err := range s.Entries(context.Background(), 0) {
			if err != nil {
				t.Fatal(err)
			}
			present[e.FirstSeq] = e.LastSeq
		}
		for _, c := range committed {
			if c.last <= st.LastAck {
				continue
			}
			if last, ok := present[c.first]; !ok || last != c.last {
				t.Errorf("round %d: committed batch %d-%d missing", round, c.first, c.last)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d kills, %d batches committed and checked, %d kills right after an unreported commit", kills, len(committed), killedMidWrite)
}
