#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Boots the Linux test image under QEMU (TCG: no KVM needed) with QEMU's own
# virtio-mem-pci and virtio-balloon-pci, and checks what guest/linux/init
# reports: the image and its init checked against devices memvmm did not
# write, on any host (memvmm itself boots it in tests/e2e_linux.c, on hosts
# with VMX/SVM).
#
#   guest/linux/qemu-check.sh WORKDIR
#
# The image: $MEMVMM_LINUX_KERNEL and $MEMVMM_LINUX_INITRD when both are
# set, else guest/linux/mkimage.sh WORKDIR builds it. QEMU's balloon target
# is set through its monitor once the guest has plugged its memory
# ("balloon 384": 128 MiB of 512 MiB ballooned) and cleared once the guest
# says it inflated.
#
# Exit status: 0 pass, 1 fail, 77 skip (no qemu-system-x86_64 or no
# virtio-mem-pci in it, or no image: mkimage.sh's reason).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RAM_MB=512
PLUG_MB=256
BALLOON_MB=128
TIMEOUT_S=${MEMVMM_LINUX_TIMEOUT_S:-300}

skip() {
	echo "SKIP: $*"
	exit 77
}

[ $# -eq 1 ] || { echo "usage: qemu-check.sh WORKDIR" >&2; exit 1; }
work=$1
qemu=$(command -v qemu-system-x86_64) ||
	skip "no qemu-system-x86_64 in PATH (Debian package qemu-system-x86)"
"$qemu" -device help 2>/dev/null | grep -q '"virtio-mem-pci"' ||
	skip "this QEMU has no virtio-mem-pci"

if [ -n "${MEMVMM_LINUX_KERNEL:-}" ] && [ -n "${MEMVMM_LINUX_INITRD:-}" ]; then
	kernel=$MEMVMM_LINUX_KERNEL
	initrd=$MEMVMM_LINUX_INITRD
else
	rc=0
	info=$("$here/mkimage.sh" "$work" 2>&1) || rc=$?
	[ "$rc" -ne 77 ] || skip "$(printf '%s\n' "$info" | tail -n 1)"
	[ "$rc" -eq 0 ] || { printf '%s\n' "$info"; echo "FAIL: mkimage.sh exited $rc"; exit 1; }
	kernel=$(printf '%s\n' "$info" | sed -n 's/^vmlinuz=//p')
	initrd=$(printf '%s\n' "$info" | sed -n 's/^initrd=//p')
fi

tmp=$(mktemp -d /tmp/memvmm-linux-qemu.XXXXXX)
qpid=
cleanup() {
	[ -z "$qpid" ] || kill "$qpid" 2>/dev/null
	exec 3>&- 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
mkfifo "$tmp/monitor"
: >"$tmp/serial"
"$qemu" -machine q35 -accel tcg -cpu max -smp 2 -m "${RAM_MB}M,maxmem=2G" \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 memvmm.plug=$PLUG_MB memvmm.balloon=$BALLOON_MB memvmm.timeout=$TIMEOUT_S" \
	-object memory-backend-ram,id=vmem0,size=1G \
	-device "virtio-mem-pci,id=vm0,memdev=vmem0,requested-size=${PLUG_MB}M" \
	-device virtio-balloon-pci,id=balloon0,deflate-on-oom=off \
	-display none -vga none -no-reboot -serial "file:$tmp/serial" -monitor stdio \
	<"$tmp/monitor" >"$tmp/qemu.log" 2>&1 &
qpid=$!
exec 3>"$tmp/monitor"

start=$SECONDS
inflate_sent='' deflate_sent=''
while kill -0 "$qpid" 2>/dev/null; do
	if [ $((SECONDS - start)) -gt $((TIMEOUT_S * 3)) ]; then
		echo "FAIL: QEMU still runs after $((SECONDS - start)) s"
		tail -n 40 "$tmp/serial"
		exit 1
	fi
	if [ -z "$inflate_sent" ] && grep -q 'memvmm-linux: memtotal-after-plug=' "$tmp/serial"; then
		echo "balloon $((RAM_MB - BALLOON_MB))" >&3
		inflate_sent=$((SECONDS - start))
	fi
	if [ -z "$deflate_sent" ] && grep -q 'memvmm-linux: balloon-inflated ' "$tmp/serial"; then
		echo "balloon $RAM_MB" >&3
		deflate_sent=$((SECONDS - start))
	fi
	sleep 0.5
done
wait "$qpid"
qrc=$?
qpid=
echo "QEMU exited $qrc after $((SECONDS - start)) s (balloon set at ${inflate_sent:-never} s, cleared at ${deflate_sent:-never} s)"
grep -a 'memvmm-linux: ' "$tmp/serial" | tr -d '\r'

# The value after KEY= in the guest's line for STEP.
value() {
	grep -a "memvmm-linux: $1" "$tmp/serial" | tr -d '\r' | sed -n "s/.* $2=\([0-9]*\) kB.*/\1/p" | head -n 1
}
fail=
before=$(value memtotal-before= memtotal-before)
after=$(value memtotal-after-plug= memtotal-after-plug)
inflated=$(value 'balloon-inflated ' memtotal)
deflated=$(value 'balloon-deflated ' memtotal)
grep -aq 'memvmm-linux: FAIL' "$tmp/serial" && fail="$fail; the guest's init failed"
grep -aq 'memvmm-linux: done' "$tmp/serial" || fail="$fail; no done line"
grep -aq 'reboot: Power down' "$tmp/serial" || fail="$fail; no power off"
[ "$qrc" -eq 0 ] || fail="$fail; QEMU exited $qrc"
if [ -n "$before" ] && [ -n "$after" ] && [ -n "$inflated" ] && [ -n "$deflated" ]; then
	[ $((after - before)) -eq $((PLUG_MB * 1024)) ] ||
		fail="$fail; MemTotal grew by $((after - before)) kB, want $((PLUG_MB * 1024))"
	[ $((after - inflated)) -eq $((BALLOON_MB * 1024)) ] ||
		fail="$fail; the balloon took $((after - inflated)) kB, want $((BALLOON_MB * 1024))"
	[ "$deflated" -eq "$after" ] || fail="$fail; MemTotal $deflated kB after deflating, $after before"
else
	fail="$fail; MemTotal lines missing"
fi
if [ -n "$fail" ]; then
	echo "FAIL: ${fail#; }"
	tail -n 60 "$tmp/serial"
	exit 1
fi
echo "ok - the Linux test image under QEMU: +${PLUG_MB} MiB plugged, ${BALLOON_MB} MiB ballooned and back, powered off"
