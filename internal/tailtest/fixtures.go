package tailtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/surveybox/surveybox/proto/batch"
	"github.com/surveybox/surveybox/wifi"
)

var (
	fixOnce  sync.Once
	fixBSS   []wifi.Record
	fixChans []wifi.ChannelRecord
	fixErr   error
)

// The spool package's testdata: a real GET_SCAN and GET_SURVEY capture
// from the hwsim bench, as the survey package decodes it.
func loadFixtures() {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "spool", "testdata")
	fixErr = readJSONL(filepath.Join(dir, "bss.jsonl"), &fixBSS)
	if fixErr == nil {
		fixErr = readJSONL(filepath.Join(dir, "channels.jsonl"), &fixChans)
	}
}

func readJSONL[T any](path string, out *[]T) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		*out = append(*out, v)
	}
	return sc.Err()
}

// Batch returns scan cycle number i: nBSS BSS records (the captured ones,
// copied with their own BSSID and signal past 15) and nChan channel rows.
func Batch(i, nBSS, nChan int) batch.Batch {
	fixOnce.Do(loadFixtures)
	if fixErr != nil {
		panic(fixErr)
	}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 30 * time.Second)
	b := batch.Batch{Started: start, Finished: start.Add(3 * time.Second), Interface: "wlan0", Triggered: true}
	for j := range nBSS {
		r := fixBSS[j%len(fixBSS)]
		if j >= len(fixBSS) {
			r.BSSID = fmt.Sprintf("%s:%02x", r.BSSID[:14], j%256)
		}
		sig := float64(-30 - (i+j)%60)
		r.SignalDBm = &sig
		r.SeenMsAgo = uint32(i*7 + j)
		b.BSS = append(b.BSS, r)
	}
	for j := range nChan {
		b.Channels = append(b.Channels, fixChans[j%len(fixChans)])
	}
	return b
}
