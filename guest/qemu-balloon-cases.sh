# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# The cases of qemu-test.sh --balloon, sourced by it (they use its run,
# expect, refuse, fail, $qemu, $guest, $g and $hex): the test guest's
# virtio-balloon driver against QEMU's virtio-balloon-pci on the pc machine.
#
# QEMU differs from memvmm where the spec leaves room, and the cases say so:
# - its virtio-balloon-pci is transitional unless disable-legacy=on (device
#   ID 0x1002, which the modern-only guest does not look for);
# - it always offers STATS_VQ (and PAGE_POISON, which the guest leaves), so
#   there are 3 queues without free-page-reporting and 4 with it;
# - it polls statistics only once guest-stats-polling-interval is set;
# - a reset leaves actual as the driver last wrote it (memvmm: 0);
# - an avail index far ahead and a buffer outside RAM ("idx", "addr") are
#   not violations for it.

"$qemu" -device help 2>&1 | grep -q '"virtio-balloon-pci"' ||
	{ echo "SKIP: $qemu has no virtio-balloon-pci device"; exit 77; }

num='[0-9]+'
ram=256M
# 256 MiB of RAM: QEMU's "balloon 192" (MiB left to the guest) asks for 64 MiB.
target_192=16384
target_224=8192

# bal_opts [DEVICE PROPERTIES]: sets $opts to a modern virtio-balloon-pci "bal0".
bal_opts() {
	opts=(-device "virtio-balloon-pci,id=bal0,disable-legacy=on${1:-}")
}

# key LINE NAME: the value of NAME= in the first "memvmm-guest: LINE" line.
key() {
	sed -nE "s/^memvmm-guest: $1 (.* )?$2=([^ ]+).*/\2/p" <<<"$out" | head -n 1
}

# monitor_feed SERIAL ITEM...: an item "@N" waits for the guest's Nth
# "balloon-waiting" line in SERIAL; any other item is a QEMU monitor
# command. Then the monitor stays open until the guest is done.
monitor_feed() {
	local serial=$1 item i
	shift
	for item in "$@"; do
		case $item in
		@*)
			for ((i = 0; i < 600; i++)); do
				[ "$(grep -c "^memvmm-guest: balloon-waiting" "$serial")" -ge "${item#@}" ] &&
					break
				sleep 0.1
			done
			;;
		*) echo "$item" ;;
		esac
	done
	for ((i = 0; i < 600; i++)); do
		grep -Eq "^memvmm-guest: (done|error|exception|exit)" "$serial" && break
		sleep 0.1
	done
}

# run_monitor "ITEM;..." CMDLINE [qemu options...]: run with monitor_feed's
# items; sets $out (serial and stderr), $mon (the monitor's output), $rc.
run_monitor() {
	local items=$1 cmdline=$2 serial feed
	shift 2
	serial=$(mktemp)
	IFS=';' read -ra feed <<<"$items"
	monitor_feed "$serial" "${feed[@]}" |
		timeout "${TIMEOUT:-60}" "$qemu" -machine pc -accel tcg -m "$ram" \
			-vga none -display none -no-reboot -monitor stdio -serial "file:$serial" \
			-device isa-debug-exit,iobase=0x501,iosize=4 \
			-kernel "$guest" -append "$cmdline" "$@" >"$serial.mon" 2>"$serial.err"
	rc=${PIPESTATUS[1]}
	out=$(cat "$serial" "$serial.err")
	mon=$(tr -d '\r' <"$serial.mon")
	rm -f "$serial" "$serial.err" "$serial.mon"
}

# monitor_has REGEX: the monitor's output must match.
monitor_has() {
	grep -Eq -- "$1" <<<"$mon" || fail "no monitor output matching: $1"
}

case="balloon: no virtio-balloon device"
run "$guest" "$ram" "balloon-info"
expect 1 "$g error step=\"balloon-info\" reason=\"no such virtio device on PCI bus 0\"\$"

bal_opts ,free-page-reporting=on,deflate-on-oom=on
case="balloon-info: every feature negotiated, 4 queues"
run "$guest" "$ram" "balloon-info" "${opts[@]}"
expect 0 "$g virtio-pci dev=00:[0-9a-f]{2}\.0 device=0x1045 .*common=$hex notify=$hex notify_mult=$num isr=$hex device_cfg=$hex " \
	"$g balloon-init offered=$hex negotiated=$hex free_page_hint_offered=0 queues=4 queue_size=64 num_pages=0 actual=0\$" \
	"$g balloon-info offered=$hex negotiated=$hex stats_vq=1 deflate_on_oom=1 reporting=1 queues=4 num_pages=0 actual=0 inflated=0 room=$num\$" \
	"$g done status=0\$"
features=$(key balloon-info negotiated)
[ -n "$features" ] && [ $((features >> 32 & 1)) = 1 ] && [ $((features & 0x26)) = $((0x26)) ] ||
	fail "VERSION_1, STATS_VQ, DEFLATE_ON_OOM and REPORTING not all negotiated: $features"
[ -n "$features" ] && [ $((features & 0x19)) = 0 ] ||
	fail "MUST_TELL_HOST, FREE_PAGE_HINT or PAGE_POISON negotiated: $features"

case="balloon: inflate, deflate, report; the guest's own pages untouched"
run "$guest" "$ram" "touch=16M balloon-inflate=64M balloon-deflate=32M balloon-report balloon-report=16M balloon-deflate=32M verify balloon-info" "${opts[@]}"
expect 0 "$g balloon-inflate pages=16384 bytes=67108864 chains=1 inflated=16384 num_pages=0 actual=16384 request_cycles=$num cycles=$num\$" \
	"$g balloon-deflate pages=8192 bytes=33554432 chains=1 inflated=8192 num_pages=0 actual=8192 bad=0 request_cycles=$num cycles=$num\$" \
	"$g balloon-report bytes=67108864 ranges=32 chains=1 reportable=$num cycles=$num\$" \
	"$g balloon-report bytes=16777216 ranges=8 chains=1 reportable=$num cycles=$num\$" \
	"$g balloon-deflate pages=8192 bytes=33554432 chains=1 inflated=0 num_pages=0 actual=0 bad=0 " \
	"$g verify pages=4096 bad=0 " "$g balloon-info .* actual=0 inflated=0 " "$g done status=0\$"
refuse "^qemu-system-x86_64: "

case="balloon: 1 GiB in 64 MiB chains"
run "$guest" 1280M "balloon-inflate=1G balloon-deflate=1G" "${opts[@]}"
expect 0 "$g balloon-inflate pages=262144 bytes=1073741824 chains=16 inflated=262144 num_pages=0 actual=262144 " \
	"$g balloon-deflate pages=262144 bytes=1073741824 chains=16 inflated=0 num_pages=0 actual=0 bad=0 "

case="balloon-bad: every chain of bad PFNs comes back, the device keeps working"
run "$guest" "$ram" "balloon-inflate=8M balloon-bad balloon-deflate=8M" "${opts[@]}"
res=()
for b in inflate-max inflate-beyond inflate-partial inflate-dup deflate-dup deflate-absent \
	deflate-max deflate-beyond; do
	res+=("$g balloon-bad-case name=$b pfns=$num result=ok\$")
done
expect 0 "${res[@]}" "$g balloon-bad cases=8 ok=8 hotplug=0 status=0x0f inflated=2048 actual=2048 " \
	"$g balloon-deflate pages=2048 .* inflated=0 " "$g done status=0\$"
refuse "$g balloon-bad-case name=.*hotplug"
refuse "^qemu-system-x86_64: "

case="balloon with virtio-mem: two devices' queues; PFNs in the hotplug region"
run "$guest" "$ram,maxmem=2G" "vmem-plug balloon-inflate=32M vmem-touch balloon-bad vmem-state balloon-deflate=32M vmem-unplug-all" \
	-object memory-backend-ram,id=vmem0,size=1G \
	-device virtio-mem-pci,id=vm0,memdev=vmem0,requested-size=128M,block-size=2M "${opts[@]}"
expect 0 "$g vmem-plug bytes=134217728 requests=1 ack=1 " "$g balloon-inflate pages=8192 " \
	"$g vmem-touch blocks=64 pages=32768 fresh=32768 nonzero=0 bad=0 " \
	"$g balloon-bad-case name=inflate-hotplug pfns=2 result=ok\$" \
	"$g balloon-bad-case name=deflate-hotplug pfns=2 result=ok\$" \
	"$g balloon-bad cases=10 ok=10 hotplug=1 status=0x0f " "$g vmem-state .* mismatch=0 " \
	"$g balloon-deflate pages=8192 .* inflated=0 " "$g vmem-unplug-all resp=ACK " "$g done status=0\$"

case="balloon-corrupt: a broken inflate queue gets DEVICE_NEEDS_RESET, a reset brings it back"
run "$guest" "$ram" "balloon-inflate=8M balloon-corrupt balloon-corrupt=next balloon-corrupt=head balloon-corrupt=order balloon-info balloon-inflate=8M balloon-deflate=8M" "${opts[@]}"
res=()
for k in loop next head order; do
	res+=("$g balloon-corrupt kind=$k status=$hex needs_reset=1 used=0 reinit=ok after=ok cycles=$num\$")
done
expect 0 "${res[@]}" "$g balloon-info .* queues=4 num_pages=0 actual=0 inflated=0 " \
	"$g balloon-deflate pages=2048 .* inflated=0 " "$g done status=0\$"

case="balloon-reset: status 0 reads back 0, the record is emptied (QEMU keeps actual)"
run "$guest" "$ram" "balloon-inflate=8M balloon-reset balloon-info balloon-inflate=4M" "${opts[@]}"
expect 0 "$g balloon-reset before=0x0f after=0x00 inflated_before=2048 actual=2048 inflated=0 cycles=$num\$" \
	"$g balloon-info .* actual=0 inflated=0 " "$g balloon-inflate pages=1024 .* inflated=1024 " \
	"$g done status=0\$"

case="balloon-stats: QEMU polls every second (guest-stats-polling-interval=1), 3 replies"
bal_opts ,guest-stats-polling-interval=1
run "$guest" "$ram" "touch=8M balloon-inflate=16M balloon-stats=3" "${opts[@]}"
expect 0 "$g balloon-stats polls=3 sent=4 memtot=$num memfree=$num avail=$num minflt=3 cycles=$num\$" \
	"$g done status=0\$"
free=$(sed -nE 's/.* start .*free=([0-9]+) .*/\1/p' <<<"$out")
[ "$(key balloon-stats memtot)" = "$free" ] &&
	[ "$(key balloon-stats avail)" = $((free - (16 << 20))) ] &&
	[ "$(key balloon-stats memfree)" = $((free - (24 << 20))) ] ||
	fail "stats are not free RAM $free, minus 16M inflated, minus 8M touched"

case="balloon-stats: QEMU's own view of the statistics (qom-get guest-stats)"
run_monitor "@1;qom-get bal0 guest-stats;balloon 192;@2" "balloon-stats=2 balloon-follow=1" "${opts[@]}"
expect 0 "$g balloon-stats polls=2 sent=3 .* minflt=2 " "$g balloon-follow changes=1 " "$g done status=0\$"
monitor_has "\"stat-total-memory\": $(key balloon-stats memtot),"
monitor_has "\"stat-minor-faults\": 2,"

case="balloon-stats: no poll comes (no polling interval) is a failure"
bal_opts
run "$guest" "$ram" "balloon-stats=1,2" "${opts[@]}"
expect 1 "$g balloon-stats polls=0 sent=1 .* minflt=0 cycles=$num\$" \
	"$g error step=\"balloon-stats=1,2\" reason=\"no stats poll from the device in time\"\$"

case="balloon-follow: the target changed through QEMU's monitor (balloon MiB), actual seen by QEMU"
run_monitor "@1;balloon 192;@2;info balloon;balloon 224;@3;info balloon" "balloon-follow=3 balloon-info" "${opts[@]}"
expect 0 "$g balloon-waiting num_pages=0 inflated=0\$" \
	"$g balloon-follow-step op=inflate pages=$target_192 bytes=67108864 num_pages=$target_192 inflated=$target_192 short=0 bad=0 cycles=$num\$" \
	"$g balloon-waiting num_pages=$target_192 inflated=$target_192\$" \
	"$g balloon-follow-step op=deflate pages=$target_224 bytes=33554432 num_pages=$target_224 inflated=$target_224 short=0 bad=0 " \
	"$g balloon-follow changes=2 num_pages=$target_224 inflated=$target_224 actual=$target_224 cycles=$num\$" \
	"$g balloon-info .* num_pages=$target_224 actual=$target_224 inflated=$target_224 " "$g done status=0\$"
monitor_has "^balloon: actual=192\$"
monitor_has "^balloon: actual=224\$"

case="balloon-inflate and -deflate without a size follow the target"
run_monitor "@1;balloon 192" "balloon-follow=2 balloon-deflate=64M balloon-inflate balloon-deflate=4M" "${opts[@]}"
expect 0 "$g balloon-deflate pages=$target_192 .* inflated=0 " \
	"$g balloon-inflate pages=$target_192 bytes=67108864 chains=1 inflated=$target_192 num_pages=$target_192 actual=$target_192 " \
	"$g done status=0\$"

case="balloon-report without REPORTING"
run "$guest" "$ram" "balloon-report" "${opts[@]}"
expect 1 "$g error step=\"balloon-report\" reason=\"VIRTIO_BALLOON_F_REPORTING was not negotiated\"\$"

case="balloon-inflate: more than the free RAM above the guest's pages"
run "$guest" "$ram" "touch=128M balloon-inflate=128M" "${opts[@]}"
expect 1 "$g error step=\"balloon-inflate=128M\" reason=\"not that much free RAM above what the guest uses\"\$"

for bad in "balloon-inflate=3K" "balloon-inflate=0" "balloon-inflate=x" "balloon-deflate=4K" \
	"balloon-stats=0" "balloon-stats=1,x" "balloon-stats=1,0" "balloon-follow=0" \
	"balloon-corrupt=bogus" "balloon-info=1" "balloon-bad=1" "balloon-report=3M"; do
	case="balloon error: $bad"
	run "$guest" "$ram" "$bad" "${opts[@]}"
	expect 1 "$g error step=\"$bad\" reason=\"[^\"]+\"\$"
	refuse "$g done"
done
