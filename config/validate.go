package config

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/surveybox/surveybox/wifi"
)

var (
	hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	tagRE      = regexp.MustCompile(`^tag:[a-zA-Z][a-zA-Z0-9-]*$`)
)

// sshKeyType reports whether t is a public key algorithm accepted in
// authorized_keys.
func sshKeyType(t string) bool {
	switch t {
	case "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
		"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com":
		return true
	}
	return false
}

// Validate checks every field and returns all problems found, each a
// *FieldError naming the field's JSON path.
func (c *Config) Validate() error {
	v := validator{file: c.SourceName()}
	v.hostname("hostname", c.Hostname)

	s := &c.Scan
	v.check("scan.interval", s.Interval.D() >= time.Second, "must be at least 1s, got %s", s.Interval)
	v.check("scan.timeout", s.Timeout.D() >= time.Second, "must be at least 1s, got %s", s.Timeout)
	v.check("scan.ssids", !(s.Passive && len(s.SSIDs) > 0), "must be empty for a passive scan (it sends no probes)")
	for i, ssid := range s.SSIDs {
		v.check(fmt.Sprintf("scan.ssids[%d]", i), len(ssid) >= 1 && len(ssid) <= 32, "must be 1 to 32 bytes, got %q (%d bytes)", ssid, len(ssid))
	}
	seen := make(map[int]bool)
	for i, f := range s.Frequencies {
		field := fmt.Sprintf("scan.frequencies[%d]", i)
		v.check(field, wifi.FrequencyChannel(f) != 0, "must be the centre frequency of a WiFi channel in MHz, got %d", f)
		v.check(field, !seen[f], "%d MHz is listed twice", f)
		seen[f] = true
	}

	v.absPath("spool.path", c.Spool.Path)
	v.check("spool.quota_bytes", c.Spool.QuotaBytes >= 1<<20, "must be at least 1MiB, got %s", c.Spool.QuotaBytes)

	t := &c.Tailnet
	v.hostname("tailnet.hostname", t.Hostname)
	v.absPath("tailnet.state_dir", t.StateDir)
	if t.AuthKeyFile != "" {
		v.absPath("tailnet.auth_key_file", t.AuthKeyFile)
	}
	if t.ControlURL != "" {
		v.httpURL("tailnet.control_url", t.ControlURL, "must be an http(s) URL of the coordination server")
	}
	v.check("tailnet.memory_limit", t.MemoryLimit >= 16<<20, "must be at least 16MiB, got %s", t.MemoryLimit)
	for i, tag := range t.AdvertiseTags {
		v.check(fmt.Sprintf("tailnet.advertise_tags[%d]", i), tagRE.MatchString(tag),
			`must be an ACL tag such as "tag:surveybox", got %q`, tag)
	}

	v.check("clock.ntp_wait", c.Clock.NTPWait >= 0 && c.Clock.NTPWait.D() <= time.Hour, "must be between 0s and 1h, got %s", c.Clock.NTPWait)
	for i, src := range c.Clock.DateSources {
		v.httpURL(fmt.Sprintf("clock.date_sources[%d]", i), src, "must be an http(s) URL whose Date header to trust")
	}

	u := &c.Uploader
	collectorOK := false
	if u.Collector != "" {
		n := len(v.errs)
		v.httpURL("uploader.collector", u.Collector, "must be an http(s) URL on the tailnet")
		collectorOK = len(v.errs) == n
	}
	v.check("uploader.batch_max_bytes", u.BatchMaxBytes >= 4<<10 && u.BatchMaxBytes <= 64<<20,
		"must be between 4KiB and 64MiB, got %s", u.BatchMaxBytes)
	v.check("uploader.backoff_min", u.BackoffMin.D() > 0, "must be positive, got %s", u.BackoffMin)
	v.check("uploader.backoff_max", u.BackoffMax >= u.BackoffMin,
		"must not be less than backoff_min (%s), got %s", u.BackoffMin, u.BackoffMax)

	for i, peer := range u.CollectorPeers {
		ok := peer != "" && !strings.ContainsAny(peer, " \t\r\n,") && peer != "user:" &&
			(!strings.HasPrefix(peer, "tag:") || tagRE.MatchString(peer))
		v.check(fmt.Sprintf("uploader.collector_peers[%d]", i), ok,
			`must be an ACL tag ("tag:surveyops"), a user ("alice@example.com", "user:ops") or a node name, got %q`, peer)
	}
	if collectorOK && len(u.CollectorPeers) == 0 && len(c.Operators.Users)+len(c.Operators.Tags) == 0 {
		v.add("uploader.collector_peers", "no identity to check the collector against: name it here, or set operators.users or operators.tags")
	}
	for i, user := range c.Operators.Users {
		v.check(fmt.Sprintf("operators.users[%d]", i), user != "" && !strings.ContainsAny(user, " \t\r\n") && !strings.HasPrefix(user, "tag:"),
			"must be a tailnet login name such as alice@example.com, got %q", user)
	}
	for i, tag := range c.Operators.Tags {
		v.check(fmt.Sprintf("operators.tags[%d]", i), tagRE.MatchString(tag),
			`must be an ACL tag such as "tag:surveyops", got %q`, tag)
	}
	for i, key := range c.SSH.AuthorizedKeys {
		if err := checkAuthorizedKey(key); err != nil {
			v.add(fmt.Sprintf("ssh.authorized_keys[%d]", i), err.Error())
		}
	}
	return errors.Join(v.errs...)
}

type validator struct {
	file string
	errs []error
}

func (v *validator) add(field, msg string) {
	v.errs = append(v.errs, &FieldError{File: v.file, Field: field, Msg: msg})
}

func (v *validator) check(field string, ok bool, format string, args ...any) {
	if !ok {
		v.add(field, fmt.Sprintf(format, args...))
	}
}

func (v *validator) hostname(field, h string) {
	v.check(field, hostnameRE.MatchString(h), "must be a DNS label (a-z, 0-9 and inner dashes, at most 63), got %q", h)
}

func (v *validator) absPath(field, p string) {
	v.check(field, filepath.IsAbs(p) && filepath.Clean(p) == p, "must be a clean absolute path, got %q", p)
}

func (v *validator) httpURL(field, s, msg string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		v.add(field, fmt.Sprintf("%s, got %q", msg, s))
	}
}

// checkAuthorizedKey checks one authorized_keys line of the form
// "TYPE BASE64 [COMMENT]": a known key type, valid base64, and a key blob
// that names the same type.
func checkAuthorizedKey(line string) error {
	f := strings.Fields(line)
	if len(f) < 2 {
		return fmt.Errorf(`must be "TYPE BASE64-KEY [COMMENT]", got %q`, line)
	}
	if !sshKeyType(f[0]) {
		return fmt.Errorf("key type %q is not supported (options before the key are not allowed either)", f[0])
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return fmt.Errorf("%s key is not valid base64", f[0])
	}
	if len(blob) < 4 {
		return fmt.Errorf("%s key is truncated", f[0])
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) || string(blob[4:4+n]) != f[0] {
		return fmt.Errorf("key data does not hold a %s key", f[0])
	}
	if len(blob) == int(4+n) {
		return fmt.Errorf("%s key is truncated", f[0])
	}
	return nil
}
