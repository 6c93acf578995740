// Package e2etest runs the box's push loop and pull API against the
// operator's collector and pull client, each on its own tsnet node of an
// in-process test tailnet (Tailscale's testcontrol and DERP): delivery
// exactly once across outages and SIGKILLs, authorization, malformed and
// oversized uploads, pull resume. Test-only: the tests that need both sides
// live here, so neither side's packages import the other's.
package e2etest
