package survey

import (
	"errors"
	"fmt"
	"time"

	"github.com/surveybox/surveybox/wifi"
)

// Stats counts the scanner's recoveries since it was opened.
type Stats struct {
	Scans          uint64 // completed Scan calls
	Dumps          uint64 // consistent dumps delivered
	DumpRetries    uint64 // dumps repeated for NLM_F_DUMP_INTR or a generation change
	Redials        uint64 // request sockets closed and redialled
	TriggerBusy    uint64 // TRIGGER_SCAN answered EBUSY (somebody else was scanning)
	EventsLost     uint64 // ENOBUFS on the event socket, or event socket redials
	ForeignResults uint64 // scan-done events for scans this scanner did not trigger
}

// Interface is a wireless network interface and its phy.
type Interface struct {
	Index   int
	Name    string
	Type    uint32 // NL80211_IFTYPE_*
	MAC     []byte
	PHY     int
	PHYName string
}

// EventKind is the kind of an nl80211 scan event.
type EventKind int

const (
	EventScanStarted  EventKind = iota + 1 // NL80211_CMD_TRIGGER_SCAN
	EventScanResults                       // NL80211_CMD_NEW_SCAN_RESULTS
	EventScanAborted                       // NL80211_CMD_SCAN_ABORTED
	EventSchedResults                      // NL80211_CMD_SCHED_SCAN_RESULTS
	EventLost                              // events were dropped (ENOBUFS or socket redial)
)

func (k EventKind) String() string {
	switch k {
	case EventScanStarted:
		return "scan-started"
	case EventScanResults:
		return "scan-results"
	case EventScanAborted:
		return "scan-aborted"
	case EventSchedResults:
		return "sched-scan-results"
	case EventLost:
		return "events-lost"
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Event is a scan event for the scanner's interface. For EventLost the
// interface is unknown and Ifindex is 0.
type Event struct {
	Kind    EventKind
	Ifindex int
}

// ScanRequest describes one triggered scan.
type ScanRequest struct {
	// Passive sends no probe requests at all. Otherwise the scan probes
	// with the wildcard SSID plus each of SSIDs (to find hidden networks).
	Passive bool
	SSIDs   [][]byte
	// Frequencies limits the scan to these channels (MHz); nil scans all.
	Frequencies []int
	// Flush asks the kernel to expire cached entries older than the scan.
	Flush bool
}

// ScanResult is what one Scan call produced.
type ScanResult struct {
	BSSes []wifi.BSS
	// Triggered is true when the scanner's own trigger ran; false when it
	// kept finding another scan in progress and used that scan's results.
	Triggered bool
	Aborted   bool // the scan was aborted (by the kernel or after ScanTimeout)
	Busy      int  // EBUSY answers to TRIGGER_SCAN waited out
	// EventsLost is true when events were dropped while waiting, so the
	// end of the scan was assumed rather than seen.
	EventsLost bool
	// DecodeErrors lists BSS entries that could not be decoded; the good
	// ones are in BSSes.
	DecodeErrors []error
	Started      time.Time
	Finished     time.Time
}

// Snapshot is one delivery of Run: the scan cache after a scan finished.
type Snapshot struct {
	Cycle int // number of the scan cycle (1-based); 0 for a follow-up dump
	// Own is true for the scanner's own scan cycles, false for follow-up
	// dumps after scans that somebody else triggered.
	Own    bool
	Result ScanResult
	Err    error // the cycle failed; Result may be partial
}

// RunOptions configures Run.
type RunOptions struct {
	Request  ScanRequest
	Interval time.Duration // pause between the end of a cycle and the next trigger
	Cycles   int           // stop after this many own cycles; 0 runs until ctx ends
}

// ErrNoRadio is returned by Open when the kernel has no nl80211 or there
// is no wireless interface.
var ErrNoRadio = errors.New("no radio")
