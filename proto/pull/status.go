package pull

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// StatusPath is the box's status (JSON, operators only). Its body has
// more than Status names; the operator's tools read these fields.
const StatusPath = "/v1/status"

// Status is what the operator's tools read of GET /v1/status.
type Status struct {
	Hostname string `json:"hostname"`
	Version  string `json:"version"`
	Boot     *Boot  `json:"boot,omitempty"`
}

// Boot is what the box booted: the root= of its kernel command line and
// the running kernel's release. A gokrazy box has two root partitions (2
// and 3) and boots the one root= names; an update writes the other.
type Boot struct {
	Root   string `json:"root"`             // "PARTUUID=1234abcd-03"
	Kernel string `json:"kernel,omitempty"` // uname -r
}

// Partition is the root partition's number (2 or 3) and the MBR disk
// signature from root=PARTUUID=<8 hex digits>-<2 digits>.
func (b Boot) Partition() (diskID uint32, part int, err error) {
	v, ok := strings.CutPrefix(b.Root, "PARTUUID=")
	id, num, ok2 := strings.Cut(v, "-")
	if !ok || !ok2 || len(id) != 8 || len(num) != 2 {
		return 0, 0, fmt.Errorf("root %q is not PARTUUID=<disk ID>-<partition>", b.Root)
	}
	d, err := strconv.ParseUint(id, 16, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("root %q: disk ID: %w", b.Root, err)
	}
	p, err := strconv.Atoi(num)
	if err != nil || num[0] != '0' || (p != 2 && p != 3) {
		return 0, 0, fmt.Errorf("root %q: partition %q is not 02 or 03", b.Root, num)
	}
	return uint32(d), p, nil
}

// RootFromCmdline returns the value of root= in a kernel command line.
func RootFromCmdline(cmdline string) string {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, "root="); ok {
			return v
		}
	}
	return ""
}

// ReadBoot reads what a Linux system booted from its proc file system
// (procRoot is /proc): root= of /proc/cmdline and the kernel release.
func ReadBoot(procRoot string) *Boot {
	cmdline, _ := os.ReadFile(procRoot + "/cmdline")
	b := &Boot{Root: RootFromCmdline(string(cmdline))}
	if rel, err := os.ReadFile(procRoot + "/sys/kernel/osrelease"); err == nil {
		b.Kernel = strings.TrimSpace(string(rel))
	}
	return b
}
