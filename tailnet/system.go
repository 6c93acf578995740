package tailnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"tailscale.com/client/local"
	"tailscale.com/ipn"
	"tailscale.com/ipn/ipnstate"
)

// SystemClient returns a client of the machine's own Tailscale: tailscaled,
// or the macOS and Windows apps, through its LocalAPI. socket names
// tailscaled's socket; empty means the platform's default (and, on macOS,
// the app's local port as well).
func SystemClient(socket string) *local.Client {
	if socket == "" {
		return &local.Client{}
	}
	return &local.Client{Socket: socket, UseSocketOnly: true}
}

// ErrSystemNotRunning: the machine's Tailscale answered but is not logged
// in and connected.
var ErrSystemNotRunning = errors.New("this machine's Tailscale is not running")

// SystemRunning asks the machine's Tailscale for its state and returns
// its status when it is logged in and connected. An error says whether it
// did not answer at all or answered in another state.
func SystemRunning(ctx context.Context, lc *local.Client) (*ipnstate.Status, error) {
	// The LocalAPI answers at once or not at all (no daemon, no socket);
	// a missing daemon must not hold up a fall-back to tsnet.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := lc.StatusWithoutPeers(ctx)
	if err != nil {
		return nil, fmt.Errorf("asking this machine's Tailscale for its state: %w", err)
	}
	if st.BackendState != ipn.Running.String() || st.Self == nil {
		return st, fmt.Errorf("%w (its state is %s)", ErrSystemNotRunning, st.BackendState)
	}
	return st, nil
}

// SystemDialer returns a Dialer through the machine's Tailscale: peers are
// looked up and identified by it (Status, WhoIs), and the connection is
// made by it (the LocalAPI's dial), so it works whether Tailscale routes
// the tailnet through the kernel (a TUN device, the apps) or only in its
// own userspace network stack. Dialer only ever asks for a peer's tailnet
// address, so the daemon carries the connection over the tailnet.
func SystemDialer(lc *local.Client, allow Policy, wait time.Duration) *Dialer {
	return &Dialer{
		Peers: lc,
		Allow: allow,
		Wait:  wait,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, portStr, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			port, err := strconv.ParseUint(portStr, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("port %q: %w", portStr, err)
			}
			c, err := lc.UserDial(ctx, network, host, uint16(port))
			if err != nil {
				return nil, fmt.Errorf("dialling %s through this machine's Tailscale: %w", addr, err)
			}
			return c, nil
		},
	}
}

// SelfName describes the node st is: its name and who it belongs to (a
// user's login, or its tags).
func SelfName(st *ipnstate.Status) string {
	if st == nil || st.Self == nil {
		return "?"
	}
	name := st.Self.HostName
	if st.Self.DNSName != "" {
		name = st.Self.DNSName
	}
	if st.Self.Tags != nil && st.Self.Tags.Len() > 0 {
		return fmt.Sprintf("%s (%v)", name, st.Self.Tags.AsSlice())
	}
	if u, ok := st.User[st.Self.UserID]; ok && u.LoginName != "" {
		return fmt.Sprintf("%s (%s)", name, u.LoginName)
	}
	return name
}
