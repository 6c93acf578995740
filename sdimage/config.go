package sdimage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Config mirrors gokrazy's instance config.json schema
// (github.com/gokrazy/internal/config.Struct) so that gokr-packer.json keeps
// gokrazy's field names. Pointer fields distinguish "unset, use the default"
// from "" (which disables the package), exactly as in gokrazy.
type Config struct {
	Hostname                   string                   `json:"Hostname"`
	DeviceType                 string                   `json:"DeviceType,omitempty"`
	Update                     *UpdateConfig            `json:"Update,omitempty"`
	Environment                []string                 `json:"Environment,omitempty"`
	Packages                   []string                 `json:"Packages"`
	PackageConfig              map[string]PackageConfig `json:"PackageConfig,omitempty"`
	SerialConsole              string                   `json:"SerialConsole,omitempty"`
	GokrazyPackages            *[]string                `json:"GokrazyPackages,omitempty"`
	KernelPackage              *string                  `json:"KernelPackage,omitempty"`
	FirmwarePackage            *string                  `json:"FirmwarePackage,omitempty"`
	EEPROMPackage              *string                  `json:"EEPROMPackage,omitempty"`
	KernelExtraArgs            []string                 `json:"KernelExtraArgs,omitempty"`
	BootloaderExtraLines       []string                 `json:"BootloaderExtraLines,omitempty"`
	BootloaderExtraEEPROM      []string                 `json:"BootloaderExtraEEPROM,omitempty"`
	MountDevices               []MountDevice            `json:"MountDevices,omitempty"`
	InternalCompatibilityFlags json.RawMessage          `json:"InternalCompatibilityFlags,omitempty"`
}

// UpdateConfig mirrors gokrazy's UpdateStruct.
type UpdateConfig struct {
	Hostname     string `json:"Hostname,omitempty"`
	UseTLS       string `json:"UseTLS,omitempty"`
	NoPassword   bool   `json:"NoPassword,omitempty"`
	HTTPPort     string `json:"HTTPPort,omitempty"`
	HTTPSPort    string `json:"HTTPSPort,omitempty"`
	HTTPPassword string `json:"HTTPPassword,omitempty"`
	CertPEM      string `json:"CertPEM,omitempty"`
	KeyPEM       string `json:"KeyPEM,omitempty"`
}

// PackageConfig mirrors gokrazy's PackageConfig.
type PackageConfig struct {
	GoBuildEnvironment []string          `json:"GoBuildEnvironment,omitempty"`
	GoBuildFlags       []string          `json:"GoBuildFlags,omitempty"`
	GoBuildTags        []string          `json:"GoBuildTags,omitempty"`
	ExtraFilePaths     map[string]string `json:"ExtraFilePaths,omitempty"`
	ExtraFileContents  map[string]string `json:"ExtraFileContents,omitempty"`
	Basename           string            `json:"Basename,omitempty"`
	Environment        []string          `json:"Environment,omitempty"`
	CommandLineFlags   []string          `json:"CommandLineFlags,omitempty"`
	DontStart          bool              `json:"DontStart,omitempty"`
	WaitForClock       bool              `json:"WaitForClock,omitempty"`
	WaitFor            []string          `json:"WaitFor,omitempty"`
}

// MountDevice mirrors gokrazy's MountDevice; it ends up in
// /etc/gokrazy/mountdevices.json, which the gokrazy runtime reads.
type MountDevice struct {
	Source  string `json:"Source"`
	Type    string `json:"Type"`
	Target  string `json:"Target"`
	Options string `json:"Options"`
}

// Defaults as in gokrazy (github.com/gokrazy/internal/config).
const (
	DefaultKernelPackage   = "github.com/gokrazy/kernel.rpi"
	DefaultFirmwarePackage = "github.com/gokrazy/firmware"
	DefaultEEPROMPackage   = "github.com/gokrazy/rpi-eeprom"
	DefaultSerialConsole   = "serial0,115200"
	AMD64KernelPackage     = "github.com/gokrazy/kernel.amd64"
)

// DefaultGokrazyPackages are the system services gokrazy installs under
// /gokrazy/ unless GokrazyPackages says otherwise.
var DefaultGokrazyPackages = []string{
	"github.com/gokrazy/gokrazy/cmd/dhcp",
	"github.com/gokrazy/gokrazy/cmd/ntp",
	"github.com/gokrazy/gokrazy/cmd/randomd",
	"github.com/gokrazy/gokrazy/cmd/heartbeat",
}

// KernelPackageOrDefault returns the kernel module path.
func (c *Config) KernelPackageOrDefault() string {
	if c.KernelPackage == nil {
		return DefaultKernelPackage
	}
	return *c.KernelPackage
}

// FirmwarePackageOrDefault returns the Pi firmware module path ("" = none).
func (c *Config) FirmwarePackageOrDefault() string {
	if c.FirmwarePackage == nil {
		return DefaultFirmwarePackage
	}
	return *c.FirmwarePackage
}

// EEPROMPackageOrDefault returns the Pi 4 EEPROM module path ("" = none).
func (c *Config) EEPROMPackageOrDefault() string {
	if c.EEPROMPackage == nil {
		return DefaultEEPROMPackage
	}
	return *c.EEPROMPackage
}

// SerialConsoleOrDefault returns the serial console setting.
func (c *Config) SerialConsoleOrDefault() string {
	if c.SerialConsole == "" {
		return DefaultSerialConsole
	}
	return c.SerialConsole
}

// GokrazyPackagesOrDefault returns the system packages for /gokrazy/.
func (c *Config) GokrazyPackagesOrDefault() []string {
	if c.GokrazyPackages == nil {
		return DefaultGokrazyPackages
	}
	var pkgs []string
	for _, p := range *c.GokrazyPackages {
		if strings.TrimSpace(p) != "" {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs
}

// LoadConfig reads and validates a gokr-packer.json file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

var unknownFieldRe = regexp.MustCompile(`json: unknown field "([^"]*)"`)

// ParseConfig decodes a gokrazy instance config. Unknown fields are an
// error that names the field, so a typo never silently drops a setting.
func ParseConfig(r io.Reader) (*Config, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		if m := unknownFieldRe.FindStringSubmatch(err.Error()); m != nil {
			return nil, fmt.Errorf("unknown config field %q (not part of gokrazy's instance config schema)", m[1])
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("invalid JSON at byte %d: %w", se.Offset, err)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("config field %q: cannot use JSON %s as %s", te.Field, te.Value, te.Type)
		}
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the JSON object")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

var hostnameRe = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

// ValidHostname reports whether h is a single DNS label usable as hostname.
func ValidHostname(h string) error {
	if !hostnameRe.MatchString(h) {
		return fmt.Errorf("invalid hostname %q: want 1-63 letters, digits or '-', not starting or ending with '-'", h)
	}
	return nil
}

// Validate rejects settings that the gokrazy schema allows but surveyctl
// does not implement, instead of ignoring them.
func (c *Config) Validate() error {
	if c.Hostname == "" {
		return fmt.Errorf("config field \"Hostname\" is required")
	}
	if err := ValidHostname(c.Hostname); err != nil {
		return fmt.Errorf("config field \"Hostname\": %w", err)
	}
	if len(c.Packages) == 0 {
		return fmt.Errorf("config field \"Packages\" lists no packages")
	}
	if c.DeviceType != "" {
		return fmt.Errorf("config field \"DeviceType\" = %q: only the Raspberry Pi (empty DeviceType) is supported", c.DeviceType)
	}
	if len(c.InternalCompatibilityFlags) > 0 && string(c.InternalCompatibilityFlags) != "null" && string(c.InternalCompatibilityFlags) != "{}" {
		return fmt.Errorf("config field \"InternalCompatibilityFlags\" must not be set by hand (gok fills it from its own flags)")
	}
	if len(c.BootloaderExtraEEPROM) > 0 {
		return fmt.Errorf("config field \"BootloaderExtraEEPROM\" is not supported by surveyctl image (the EEPROM image is copied unmodified)")
	}
	for _, kv := range c.Environment {
		k, _, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("config field \"Environment\": %q is not KEY=VALUE", kv)
		}
		switch k {
		case "GOOS":
			if kv != "GOOS=linux" {
				return fmt.Errorf("config field \"Environment\": %q: gokrazy images are GOOS=linux", kv)
			}
		case "GOARCH":
			if a := strings.TrimPrefix(kv, "GOARCH="); a != "arm64" && a != "amd64" {
				return fmt.Errorf("config field \"Environment\": %q: supported GOARCH values are arm64 and amd64", kv)
			}
		}
	}
	if u := c.Update; u != nil {
		if u.UseTLS != "" && u.UseTLS != "off" {
			return fmt.Errorf("config field \"Update.UseTLS\" = %q: only \"\" or \"off\" are supported (no TLS certificates are generated)", u.UseTLS)
		}
		if (u.CertPEM == "") != (u.KeyPEM == "") {
			return fmt.Errorf("config fields \"Update.CertPEM\" and \"Update.KeyPEM\" must be set together")
		}
		if u.HTTPPassword != "" {
			return fmt.Errorf("config field \"Update.HTTPPassword\": gokrazy would serve its web UI and updates on the customer's LAN with that password baked into the read-only root; surveybox serves them on the tailnet only: remove it and set \"NoPassword\": true")
		}
	}
	if c.Update == nil || !c.Update.NoPassword {
		return fmt.Errorf("config field \"Update\": set \"NoPassword\": true (gokrazy's web UI on its unix socket only; the box serves it on the tailnet)")
	}
	all := map[string]bool{}
	for _, p := range c.Packages {
		all[p] = true
	}
	for _, p := range c.GokrazyPackagesOrDefault() {
		all[p] = true
	}
	for pkg, pc := range c.PackageConfig {
		if !all[pkg] {
			return fmt.Errorf("config field \"PackageConfig\": %q is neither in \"Packages\" nor in \"GokrazyPackages\"", pkg)
		}
		for _, w := range pc.WaitFor {
			if w != "clock" {
				return fmt.Errorf("config field \"PackageConfig[%s].WaitFor\": %q is not supported (only \"clock\")", pkg, w)
			}
		}
		for dest := range pc.ExtraFilePaths {
			if !strings.HasPrefix(dest, "/") {
				return fmt.Errorf("config field \"PackageConfig[%s].ExtraFilePaths\": destination %q must be absolute", pkg, dest)
			}
		}
		for dest := range pc.ExtraFileContents {
			if !strings.HasPrefix(dest, "/") {
				return fmt.Errorf("config field \"PackageConfig[%s].ExtraFileContents\": destination %q must be absolute", pkg, dest)
			}
		}
	}
	return nil
}
