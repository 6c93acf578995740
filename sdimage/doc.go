// Package sdimage builds the surveybox appliance's bootable gokrazy disk image
// (MBR; p1 FAT16 boot, p2/p3 squashfs root A/B, p4 ext4 /perm) from a
// gokr-packer.json instance config, using only the go command, the Go module
// proxy, Debian's apt mirror (for the Pi WiFi firmware) and go-diskfs.
//
// The layout follows what the gokrazy runtime expects: /gokrazy/init is a
// generated main calling gokrazy.Boot and gokrazy.SuperviseServices with
// each program's flags and environment compiled in; /etc/hostname,
// http-port.txt and /etc/resolv.conf -> /tmp/resolv.conf are what the
// runtime reads (never /etc/gokr-pw.txt, which would put the web UI on the
// LAN: Update.NoPassword is required); /lib/modules comes from the
// kernel module and /lib/firmware/brcm from Debian's firmware-brcm80211.
package sdimage
