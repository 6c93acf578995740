// Package listeners checks the promise that nothing on the box listens on
// the customer's LAN: it lists the listening sockets of every process from
// /proc and says which are not on loopback.
package listeners

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// What counts as listening, from /proc/net/{tcp,tcp6,udp,udp6}:
//   - a TCP socket in LISTEN state;
//   - a UDP socket with no remote address (not connect(2)ed): it accepts
//     datagrams from anyone. Connected UDP sockets (NTP queries, DNS) are
//     clients and do not count.
//
// Allowed local addresses: loopback (127.0.0.0/8, ::1) only. The tailnet's
// services live in the appliance's userspace network (tsnet) and make no
// kernel sockets; a kernel socket on 100.64.0.0/10 is on a LAN that uses
// that range (carrier-grade NAT, some ISPs' routers), not on the tailnet. A
// wildcard address (0.0.0.0, ::) includes the LAN and is not allowed.
//
// Allowed exceptions, by owning program and port: gokrazy's DHCP client
// (/gokrazy/dhcp) binds UDP 0.0.0.0:68 (and [::]:546 for DHCPv6) to receive
// its leases; that is a client, not a service, and the box cannot get an
// address without it. The appliance's own WireGuard UDP socket on the
// tailnet's WireGuard port (tsnet's magicsock, the tailnet's transport)
// speaks only WireGuard and Tailscale's disco protocol: every packet is
// authenticated by a tailnet key, nothing else is served on it.
// Unix sockets (gokrazy's web UI on /run/gokrazy-http.sock) are not network
// listeners.

// Listener is one listening socket.
type Listener struct {
	Proto string // tcp, tcp6, udp, udp6
	Addr  netip.AddrPort
	Inode uint64
	Owner string // executable of the owning process, if found
}

func (l Listener) String() string {
	s := strings.TrimSuffix(l.Proto, "6") + " " + l.Addr.String()
	if l.Owner != "" {
		s += " (" + l.Owner + ")"
	}
	return s
}

// Allowed is a permitted exception.
type Allowed struct {
	Proto string // tcp or udp
	Port  uint16
	Owner string // executable path
	Why   string
}

// GokrazyDHCP are the exceptions for gokrazy's DHCP client.
func GokrazyDHCP() []Allowed {
	return []Allowed{
		{"udp", 68, "/gokrazy/dhcp", "DHCP client"},
		{"udp", 546, "/gokrazy/dhcp", "DHCPv6 client"},
	}
}

// classify splits listeners into violations and allowed exceptions.
func classify(ls []Listener, exceptions []Allowed) (bad, allowed []string) {
next:
	for _, l := range ls {
		a := l.Addr.Addr().Unmap()
		if a.IsLoopback() {
			continue
		}
		proto := strings.TrimSuffix(l.Proto, "6")
		for _, al := range exceptions {
			if al.Proto == proto && al.Port == l.Addr.Port() && al.Owner == l.Owner {
				allowed = append(allowed, l.String()+" ["+al.Why+"]")
				continue next
			}
		}
		bad = append(bad, l.String())
	}
	sort.Strings(bad)
	sort.Strings(allowed)
	return bad, allowed
}

// Summary is the console summary of a check. addrs, the box's
// non-loopback addresses, is appended so the line shows what the check saw
// (and changes, and is printed again, when the LAN comes up).
func Summary(ls []Listener, err error, addrs string, exceptions []Allowed) string {
	if addrs == "" {
		addrs = "none"
	}
	if err != nil {
		return "listeners: check failed: " + err.Error() + "; addresses: " + addrs
	}
	bad, allowed := classify(ls, exceptions)
	var b strings.Builder
	if len(bad) == 0 {
		b.WriteString("listeners: none reachable from the LAN")
	} else {
		b.WriteString("listeners: WARNING: listening on the LAN: " + strings.Join(bad, ", "))
	}
	if len(allowed) > 0 {
		b.WriteString(" (allowed: " + strings.Join(allowed, ", ") + ")")
	}
	b.WriteString("; addresses: " + addrs)
	return b.String()
}

// Read reads the listening sockets of every process.
func Read(procRoot string) ([]Listener, error) {
	var all []Listener
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		f, err := os.Open(filepath.Join(procRoot, "net", proto))
		if err != nil {
			if os.IsNotExist(err) && strings.HasSuffix(proto, "6") {
				continue // no IPv6
			}
			return nil, err
		}
		ls, err := parseProcNet(proto, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		all = append(all, ls...)
	}
	owners := socketOwners(procRoot)
	for i := range all {
		all[i].Owner = owners[all[i].Inode]
	}
	return all, nil
}

const (
	tcpListen = 0x0A
	udpClose  = 0x07 // an unconnected UDP socket
)

// parseProcNet parses one /proc/net/{tcp,udp}[6] table and returns its
// listening sockets.
func parseProcNet(proto string, f io.Reader) ([]Listener, error) {
	var ls []Listener
	sc := bufio.NewScanner(f)
	first := true
	for sc.Scan() {
		if first { // header
			first = false
			continue
		}
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		local, err := parseHexAddr(fields[1])
		if err != nil {
			return nil, err
		}
		remote, err := parseHexAddr(fields[2])
		if err != nil {
			return nil, err
		}
		st, err := strconv.ParseUint(fields[3], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("bad state %q", fields[3])
		}
		inode, _ := strconv.ParseUint(fields[9], 10, 64)
		listening := false
		if strings.HasPrefix(proto, "tcp") {
			listening = st == tcpListen
		} else {
			listening = st == udpClose && remote.Port() == 0 && remote.Addr().IsUnspecified()
		}
		if listening {
			ls = append(ls, Listener{Proto: proto, Addr: local, Inode: inode})
		}
	}
	return ls, sc.Err()
}

// parseHexAddr parses "0100007F:0050" (IPv4) or a 32-hex-digit IPv6
// address. The kernel prints the address as 32-bit words in host byte order.
func parseHexAddr(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	var b [16]byte
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	var addr netip.Addr
	if len(raw) == 4 {
		addr = netip.AddrFrom4([4]byte(b[:4]))
	} else {
		addr = netip.AddrFrom16(b)
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// socketOwners maps socket inodes to the executable of a process that has
// them open.
func socketOwners(procRoot string) map[uint64]string {
	owners := map[uint64]string{}
	pids, _ := os.ReadDir(procRoot)
	for _, p := range pids {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		dir := filepath.Join(procRoot, p.Name())
		fds, err := os.ReadDir(filepath.Join(dir, "fd"))
		if err != nil {
			continue
		}
		exe, _ := os.Readlink(filepath.Join(dir, "exe"))
		for _, fd := range fds {
			t, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
			if err != nil {
				continue
			}
			in, ok := strings.CutPrefix(t, "socket:[")
			if !ok {
				continue
			}
			if n, err := strconv.ParseUint(strings.TrimSuffix(in, "]"), 10, 64); err == nil {
				owners[n] = exe
			}
		}
	}
	return owners
}

// InterfaceAddrs lists the non-loopback interface addresses, e.g.
// "eth0 10.0.2.15/24 fec0::5054:ff:fe12:3456/64".
func InterfaceAddrs() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	var parts []string
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		as, _ := ifc.Addrs()
		var list []string
		for _, a := range as {
			list = append(list, a.String())
		}
		if len(list) > 0 {
			parts = append(parts, ifc.Name+" "+strings.Join(list, " "))
		}
	}
	return strings.Join(parts, ", ")
}

// Watch checks the listeners now and then again after every(n) for the
// n-th check, until ctx ends, and calls print with the summary line
// whenever it changes. addrs gives the box's addresses for the line.
func Watch(ctx context.Context, procRoot string, addrs func() string, allowed []Allowed, every func(n int) time.Duration, print func(line string)) {
	last := ""
	for n := 0; ; n++ {
		ls, err := Read(procRoot)
		if line := Summary(ls, err, addrs(), allowed); line != last {
			print(line)
			last = line
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every(n)):
		}
	}
}
