package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"time"
)

// FleetBox is one box on the fleet page.
type FleetBox struct {
	Box  string
	Link string
	// LastPut is when data last arrived; Since how long ago.
	LastPut time.Time
	Since   time.Duration
	// Newest is the start of the newest stored cycle; Backlog how far it
	// lags behind the page's time.
	Newest   time.Time
	Backlog  time.Duration
	Interval time.Duration
	// Silent: nothing arrived for more than SilentCycles intervals.
	Silent       bool
	SilentCycles int

	Records, Missing, Quarantined uint64
}

// Fleet is the fleet page's content.
type Fleet struct {
	Now     time.Time
	Boxes   []FleetBox
	PollURL string
	Stamp   string
	Version string
	// SilentCycles is the silence threshold, in cycle intervals.
	SilentCycles int
}

// WriteFleet renders the fleet page.
func WriteFleet(w io.Writer, f Fleet) error {
	data := struct {
		Fleet
		CSP    string
		Style  template.CSS
		Script template.JS
	}{f, CSP(true), template.CSS(styleCSS), template.JS(scriptJS)}
	var buf bytes.Buffer
	if err := fleetT.Execute(&buf, data); err != nil {
		return fmt.Errorf("rendering the fleet page: %w", err)
	}
	_, err := buf.WriteTo(w)
	return err
}
