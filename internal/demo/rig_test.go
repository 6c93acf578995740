package demo

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/surveybox/surveybox/internal/tailtest"
	"github.com/surveybox/surveybox/internal/testbed"
	"github.com/surveybox/surveybox/internal/testnet"
)

// rig is what the demo and the soak share: the output directory, the VM
// assets, a bridge with the test tailnet on it, and the director whose
// commands the box's script follows.
type rig struct {
	out    string
	assets testbed.Assets
	br     *testnet.Bridge
	ctl    *tailtest.Control
	dir    *director
	// dirAddr is the director's "host port", for the guest's script.
	dirAddr string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{out: *outDir}
	if r.out == "" {
		r.out = t.TempDir()
	}
	if err := os.MkdirAll(r.out, 0o755); err != nil {
		t.Fatal(err)
	}
	var err error
	if r.assets, err = testbed.FindAssets(); err != nil {
		t.Fatalf("VM assets (make testbed-assets): %v", err)
	}
	r.br = testnet.NewBridge(t, t.TempDir(), false)
	r.ctl = tailtest.StartControlAt(t, r.br.HostIP)
	ln, err := net.Listen("tcp", net.JoinHostPort(r.br.HostIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	r.dir = &director{done: make(chan string, 1)}
	go r.dir.serve(ln)
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	r.dirAddr = host + " " + port
	return r
}

// boxOptions is the box's VM: sc's radios and access points, the
// appliance where gokrazy puts it with a config for this tailnet, an
// Ethernet on the bridge, /perm on a new ext4 disk at permPath, and the
// script script makes from the director's address and the gateway.
func (r *rig) boxOptions(t *testing.T, sc testbed.Scenario, script func(director, gateway string) string, permPath string) testbed.Options {
	t.Helper()
	opts := sc.Options()
	opts.Files = map[string]string{"/user/appliance": bins.appliance} // where gokrazy puts it
	opts.Contents["/etc/surveybox/config.json"] = boxConfig(r.ctl.URL)
	opts.Network = &testbed.Network{Tap: r.br.Tap, Addr: r.br.GuestIP(10) + "/24", Gateway: r.br.HostIP}
	opts.Disks = []string{permDisk(t, permPath)}
	opts.Script = script(r.dirAddr, r.br.HostIP)
	opts.MemoryMB = 768
	return opts
}

// boxRun is the box's VM running: res is set once done has delivered.
type boxRun struct {
	done chan error
	res  *testbed.Result
}

// runBox starts the box's VM.
func (r *rig) runBox(ctx context.Context, opts testbed.Options) *boxRun {
	run := &boxRun{done: make(chan error, 1)}
	go func() {
		var err error
		run.res, err = testbed.Run(ctx, r.assets, opts)
		run.done <- err
	}()
	return run
}

// path is name in the output directory.
func (r *rig) path(name string) string { return filepath.Join(r.out, name) }
