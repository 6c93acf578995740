package netstate

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// testdata/net/route is a real /proc/net/route (a Debian host: eth0 with
// the default route via 192.0.2.1, test bridges without one).
func TestDefaultGateways(t *testing.T) {
	gws := defaultGateways("testdata")
	if len(gws) != 1 || gws["eth0"] != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("gateways %v, want eth0 via 192.0.2.1", gws)
	}
	if gws := defaultGateways(t.TempDir()); len(gws) != 0 {
		t.Errorf("without /proc/net/route: %v", gws)
	}
}

func TestSummary(t *testing.T) {
	p := netip.MustParsePrefix
	gw := netip.MustParseAddr("192.168.1.1")
	for _, tt := range []struct {
		name  string
		links []Link
		upFor time.Duration
		want  string
	}{
		{"no interface", nil, 0, "NO ETHERNET (a Zero 2 W needs a USB Ethernet adapter)"},
		{"no cable", []Link{{Name: "eth0"}}, 0, "eth0: NO LINK - is the Ethernet cable plugged in?"},
		{"waiting", []Link{{Name: "eth0", Carrier: true}}, 10 * time.Second, "eth0: link up, waiting for an address (DHCP)"},
		{"no lease", []Link{{Name: "eth0", Carrier: true}}, time.Minute, "eth0: link up, NO DHCP LEASE after 30s"},
		{"up", []Link{{Name: "eth0", Carrier: true, Addrs: []netip.Prefix{p("192.168.1.23/24")}, Gateway: gw}}, 0, "eth0 192.168.1.23/24, gateway 192.168.1.1"},
		{"no gateway", []Link{{Name: "eth0", Carrier: true, Addrs: []netip.Prefix{p("10.0.0.5/8")}}}, 0, "eth0 10.0.0.5/8, NO DEFAULT GATEWAY"},
		{"usb adapter wins over a dead eth0", []Link{{Name: "eth0"}, {Name: "usb0", Carrier: true, Addrs: []netip.Prefix{p("192.168.1.9/24")}, Gateway: gw}}, 0, "usb0 192.168.1.9/24, gateway 192.168.1.1"},
		{"the one with a link", []Link{{Name: "eth0"}, {Name: "enx001122", Carrier: true}}, 0, "enx001122: link up, waiting for an address (DHCP)"},
	} {
		if got := Summary(tt.links, nil, tt.upFor); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
		if n := len("surveybox: network: " + tt.want); n > 80 {
			t.Errorf("%s: %d columns on the console", tt.name, n)
		}
	}
}

func TestUplink(t *testing.T) {
	for name, want := range map[string]bool{"eth0": true, "enp0s3": true, "enx00e04c680001": true, "usb0": true, "uplink0": true,
		"wlan0": false, "lo": false, "tailscale0": false, "docker0": false} {
		if Uplink(name) != want {
			t.Errorf("Uplink(%q) = %v", name, !want)
		}
	}
}

// TestReadThisMachine reads the real interfaces (whatever this machine
// has) and checks what it can: every link named is an uplink.
func TestReadThisMachine(t *testing.T) {
	links, err := Read("/sys", "/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if !Uplink(l.Name) {
			t.Errorf("%s is not an uplink", l.Name)
		}
	}
	t.Logf("%s", Summary(links, nil, 0))
	if strings.Contains(Summary(links, nil, 0), "unknown") {
		t.Error("summary unknown")
	}
}
