// Package wifi is surveybox's OS-neutral WiFi data model: a scanned BSS and
// a channel survey entry as the box observes them, their stored and JSON
// forms (Record, ChannelRecord), the 802.11 information element decoder
// that derives security, width and standards, and the frequency, channel
// and band helpers. It builds on every OS, so the box (which fills it from
// nl80211, package survey) and the operator's tools (which store, export
// and report it) share one definition.
package wifi
