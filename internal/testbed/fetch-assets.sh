#!/usr/bin/env bash
# fetch-assets.sh: install qemu + cpio on the host and unpack (without installing)
# the Debian packages the testbed VM needs into $SURVEYBOX_CACHE.
# Idempotent: a stamp file makes a second run a no-op that needs no network.
set -euo pipefail

CACHE="${SURVEYBOX_CACHE:-${HOME:-/root}/.cache/surveybox}"
STAMP_VERSION=5
STAMP="$CACHE/.stamp-v$STAMP_VERSION"

die() { echo "fetch-assets: ERROR: $*" >&2; exit 1; }
log() { echo "fetch-assets: $*" >&2; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 && SUDO="sudo" || true
fi

apt_updated=0
apt_update() {
	if [ "$apt_updated" = 0 ]; then
		log "apt-get update"
		$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null ||
			die "apt-get update failed"
		apt_updated=1
	fi
}

# Host tools for the tests.
need_install=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need_install+=(qemu-system-x86)
command -v cpio >/dev/null 2>&1 || need_install+=(cpio)
# The Pi image on an emulated Raspberry Pi 3 (qemu's raspi3b machine).
command -v qemu-system-aarch64 >/dev/null 2>&1 || need_install+=(qemu-system-arm)
# Image checks (sdimage) and the fingerprint check (ssh-keygen -l).
command -v fsck.fat >/dev/null 2>&1 || need_install+=(dosfstools)
command -v unsquashfs >/dev/null 2>&1 || need_install+=(squashfs-tools)
command -v e2fsck >/dev/null 2>&1 || need_install+=(e2fsprogs)
command -v mtype >/dev/null 2>&1 || need_install+=(mtools)
command -v ssh-keygen >/dev/null 2>&1 || need_install+=(openssh-client)
# The remote-update boot test (internal/boottest/update_test.go): bridge,
# tap and DHCP on the test bridge.
command -v ip >/dev/null 2>&1 || need_install+=(iproute2)
command -v dnsmasq >/dev/null 2>&1 || need_install+=(dnsmasq-base)
# The operator's report, looked at in a real browser; the pcapng export,
# read back by Wireshark's own dissectors.
command -v chromium >/dev/null 2>&1 || need_install+=(chromium)
command -v tshark >/dev/null 2>&1 || need_install+=(tshark)
if [ ${#need_install[@]} -gt 0 ]; then
	log "installing ${need_install[*]}"
	install() {
		$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "${need_install[@]}" >/dev/null
	}
	if ! install; then
		apt_update
		install || die "apt-get install ${need_install[*]} failed"
	fi
fi

if [ -f "$STAMP" ] && [ -f "$CACHE/vmlinuz" ] && [ -d "$CACHE/root" ]; then
	echo "$CACHE"
	exit 0
fi

mkdir -p "$CACHE" || die "cannot create $CACHE"
work="$CACHE/.work"
rm -rf "$work" "$CACHE/root" "$CACHE/debs"
mkdir -p "$work" "$CACHE/root" "$CACHE/debs"

if ! apt-cache show hostapd >/dev/null 2>&1; then
	apt_update
fi

kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '/Depends: linux-image-[0-9]/{print $2; exit}')
if [ -z "$kpkg" ]; then
	apt_update
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/{print $2; exit}')
fi
[ -n "$kpkg" ] || die "cannot resolve the kernel package behind linux-image-amd64"
log "kernel package: $kpkg"

download() { # download pkg... into $CACHE/debs and unpack into $CACHE/root
	local p
	for p in "$@"; do
		if ! ls "$CACHE/debs/${p}_"*.deb >/dev/null 2>&1; then
			(cd "$CACHE/debs" && apt-get download -qq "$p" >/dev/null 2>&1) || {
				apt_update
				(cd "$CACHE/debs" && apt-get download -qq "$p" >/dev/null) ||
					die "apt-get download $p failed"
			}
		fi
		dpkg -x "$CACHE/debs/${p}_"*.deb "$CACHE/root" || die "dpkg -x $p failed"
	done
}

log "downloading packages"
download "$kpkg" hostapd iw busybox-static wireless-regdb \
	libnl-3-200 libnl-genl-3-200 libnl-route-3-200 libssl3 libpcsclite1

# Resolve shared libraries of hostapd/iw (and of the libraries themselves)
# against the extracted tree first, then the host.
R="$CACHE/root"
[ -x "$R/usr/sbin/hostapd" ] || die "hostapd missing from the extracted tree"
if [ ! -x "$R/usr/sbin/iw" ]; then
	[ -x "$R/sbin/iw" ] || die "iw missing from the extracted tree"
	mkdir -p "$R/usr/sbin" && cp "$R/sbin/iw" "$R/usr/sbin/iw"
fi
[ -x "$R/bin/busybox" ] || die "busybox missing from the extracted tree"
ldpath="$R/lib/x86_64-linux-gnu:$R/usr/lib/x86_64-linux-gnu"
missing=$(LD_LIBRARY_PATH="$ldpath" ldd "$R/usr/sbin/hostapd" "$R/usr/sbin/hostapd_cli" "$R/usr/sbin/iw" 2>/dev/null |
	awk '/not found/{print $1}' | sort -u)
[ -z "$missing" ] || die "unresolved shared libraries: $missing"
LD_LIBRARY_PATH="$ldpath" ldd "$R/usr/sbin/hostapd" "$R/usr/sbin/hostapd_cli" "$R/usr/sbin/iw" |
	awk '/=>/ && $3 ~ /^\// {print $3} /^\t\/.*ld-linux/ {print $1}' | sort -u >"$work/libs"
mkdir -p "$CACHE/libs"
rm -f "$CACHE/libs/"*
while read -r lib; do
	[ -n "$lib" ] || continue
	cp -L "$lib" "$CACHE/libs/$(basename "$lib")" || die "copying $lib failed"
done <"$work/libs"
[ -f "$CACHE/libs/ld-linux-x86-64.so.2" ] || die "ld-linux-x86-64.so.2 not found"

kimg=$(ls "$R"/boot/vmlinuz-* 2>/dev/null | head -n1)
[ -n "$kimg" ] || die "no vmlinuz in $kpkg"
cp "$kimg" "$CACHE/vmlinuz"
kver=${kimg##*/vmlinuz-}
echo "$kver" >"$CACHE/kernel-version"
[ -d "$R/lib/modules/$kver" ] || die "no modules for $kver"

# Keep only the parts of the module tree the VM can need, to save disk space.
K="$R/lib/modules/$kver/kernel"
keep="$work/keep"
mkdir -p "$keep/drivers/net" "$keep/fs"
# Disks (Options.Disks): virtio_blk, and ext4 for a /perm like the box's.
for d in net crypto lib arch drivers/net/wireless drivers/net/virtio_net.ko drivers/net/net_failover.ko drivers/virtio drivers/char/hw_random fs/9p fs/netfs \
	drivers/block/virtio_blk.ko fs/ext4 fs/jbd2 fs/mbcache.ko; do
	[ -e "$K/$d" ] && mkdir -p "$keep/$(dirname "$d")" && mv "$K/$d" "$keep/$d"
done
rm -rf "$K" && mv "$keep" "$K"
rm -rf "$work" "$CACHE/debs" "$R/usr/share/doc" "$R/usr/share/man"
for f in regulatory.db regulatory.db.p7s; do
	[ -f "$R/lib/firmware/$f-debian" ] || die "wireless-regdb: $f-debian missing"
done
echo "$kpkg" >"$STAMP"
log "assets ready ($(du -sh "$CACHE" | cut -f1))"
echo "$CACHE"
