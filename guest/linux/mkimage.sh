#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Builds memvmm's Linux test image from Debian packages only: Debian's cloud
# kernel (linux-image-*-cloud-amd64) and busybox-static, both fetched and
# cached by tests/linux_kernel.sh (apt-get download, no root).
#
#   guest/linux/mkimage.sh [--offline] OUTDIR [CACHE_DIR]
#
# writes
#   OUTDIR/vmlinuz          the package's bzImage, as it is
#   OUTDIR/initramfs.cpio   an uncompressed newc initramfs (nothing for the
#                           guest to decompress in ring 0): busybox-static with
#                           its applet links, /init (guest/linux/init), the
#                           modules virtio_pci, virtio_mem and virtio_balloon
#                           with what they depend on (their own depends= lists;
#                           decompressed if the package compresses them, for
#                           busybox's insmod), /lib/memvmm/MODULE.order (the
#                           load order, dependencies first) and /dev/console
#   OUTDIR/image.txt        what went in
# and prints version=, vmlinuz= and initrd= lines. --offline and CACHE_DIR
# are tests/linux_kernel.sh's (as are MEMVMM_CACHE_DIR and
# MEMVMM_LINUX_PACKAGE).
#
# Run it by hand with:
#   guest/linux/mkimage.sh /tmp/memvmm-linux
#   build/memvmm run --kernel /tmp/memvmm-linux/vmlinuz \
#       --initrd /tmp/memvmm-linux/initramfs.cpio --vcpus 2 --memory size=512M \
#       --virtio-mem size=1G,requested=256M --balloon size=128M,deflate-on-oom=off \
#       --api-socket /tmp/memvmm.sock \
#       --cmdline 'console=ttyS0 panic=-1 memvmm.plug=256 memvmm.balloon=128'
#   # once it prints "memvmm-linux: balloon-inflated ...":
#   build/memvmm ctl --api-socket /tmp/memvmm.sock balloon size=0
# (guest/linux/init says what the guest checks and prints).
#
# Exit status: 0 built; 77 a tool or the packages are missing (one line
# naming it: the tests skip); 1 anything else.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fetch=$here/../../tests/linux_kernel.sh
MODULES=(virtio_pci virtio_mem virtio_balloon)
# /dev/console, so that /init has a console even if the kernel's own built-in
# initramfs (which has one) is not there: character device 5:1.
CONSOLE_MODE=$((8#020600))
SYMLINK_MODE=$((8#0120777))
CONSOLE_MAJOR=5
CONSOLE_MINOR=1
NEWC_HEADER_BYTES=110
# What /init uses, should `busybox --list-full` not run on this host.
APPLETS=(bin/sh bin/mount bin/cat bin/echo bin/grep bin/mkdir bin/sleep bin/sync bin/uname
	 sbin/insmod sbin/poweroff sbin/reboot usr/bin/cut)

skip() {
	echo "mkimage: $*" >&2
	exit 77
}

die() {
	echo "mkimage: $*" >&2
	exit 1
}

offline=()
if [ "${1:-}" = "--offline" ]; then
	offline=(--offline)
	shift
fi
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	die "usage: mkimage.sh [--offline] OUTDIR [CACHE_DIR]"
fi
out=$1
cache=("${@:2}")

command -v cpio >/dev/null || skip "no cpio in PATH (Debian package cpio)"
[ -x "$fetch" ] || die "$fetch is missing"

rc=0
info=$("$fetch" "${offline[@]}" "${cache[@]}") || rc=$?
[ "$rc" -eq 0 ] || exit "$rc"    # 77: linux_kernel.sh said why
version='' vmlinuz='' modules='' busybox=''
while IFS='=' read -r key val; do
	case $key in
	version) version=$val ;;
	vmlinuz) vmlinuz=$val ;;
	modules) modules=$val ;;
	busybox) busybox=$val ;;
	esac
done <<<"$info"
if [ -z "$version" ] || [ ! -f "$vmlinuz" ] || [ ! -d "$modules" ] || [ ! -f "$busybox" ]; then
	die "tests/linux_kernel.sh printed no usable paths: $info"
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
root=$(mktemp -d "$out/.root.XXXXXX")
trap 'rm -rf "$root" "$out/.initramfs.cpio.tmp" "$out/.vmlinuz.tmp"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,root,lib/memvmm,"lib/modules/$version"}

# ---- busybox-static (its applet links go into the archive below) ----------------------
install -m 0755 "$busybox" "$root/bin/busybox"
if applets=$("$root/bin/busybox" --list-full 2>/dev/null) && [ -n "$applets" ]; then
	mapfile -t list <<<"$applets"
else
	list=("${APPLETS[@]}")
fi

# ---- modules ------------------------------------------------------------------------
declare -A modpath=()
while IFS= read -r -d '' f; do
	name=${f##*/}
	name=${name%%.ko*}
	modpath[${name//-/_}]=$f
done < <(find "$modules/kernel" -name '*.ko*' -print0)

# The module's copy in the image, uncompressed (busybox's insmod takes it as it is).
stage() {
	local src=${modpath[$1]} dst=$root/lib/modules/$version/$1.ko
	[ -f "$dst" ] && return 0
	case $src in
	*.ko) cp "$src" "$dst" ;;
	*.ko.xz) command -v xz >/dev/null || skip "no xz in PATH (Debian package xz-utils) for ${src##*/}"
		xz -dc "$src" >"$dst" ;;
	*.ko.zst) command -v zstd >/dev/null || skip "no zstd in PATH (Debian package zstd) for ${src##*/}"
		zstd -qdc "$src" >"$dst" ;;
	*.ko.gz) command -v gzip >/dev/null || skip "no gzip in PATH (Debian package gzip) for ${src##*/}"
		gzip -dc "$src" >"$dst" ;;
	*) die "do not know how to unpack $src" ;;
	esac
}

# Module $1 is built into the kernel (modules.builtin lists it).
builtin_module() {
	[ -f "$modules/modules.builtin" ] &&
		sed 's,.*/,,; s,\.ko$,,; s,-,_,g' "$modules/modules.builtin" | grep -qx "$1"
}

# Appends module $1 to order[], after what it depends on (its .modinfo depends=).
declare -A seen
order=()
resolve() {
	local name=$1 deps dep
	[ -n "${seen[$name]:-}" ] && return 0
	seen[$name]=1
	if [ -z "${modpath[$name]:-}" ]; then
		builtin_module "$name" && return 0
		die "module $name is neither in $modules/kernel nor built in"
	fi
	stage "$name"
	deps=$(tr '\0' '\n' <"$root/lib/modules/$version/$name.ko" | sed -n 's/^depends=//p' | head -n 1)
	for dep in ${deps//,/ }; do
		resolve "${dep//-/_}"
	done
	order+=("$name")
}

summary=()
for m in "${MODULES[@]}"; do
	seen=()
	order=()
	resolve "$m"
	[ "${#order[@]}" -gt 0 ] || die "module $m is built in: the image expects it as a module"
	[ "${order[-1]}" = "$m" ] || die "module $m: bad dependency order ${order[*]}"
	for n in "${order[@]}"; do
		echo "$n /lib/modules/$version/$n.ko"
	done >"$root/lib/memvmm/$m.order"
	summary+=("$m: ${order[*]}")
done

# ---- /init and the archive -----------------------------------------------------------
install -m 0755 "$here/init" "$root/init"
# Same bytes from the same packages: the same archive.
find "$root" -exec touch -h -d @0 {} +

# NUL bytes up to the next multiple of 4 after $1 bytes (shell builtins only: a
# fork per applet link costs seconds on a slow host).
newc_pad() {
	case $(((4 - $1 % 4) % 4)) in
	1) printf '\0' ;;
	2) printf '\0\0' ;;
	3) printf '\0\0\0' ;;
	esac
}

# One newc entry: name, mode, rdev major and minor, inode number, data (a
# symlink's target; none for a device node or the trailer).
newc_entry() {
	local name=$1 mode=$2 major=$3 minor=$4 ino=$5 data=${6:-} namesize
	namesize=$((${#name} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		"$ino" "$mode" 0 0 1 0 "${#data}" 0 0 "$major" "$minor" "$namesize" 0
	printf '%s\0' "$name"
	newc_pad $((NEWC_HEADER_BYTES + namesize))
	printf '%s' "$data"
	newc_pad "${#data}"
}

tmp=$out/.initramfs.cpio.tmp
(cd "$root" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
	cpio -o -H newc -R 0:0 --reproducible --quiet) >"$tmp" || die "cpio failed"
# A second archive with the console device (a non-root cpio cannot make one)
# and busybox's applet links; the kernel unpacks concatenated archives in
# turn (cpio pads its own to 512 bytes, so this one starts aligned).
{
	ino=1
	newc_entry dev/console "$CONSOLE_MODE" "$CONSOLE_MAJOR" "$CONSOLE_MINOR" "$ino"
	for a in "${list[@]}"; do
		[ "$a" = bin/busybox ] || [ -e "$root/$a" ] && continue
		case $a in
		/*|*..*) die "busybox names an applet at an odd path: $a" ;;
		*/*) [ -d "$root/${a%/*}" ] || die "no directory ${a%/*} in the image for applet $a" ;;
		esac
		ino=$((ino + 1))
		newc_entry "$a" "$SYMLINK_MODE" 0 0 "$ino" /bin/busybox
	done
	newc_entry TRAILER!!! 0 0 0 0
} >>"$tmp"
cp "$vmlinuz" "$out/.vmlinuz.tmp"
mv "$out/.vmlinuz.tmp" "$out/vmlinuz"
mv "$tmp" "$out/initramfs.cpio"
{
	echo "kernel: ${vmlinuz} ($version)"
	echo "busybox: $busybox"
	printf 'modules (load order) %s\n' "${summary[@]}"
	echo "initramfs: $(stat -c %s "$out/initramfs.cpio") bytes, uncompressed newc"
} >"$out/image.txt"

echo "version=$version"
echo "vmlinuz=$out/vmlinuz"
echo "initrd=$out/initramfs.cpio"
