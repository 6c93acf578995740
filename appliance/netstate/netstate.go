// Package netstate says in one short line how the box's wired uplink is
// doing: no interface, no link (cable), no DHCP lease yet or still none
// after a while, or its address and gateway. The customer reads it off
// the screen to the operator on the phone.
package netstate

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Link is what is known of one interface.
type Link struct {
	Name    string
	Carrier bool           // /sys/class/net/NAME/carrier
	Addrs   []netip.Prefix // IPv4 and global IPv6
	Gateway netip.Addr     // IPv4 default route through it, if any
}

// Uplink reports whether name is an interface the box could use as its
// uplink: wired Ethernet, or a USB Ethernet adapter (a Zero 2 W has no
// Ethernet of its own). WiFi is for surveying, never the uplink.
func Uplink(name string) bool {
	for _, p := range []string{"eth", "en", "usb", "uplink"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Read reads the uplink interfaces' state; sysRoot and procRoot are
// normally /sys and /proc.
func Read(sysRoot, procRoot string) ([]Link, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	gws := defaultGateways(procRoot)
	var links []Link
	for _, ifc := range ifs {
		if !Uplink(ifc.Name) {
			continue
		}
		l := Link{Name: ifc.Name, Gateway: gws[ifc.Name]}
		if b, err := os.ReadFile(filepath.Join(sysRoot, "class/net", ifc.Name, "carrier")); err == nil {
			l.Carrier = strings.TrimSpace(string(b)) == "1"
		}
		as, _ := ifc.Addrs()
		for _, a := range as {
			if p, err := netip.ParsePrefix(a.String()); err == nil && (p.Addr().Is4() || p.Addr().IsGlobalUnicast()) && !p.Addr().IsLinkLocalUnicast() {
				l.Addrs = append(l.Addrs, p)
			}
		}
		links = append(links, l)
	}
	return links, nil
}

// defaultGateways reads the IPv4 default routes by interface from
// /proc/net/route (hex, little-endian on every platform the box runs on).
func defaultGateways(procRoot string) map[string]netip.Addr {
	gws := map[string]netip.Addr{}
	f, err := os.Open(filepath.Join(procRoot, "net/route"))
	if err != nil {
		return gws
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Iface Destination Gateway Flags ...
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 || fs[1] != "00000000" || len(fs[2]) != 8 {
			continue
		}
		b, err := hex.DecodeString(fs[2])
		if err != nil {
			continue
		}
		gws[fs[0]] = netip.AddrFrom4([4]byte{b[3], b[2], b[1], b[0]})
	}
	return gws
}

// DHCPPatience is how long a link may be up without an address before the
// line says there is no DHCP lease.
const DHCPPatience = 30 * time.Second

// Summary renders the uplink's state in one short line. linkUpFor is how
// long the first interface with a link has had no address (0: unknown).
func Summary(links []Link, err error, linkUpFor time.Duration) string {
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	if len(links) == 0 {
		return "NO ETHERNET (a Zero 2 W needs a USB Ethernet adapter)"
	}
	// The first interface with an address is the uplink.
	for _, l := range links {
		if len(l.Addrs) > 0 {
			s := l.Name + " " + l.Addrs[0].String()
			if l.Gateway.IsValid() {
				s += ", gateway " + l.Gateway.String()
			} else {
				s += ", NO DEFAULT GATEWAY"
			}
			return s
		}
	}
	i := slices.IndexFunc(links, func(l Link) bool { return l.Carrier })
	if i < 0 {
		return links[0].Name + ": NO LINK - is the Ethernet cable plugged in?"
	}
	if linkUpFor < DHCPPatience {
		return links[i].Name + ": link up, waiting for an address (DHCP)"
	}
	return fmt.Sprintf("%s: link up, NO DHCP LEASE after %.0fs", links[i].Name, DHCPPatience.Seconds())
}

// Watch reports the uplink's state through report now and whenever the
// line changes, polling every interval, until ctx ends.
func Watch(ctx context.Context, sysRoot, procRoot string, every time.Duration, report func(string)) {
	var waitingSince time.Time
	last := ""
	for {
		links, err := Read(sysRoot, procRoot)
		waiting := err == nil && slices.ContainsFunc(links, func(l Link) bool { return l.Carrier }) &&
			!slices.ContainsFunc(links, func(l Link) bool { return len(l.Addrs) > 0 })
		var upFor time.Duration
		switch {
		case !waiting:
			waitingSince = time.Time{}
		case waitingSince.IsZero():
			waitingSince = time.Now()
		default:
			upFor = time.Since(waitingSince)
		}
		if s := Summary(links, err, upFor); s != last {
			report(s)
			last = s
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
