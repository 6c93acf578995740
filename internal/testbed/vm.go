package testbed

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Options describe one VM run.
type Options struct {
	// Radios is the number of mac80211_hwsim radios (wlan0..wlanN-1).
	// wlan0 is left for the scanner; hostapd configurations use wlan1...
	// Default 2.
	Radios int
	// Country is set with `iw reg set` before hostapd starts, so that 5 GHz
	// channels are usable (the world regdomain marks them no-IR). Default
	// DefaultCountry.
	Country string
	// Files maps a guest path to a host path (e.g. a static Go binary).
	// The host file's permission bits are kept.
	Files map[string]string
	// Contents maps a guest path to literal contents (mode 0644, or 0755
	// for paths under a bin/ directory).
	Contents map[string][]byte
	// HostapdConfs maps a name to a hostapd configuration. Each runs as
	// `hostapd -B -P /run/hostapd-NAME.pid -f /tb/hostapd-NAME.log
	// /etc/hostapd/NAME.conf` and can be stopped and started again from the
	// script with `ap_stop NAME` / `ap_start NAME`.
	HostapdConfs map[string]string
	// AllowAPFailure makes Run continue when a hostapd fails to enable all
	// of its BSSes (the default is to fail).
	AllowAPFailure bool
	// Script is run by /init (busybox sh, with /etc/tb/lib.sh sourced) after
	// the modules are loaded and every hostapd reported AP-ENABLED.
	// Everything it writes under /out is returned in Result.Files.
	// Helpers: tb_scan [-n N] IFACE (iw scan with timeouts and retries),
	// ap_stop NAME, ap_start NAME, ap_wait [-t SECONDS] NAME..., ap_ready NAME,
	// tb_mark TEXT.
	Script string
	// Timeout bounds the whole VM from the outside (default 120 s).
	Timeout time.Duration
	// ScriptTimeout bounds Script inside the guest (default Timeout - 40 s,
	// at least 10 s) so that /out is still exported when the script hangs.
	ScriptTimeout time.Duration
	// MemoryMB is the guest memory (default 512).
	MemoryMB int
	// CPUs is the number of guest CPUs (default 2).
	CPUs int
	// ExtraModules are loaded (with dependencies) after the base wireless
	// and crypto modules and before mac80211_hwsim.
	ExtraModules []string
	// Disks are host files (raw images) attached read-write as virtio
	// disks: /dev/vda, /dev/vdb, … in order. ext4 is loaded with them.
	Disks []string
	// Network, if set, gives the guest an Ethernet interface (eth0) on a
	// host tap device, with a static address; otherwise the guest has no
	// network at all.
	Network *Network
	// Console, if set, receives the guest console as it is written (polled).
	Console io.Writer
	// KeepDir keeps the work directory (initramfs, logs) for debugging.
	KeepDir bool
}

// Network is the guest's Ethernet: a virtio NIC on the host tap device
// Tap (e.g. internal/testnet's bridge), with address Addr ("10.77.20.10/24")
// and default route Gateway.
type Network struct {
	Tap, Addr, Gateway string
	// MAC defaults to 52:54:00:77:00:10.
	MAC string
}

// Result is what came back from the VM.
type Result struct {
	Console      string             // serial console (kernel messages, /init and script output)
	Files        map[string][]byte  // files under the guest's /out, relative names ("iw-scan.txt")
	Logs         map[string][]byte  // /tb in the guest: hostapd-NAME.log, script.log, timing, aps
	ScriptExit   int                // exit status of Script (124 when the guest timeout killed it)
	ScriptOutput string             // stdout+stderr of Script
	Elapsed      time.Duration      // wall time of qemu
	Timing       map[string]float64 // guest uptime (s) at each phase: modules, regdom, aps, script, done
	WorkDir      string             // set when Options.KeepDir
}

const (
	markBegin = "@@TB-DATA-BEGIN@@"
	markEnd   = "@@TB-DATA-END@@"
)

// Run boots a VM, runs opts.Script and returns its results. It returns a
// non-nil Result together with an error when the VM ran but something in it
// failed (hostapd not enabled, script exit status ≠ 0), so callers can show
// res.Console / res.Logs.
func Run(ctx context.Context, a Assets, opts Options) (*Result, error) {
	if opts.Radios <= 0 {
		opts.Radios = 2
	}
	if opts.Country == "" {
		opts.Country = DefaultCountry
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 120 * time.Second
	}
	if opts.ScriptTimeout <= 0 {
		opts.ScriptTimeout = max(opts.Timeout-40*time.Second, 10*time.Second)
	}
	if opts.MemoryMB <= 0 {
		opts.MemoryMB = 512
	}
	if opts.CPUs <= 0 {
		opts.CPUs = 2
	}
	if err := a.check(); err != nil {
		return nil, fmt.Errorf("testbed assets (run `make testbed-assets`): %w", err)
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, fmt.Errorf("qemu-system-x86_64 not found (run `make testbed-assets`): %w", err)
	}

	dir, err := os.MkdirTemp("", "testbed-")
	if err != nil {
		return nil, err
	}
	if !opts.KeepDir {
		defer os.RemoveAll(dir)
	}
	initrd := filepath.Join(dir, "initrd.cpio")
	if err := buildInitramfs(a, opts, initrd); err != nil {
		return nil, err
	}
	consolePath := filepath.Join(dir, "console.log")
	dataPath := filepath.Join(dir, "data.log")

	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	args, err := qemuArgs(a, opts, initrd, consolePath, dataPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, qemu, args...)
	cmd.WaitDelay = 5 * time.Second
	var qout bytes.Buffer
	cmd.Stdout = &qout
	cmd.Stderr = &qout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting qemu: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var waitErr error
	if opts.Console != nil {
		var off int64
		tick := time.NewTicker(200 * time.Millisecond)
		poll := func() {
			if f, err := os.Open(consolePath); err == nil {
				if _, err := f.Seek(off, io.SeekStart); err == nil {
					n, _ := io.Copy(opts.Console, f)
					off += n
				}
				f.Close()
			}
		}
	loop:
		for {
			select {
			case waitErr = <-done:
				poll()
				break loop
			case <-tick.C:
				poll()
			}
		}
		tick.Stop()
	} else {
		waitErr = <-done
	}
	res := &Result{Elapsed: time.Since(start), ScriptExit: -1}
	if opts.KeepDir {
		res.WorkDir = dir
	}
	consoleBytes, _ := os.ReadFile(consolePath)
	res.Console = string(consoleBytes)
	data, _ := os.ReadFile(dataPath)
	files, perr := parseDataStream(data)
	if ctx.Err() != nil && perr != nil {
		return res, fmt.Errorf("testbed VM timed out after %v (qemu %v: %s); console tail:\n%s", opts.Timeout, args, qout.String(), tail(res.Console, 40))
	}
	if perr != nil {
		return res, fmt.Errorf("testbed VM returned no results (%v; qemu: %v %s); console tail:\n%s",
			perr, waitErr, strings.TrimSpace(qout.String()), tail(res.Console, 40))
	}
	res.Files = map[string][]byte{}
	res.Logs = map[string][]byte{}
	for name, b := range files {
		switch {
		case strings.HasPrefix(name, "out/"):
			res.Files[strings.TrimPrefix(name, "out/")] = b
		case strings.HasPrefix(name, "tb/"):
			res.Logs[strings.TrimPrefix(name, "tb/")] = b
		}
	}
	res.ScriptOutput = string(res.Logs["script.log"])
	if s, ok := res.Logs["script-exit"]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(string(s))); err == nil {
			res.ScriptExit = n
		}
	}
	res.Timing = map[string]float64{}
	for _, line := range strings.Split(string(res.Logs["timing"]), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				res.Timing[f[0]] = v
			}
		}
	}
	if !opts.AllowAPFailure {
		var bad []string
		for _, line := range strings.Split(string(res.Logs["aps"]), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[1] != "ok" {
				bad = append(bad, f[0])
			}
		}
		if len(bad) > 0 {
			var b strings.Builder
			for _, n := range bad {
				fmt.Fprintf(&b, "--- hostapd-%s.log:\n%s\n", n, tail(string(res.Logs["hostapd-"+n+".log"]), 30))
			}
			return res, fmt.Errorf("testbed: hostapd %v did not enable all BSSes:\n%s", bad, b.String())
		}
	}
	if res.ScriptExit != 0 {
		return res, fmt.Errorf("testbed script exited with status %d; output:\n%s", res.ScriptExit, tail(res.ScriptOutput, 40))
	}
	return res, nil
}

// qemuArgs is qemu's command line for a run: the kernel and initramfs, the
// console and data serial ports to files, the network, the disks.
func qemuArgs(a Assets, opts Options, initrd, consolePath, dataPath string) ([]string, error) {
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-m", strconv.Itoa(opts.MemoryMB), "-smp", strconv.Itoa(opts.CPUs),
		"-kernel", a.Kernel(), "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 quiet",
		"-serial", "file:" + consolePath,
		"-serial", "file:" + dataPath,
	}
	if n := opts.Network; n != nil {
		mac := n.MAC
		if mac == "" {
			mac = "52:54:00:77:00:10"
		}
		args = append(args, "-netdev", "tap,id=n0,ifname="+n.Tap+",script=no,downscript=no",
			"-device", "virtio-net-pci,netdev=n0,mac="+mac)
	} else {
		args = append(args, "-net", "none")
	}
	for _, d := range opts.Disks {
		if strings.ContainsAny(d, ",") {
			return nil, fmt.Errorf("disk %q: qemu cannot take a comma in a path", d)
		}
		args = append(args, "-drive", "file="+d+",format=raw,if=virtio")
	}
	// /dev/kvm exists on some CI VMs without working nested virtualisation
	// (the guest then hangs silently), so KVM is opt-in.
	if os.Getenv("SURVEYBOX_KVM") == "1" {
		args = append(args, "-accel", "kvm", "-cpu", "host")
	} else {
		args = append(args, "-accel", "tcg")
	}
	return args, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// parseDataStream extracts the base64 tar.gz between the markers on ttyS1.
func parseDataStream(data []byte) (map[string][]byte, error) {
	s := string(data)
	i := strings.LastIndex(s, markBegin)
	if i < 0 {
		return nil, errors.New("no data marker on the result serial port")
	}
	s = s[i+len(markBegin):]
	j := strings.Index(s, markEnd)
	if j < 0 {
		return nil, errors.New("result stream truncated (no end marker)")
	}
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s[:j])
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("result stream: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("result stream: %w", err)
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("result stream: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("result stream: %w", err)
		}
		files[path.Clean(strings.TrimPrefix(h.Name, "./"))] = b
	}
	return files, nil
}

func buildInitramfs(a Assets, opts Options, out string) error {
	t := cpioTree{}
	for _, d := range []string{"/proc", "/sys", "/dev", "/tmp", "/run", "/out", "/tb", "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/etc/hostapd", "/var/run/hostapd", "/root"} {
		t.mkdirAll(d)
	}
	readInto := func(guest, host string) error {
		b, err := os.ReadFile(host)
		if err != nil {
			return err
		}
		st, err := os.Stat(host)
		if err != nil {
			return err
		}
		t.addFile(guest, b, uint32(st.Mode().Perm()))
		return nil
	}
	root := a.Root()
	for guest, host := range map[string]string{
		"/bin/busybox":                    filepath.Join(root, "bin", "busybox"),
		"/usr/sbin/hostapd":               filepath.Join(root, "usr", "sbin", "hostapd"),
		"/usr/sbin/hostapd_cli":           filepath.Join(root, "usr", "sbin", "hostapd_cli"),
		"/usr/sbin/iw":                    filepath.Join(root, "usr", "sbin", "iw"),
		"/lib/firmware/regulatory.db":     filepath.Join(root, "lib", "firmware", "regulatory.db-debian"),
		"/lib/firmware/regulatory.db.p7s": filepath.Join(root, "lib", "firmware", "regulatory.db.p7s-debian"),
	} {
		if err := readInto(guest, host); err != nil {
			return fmt.Errorf("testbed assets: %w", err)
		}
	}
	t.addSymlink("/bin/sh", "busybox")
	libs, err := os.ReadDir(filepath.Join(a.Dir, "libs"))
	if err != nil {
		return err
	}
	for _, l := range libs {
		if err := readInto("/lib/x86_64-linux-gnu/"+l.Name(), filepath.Join(a.Dir, "libs", l.Name())); err != nil {
			return err
		}
	}
	t.addSymlink("/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")

	kver, err := a.KernelVersion()
	if err != nil {
		return err
	}
	idx, err := indexModules(filepath.Join(root, "lib", "modules", kver))
	if err != nil {
		return err
	}
	want := append(append(append([]string{}, baseModules...), opts.ExtraModules...), "mac80211_hwsim")
	if opts.Network != nil {
		want = append(want, "virtio_pci", "virtio_net")
	}
	if len(opts.Disks) > 0 {
		// ext4 asks the crypto API for crc32c, which no module dependency
		// names.
		want = append(want, "virtio_pci", "virtio_blk", "crc32c_generic", "ext4")
	}
	mods, err := resolveModules(idx, want)
	if err != nil {
		return err
	}
	var modList strings.Builder
	for i, m := range mods {
		p := fmt.Sprintf("/lib/modules/%02d-%s.ko", i, m.Name)
		t.addFile(p, m.Data, 0o644)
		if m.Name == "mac80211_hwsim" {
			fmt.Fprintf(&modList, "%s radios=%d\n", p, opts.Radios)
		} else {
			fmt.Fprintf(&modList, "%s\n", p)
		}
	}
	t.addFile("/etc/tb/modules", []byte(modList.String()), 0o644)

	names := make([]string, 0, len(opts.HostapdConfs))
	for n := range opts.HostapdConfs {
		if n == "" || strings.ContainsAny(n, "/ \t\n'\"$") {
			return fmt.Errorf("invalid hostapd conf name %q", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.addFile("/etc/hostapd/"+n+".conf", []byte(opts.HostapdConfs[n]), 0o644)
	}
	t.addFile("/etc/tb/aps", []byte(strings.Join(names, "\n")+"\n"), 0o644)
	for guest, host := range opts.Files {
		if err := readInto(guest, host); err != nil {
			return err
		}
	}
	for guest, b := range opts.Contents {
		mode := uint32(0o644)
		if strings.Contains(guest, "/bin/") {
			mode = 0o755
		}
		t.addFile(guest, b, mode)
	}
	t.addFile("/etc/tb/lib.sh", []byte(libSh), 0o644)
	t.addFile("/etc/tb/script.sh", []byte(". /etc/tb/lib.sh\n"+opts.Script+"\n"), 0o755)
	t.addFile("/init", []byte(initScript(opts)), 0o755)

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := t.writeTo(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// libSh is sourced by /init and by the script.
const libSh = `
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
tb_mark() { echo "$1 $(cut -d' ' -f1 /proc/uptime)" >> /tb/timing; }
tb_log() { echo "testbed: $*" > /dev/console; }
# ap_start NAME: start hostapd with /etc/hostapd/NAME.conf in the background.
ap_start() {
	rm -f /run/hostapd-$1.pid
	touch /tb/hostapd-$1.log
	wc -l < /tb/hostapd-$1.log > /run/hostapd-$1.start
	timeout 15 hostapd -B -P /run/hostapd-$1.pid -f /tb/hostapd-$1.log /etc/hostapd/$1.conf >>/tb/hostapd-$1.log 2>&1
}
# ap_ready NAME: 0 when NAME's hostapd logged AP-ENABLED since it was started and
# every BSS interface of it is in AP mode,
# 2 when its hostapd died, 1 otherwise.
ap_ready() {
	local n dev
	n=$(awk -v s="$(cat /run/hostapd-$1.start 2>/dev/null)" 'NR>s+0 && /AP-ENABLED/{n++} END{print n+0}' /tb/hostapd-$1.log 2>/dev/null)
	if [ "$n" -ge 1 ]; then
		n=0
		for dev in $(sed -n 's/^\(interface\|bss\)=//p' /etc/hostapd/$1.conf); do
			iw dev "$dev" info 2>/dev/null | grep -q 'type AP' || n=1
		done
		[ $n = 0 ] && return 0
	fi
	if [ ! -f /run/hostapd-$1.pid ] || ! kill -0 "$(cat /run/hostapd-$1.pid)" 2>/dev/null; then return 2; fi
	return 1
}
# ap_wait [-t SECONDS] NAME...: wait until all NAMEs are ready; fails if one died or on timeout.
ap_wait() {
	local lim=200 i=0 ap rc pending
	if [ "$1" = -t ]; then lim=$(( $2 * 10 )); shift 2; fi
	while :; do
		pending=0
		for ap in "$@"; do
			ap_ready $ap; rc=$?
			[ $rc = 2 ] && return 1
			[ $rc = 1 ] && pending=1
		done
		[ $pending = 0 ] && return 0
		[ $i -ge $lim ] && return 1
		usleep 100000; i=$((i+1))
	done
}
# ap_stop NAME: kill the hostapd started from NAME.conf and wait until it is gone.
ap_stop() {
	local pid i=0
	[ -f /run/hostapd-$1.pid ] || return 0
	pid=$(cat /run/hostapd-$1.pid)
	kill "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do usleep 100000; i=$((i+1)); done
	kill -9 "$pid" 2>/dev/null
	rm -f /run/hostapd-$1.pid
}
# tb_scan IFACE [iw scan trigger args]: trigger a scan, wait for the kernel's
# "scan finished" event and print "iw dev IFACE scan dump". Plain "iw dev IFACE
# scan" sometimes never returns under TCG although the kernel finished the
# scan (the event reaches "iw event" but not iw scan's own socket), so the
# trigger, the wait and the dump are separate, each bounded, with retries.
# tb_scan -n N IFACE ...: N scans in a row, printing only the last dump; the
# kernel's BSS cache keeps entries for 30 s, so that is the union of N scans
# (one active scan under TCG on a loaded host can miss a whole channel).
tb_scan() {
	local n=1 k
	if [ "$1" = -n ]; then n=$2; shift 2; fi
	k=1
	while [ $k -lt $n ]; do tb_scan1 "$@" > /dev/null || return 1; k=$((k+1)); done
	tb_scan1 "$@"
}
tb_scan1() {
	local dev=$1 i j ev evpid; shift
	for i in 1 2 3 4; do
		ev=/tmp/tb_scan_ev.$$
		: > $ev
		iw event > $ev 2>&1 &
		evpid=$!
		usleep 100000
		if timeout 10 iw dev "$dev" scan trigger "$@" > /dev/null 2> /tmp/tb_scan_err.$$; then
			j=0
			while [ $j -lt 300 ] && ! grep -q "^$dev .*scan \(finished\|aborted\)" $ev; do usleep 100000; j=$((j+1)); done
			kill $evpid 2>/dev/null; wait $evpid 2>/dev/null
			if grep -q "^$dev .*scan finished" $ev; then
				if timeout 20 iw dev "$dev" scan dump > /tmp/tb_scan.$$ 2> /tmp/tb_scan_err.$$; then
					cat /tmp/tb_scan.$$; rm -f /tmp/tb_scan.$$ /tmp/tb_scan_err.$$ $ev; return 0
				fi
				echo "tb_scan: attempt $i: scan dump failed: $(cat /tmp/tb_scan_err.$$)" >&2
			else
				echo "tb_scan: attempt $i: no scan finished event: $(cat $ev)" >&2
			fi
		else
			kill $evpid 2>/dev/null; wait $evpid 2>/dev/null
			echo "tb_scan: attempt $i: trigger failed: $(cat /tmp/tb_scan_err.$$)" >&2
		fi
		sleep 1
	done
	return 1
}
`

func initScript(opts Options) string {
	st := int(opts.ScriptTimeout / time.Second)
	return fmt.Sprintf(`#!/bin/sh
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /run/hostapd /var/run
. /etc/tb/lib.sh
stty -F /dev/ttyS1 raw -echo 2>/dev/null
tb_export() {
	{ echo; echo %[1]s; tar -czf - -C / out tb | base64; echo %[2]s; } > /dev/ttyS1
}
tb_finish() { tb_mark done; tb_export; sync; poweroff -f; }
tb_mark init
ip link set lo up
while read -r m args; do
	insmod "$m" $args || tb_log "insmod $m failed"
done < /etc/tb/modules
tb_mark modules
%[6]si=0
while [ ! -e /sys/class/net/wlan$((%[3]d-1)) ] && [ $i -lt 100 ]; do usleep 100000; i=$((i+1)); done
iw reg set %[4]s
i=0
while ! iw reg get | grep -q 'country %[4]s' && [ $i -lt 50 ]; do usleep 100000; i=$((i+1)); done
iw reg get > /tb/regdomain.txt 2>&1
tb_mark regdom
ip link set wlan0 up
for ap in $(cat /etc/tb/aps); do ap_start $ap; done
ap_wait -t 30 $(cat /etc/tb/aps)
for ap in $(cat /etc/tb/aps); do
	if ap_ready $ap; then echo "$ap ok" >> /tb/aps; else echo "$ap failed" >> /tb/aps; tb_log "hostapd $ap failed"; fi
done
tb_mark aps
tb_log "running script"
( timeout %[5]d sh /etc/tb/script.sh; echo $? > /tb/script-exit ) > /tb/script.log 2>&1 < /dev/null
tb_mark script
tb_log "script exit $(cat /tb/script-exit)"
tb_finish
`, markBegin, markEnd, opts.Radios, opts.Country, st, networkSetup(opts.Network))
}

// networkSetup configures eth0 statically (there is no DHCP client in the
// initramfs, and none is needed).
func networkSetup(n *Network) string {
	if n == nil {
		return ""
	}
	return fmt.Sprintf(`i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do usleep 100000; i=$((i+1)); done
ip link set eth0 up
ip addr add %s dev eth0
ip route add default via %s
tb_mark network
`, n.Addr, n.Gateway)
}
