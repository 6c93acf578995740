// Package survey scans for WiFi networks with nl80211 over generic netlink
// and decodes what the kernel reports into the wifi package's types: BSS
// attributes and the per-channel survey. It knows nothing of storage or
// networking. The netlink code is Linux-only (the _linux.go files);
// elsewhere Open reports ErrNotSupported.
//
// The Scanner keeps an events-only socket joined to nl80211's "scan"
// multicast group and a separate request socket that never joins a group,
// runs at most one dump at a time, retries interrupted dumps and redials a
// request socket whose replies no longer match its requests. This is the
// structure that cannot get stuck the way a single shared socket does.
package survey
