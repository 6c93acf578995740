// Package config loads the box's one JSON configuration file: it applies
// defaults, rejects unknown fields and invalid values with errors that
// name the file, the JSON path of the field and, where known, the line and
// column, and reads the Tailscale auth key from its own 0600 file or
// TS_AUTHKEY. README.md beside this file lists every field.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"
)

// DefaultPaths returns where Load looks for the config file, in order: the
// writable /perm partition first, then the copy baked into the image.
func DefaultPaths() []string {
	return []string{"/perm/surveybox/config.json", "/etc/surveybox/config.json"}
}

// AuthKeyEnv overrides the auth key file when set and not empty.
const AuthKeyEnv = "TS_AUTHKEY"

// Config is the box's configuration. The zero value is not useful; start
// from Default or Load.
type Config struct {
	// Hostname names the box in logs and on the console. Default
	// "surveybox".
	Hostname  string    `json:"hostname"`
	Scan      Scan      `json:"scan"`
	Spool     Spool     `json:"spool"`
	Tailnet   Tailnet   `json:"tailnet"`
	Uploader  Uploader  `json:"uploader"`
	Operators Operators `json:"operators"`
	SSH       SSH       `json:"ssh"`
	Clock     Clock     `json:"clock"`

	// Source is the file the configuration came from, "" when no file
	// existed and the defaults apply.
	Source string `json:"-"`
}

// Scan configures the survey engine.
type Scan struct {
	// Interface is the wireless interface to scan with; "" picks the
	// first one.
	Interface string `json:"interface"`
	// Interval is the pause between scan cycles. Default 30s, at least 1s.
	Interval Duration `json:"interval"`
	// Timeout gives up waiting for one scan after this long. Default 30s.
	Timeout Duration `json:"timeout"`
	// Passive scans send no probe requests; excludes SSIDs.
	Passive bool `json:"passive"`
	// SSIDs are probed for by name, to find hidden networks (at most 32
	// bytes each).
	SSIDs []string `json:"ssids"`
	// Frequencies limits scans to these channels, in MHz; empty scans all.
	Frequencies []int `json:"frequencies"`
	// Survey collects the channel survey (busy time, noise) each cycle.
	// Default true.
	Survey bool `json:"survey"`
}

// Spool configures the on-disk store of observations.
type Spool struct {
	// Path of the bbolt database. Default /perm/surveybox/spool.db.
	Path string `json:"path"`
	// QuotaBytes bounds the live data in the spool; past it the oldest
	// observations are evicted. Default 256MiB, at least 1MiB.
	QuotaBytes Size `json:"quota_bytes"`
}

// Tailnet configures the box's Tailscale node.
type Tailnet struct {
	// Hostname is the node's name on the tailnet. Default: the box's
	// hostname.
	Hostname string `json:"hostname"`
	// StateDir keeps the node's identity; losing it makes a new node.
	// Default /perm/surveybox/tsnet.
	StateDir string `json:"state_dir"`
	// AuthKeyFile holds the auth key (a tagged, pre-approved key); it must
	// be mode 0600 or stricter. TS_AUTHKEY overrides it. Default
	// /perm/surveybox/authkey.
	AuthKeyFile string `json:"auth_key_file"`
	// ControlURL is the coordination server; "" is Tailscale's. Set it for
	// headscale or tests.
	ControlURL string `json:"control_url"`
	// MemoryLimit is the Go memory limit of the process (GOMEMLIMIT).
	// Default 48MiB.
	MemoryLimit Size `json:"memory_limit"`
	// AdvertiseTags are ACL tags the node asks for. A tagged auth key
	// gives the box its tags; this is for coordination servers that tag
	// nodes on request instead (and it must agree with the key where both
	// apply: headscale refuses tags a pre-auth key was not made with).
	AdvertiseTags []string `json:"advertise_tags"`

	// AuthKey is the key read from TS_AUTHKEY or AuthKeyFile, empty when
	// neither has one. It is never printed or logged.
	AuthKey Secret `json:"-"`
}

// Uploader configures pushing observations to the operator's collector.
type Uploader struct {
	// Collector is the URL of the operator's collector on the tailnet,
	// e.g. "http://collector:8080"; "" disables pushing (the operator
	// pulls instead).
	Collector string `json:"collector"`
	// BatchMaxBytes bounds one upload. Default 1MiB.
	BatchMaxBytes Size `json:"batch_max_bytes"`
	// BackoffMin and BackoffMax bound the wait between failed uploads,
	// which doubles with jitter. Defaults 1s and 5m.
	BackoffMin Duration `json:"backoff_min"`
	BackoffMax Duration `json:"backoff_max"`
	// CollectorPeers is who the collector must be on the tailnet, asked
	// of the tailnet (WhoIs) before anything is sent: ACL tags
	// ("tag:surveyops"), user logins ("alice@example.com", or
	// "user:ops" for a headscale user without an email) or node names.
	// Empty: the operators (Operators.Users and Operators.Tags).
	CollectorPeers []string `json:"collector_peers"`
}

// Operators says who may use the box's pull API (checked with WhoIs).
type Operators struct {
	// Users are tailnet login names, e.g. "alice@example.com".
	Users []string `json:"users"`
	// Tags are ACL tags of operator machines, e.g. "tag:surveyops".
	Tags []string `json:"tags"`
}

// SSH configures the box's SSH server on the tailnet.
type SSH struct {
	// AuthorizedKeys are public keys in authorized_keys form
	// ("ssh-ed25519 AAAA... comment"), without options.
	AuthorizedKeys []string `json:"authorized_keys"`
}

// Clock configures how the box makes sure of its clock where NTP is
// blocked (the Pi has no battery-backed clock).
type Clock struct {
	// NTPWait is how long NTP gets to set the clock before the box asks
	// the date sources. Default 30s.
	NTPWait Duration `json:"ntp_wait"`
	// DateSources are http(s) URLs whose Date header sets the clock when
	// NTP did not. https ones are verified (chain and name); an http one
	// is believed as it is. Empty: the coordination server
	// (tailnet.control_url, else https://controlplane.tailscale.com).
	DateSources []string `json:"date_sources"`
}

// DateSources returns the date sources to use: clock.date_sources, else
// the coordination server.
func (c *Config) DateSources() []string {
	if len(c.Clock.DateSources) > 0 {
		return c.Clock.DateSources
	}
	if c.Tailnet.ControlURL != "" {
		return []string{c.Tailnet.ControlURL}
	}
	return []string{DefaultControlURL}
}

// DefaultControlURL is Tailscale's coordination server.
const DefaultControlURL = "https://controlplane.tailscale.com"

// Default returns the configuration used for every field a file leaves
// out.
func Default() Config {
	return Config{
		Hostname: "surveybox",
		Scan: Scan{
			Interval: Duration(30 * time.Second),
			Timeout:  Duration(30 * time.Second),
			Survey:   true,
		},
		Spool: Spool{
			Path:       "/perm/surveybox/spool.db",
			QuotaBytes: 256 << 20,
		},
		Tailnet: Tailnet{
			StateDir:    "/perm/surveybox/tsnet",
			AuthKeyFile: "/perm/surveybox/authkey",
			MemoryLimit: 48 << 20,
		},
		Uploader: Uploader{
			BatchMaxBytes: 1 << 20,
			BackoffMin:    Duration(time.Second),
			BackoffMax:    Duration(5 * time.Minute),
		},
		Clock: Clock{NTPWait: Duration(30 * time.Second)},
	}
}

// Load reads the first of paths that exists (DefaultPaths() when none are
// given), or uses the defaults when none exists (Source is then ""), and
// then the auth key: TS_AUTHKEY if set, else tailnet.auth_key_file if it
// exists.
func Load(paths ...string) (*Config, error) {
	if len(paths) == 0 {
		paths = DefaultPaths()
	}
	var cfg *Config
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		if cfg, err = Parse(p, data); err != nil {
			return nil, err
		}
		break
	}
	if cfg == nil {
		d := Default()
		d.fillDerived()
		if err := d.Validate(); err != nil {
			return nil, err
		}
		cfg = &d
	}
	if err := cfg.loadAuthKey(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse decodes and validates a config file's contents; name is used in
// errors and as Source. Fields the file leaves out keep their defaults.
func Parse(name string, data []byte) (*Config, error) {
	cfg := Default()
	cfg.Source = name
	if err := decodeStrict(name, data, &cfg); err != nil {
		return nil, err
	}
	cfg.fillDerived()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// fillDerived sets the defaults that depend on other fields.
func (c *Config) fillDerived() {
	if c.Tailnet.Hostname == "" {
		c.Tailnet.Hostname = c.Hostname
	}
}

func (c *Config) loadAuthKey() error {
	if k, ok := os.LookupEnv(AuthKeyEnv); ok && k != "" {
		c.Tailnet.AuthKey = Secret(strings.TrimSpace(k))
		return nil
	}
	if c.Tailnet.AuthKeyFile == "" {
		return nil
	}
	key, err := ReadAuthKeyFile(c.Tailnet.AuthKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	c.Tailnet.AuthKey = key
	return nil
}

// ReadAuthKeyFile reads a Tailscale auth key from a file that only its
// owner may read (mode 0600 or stricter), holding one key on one line. A
// missing file gives an error wrapping fs.ErrNotExist.
func ReadAuthKeyFile(p string) (Secret, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("reading auth key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("reading auth key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("auth key file %s is not a regular file", p)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("auth key file %s has mode %04o: it must be 0600 or stricter (chmod 600 %s)", p, perm, p)
	}
	buf := make([]byte, 4096)
	n, err := f.Read(buf)
	if err != nil && n == 0 {
		return "", fmt.Errorf("reading auth key file %s: %w", p, err)
	}
	key := strings.TrimSpace(string(buf[:n]))
	if key == "" || strings.ContainsAny(key, " \t\r\n") {
		return "", fmt.Errorf("auth key file %s must hold one key on one line", p)
	}
	return Secret(key), nil
}

// String returns the configuration as JSON, without the auth key.
func (c Config) String() string {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Sprintf("config: %v", err)
	}
	return fmt.Sprintf("%s (from %s, auth key %s)", b, c.SourceName(), c.Tailnet.AuthKey.state())
}

// GoString is String, so that %#v does not print the auth key either.
func (c Config) GoString() string { return c.String() }

// SourceName is Source, or "built-in defaults" when no file was found.
func (c Config) SourceName() string {
	if c.Source == "" {
		return "built-in defaults"
	}
	return c.Source
}

// LogValue logs the configuration without the auth key.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("source", c.SourceName()),
		slog.String("hostname", c.Hostname),
		slog.Group("scan",
			slog.String("interface", c.Scan.Interface),
			slog.Duration("interval", time.Duration(c.Scan.Interval)),
			slog.Bool("passive", c.Scan.Passive),
			slog.Any("ssids", c.Scan.SSIDs),
			slog.Any("frequencies", c.Scan.Frequencies),
			slog.Bool("survey", c.Scan.Survey)),
		slog.Group("spool",
			slog.String("path", c.Spool.Path),
			slog.Int64("quota_bytes", int64(c.Spool.QuotaBytes))),
		slog.Group("tailnet",
			slog.String("hostname", c.Tailnet.Hostname),
			slog.String("state_dir", c.Tailnet.StateDir),
			slog.String("auth_key_file", c.Tailnet.AuthKeyFile),
			slog.String("control_url", c.Tailnet.ControlURL),
			slog.Int64("memory_limit", int64(c.Tailnet.MemoryLimit)),
			slog.Any("auth_key", c.Tailnet.AuthKey)),
		slog.Group("uploader",
			slog.String("collector", c.Uploader.Collector),
			slog.Int64("batch_max_bytes", int64(c.Uploader.BatchMaxBytes)),
			slog.Duration("backoff_min", time.Duration(c.Uploader.BackoffMin)),
			slog.Duration("backoff_max", time.Duration(c.Uploader.BackoffMax))),
		slog.Group("operators",
			slog.Any("users", c.Operators.Users),
			slog.Any("tags", c.Operators.Tags)),
		slog.Int("ssh_authorized_keys", len(c.SSH.AuthorizedKeys)),
	)
}

// Secret is a string that prints, marshals and logs as "[redacted]" (or
// "" when empty). Reveal returns it.
type Secret string

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) state() string {
	if s == "" {
		return "not set"
	}
	return "set"
}

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts like String.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts like String.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON redacts like String.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }
