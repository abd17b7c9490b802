#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Boots the test guests under QEMU (TCG, so no KVM is needed) and checks what
# they print and how they exit: the guests' own tests, independent of memvmm.
#
#   qemu-test.sh MEMVMM_GUEST_ELF PVH_MINI_ELF
#   qemu-test.sh --vmem MEMVMM_GUEST_ELF
#   qemu-test.sh --balloon MEMVMM_GUEST_ELF
#
# The second form runs the guest's virtio-pci + virtio-mem driver against
# QEMU's virtio-mem-pci, the third its virtio-balloon driver against QEMU's
# virtio-balloon-pci (qemu-balloon-cases.sh): drivers written from the
# virtio spec, checked against devices memvmm did not write.
#
# Exit status: 0 pass, 1 fail, 77 skip (no qemu-system-x86_64, or no
# virtio-mem-pci / virtio-balloon-pci in it for --vmem / --balloon).
# QEMU's isa-debug-exit turns guest status S into exit status S*2+1; a reset
# or triple fault with -no-reboot ends QEMU with 0.
set -u

mode=guests
case ${1:-} in
--vmem) mode=vmem; shift ;;
--balloon) mode=balloon; shift ;;
esac
guest=$1
mini=${2:-}
qemu=$(command -v qemu-system-x86_64) ||
	{ echo "SKIP: no qemu-system-x86_64 in PATH (Debian package qemu-system-x86)"; exit 77; }
command -v timeout >/dev/null || { echo "SKIP: no timeout(1) in PATH (coreutils)"; exit 77; }
failures=0
out= rc=

# run ELF MEMORY CMDLINE [qemu options...]: sets $out and $rc.
run() {
	local elf=$1 mem=$2 cmdline=$3
	shift 3
	out=$(timeout "${TIMEOUT:-60}" "$qemu" -machine pc -accel tcg -m "$mem" \
		-vga none -display none -no-reboot -monitor none -serial stdio \
		-device isa-debug-exit,iobase=0x501,iosize=4 \
		-kernel "$elf" -append "$cmdline" "$@" < "${INPUT:-/dev/null}" 2>&1)
	rc=$?
}

fail() {
	echo "FAIL: $case: $*"
	echo "$out" | sed 's/^/    | /'
	failures=$((failures + 1))
}

# expect STATUS REGEX...: guest exit status (or "reset"/"timeout") and lines
# that must appear in the output, each an extended regex.
expect() {
	local want=$1 code
	shift
	case $want in
	reset) code=0 ;;
	timeout) code=124 ;;
	*) code=$((want * 2 + 1)) ;;
	esac
	[ "$rc" = "$code" ] || { fail "exit code $rc, want $code ($want)"; return; }
	for re in "$@"; do
		grep -Eq -- "$re" <<<"$out" || { fail "no line matching: $re"; return; }
	done
	echo "ok: $case"
}

# refuse REGEX: the output must not match.
refuse() {
	! grep -Eq -- "$1" <<<"$out" || fail "unexpected line matching: $1"
}

g='^memvmm-guest:'
hex='0x[0-9a-f]+'

if [ "$mode" != guests ]; then
	. "$(dirname "$0")/qemu-$mode-cases.sh"
	[ "$failures" = 0 ] || { echo "$failures failed"; exit 1; }
	exit 0
fi

case="no workload"
run "$guest" 256M ""
expect 0 "$g start version=1 ram=[0-9]+ free=[0-9]+ image_end=$hex tsc_khz=0 cmdline=\"\"\$" \
	"$g memmap addr=0x0 size=$hex type=1\$" "$g done status=0\$"
ram=$(sed -nE 's/.* start .*ram=([0-9]+) .*/\1/p' <<<"$out")
free_256m=$(sed -nE 's/.* start .*free=([0-9]+) .*/\1/p' <<<"$out")
image_end=$(sed -nE 's/.*image_end=(0x[0-9a-f]+) .*/\1/p' <<<"$out")

# Checksums: sums of memvmm_page_value(i) (abi.h) for 1 and 16384 pages.
case="touch=64M verify report"
run "$guest" 256M "touch=64M verify report"
expect 0 "$g touch bytes=67108864 pages=16384 first=$image_end last=$(printf 0x%x $((image_end + 16383 * 4096))) cycles=[0-9]+\$" \
	"$g verify pages=16384 bad=0 cycles=[0-9]+\$" \
	"$g report pages=16384 checksum=0x1752558d629f1fd0 cycles=[0-9]+\$" "$g done status=0\$"

case="size suffixes, retouch"
run "$guest" 256M "touch=4k report touch=1m touch=4096 report"
expect 0 "$g touch bytes=4096 pages=1 first=$image_end last=$image_end" \
	"$g report pages=1 checksum=0xe220a8397b1dcdaf" "$g touch bytes=1048576 pages=256"

case="report without touch"
run "$guest" 256M "report"
expect 0 "$g report pages=0 checksum=0x0000000000000000 cycles=[0-9]+\$" "$g done status=0"

# bump: the first half of the touched pages (rounded up) hold pattern + bumps.
case="touch ticks=N bump verify report"
run "$guest" 256M "touch=8M ticks=3 bump verify bump verify report"
expect 0 "$g tick n=0\$" "$g tick n=1\$" "$g tick n=2\$" \
	"$g bump pages=1024 count=1 cycles=[0-9]+\$" "$g bump pages=1024 count=2 cycles=[0-9]+\$" \
	"$g verify pages=2048 bad=0 cycles=[0-9]+\$" \
	"$g report pages=2048 checksum=0x41b738ce9e56e7b3 cycles=[0-9]+\$" "$g done status=0\$"
refuse "$g tick n=3"

case="bump an odd page count, touch resets the bumps"
run "$guest" 256M "touch=12K bump report touch=12K verify"
expect 0 "$g bump pages=2 count=1 " "$g report pages=3 checksum=0x575da3bc9ce078f4 " \
	"$g verify pages=3 bad=0 " "$g done status=0\$"

case="all free RAM"
run "$guest" 256M "touch=$((free_256m / 1024))K verify"
expect 0 "$g verify pages=$((free_256m / 4096)) bad=0"

case="more than free RAM"
run "$guest" 256M "touch=$((free_256m + 4096)) report"
expect 1 "$g error step=\"touch=$((free_256m + 4096))\" reason=\"not enough free RAM\"\$"
refuse "$g report"

for bad in "touch=" "touch=12345" "touch=4x" "touch=0" "touch=-4K" "touch=99999999999999999999" \
	"verify" "bogus" "exit" "exit=1x" "report=1" "fault=xx" "read=5000" \
	"ticks" "ticks=0" "ticks=x" "ticks=100001" "bump" "bump=1"; do
	case="error: $bad"
	run "$guest" 256M "$bad"
	expect 1 "$g error step=\"$bad\" reason=\"[^\"]+\"\$"
	refuse "$g done"
done

case="exit=N stops the workload"
run "$guest" 256M "exit=42 touch=4K"
expect 42 "$g exit status=42\$"
refuse "$g touch"

for f in "ud 6 0x0" "de 0 0x0" "gp 13 0x0" "pf 14 0x100000000000"; do
	set -- $f
	case="fault=$1"
	run "$guest" 256M "fault=$1"
	expect $((64 + $2)) "$g exception vector=$2 error=$hex rip=$hex cr2=$3\$"
done

case="triple"
run "$guest" 256M "triple done"
expect reset "$g start"
refuse "$g (exception|error|done)"

case="reset"
run "$guest" 256M "reset exit=3"
expect reset "$g start"
refuse "$g (error|exit|done)"

case="hang"
TIMEOUT=5 run "$guest" 256M "hang"
expect timeout "$g start"
refuse "$g done"

case="read"
INPUT=<(printf 'ab "\\\001') run "$guest" 256M "read=6"
expect 0 "$g read data=\"ab \\\\x22\\\\x5c\\\\x01\"\$"

# RAM above 4 GiB: 1 GiB below, 256 MiB above (QEMU holds all that the guest
# touches: keep it small for a small CI machine); the last free page is the top.
case="RAM above 4 GiB"
run "$guest" 1280M "" -machine max-ram-below-4g=1G
expect 0 "$g memmap addr=0x100000000 size=0x10000000 type=1\$"
free=$(sed -nE 's/.* start .*free=([0-9]+) .*/\1/p' <<<"$out")
case="touch up to the top of RAM above 4 GiB"
run "$guest" 1280M "touch=$free verify report" -machine max-ram-below-4g=1G
expect 0 "$g touch bytes=$free pages=$((free / 4096)) first=$image_end last=0x10ffff000" \
	"$g verify pages=$((free / 4096)) bad=0"

# A module (QEMU places the initrd at the top of low RAM) is not free RAM.
case="initrd"
initrd=$(mktemp)
head -c 3000000 /dev/zero > "$initrd"      # 733 pages from a page boundary
left=$((free_256m - 733 * 4096))
run "$guest" 256M "" -initrd "$initrd"
expect 0 "$g start .* free=$left "
case="touch all free RAM around an initrd"
run "$guest" 256M "touch=$left verify" -initrd "$initrd"
expect 0 "$g verify pages=$((left / 4096)) bad=0"
rm -f "$initrd"

case="pvh-mini"
run "$mini" 256M "a b=c"
expect reset "^pvh-mini: magic ok\$" "^pvh-mini: cmdline=a b=c\$" \
	"^pvh-mini: memmap entries=[0-9]+ ram=$(printf 0x%x "$ram")\$"

[ "$failures" = 0 ] || { echo "$failures failed"; exit 1; }
