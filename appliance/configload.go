package main

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/surveybox/surveybox/config"
)

// configInfo is what boot mode takes from the config.
type configInfo struct {
	Source            string // the file it came from; "" = built-in defaults
	TailnetConfigured bool   // an auth key is configured (tailnet wanted)
	Scan              *config.Scan
	Config            *config.Config // the whole config, for the tailnet services
}

func (c configInfo) describe() string {
	if c.Source == "" {
		return "defaults (no config file)"
	}
	return c.Source
}

// configErrorLine is the one console line for a broken config. The config
// package's errors name the file and the field's JSON path (several
// problems are joined on one line).
func configErrorLine(err error) string {
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
	return "CONFIG ERROR: " + msg + " — running in safe mode (scanning with defaults, no tailnet, no upload, no SSH)"
}

// loadConfig loads /perm/surveybox/config.json, else
// /etc/surveybox/config.json, else the defaults, and the auth key.
func loadConfig() (configInfo, error) {
	c, err := config.Load()
	if err != nil {
		return configInfo{}, err
	}
	return configInfo{
		Source:            c.Source,
		TailnetConfigured: c.Tailnet.AuthKey.Reveal() != "" || hasTailnetState(c.Tailnet.StateDir),
		Scan:              &c.Scan,
		Config:            c,
	}, nil
}

// applyScanConfig sets the scan options from the config where the command
// line did not set them (flags given in gokr-packer.json win).
func applyScanConfig(o *options, s *config.Scan) {
	if s == nil {
		return
	}
	set := o.explicit
	if !set["iface"] && s.Interface != "" {
		o.iface = s.Interface
	}
	if !set["interval"] && s.Interval.D() > 0 {
		o.interval = s.Interval.D()
	}
	if !set["scan-timeout"] && s.Timeout.D() > 0 {
		o.timeout = time.Duration(s.Timeout)
	}
	if !set["passive"] && !set["ssid"] {
		o.passive = s.Passive
		o.ssids = append([]string(nil), s.SSIDs...)
	}
	if !set["freq"] && len(s.Frequencies) > 0 {
		o.freqs = append([]int(nil), s.Frequencies...)
	}
}

// hasTailnetState reports whether the node has registered before: a box
// keeps its tailnet identity in its state directory on /perm, so it needs
// the auth key only for its first start.
func hasTailnetState(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "tailscaled.state"))
	return err == nil
}
