// Package tailnet is the Tailscale plumbing the box and the operator's
// tools share: setting up a tsnet node (NewNode, KeepUp) and authorizing
// callers by their tailnet identity, asked of the local Tailscale node
// (WhoIs of the connection's remote address), never by anything the caller
// declares about itself. OS-neutral.
package tailnet
