#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Fetches Debian's cloud kernel and busybox-static for memvmm's Linux test
# image (guest/linux/mkimage.sh) and the Linux end-to-end tests, and caches
# them unpacked:
#
#   tests/linux_kernel.sh [--offline] [CACHE_DIR]
#
# The kernel is the versioned package the metapackage linux-image-cloud-amd64
# depends on in this host's apt lists (apt-cache: no network), or
# $MEMVMM_LINUX_PACKAGE (e.g. linux-image-6.1.0-50-cloud-amd64) when set.
# Packages are fetched with `apt-get download` as the current user (no root)
# into CACHE_DIR/debs and unpacked with `dpkg-deb -x` into CACHE_DIR/unpacked.
# A .deb of the same package and version already in CACHE_DIR/debs is used as
# it is (the -unsigned variant of a kernel too), so a second run, or a cache
# filled by hand, needs no network. With --offline nothing is downloaded: the
# newest cached package is used when the wanted one is not there.
#
# CACHE_DIR: $MEMVMM_CACHE_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/memvmm.
#
# Prints, on success (exit 0), one KEY=VALUE line each:
#   version=6.1.0-57-cloud-amd64      the kernel release (uname -r)
#   vmlinuz=.../boot/vmlinuz-...      the bzImage
#   modules=.../lib/modules/...       its modules directory
#   busybox=.../bin/busybox           busybox-static's binary
# On any failure (no apt, no network, a broken package) it exits 77 with one
# line on stderr saying why: the tests that need a kernel then skip.
set -euo pipefail
shopt -s inherit_errexit   # a skip inside \$(...) ends the script too

META=linux-image-cloud-amd64
BUSYBOX_PKG='busybox-static'

offline=false
if [ "${1:-}" = "--offline" ]; then
	offline=true
	shift
fi
cache=${1:-${MEMVMM_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/memvmm}}

skip() {
	echo "linux_kernel: $*" >&2
	exit 77
}

for tool in dpkg-deb find sort; do
	command -v "$tool" >/dev/null || skip "no $tool in PATH (Debian package dpkg/findutils/coreutils)"
done
mkdir -p "$cache/debs" "$cache/unpacked" 2>/dev/null || skip "cannot create the cache directory $cache"
[ -w "$cache/debs" ] || skip "cache directory $cache/debs is not writable"

# The candidate version of package $1 in the apt lists, or nothing.
candidate() {
	command -v apt-cache >/dev/null || return 0
	# apt-cache exits 100 for a package its lists do not know: that is "nothing".
	{ apt-cache show --no-all-versions "$1" 2>/dev/null || true; } |
		sed -n 's/^Version: //p' | head -n 1
}

# The cached .deb of package $1 (or $1-unsigned) at version $2, or nothing.
cached_deb() {
	local f
	for f in "$cache/debs/$1"_*.deb "$cache/debs/$1"-unsigned_*.deb; do
		[ -f "$f" ] || continue
		if [ "$(dpkg-deb -f "$f" Version 2>/dev/null)" = "$2" ]; then
			echo "$f"
			return 0
		fi
	done
}

# The newest cached .deb whose package name matches the extended regex $1.
newest_cached() {
	local f best='' bestv='' v p
	for f in "$cache/debs"/*.deb; do
		[ -f "$f" ] || continue
		p=$(dpkg-deb -f "$f" Package 2>/dev/null) || continue
		[[ $p =~ $1 ]] || continue
		v=$(dpkg-deb -f "$f" Version 2>/dev/null) || continue
		if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$bestv"; then
			best=$f
			bestv=$v
		fi
	done
	[ -z "$best" ] || echo "$best"
}

# apt-get download package $1 (version $2) into the cache; prints the .deb.
download() {
	local tmp log f
	command -v apt-get >/dev/null || skip "no apt-get to download $1 (not a Debian host?)"
	tmp=$(mktemp -d "$cache/debs/.download.XXXXXX")
	log=$tmp/apt.log
	if ! (cd "$tmp" && apt-get download -q "$1=$2") >"$log" 2>&1; then
		local why
		why=$(grep -E '^(E|Err):' "$log" | tail -n 1 | tr -s ' \t' ' ')
		rm -rf "$tmp"
		skip "apt-get download $1=$2 failed (no network, or stale apt lists?): ${why:-see apt-get}"
	fi
	for f in "$tmp"/*.deb; do
		[ -f "$f" ] || continue
		mv "$f" "$cache/debs/"
		echo "$cache/debs/${f##*/}"
	done
	rm -rf "$tmp"
}

# The .deb for package $1 (regex $2 for any cached fallback): cached, else downloaded.
fetch() {
	local pkg=$1 re=$2 ver deb
	ver=$(candidate "$pkg")
	if [ -n "$ver" ]; then
		deb=$(cached_deb "$pkg" "$ver")
		if [ -z "$deb" ] && ! $offline; then
			echo "linux_kernel: downloading $pkg $ver into $cache/debs" >&2
			deb=$(download "$pkg" "$ver")
		fi
		[ -n "$deb" ] && { echo "$deb"; return 0; }
	fi
	deb=$(newest_cached "$re")
	[ -n "$deb" ] || {
		if [ -z "$ver" ]; then
			skip "apt-cache knows no $pkg (no apt, or run apt-get update) and $cache/debs has none"
		fi
		skip "$pkg $ver is not in $cache/debs and --offline forbids downloading"
	}
	echo "linux_kernel: $pkg${ver:+ $ver} not available, using the cached ${deb##*/}" >&2
	echo "$deb"
}

# Unpacks $1 once (into CACHE/unpacked/NAME, renamed into place when complete); prints the dir.
unpack() {
	local deb=$1 name dir tmp
	name=${deb##*/}
	name=${name%.deb}
	dir=$cache/unpacked/$name
	if [ ! -d "$dir" ]; then
		tmp=$(mktemp -d "$cache/unpacked/.unpack.XXXXXX")
		dpkg-deb -x "$deb" "$tmp" 2>/dev/null || { rm -rf "$tmp"; skip "dpkg-deb -x $deb failed (a damaged package? remove it)"; }
		mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"   # another run won the race
	fi
	echo "$dir"
}

if [ -n "${MEMVMM_LINUX_PACKAGE:-}" ]; then
	kpkg=$MEMVMM_LINUX_PACKAGE
else
	kpkg=
	if command -v apt-cache >/dev/null; then
		kpkg=$({ apt-cache depends "$META" 2>/dev/null || true; } |
			sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n 1)
	fi
	# Not resolvable here: the newest cached kernel is the fallback (fetch()).
	kpkg=${kpkg:-$META}
fi
kdeb=$(fetch "$kpkg" '^linux-image-[0-9].*-cloud-amd64(-unsigned)?$')
bdeb=$(fetch "$BUSYBOX_PKG" "^$BUSYBOX_PKG\$")
kdir=$(unpack "$kdeb")
bdir=$(unpack "$bdeb")

vmlinuz=$(find "$kdir/boot" -maxdepth 1 -name 'vmlinuz-*' -type f 2>/dev/null | sort | tail -n 1)
[ -n "$vmlinuz" ] || skip "${kdeb##*/} has no boot/vmlinuz-*"
version=${vmlinuz##*/vmlinuz-}
modules=
for d in "$kdir/lib/modules/$version" "$kdir/usr/lib/modules/$version"; do
	[ -d "$d" ] && modules=$d && break
done
[ -n "$modules" ] || skip "${kdeb##*/} has no lib/modules/$version"
busybox=
for f in "$bdir/bin/busybox" "$bdir/usr/bin/busybox"; do
	[ -f "$f" ] && busybox=$f && break
done
[ -n "$busybox" ] || skip "${bdeb##*/} has no bin/busybox"

echo "version=$version"
echo "vmlinuz=$vmlinuz"
echo "modules=$modules"
echo "busybox=$busybox"
