//go:build !linux

package survey

import (
	"context"
	"errors"
)

// Config configures a Scanner.
type Config struct {
	Interface string
}

// Scanner scans with one wireless interface; only Linux has one.
type Scanner struct{}

// ErrNotSupported is returned by Open on systems without nl80211.
var ErrNotSupported = errors.New("survey: scanning needs Linux's nl80211")

// Open always fails outside Linux.
func Open(ctx context.Context, cfg Config) (*Scanner, error) { return nil, ErrNotSupported }

// Close does nothing.
func (s *Scanner) Close() error { return nil }
