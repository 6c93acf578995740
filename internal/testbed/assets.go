// Package testbed boots a throwaway qemu VM with mac80211_hwsim and hostapd
// for real-kernel nl80211 tests.
//
// The VM runs a stock Debian kernel (under TCG: no KVM needed), loads
// mac80211_hwsim with a number of simulated radios, sets the regulatory
// domain, starts one hostapd per configuration on wlan1.. and then runs a
// busybox shell script that can scan from wlan0 with iw or with any static
// binary the test copies in (Options.Files, BuildGoBinary). Everything the
// script writes under /out comes back in Result.Files through a second
// serial port (a base64 tar.gz between markers, so kernel messages on the
// console cannot corrupt it).
//
//	a, err := testbed.FindAssets()
//	sc := testbed.StandardScenario()
//	opts := sc.Options()
//	opts.Script = "tb_scan wlan0 > /out/iw-scan.txt"
//	res, err := testbed.Run(ctx, a, opts)
//	bsses, err := testbed.ParseIWScan(string(res.Files["iw-scan.txt"]))
//
// Shell helpers available to Script (from /etc/tb/lib.sh):
//
//	tb_scan [-n N] IFACE [args]   trigger + wait for "scan finished" + scan dump, bounded,
//	                              retried; -n N: N scans, print the last (cached union)
//	ap_stop NAME / ap_start NAME  stop / start the hostapd of /etc/hostapd/NAME.conf
//	ap_wait [-t SEC] NAME...      wait until those hostapds are up again
//	tb_mark LABEL                 record guest uptime in Result.Timing[LABEL]
//
// Scenario configurations are named after their first interface (wlan1,
// wlan2, ...), so ap_stop wlan2 removes every BSS of radio 2.
//
// The kernel, modules, hostapd, iw, busybox and regulatory database come from
// Debian packages unpacked into a cache directory by `make testbed-assets`
// (internal/testbed/fetch-assets.sh); see FindAssets.
package testbed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/surveybox/surveybox/internal/cachedir"
)

// Assets is the unpacked asset cache written by fetch-assets.sh.
type Assets struct {
	Dir string // e.g. $HOME/.cache/surveybox
}

// CacheDir returns the asset cache directory: $SURVEYBOX_CACHE or
// $HOME/.cache/surveybox.
func CacheDir() string { return cachedir.Dir() }

// FindAssets locates the asset cache and checks that it is complete.
func FindAssets() (Assets, error) {
	a := Assets{Dir: CacheDir()}
	if err := a.check(); err != nil {
		return Assets{}, fmt.Errorf("testbed assets in %s are missing or incomplete (run `make testbed-assets`): %w", a.Dir, err)
	}
	return a, nil
}

func (a Assets) check() error {
	var missing []string
	for _, p := range []string{
		a.Kernel(),
		filepath.Join(a.Dir, "kernel-version"),
		filepath.Join(a.Root(), "bin", "busybox"),
		filepath.Join(a.Root(), "usr", "sbin", "hostapd"),
		filepath.Join(a.Root(), "usr", "sbin", "iw"),
		filepath.Join(a.Dir, "libs", "ld-linux-x86-64.so.2"),
		filepath.Join(a.Root(), "lib", "firmware", "regulatory.db-debian"),
	} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return errors.New("missing " + strings.Join(missing, ", "))
	}
	if _, err := a.KernelVersion(); err != nil {
		return err
	}
	return nil
}

// Kernel is the path of the kernel image.
func (a Assets) Kernel() string { return filepath.Join(a.Dir, "vmlinuz") }

// Root is the tree the Debian packages were unpacked into.
func (a Assets) Root() string { return filepath.Join(a.Dir, "root") }

// KernelVersion is the uname -r of the cached kernel, e.g. 6.1.0-57-amd64.
func (a Assets) KernelVersion() (string, error) {
	b, err := os.ReadFile(filepath.Join(a.Dir, "kernel-version"))
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	if _, err := os.Stat(filepath.Join(a.Root(), "lib", "modules", v)); err != nil {
		return "", fmt.Errorf("modules for kernel %s: %w", v, err)
	}
	return v, nil
}
