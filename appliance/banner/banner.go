// Package banner writes the box's own lines to the system console and the
// boot banner (hostname, version, SSH host key fingerprint, radio, tailnet,
// config, /perm), printed again whenever what it shows changes.
package banner

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Console writes the appliance's own lines to the system console. gokrazy
// gives a service's stdout and stderr only to a 100-line ring buffer (web UI),
// so the banner, which the operator reads off a screen or a serial cable,
// goes to /dev/console opened by the appliance itself; every line is
// mirrored to the ring buffer too. Lines start with "surveybox: " so they
// stand out among kernel and gokrazy messages.
type Console struct {
	mu     sync.Mutex
	w      io.Writer // /dev/console
	mirror io.Writer // stdout (ring buffer); may be nil
}

const consolePrefix = "surveybox: "

// NewConsole returns a console writing to w, mirrored to mirror if that is
// not nil.
func NewConsole(w, mirror io.Writer) *Console { return &Console{w: w, mirror: mirror} }

// OpenConsole opens /dev/console for writing; if that fails it writes to
// fallback.
func OpenConsole(fallback, mirror io.Writer) (*Console, error) {
	f, err := os.OpenFile("/dev/console", os.O_WRONLY|os.O_APPEND|syscall.O_NOCTTY, 0)
	if err != nil {
		return &Console{w: fallback}, err
	}
	return &Console{w: f, mirror: mirror}, nil
}

// Printf writes one line.
func (c *Console) Printf(format string, args ...any) {
	c.Lines(fmt.Sprintf(format, args...))
}

// Lines writes lines with a single write, so that other writers to the
// Console are unlikely to interleave with them.
func (c *Console) Lines(lines ...string) {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(consolePrefix)
		b.WriteString(l)
		b.WriteByte('\n')
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	io.WriteString(c.w, b.String())
	if c.mirror != nil {
		io.WriteString(c.mirror, b.String())
	}
}

// State is what the banner shows. Fields hold the rendered values; the
// banner is printed again whenever one of them changes.
type State struct {
	Hostname string
	Version  string
	// Host key: Fingerprint and PublicKey when there is a key, otherwise
	// HostKeyProblem says why not.
	Fingerprint    string // as ssh-keygen -l prints it
	PublicKey      string // ssh-ed25519 AAAA... comment
	HostKeyProblem string
	Radio          string // "wlan0 phy0" or "none (no wireless interface) — still running"
	Tailnet        string // "not configured", "connecting", "name 100.x.y.z fd7a:..."
	Config         string // "/etc/surveybox/config.json" or "INVALID — safe mode: ..."
	Perm           string // "/perm ext4 rw"
}

// Lines renders the banner body (without the header and footer).
func (s State) Lines() []string {
	key := []string{"ssh host key: " + s.Fingerprint, "ssh public key: " + s.PublicKey}
	if s.Fingerprint == "" {
		key = []string{"ssh host key: NONE — " + s.HostKeyProblem}
	}
	l := []string{
		"hostname: " + s.Hostname,
		"version: " + s.Version,
	}
	l = append(l, key...)
	return append(l,
		"radio: "+s.Radio,
		"tailnet: "+s.Tailnet,
		"config: "+s.Config,
		"perm: "+s.Perm,
	)
}

// The banner's frame.
const (
	bannerTopFmt  = "======== surveybox banner %d (%s, uptime %s) ========"
	bannerBottom  = "================================================"
	restartedNote = "RESTARTED by gokrazy after an exit"
)

// Banner prints the boot banner and prints it again when the state changes.
type Banner struct {
	con        *Console
	firstStart bool // GOKRAZY_FIRST_START=1: not a restart after a crash
	uptime     func() time.Duration

	mu    sync.Mutex
	state State
	held  bool   // collect state changes without printing (until release)
	last  string // body last printed
	n     int
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

// Update changes the state and prints the banner if anything changed.
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
	start := "first start"
	if !b.firstStart {
		start = restartedNote
	}
	up := "?"
	if b.uptime != nil {
		up = strconv.FormatFloat(b.uptime().Seconds(), 'f', 2, 64) + "s"
	}
	all := append([]string{fmt.Sprintf(bannerTopFmt, b.n, start, up)}, body...)
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
