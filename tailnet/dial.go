package tailnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"tailscale.com/client/tailscale/apitype"
	"tailscale.com/ipn/ipnstate"
)

// PeerSource is what *local.Client provides to find and identify peers.
type PeerSource interface {
	Status(ctx context.Context) (*ipnstate.Status, error)
	WhoIs(ctx context.Context, remoteAddr string) (*apitype.WhoIsResponse, error)
}

// Dialer connects to tailnet peers and nothing else. A name is looked up
// in the node's own peer list, never in DNS: the customer's LAN resolver
// (or an operator's hotel Wi-Fi's) would happily answer for a name the
// tailnet does not know, and the connection would leave the tailnet. An
// address must be one of a peer's tailnet addresses. Before connecting, the peer's
// identity is asked of the node (WhoIs) and checked against Allow.
//
// A node that has just come up may not have its peer list yet; Dialer
// waits up to Wait for the peer to appear.
type Dialer struct {
	Peers PeerSource
	// Dial connects over the tailnet to an address Dialer resolved:
	// tsnet.Server.Dial, or a net.Dialer's DialContext when the system's
	// Tailscale routes the tailnet.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Allow is who the peer must be; the zero Policy allows any peer.
	Allow Policy
	// Wait bounds the wait for an unknown peer; 0 means 30 s.
	Wait time.Duration
}

// ErrNotPeer: the name or address is not a peer on the tailnet.
var ErrNotPeer = errors.New("not a peer on the tailnet")

// ErrWrongPeer: the peer is on the tailnet but is not who it must be.
var ErrWrongPeer = errors.New("peer not allowed")

// Resolve returns the tailnet address of host (a peer's MagicDNS name, its
// first label, or one of its tailnet addresses) and who it is.
func (d *Dialer) Resolve(ctx context.Context, host string) (netip.Addr, Identity, error) {
	wait := d.Wait
	if wait <= 0 {
		wait = 30 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		addr, err := d.lookup(ctx, host)
		if err == nil {
			id, err := Identify(ctx, d.Peers, netip.AddrPortFrom(addr, 1).String())
			if err != nil {
				return netip.Addr{}, Identity{}, err
			}
			if !d.Allow.Empty() && !d.Allow.Allows(id) {
				return netip.Addr{}, id, fmt.Errorf("%w: %s is %v", ErrWrongPeer, host, id)
			}
			return addr, id, nil
		}
		if !errors.Is(err, ErrNotPeer) || time.Now().After(deadline) {
			return netip.Addr{}, Identity{}, err
		}
		select {
		case <-ctx.Done():
			return netip.Addr{}, Identity{}, fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// lookup finds host among the node's peers.
func (d *Dialer) lookup(ctx context.Context, host string) (netip.Addr, error) {
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	ip, ipErr := netip.ParseAddr(host)
	isIP := ipErr == nil
	st, err := d.Peers.Status(ctx)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("asking the tailnet node for its peers: %w", err)
	}
	for _, p := range st.Peer {
		if p == nil || len(p.TailscaleIPs) == 0 {
			continue
		}
		if isIP {
			for _, a := range p.TailscaleIPs {
				if a == ip.Unmap() {
					return a, nil
				}
			}
			continue
		}
		fqdn := strings.ToLower(strings.TrimSuffix(p.DNSName, "."))
		short, _, _ := strings.Cut(fqdn, ".")
		if host == fqdn || host == short {
			return pickAddr(p.TailscaleIPs), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%s: %w (the node knows %d peers)", host, ErrNotPeer, len(st.Peer))
}

// pickAddr prefers a peer's IPv4 address.
func pickAddr(as []netip.Addr) netip.Addr {
	for _, a := range as {
		if a.Is4() {
			return a
		}
	}
	return as[0]
}

// DialContext resolves addr's host on the tailnet (Resolve) and connects
// to it there.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ip, _, err := d.Resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	return d.Dial(ctx, network, net.JoinHostPort(ip.String(), port))
}

// HTTPClient returns a client whose connections go to tailnet peers only
// (DialContext), never through a proxy.
func (d *Dialer) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         d.DialContext,
		Proxy:               nil,
		ForceAttemptHTTP2:   false,
		MaxIdleConns:        4,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 30 * time.Second,
	}}
}
