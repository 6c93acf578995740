package e2etest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/surveybox/surveybox/collector"
	"github.com/surveybox/surveybox/internal/tailtest"
	"github.com/surveybox/surveybox/internal/testrecords"
	"github.com/surveybox/surveybox/proto/push"
	"github.com/surveybox/surveybox/spool"
	"github.com/surveybox/surveybox/tailnet"
	"github.com/surveybox/surveybox/uploader"
)

// sink reads an upload and acknowledges it without storing, so the
// throughput benchmark measures the transport.
var sink = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, r.Body)
	fmt.Fprintf(w, `{"acked_seq":%d}`, n)
})

// payload returns about size bytes of upload body made of realistic
// cycles, and the number of records in it.
func payload(tb testing.TB, size int) (body []byte, records uint64, entries []spool.Entry) {
	sp := openSpool(tb, filepath.Join(tb.TempDir(), "p.db"))
	for i := 0; ; i++ {
		b := testrecords.Cycle(i, 15+i%10, 20)
		f, l, err := sp.Append(context.Background(), b)
		if err != nil {
			tb.Fatal(err)
		}
		records += l - f + 1
		if st, _ := sp.Stats(); st.Bytes >= int64(size) {
			break
		}
	}
	entries, err := sp.Read(context.Background(), 0, size*2)
	if err != nil {
		tb.Fatal(err)
	}
	return push.Append(nil, sp.ID(), uploader.PushEntries(entries)), records, entries
}

// BenchmarkUploadThroughput posts the same 1 MiB upload body over the
// tailnet (tsnet, in-process control and DERP, peers direct over
// loopback) and over plain HTTP on loopback in the same run, and reports
// both rates and their ratio; and the bytes per observation on the push.
func BenchmarkUploadThroughput(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ctl := tailtest.StartControl(b)
	col := ctl.StartNode(b, ctx, "collector")
	box := ctl.StartNode(b, ctx, "box")
	serve(b, col, ":8080", sink)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: sink}
	go hs.Serve(ln)
	defer hs.Close()

	body, records, entries := payload(b, 1<<20)
	post := func(c *http.Client, url string) {
		resp, err := c.Post(url, push.ContentType, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
	tsc, lc := box.HTTPClient(), &http.Client{}
	tsURL, lURL := "http://collector:8080/v1/upload", "http://"+ln.Addr().String()+"/v1/upload"
	post(tsc, tsURL) // warm up connections
	post(lc, lURL)
	var tTS, tLo time.Duration
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		post(tsc, tsURL)
		t1 := time.Now()
		post(lc, lURL)
		tTS += t1.Sub(t0)
		tLo += time.Since(t1)
	}
	b.StopTimer()
	mb := float64(len(body)) * float64(b.N) / (1 << 20)
	b.ReportMetric(mb/tTS.Seconds(), "tsnet_MiB/s")
	b.ReportMetric(mb/tLo.Seconds(), "loopback_MiB/s")
	b.ReportMetric(tLo.Seconds()/tTS.Seconds(), "tsnet/loopback")

	// Bytes per observation: the upload body, the same records as JSON
	// lines, and the upload body gzipped (which the format does not do:
	// the spool's batches are already DEFLATE-compressed).
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	for _, e := range entries {
		bt, _ := e.Decode()
		for i := range bt.BSS {
			enc.Encode(bt.BSS[i])
		}
		for i := range bt.Channels {
			enc.Encode(bt.Channels[i])
		}
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(body)
	zw.Close()
	b.ReportMetric(float64(len(body))/float64(records), "wire_B/record")
	b.ReportMetric(float64(js.Len())/float64(records), "json_B/record")
	b.ReportMetric(float64(gz.Len())/float64(records), "wire+gzip_B/record")
}

// BenchmarkBoxRSSUploadBacklog measures the box's peak RSS (VmHWM of a
// child process: the test binary as a box, with the config's default
// 48 MiB memory limit, reset once the node is up so that it covers the
// upload) while it uploads a large backlog to a collector that stores it,
// over the test tailnet. The test binary's own code is part of the file
// RSS; the spool's mapping is released as it is read (spool.releaseMapped).
func BenchmarkBoxRSSUploadBacklog(b *testing.B) {
	const backlog = 32 << 20
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := b.TempDir()
	spoolPath := filepath.Join(dir, "spool.db")
	sp, err := spool.Open(spoolPath, spool.Options{QuotaBytes: -1, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	var records uint64
	for i := 0; ; i++ {
		f, l, err := sp.Append(ctx, testrecords.Cycle(i, 15+i%10, 20))
		if err != nil {
			b.Fatal(err)
		}
		records += l - f + 1
		if i%256 == 0 {
			if st, _ := sp.Stats(); st.Bytes >= backlog {
				break
			}
		}
	}
	st, _ := sp.Stats()
	sp.Close()

	ctl := tailtest.StartControl(b)
	col := ctl.StartNode(b, ctx, "collector")
	store, err := collector.Open(filepath.Join(dir, "collector.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	lc, _ := col.LocalClient()
	serve(b, col, ":8080", &collector.Handler{Store: store, WhoIs: lc, Allow: tailnet.Policy{Nodes: []string{"kbox"}}})

	cfg := childConfig{ControlURL: ctl.URL, StateDir: filepath.Join(dir, "tsnet"), SpoolPath: spoolPath,
		Collector: "http://collector:8080", BatchMaxBytes: 1 << 20, MemoryLimit: 48 << 20}
	js, _ := json.Marshal(cfg)
	b.ResetTimer()
	for range b.N {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmd.Env = append(append(os.Environ(), tailtest.Env...), childEnv+"="+string(js))
		cmd.Stderr = os.Stderr
		t0 := time.Now()
		out, err := cmd.Output()
		took := time.Since(t0)
		if err != nil {
			b.Fatalf("child: %v\n%s", err, out)
		}
		var hwm, anon, file, base int64
		for _, l := range strings.Split(string(out), "\n") {
			fmt.Sscanf(l, "VMHWM %d", &hwm)
			fmt.Sscanf(l, "PEAKANON %d", &anon)
			fmt.Sscanf(l, "PEAKFILE %d", &file)
			fmt.Sscanf(l, "BASEFILE %d", &base)
		}
		bs, _ := store.Box("kbox")
		if bs.Records != records {
			b.Fatalf("collector has %d of %d records", bs.Records, records)
		}
		b.ReportMetric(float64(hwm)/(1<<20), "peak_RSS_MiB")
		b.ReportMetric(float64(anon)/(1<<20), "peak_anon_RSS_MiB")
		b.ReportMetric(float64(file)/(1<<20), "peak_file_RSS_MiB")
		b.ReportMetric(float64(base)/(1<<20), "file_RSS_when_up_MiB")
		b.ReportMetric(float64(st.Bytes)/(1<<20), "backlog_MiB")
		b.ReportMetric(float64(records), "records")
		b.ReportMetric(took.Seconds(), "s/drain")
		break // one drain per run: the backlog is gone afterwards
	}
}
