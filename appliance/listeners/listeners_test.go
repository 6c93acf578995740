package listeners

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseHexAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:0050":                         "127.0.0.1:80",
		"00000000:0044":                         "0.0.0.0:68",
		"0F02000A:A2E4":                         "10.0.2.15:41700",
		"00000000000000000000000000000000:0016": "[::]:22",
		"00000000000000000000000001000000:0277": "[::1]:631",
		"0000000000000000FFFF00000F02000A:0050": "[::ffff:10.0.2.15]:80",
		"0000A1FD5C11E0A1000000000100000:0001":  "",
	} {
		got, err := parseHexAddr(in)
		if want == "" {
			if err == nil {
				t.Errorf("%s: no error", in)
			}
			continue
		}
		if err != nil || got.String() != want {
			t.Errorf("parseHexAddr(%s) = %v, %v; want %s", in, got, err, want)
		}
	}
}

const procTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 101 1 0 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 102 1 0 100 0 0 10 0
   2: 0F02000A:A2E4 0202000A:01BB 01 00000000:00000000 00:00000000 00000000     0        0 103 1 0 100 0 0 10 0
   3: 0140400A:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 104 1 0 100 0 0 10 0
   4: 01024064:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 105 1 0 100 0 0 10 0
`

const procUDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  10: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 201 2 0 0
  11: 0F02000A:C350 0202000A:007B 01 00000000:00000000 00:00000000 00000000     0        0 202 2 0 0
  12: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 203 2 0 0
`

func TestParseProcNet(t *testing.T) {
	tcp, err := parseProcNet("tcp", strings.NewReader(procTCP))
	if err != nil {
		t.Fatal(err)
	}
	udp, err := parseProcNet("udp", strings.NewReader(procUDP))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range append(tcp, udp...) {
		got = append(got, l.Proto+" "+l.Addr.String()+" "+strconv.FormatUint(l.Inode, 10))
	}
	want := []string{
		"tcp 127.0.0.1:631 101",
		"tcp 0.0.0.0:22 102",
		// 103 is an established connection: a client.
		"tcp 10.64.64.1:80 104",
		"tcp 100.64.2.1:22 105",
		"udp 0.0.0.0:68 201",
		// 202 is a connected UDP socket (an NTP query): a client.
		"udp 0.0.0.0:5353 203",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestClassifyListeners(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, tt := range []struct {
		name      string
		ls        []Listener
		wantLine  string
		wantClean bool
	}{
		{"nothing", nil, "listeners: none reachable from the LAN", true},
		{"loopback only", []Listener{
			{Proto: "tcp", Addr: ap("127.0.0.1:631")},
			{Proto: "tcp6", Addr: ap("[::1]:8080")},
		}, "listeners: none reachable from the LAN", true},
		{"a kernel socket in the tailnet's ranges is on a LAN (tsnet makes none)", []Listener{
			{Proto: "tcp", Addr: ap("100.101.102.103:22")},
			{Proto: "tcp6", Addr: ap("[fd7a:115c:a1e0::1]:22")},
		}, "listeners: WARNING: listening on the LAN: tcp 100.101.102.103:22, tcp [fd7a:115c:a1e0::1]:22", false},
		{"gokrazy's DHCP client", []Listener{
			{Proto: "udp", Addr: ap("0.0.0.0:68"), Owner: "/gokrazy/dhcp"},
		}, "listeners: none reachable from the LAN (allowed: udp 0.0.0.0:68 (/gokrazy/dhcp) [DHCP client])", true},
		{"port 68 from another program is not the DHCP client", []Listener{
			{Proto: "udp", Addr: ap("0.0.0.0:68"), Owner: "/user/evil"},
		}, "listeners: WARNING: listening on the LAN: udp 0.0.0.0:68 (/user/evil)", false},
		{"web UI on the LAN", []Listener{
			{Proto: "tcp", Addr: ap("10.0.2.15:80"), Owner: "/gokrazy/init"},
			{Proto: "tcp6", Addr: ap("[::]:22")},
			{Proto: "tcp", Addr: ap("127.0.0.1:80")},
		}, "listeners: WARNING: listening on the LAN: tcp 10.0.2.15:80 (/gokrazy/init), tcp [::]:22", false},
		{"v4-mapped LAN address", []Listener{
			{Proto: "tcp6", Addr: ap("[::ffff:192.168.1.5]:80")},
		}, "listeners: WARNING: listening on the LAN: tcp [::ffff:192.168.1.5]:80", false},
		{"100.128/10 is not the tailnet", []Listener{
			{Proto: "tcp", Addr: ap("100.128.0.1:80")},
		}, "listeners: WARNING: listening on the LAN: tcp 100.128.0.1:80", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad, _ := classify(tt.ls, GokrazyDHCP())
			if (len(bad) == 0) != tt.wantClean {
				t.Errorf("violations %q, want clean=%v", bad, tt.wantClean)
			}
			if got := Summary(tt.ls, nil, "eth0 10.0.2.15/24", GokrazyDHCP()); got != tt.wantLine+"; addresses: eth0 10.0.2.15/24" {
				t.Errorf("line\n %q\nwant\n %q", got, tt.wantLine)
			}
		})
	}
}

// TestReadListenersOwnSocket reads the real /proc: a socket this test
// listens on is found with its owner (this test binary).
func TestReadListenersOwnSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ls, err := Read("/proc")
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	want := map[string]bool{
		"tcp " + ln.Addr().String():      false,
		"udp " + pc.LocalAddr().String(): false,
	}
	for _, l := range ls {
		k := strings.TrimSuffix(l.Proto, "6") + " " + l.Addr.String()
		if _, ok := want[k]; ok {
			want[k] = true
			if l.Owner != exe {
				t.Errorf("%s: owner %q, want %q", k, l.Owner, exe)
			}
		}
	}
	for k, found := range want {
		if !found {
			t.Errorf("%s not found in %v", k, ls)
		}
	}
	bad, _ := classify(ls, GokrazyDHCP())
	if !slices.ContainsFunc(bad, func(s string) bool { return strings.HasPrefix(s, "udp 0.0.0.0:") }) {
		t.Errorf("the wildcard UDP socket is not a violation: %q", bad)
	}
}
