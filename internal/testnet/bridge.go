// Package testnet gives a test VM a network of its own on the host: a
// bridge with a host address and a tap device for qemu, optionally DHCP on
// the bridge (dnsmasq), all removed when the test ends. It needs root,
// iproute2 and (for DHCP) dnsmasq, which `make test` installs. Test-only.
package testnet

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Bridge is a host bridge with one tap device attached.
type Bridge struct {
	Name, Tap string
	HostIP    string // the host's address on the bridge, prefix.1
	Prefix    string // "10.77.K." (a /24)
}

// GuestIP returns the bridge's address ending in n.
func (b *Bridge) GuestIP(n int) string { return fmt.Sprintf("%s%d", b.Prefix, n) }

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// NewBridge makes a bridge sbxbrK (10.77.K.1/24) with tap sbxtapK, picking
// a K no other run uses, and with dhcp serves addresses .50-.99 on it;
// logs go to dir.
func NewBridge(t testing.TB, dir string, dhcp bool) *Bridge {
	t.Helper()
	// ip and dnsmasq live in sbin, which a CI environment's PATH may lack.
	if !strings.Contains(os.Getenv("PATH"), "/usr/sbin") {
		os.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin:/sbin")
	}
	var br *Bridge
	for k := os.Getpid()%200 + 20; ; k++ {
		if k > 250 {
			k = 20
		}
		name := fmt.Sprintf("sbxbr%d", k)
		if _, err := net.InterfaceByName(name); err == nil {
			continue // another run's
		}
		// Creating the bridge is the lock: a concurrent run fails here.
		if err := run("ip", "link", "add", name, "type", "bridge"); err != nil {
			if strings.Contains(err.Error(), "File exists") {
				continue
			}
			t.Fatalf("creating a bridge (needs root and iproute2): %v", err)
		}
		br = &Bridge{Name: name, Tap: fmt.Sprintf("sbxtap%d", k), Prefix: fmt.Sprintf("10.77.%d.", k)}
		br.HostIP = br.Prefix + "1"
		break
	}
	t.Cleanup(func() {
		run("ip", "link", "del", br.Tap)
		if err := run("ip", "link", "del", br.Name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	for _, c := range [][]string{
		{"ip", "addr", "add", br.HostIP + "/24", "dev", br.Name},
		{"ip", "link", "set", br.Name, "up"},
		{"ip", "tuntap", "add", "dev", br.Tap, "mode", "tap"},
		{"ip", "link", "set", br.Tap, "master", br.Name},
		{"ip", "link", "set", br.Tap, "up"},
	} {
		if err := run(c...); err != nil {
			t.Fatal(err)
		}
	}
	if dhcp {
		serveDHCP(t, br, dir)
	}
	return br
}

func serveDHCP(t testing.TB, br *Bridge, dir string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "dnsmasq", "--no-daemon", "--conf-file=/dev/null",
		"--bind-interfaces", "--interface="+br.Name, "--except-interface=lo",
		"--port=0", "--no-resolv", "--no-hosts", "--user=root", "--pid-file=",
		"--dhcp-range="+br.Prefix+"50,"+br.Prefix+"99,255.255.255.0,1h",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--log-dhcp")
	logPath := filepath.Join(dir, "dnsmasq.log")
	logf, err := os.Create(logPath)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("dnsmasq (Debian: dnsmasq-base): %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			t.Logf("dnsmasq log:\n%s", strings.Join(lines[max(0, len(lines)-20):], "\n"))
		}
	})
}
