# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# The cases of qemu-test.sh --vmem, sourced by it (they use its run, expect,
# refuse, fail, $qemu, $guest, $g and $hex): the test guest's virtio-pci and
# virtio-mem driver against QEMU's virtio-mem-pci on the pc machine, where
# SeaBIOS has assigned the BARs. QEMU's virtio-mem-pci has no MSI-X (7.2), so
# vmem-msix is for memvmm only.
#
# QEMU differs from memvmm in two places the spec leaves open, and the cases
# say so: an unknown request type is a protocol violation for QEMU
# (DEVICE_NEEDS_RESET) where memvmm answers ERROR; an avail index far ahead
# and a buffer outside RAM ("idx", "addr") are not violations for QEMU.

"$qemu" -device help 2>&1 | grep -q '"virtio-mem-pci"' ||
	{ echo "SKIP: $qemu has no virtio-mem-pci device"; exit 77; }

vmem_ram=256M,maxmem=2G
num='[0-9]+'

# vmem_opts REQUESTED BLOCK [DEVICE PROPERTIES]: sets $opts to a 1 GiB
# virtio-mem-pci device "vm0" on RAM backend "vmem0".
vmem_opts() {
	opts=(-object "memory-backend-ram,id=vmem0,size=1G"
	      -device "virtio-mem-pci,id=vm0,memdev=vmem0,requested-size=$1,block-size=$2${3:-}")
}

# key LINE NAME: the value of NAME= in the first "memvmm-guest: LINE" line.
key() {
	sed -nE "s/^memvmm-guest: $1 (.* )?$2=([^ ]+).*/\2/p" <<<"$out" | head -n 1
}

# resize_feed SERIAL SIZE...: at the guest's Nth "vmem-waiting" line in
# SERIAL, the Nth SIZE goes to QEMU's monitor as vm0's requested-size; then
# the monitor stays open until the guest is done.
resize_feed() {
	local serial=$1 n=0 size i
	shift
	for size in "$@"; do
		n=$((n + 1))
		for ((i = 0; i < 600; i++)); do
			[ "$(grep -c "^memvmm-guest: vmem-waiting" "$serial")" -ge "$n" ] && break
			sleep 0.1
		done
		echo "qom-set vm0 requested-size $size"
	done
	for ((i = 0; i < 600; i++)); do
		grep -Eq "^memvmm-guest: (done|error|exception|exit)" "$serial" && break
		sleep 0.1
	done
}

# run_resize "SIZE..." CMDLINE [qemu options...]: run, with requested-size
# changes from resize_feed; sets $out and $rc.
run_resize() {
	local sizes=$1 cmdline=$2 serial
	shift 2
	serial=$(mktemp)
	# shellcheck disable=SC2086 # sizes are words
	resize_feed "$serial" $sizes |
		timeout "${TIMEOUT:-60}" "$qemu" -machine pc -accel tcg -m "$vmem_ram" \
			-vga none -display none -no-reboot -monitor stdio -serial "file:$serial" \
			-device isa-debug-exit,iobase=0x501,iosize=4 \
			-kernel "$guest" -append "$cmdline" "$@" >/dev/null 2>"$serial.err"
	rc=${PIPESTATUS[1]}
	out=$(cat "$serial" "$serial.err")
	rm -f "$serial" "$serial.err"
}

case="vmem: no virtio-mem device"
run "$guest" 256M "vmem-info"
expect 1 "$g error step=\"vmem-info\" reason=\"no such virtio device on PCI bus 0\"\$"

vmem_opts 128M 2M
case="vmem-info: the device found by a bus-0 scan, caps in its assigned BAR"
run "$guest" "$vmem_ram" "vmem-info" "${opts[@]}"
expect 0 "$g virtio-pci dev=00:[0-9a-f]{2}\.0 device=0x1058 .*bar4=$hex bar4_size=$num common=$hex notify=$hex notify_mult=$num isr=$hex device_cfg=$hex msix_vectors=$num assigned=0\$" \
	"$g vmem-init device_features=$hex driver_features=$hex queue_max=$num queue_size=$num block_size=2097152 addr=$hex region_size=1073741824 requested=134217728 plugged=0 unplug_all=0\$" \
	"$g vmem-info block_size=2097152 addr=$hex region_size=1073741824 usable=$num requested=134217728 plugged=0 driver_plugged=0 node_id=0\$" \
	"$g done status=0\$"
bar4=$(key virtio-pci bar4) bar4_size=$(key virtio-pci bar4_size) common=$(key virtio-pci common)
addr=$(key vmem-info addr) features=$(key vmem-init driver_features) usable=$(key vmem-info usable)
[ -n "$bar4" ] && [ $((common >= bar4 && common < bar4 + bar4_size)) = 1 ] ||
	fail "common configuration $common is not in BAR 4 ($bar4, $bar4_size bytes)"
[ -n "$features" ] && [ $((features >> 32 & 1)) = 1 ] || fail "VERSION_1 not negotiated: $features"
[ -n "$addr" ] && [ $((addr >= 1 << 32 && addr % (2 << 20) == 0)) = 1 ] ||
	fail "region address $addr is not block-aligned above 4 GiB"
[ -n "$usable" ] && [ $((usable >= 128 << 20 && usable <= 1 << 30)) = 1 ] ||
	fail "usable region $usable is not between requested and the region size"

case="vmem: plug, touch, state, unplug, re-plugged memory reads zero, unplug-all"
run "$guest" "$vmem_ram" "vmem-plug vmem-touch vmem-state vmem-unplug=64M vmem-touch vmem-plug=32M vmem-touch vmem-state vmem-unplug-all vmem-info" "${opts[@]}"
expect 0 "$g vmem-plug bytes=134217728 requests=1 ack=1 nack=0 busy=0 error=0 plugged=134217728 driver_plugged=134217728 requested=134217728 usable=$num cycles=$num\$" \
	"$g vmem-touch blocks=64 pages=32768 fresh=32768 nonzero=0 bad=0 cycles=$num\$" \
	"$g vmem-state ranges=$num ranges_plugged=1 ranges_unplugged=$num ranges_mixed=0 mismatch=0 whole=MIXED cycles=$num\$" \
	"$g vmem-unplug bytes=67108864 requests=1 ack=1 nack=0 busy=0 error=0 plugged=67108864 driver_plugged=67108864 " \
	"$g vmem-touch blocks=32 pages=16384 fresh=0 nonzero=0 bad=0 " \
	"$g vmem-plug bytes=33554432 requests=1 ack=1 nack=0 busy=0 error=0 plugged=100663296 driver_plugged=100663296 " \
	"$g vmem-touch blocks=48 pages=24576 fresh=8192 nonzero=0 bad=0 " \
	"$g vmem-state ranges=$num ranges_plugged=0 ranges_unplugged=$num ranges_mixed=1 mismatch=0 whole=MIXED " \
	"$g vmem-unplug-all resp=ACK plugged=0 driver_plugged=0 requested=134217728 usable=$num cycles=$num\$" \
	"$g vmem-info .* plugged=0 driver_plugged=0 " "$g done status=0\$"

case="vmem: plugging past the requested size is a NACK"
run "$guest" "$vmem_ram" "vmem-plug=256M vmem-unplug=2M" "${opts[@]}"
expect 0 "$g vmem-plug bytes=134217728 requests=2 ack=1 nack=1 busy=0 error=0 plugged=134217728 driver_plugged=134217728 " \
	"$g vmem-unplug bytes=2097152 requests=1 ack=1 "

bad="plug-unaligned plug-zero plug-beyond plug-below plug-cross plug-plugged unplug-unaligned"
bad="$bad unplug-zero unplug-beyond unplug-below unplug-cross unplug-unplugged state-beyond state-zero"
case="vmem-bad: every bad request gets ERROR"
run "$guest" "$vmem_ram" "vmem-plug=64M vmem-bad=$(tr ' ' , <<<"$bad") vmem-state" "${opts[@]}"
res=()
for b in $bad; do
	res+=("$g vmem-bad-case name=$b resp=ERROR\$")
done
expect 0 "${res[@]}" "$g vmem-bad cases=14 error=14 plugged=67108864 driver_plugged=67108864 " \
	"$g vmem-state .* mismatch=0 "

case="vmem-bad=type: ERROR, or DEVICE_NEEDS_RESET from QEMU (a protocol violation there)"
run "$guest" "$vmem_ram" "vmem-bad=type vmem-state" "${opts[@]}"
if grep -q "vmem-bad-case name=type resp=ERROR" <<<"$out"; then
	expect 0 "$g vmem-bad cases=1 error=1 " "$g vmem-state .* mismatch=0 "
else
	expect 1 "$g vmem-bad-case name=type resp=NEEDS_RESET\$" "$g vmem-bad cases=1 error=0 " \
		"$g error step=\"vmem-bad=type\" reason=\"a bad request did not get ERROR\"\$"
fi

case="vmem-bad: its preconditions"
run "$guest" "$vmem_ram" "vmem-bad" "${opts[@]}"
expect 1 "$g error step=\"vmem-bad\" reason=\"vmem-bad needs a plugged block\"\$"
refuse "$g vmem-bad-case"
run "$guest" "$vmem_ram" "vmem-plug vmem-bad=plug-plugged" "${opts[@]}"
expect 1 "$g error step=\"vmem-bad=plug-plugged\" reason=\"vmem-bad's plug cases need requested_size >= plugged_size \+ 2 blocks\"\$"

case="vmem-corrupt: a broken queue gets DEVICE_NEEDS_RESET, a reset brings it back"
run "$guest" "$vmem_ram" "vmem-plug=64M vmem-touch vmem-corrupt vmem-corrupt=next vmem-corrupt=head vmem-corrupt=order vmem-state vmem-touch" "${opts[@]}"
res=()
for k in loop next head order; do
	res+=("$g vmem-corrupt kind=$k status=$hex needs_reset=1 used=0 reinit=ok after=ACK cycles=$num\$")
done
expect 0 "${res[@]}" "$g vmem-state .* mismatch=0 " "$g vmem-touch blocks=32 pages=16384 fresh=0 nonzero=0 bad=0 "

case="vmem-reset: status 0 reads back 0, blocks stay plugged"
run "$guest" "$vmem_ram" "vmem-plug=64M vmem-touch vmem-reset vmem-touch vmem-unplug=64M" "${opts[@]}"
expect 0 "$g vmem-reset before=0x0f after=0x00 plugged=67108864 driver_plugged=67108864 mismatch=0 cycles=$num\$" \
	"$g vmem-touch blocks=32 pages=16384 fresh=0 nonzero=0 bad=0 " \
	"$g vmem-unplug bytes=67108864 requests=1 ack=1 "

vmem_opts 128M 2M ,prealloc=on,unplugged-inaccessible=on
case="vmem: prealloc=on, unplugged-inaccessible=on"
run "$guest" "$vmem_ram" "vmem-plug vmem-touch vmem-unplug=64M vmem-plug=64M vmem-touch" "${opts[@]}"
expect 0 "$g vmem-plug bytes=134217728 requests=1 ack=1 " "$g vmem-unplug bytes=67108864 requests=1 ack=1 " \
	"$g vmem-plug bytes=67108864 requests=1 ack=1 .* plugged=134217728 " \
	"$g vmem-touch blocks=64 pages=32768 fresh=16384 nonzero=0 bad=0 "
features=$(key vmem-init driver_features)
[ -n "$features" ] && [ $((features >> 1 & 1)) = 1 ] ||
	fail "VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE not negotiated: $features"

vmem_opts 256M 128M
case="vmem: 128 MiB blocks"
run "$guest" "$vmem_ram" "vmem-plug vmem-unplug=128M vmem-plug vmem-touch vmem-state" "${opts[@]}"
expect 0 "$g vmem-init .* block_size=134217728 " \
	"$g vmem-plug bytes=268435456 requests=2 ack=2 nack=0 busy=0 error=0 plugged=268435456 " \
	"$g vmem-unplug bytes=134217728 requests=1 ack=1 " "$g vmem-plug bytes=134217728 requests=1 ack=1 " \
	"$g vmem-touch blocks=2 pages=65536 fresh=65536 nonzero=0 bad=0 " "$g vmem-state .* mismatch=0 "

vmem_opts 128M 2M
case="vmem: BAR 4 above 4 GiB (a 2 GiB ivshmem BAR makes SeaBIOS use its 64-bit window)"
run "$guest" "$vmem_ram" "vmem-info vmem-plug vmem-touch" \
	-object memory-backend-ram,id=shm,size=2G -device ivshmem-plain,memdev=shm "${opts[@]}"
if grep -q "^memvmm-guest: start" <<<"$out"; then
	expect 0 "$g vmem-touch blocks=64 pages=32768 fresh=32768 nonzero=0 bad=0 " "$g done status=0\$"
	bar4=$(key virtio-pci bar4)
	[ -n "$bar4" ] && [ $((bar4 >= 1 << 32)) = 1 ] ||
		echo "# $case: SeaBIOS left BAR 4 at $bar4 (below 4 GiB): only the steps were checked"
else
	echo "# not run: $case: QEMU did not start: $(head -n 1 <<<"$out")"
fi

# The region above 512 GiB (a second PML4 entry): a 512 GiB DIMM first, never
# touched (reserve=off: no swap reservation).
case="vmem: the region above 512 GiB"
run "$guest" 256M,maxmem=600G,slots=1 "vmem-info vmem-plug vmem-touch vmem-unplug=64M vmem-state" \
	-cpu qemu64,phys-bits=42 -object memory-backend-ram,id=big,size=512G,reserve=off \
	-device pc-dimm,memdev=big "${opts[@]}"
if grep -q "^memvmm-guest: start" <<<"$out"; then
	expect 0 "$g vmem-info block_size=2097152 addr=0x8[0-9a-f]{9} " \
		"$g vmem-touch blocks=64 pages=32768 fresh=32768 nonzero=0 bad=0 " \
		"$g vmem-state .* mismatch=0 " "$g done status=0\$"
else
	echo "# not run: $case: QEMU did not start: $(head -n 1 <<<"$out")"
fi

case="vmem-wait: the requested size changed through QEMU's monitor"
run_resize "256M 64M" "vmem-plug vmem-wait=256M vmem-plug vmem-touch vmem-wait vmem-unplug vmem-state" "${opts[@]}"
expect 0 "$g vmem-waiting requested=134217728\$" "$g vmem-wait requested=268435456 usable=$num plugged=134217728 " \
	"$g vmem-plug bytes=134217728 requests=1 ack=1 .* plugged=268435456 " \
	"$g vmem-touch blocks=128 pages=65536 fresh=65536 nonzero=0 bad=0 " \
	"$g vmem-waiting requested=268435456\$" "$g vmem-wait requested=67108864 usable=$num plugged=268435456 " \
	"$g vmem-unplug bytes=201326592 requests=2 ack=2 nack=0 busy=0 error=0 plugged=67108864 driver_plugged=67108864 requested=67108864 " \
	"$g vmem-state .* mismatch=0 " "$g done status=0\$"

for bad in "vmem-plug=3M" "vmem-plug=0" "vmem-plug=x" "vmem-unplug=64M" "vmem-bad=bogus" \
	"vmem-bad=plug-zero,x" "vmem-corrupt=bogus" "vmem-info=1" "vmem-wait=x" "vmem-touch=1"; do
	case="vmem error: $bad"
	run "$guest" "$vmem_ram" "$bad" "${opts[@]}"
	expect 1 "$g error step=\"$bad\" reason=\"[^\"]+\"\$"
	refuse "$g done"
done
