// Package banner writes the box's own lines to every console and the boot
// banner (hostname, version, SSH host key fingerprint, network, clock,
// tailnet, radio, spool, config, /perm), printed again, with the reason,
// whenever what it shows changes.
package banner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Console writes the appliance's own lines to every console the kernel
// was given: HDMI (a virtual terminal) and serial alike. gokrazy gives a
// service's stdout and stderr only to a 100-line ring buffer (web UI),
// and /dev/console is only the last console= of the command line (on a
// Pi, the UART nobody has wired), so the consoles are opened device by
// device from /proc/consoles. Every line is mirrored to the ring buffer
// too. Lines start with "surveybox: " so they stand out among kernel and
// gokrazy messages.
type Console struct {
	mu     sync.Mutex
	ws     []io.Writer // the consoles
	mirror io.Writer   // stdout (ring buffer); may be nil
}

const consolePrefix = "surveybox: "

// NewConsole returns a console writing to w, mirrored to mirror if that is
// not nil.
func NewConsole(w, mirror io.Writer) *Console { return &Console{ws: []io.Writer{w}, mirror: mirror} }

// OpenConsoles opens every writable console /proc/consoles (under
// procRoot) lists, by its device under devRoot, and returns the console
// and the names it opened. When none opens, it falls back to
// devRoot/console, and then to fallback; the error says what failed.
func OpenConsoles(procRoot, devRoot string, fallback, mirror io.Writer) (*Console, []string, error) {
	c := &Console{mirror: mirror}
	var names []string
	var errs []error
	list, err := os.ReadFile(filepath.Join(procRoot, "consoles"))
	if err != nil {
		errs = append(errs, err)
	}
	for _, name := range ParseConsoles(string(list)) {
		f, err := os.OpenFile(filepath.Join(devRoot, name), os.O_WRONLY|os.O_APPEND|syscall.O_NOCTTY, 0)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.ws = append(c.ws, f)
		names = append(names, name)
	}
	if len(c.ws) > 0 {
		return c, names, errors.Join(errs...)
	}
	f, err := os.OpenFile(filepath.Join(devRoot, "console"), os.O_WRONLY|os.O_APPEND|syscall.O_NOCTTY, 0)
	if err != nil {
		c.ws = []io.Writer{fallback}
		return c, nil, errors.Join(append(errs, err)...)
	}
	c.ws = []io.Writer{f}
	return c, []string{"console"}, errors.Join(errs...)
}

// ParseConsoles returns the writable consoles in /proc/consoles' text by
// device name (ttyS0, tty0, ttyAMA0), without netconsole (no device node)
// and duplicates.
func ParseConsoles(text string) []string {
	var names []string
	for _, line := range strings.Split(text, "\n") {
		// "ttyS0                -W- (EC p a)    4:64": the name, then the
		// operations (R, W, U), flags and the device number.
		f := strings.Fields(line)
		if len(f) < 2 || !strings.Contains(f[1], "W") || strings.ContainsAny(f[0], "/.") || f[0] == "" {
			continue
		}
		if strings.HasPrefix(f[0], "netcon") || slices.Contains(names, f[0]) {
			continue
		}
		names = append(names, f[0])
	}
	return names
}

// Printf writes one line.
func (c *Console) Printf(format string, args ...any) {
	c.Lines(fmt.Sprintf(format, args...))
}

// Lines writes lines with a single write per console, so that other
// writers are unlikely to interleave with them. A console that fails
// does not keep the lines from the others.
func (c *Console) Lines(lines ...string) {
	var b strings.Builder
	for _, l := range lines {
		if bare, ok := strings.CutPrefix(l, bareMark); ok {
			b.WriteString(bare)
		} else {
			b.WriteString(consolePrefix)
			b.WriteString(l)
		}
		b.WriteByte('\n')
	}
	out := asciiOnly(b.String())
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.ws {
		io.WriteString(w, out)
	}
	if c.mirror != nil {
		io.WriteString(c.mirror, out)
	}
}

// asciiOnly replaces what is not printable ASCII (but newlines) with
// '?': the Linux console's font has no glyph for most of Unicode (a dash
// shows as a box on HDMI) and a serial terminal may not speak UTF-8, and a
// name or error text from the network must not move the cursor.
func asciiOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || (r >= ' ' && r <= '~') {
			return r
		}
		return '?'
	}, s)
}

// bareMark starts a line Lines writes without the prefix.
const bareMark = "\x00bare:"

// State is what the banner shows. Fields hold the rendered values; the
// banner is printed again whenever one of them changes.
type State struct {
	Hostname string
	Version  string
	// Host key: Fingerprint when there is a key, otherwise HostKeyProblem
	// says why not.
	Fingerprint    string // as ssh-keygen -l prints it
	HostKeyProblem string
	Network        string // "eth0 192.168.1.23/24", "eth0: no link - is the cable in?"
	Clock          string // "set by NTP", "NOT SET: ..."
	Tailnet        string // "not configured", "connecting", "name 100.x.y.z"
	Radio          string // "wlan0 phy0" or "none (no wireless interface) - still running"
	Spool          string // "ok", "FULL: ...", "ERROR: ..."
	Config         string // "/etc/surveybox/config.json" or "INVALID - safe mode: ..."
	Perm           string // "/perm ext4 rw"
}

// fields are the banner's lines after the host key, in order, by label
// (the names a reason gives too). Empty ones are not shown.
func (s State) fields() [][2]string {
	return [][2]string{
		{"network", s.Network},
		{"clock", s.Clock},
		{"tailnet", s.Tailnet},
		{"radio", s.Radio},
		{"spool", s.Spool},
		{"config", s.Config},
		{"perm", s.Perm},
	}
}

// FingerprintLabel is the line before the fingerprint's own.
const FingerprintLabel = "ssh host key (compare with ssh-keygen -l or your ssh client):"

// FingerprintPattern matches the label and the fingerprint's line in
// console output; its group is the fingerprint as ssh-keygen -l prints it.
const FingerprintPattern = `surveybox: ssh host key \(compare with ssh-keygen -l or your ssh client\):\r?\n(\d+ SHA256:[A-Za-z0-9+/]{43} \S+ \([A-Z0-9-]+\))\r?\n`

// Lines renders the banner body (without the frame). It is made for an
// 80×25 screen: the fingerprint stands on a line of its own, bare,
// exactly as ssh-keygen -l prints it (that line alone is about 80
// columns), and the public key, which no screen line fits, is not shown
// (ssh-keyscan over the tailnet gets it, and the operator compares its
// fingerprint with this one).
func (s State) Lines() []string {
	l := []string{
		"hostname: " + s.Hostname,
		"version: " + s.Version,
	}
	if s.Fingerprint == "" {
		l = append(l, "ssh host key: NONE - "+s.HostKeyProblem)
	} else {
		l = append(l, FingerprintLabel, bareMark+s.Fingerprint)
	}
	for _, f := range s.fields() {
		if f[1] != "" {
			l = append(l, fit(f[0]+": "+f[1]))
		}
	}
	return l
}

// Width is the screen the banner is made for; the lines the appliance
// composes fit it (the log has the whole story of anything clipped).
const Width = 80

// fit clips a line to Width with the console's prefix.
func fit(line string) string { return clip(line, Width-len(consolePrefix)) }

// reason says in one line what changed since old: the first field that
// did, and what it was.
func (s State) reason(old State) string {
	switch {
	case s.Fingerprint != old.Fingerprint || s.HostKeyProblem != old.HostKeyProblem:
		return "ssh host key changed"
	case s.Hostname != old.Hostname:
		return "hostname changed (was " + clip(old.Hostname, 40) + ")"
	case s.Version != old.Version:
		return "version changed"
	}
	of := old.fields()
	for i, f := range s.fields() {
		if f[1] == of[i][1] {
			continue
		}
		if of[i][1] == "" {
			return f[0] + " known"
		}
		return f[0] + " changed (was: " + clip(of[i][1], 48) + ")"
	}
	return "state changed"
}

// clip shortens s to at most n runes.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-3]) + "..."
}

// The banner's frame.
const (
	bannerTopFmt  = "======== surveybox banner %d (uptime %s) ========"
	bannerBottom  = "================================================"
	restartedNote = "RESTARTED by gokrazy after an exit"
)

// Banner prints the boot banner and prints it again, with the reason,
// whenever the state changes.
type Banner struct {
	con        *Console
	firstStart bool // GOKRAZY_FIRST_START=1: not a restart after a crash
	uptime     func() time.Duration

	mu      sync.Mutex
	state   State
	printed State  // the state last printed
	held    bool   // collect state changes without printing (until Release)
	last    string // body last printed
	n       int
}

// New returns a banner on con that holds back its first print until
// Release, so that the first banner already shows the first radio state.
// firstStart is false when gokrazy restarted the service after an exit;
// uptime, if not nil, is printed in the header.
func New(con *Console, firstStart bool, uptime func() time.Duration) *Banner {
	return &Banner{con: con, firstStart: firstStart, uptime: uptime, held: true}
}

// Release ends the hold and prints the banner with the state so far.
func (b *Banner) Release() {
	b.mu.Lock()
	b.held = false
	b.mu.Unlock()
	b.Update(func(*State) {})
}

// Update changes the state and prints the banner if anything shown
// changed.
func (b *Banner) Update(f func(*State)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.state)
	if b.held {
		return
	}
	body := b.state.Lines()
	key := strings.Join(body, "\n")
	if key == b.last {
		return
	}
	b.last = key
	b.n++
	why := "first start"
	switch {
	case b.n > 1:
		why = b.state.reason(b.printed)
	case !b.firstStart:
		why = restartedNote
	}
	b.printed = b.state
	up := "?"
	if b.uptime != nil {
		up = strconv.FormatFloat(b.uptime().Seconds(), 'f', 1, 64) + "s"
	}
	all := append([]string{fmt.Sprintf(bannerTopFmt, b.n, up), fit("why: " + why)}, body...)
	b.con.Lines(append(all, bannerBottom)...)
}

// Version is the version the banner shows: stamped, the version the image
// builder stamped into the program at link time (-ldflags -X), else the
// main module's version, else the VCS revision ("+dirty" when the tree had
// local changes), else "(devel)"; then the Go version.
func Version(stamped string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if stamped != "" {
			return stamped
		}
		return "unknown"
	}
	return FormatVersion(stamped, bi)
}

func FormatVersion(ldflags string, bi *debug.BuildInfo) string {
	v := ldflags
	if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	if v == "" {
		var rev, modified, when string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			case "vcs.time":
				when = s.Value
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		switch {
		case rev != "":
			v = rev
			if modified == "true" {
				v += "+dirty"
			}
			if when != "" {
				v += " " + when
			}
		default:
			v = "(devel)"
		}
	}
	return v + " " + bi.GoVersion
}

// uptime reads /proc/uptime: the time since the kernel started.
func Uptime() time.Duration {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	s, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// PermState describes how /perm is mounted, from /proc/self/mounts.
func PermState(mounts string) string {
	for _, line := range strings.Split(mounts, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[1] != "/perm" {
			continue
		}
		mode := "ro"
		for _, o := range strings.Split(f[3], ",") {
			if o == "rw" {
				mode = "rw"
			}
		}
		return "/perm " + f[2] + " " + mode
	}
	return "not mounted (nothing persists: no host key, no spool)"
}
