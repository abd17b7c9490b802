#!/bin/sh
# One benchmark end to end at a tiny size: it writes its --out file, checks
# its fills (gmem-fill exits 1 on a wrong fill), and ends with its key=value
# line. Speed is not asserted: benchmarks measure, tests do not.
#
# Usage: bench_smoke.sh BENCH CASE
#   CASE: gmem-fill | guest-touch | populate-table | vs-qemu | vs-qemu-missing | bad-size |
#         vmem-plug | vmem-plug-bad-size | balloon | balloon-bad-size | pageout | restore
# Exit status: 0 pass, 1 fail, 77 skip (naming what this host lacks).
set -u
bench=$1
case=${2:-}

skip() {
	echo "SKIP: $case: $*"
	exit 77
}
fail() {
	echo "not ok - $case: $*"
	exit 1
}
need_kvm() {
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "no /dev/kvm (needs KVM)"
}
need_python3() {
	command -v python3 >/dev/null || skip "no python3 (checks the --out JSON)"
}

out=$(mktemp -d) || fail "mktemp"
trap 'rm -rf "$out"' EXIT

# run NAME WANT-KEYS [args...]: exit 0, last line "bench NAME: " with each key=.
run() {
	name=$1 keys=$2
	shift 2
	"$bench" "$name" --repeat 1 "$@" >"$out/$name.txt" 2>&1
	rc=$?
	[ $rc -eq 0 ] || { cat "$out/$name.txt"; fail "$name exited $rc"; }
	last=$(tail -n 1 "$out/$name.txt")
	case $last in
	"bench $name: "*) ;;
	*) cat "$out/$name.txt"; fail "last line is '$last'" ;;
	esac
	for k in $keys; do
		case $last in
		*" $k="*) ;;
		*) fail "no $k= in '$last'" ;;
		esac
	done
}

# check NAME WANT-KEYS [args...]: run, and --out holds valid JSON.
check() {
	name=$1 keys=$2
	shift 2
	need_python3
	run "$name" "$keys" --out "$out/$name.json" "$@"
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$out/$name.json" ||
		fail "--out is not JSON"
	echo "ok - bench $name: $last"
}

case $case in
gmem-fill)
	need_kvm
	check gmem-fill "auto_vs_memcpy floor_ratio" --size 64M
	;;
guest-touch)
	need_kvm
	check guest-touch "auto_vs_none anon_thp_touch_speedup memfd_thp_on" --size 16M
	;;
populate-table)
	# Without KVM its guest_memfd rows say "unsupported"; the rest still run,
	# the THP rows too (a thp=on row the host's policy rules out says why).
	check populate-table "size cases thp_anon_on_huge_pct_min thp_memfd_on" --size 4M
	grep -q "on (MADV_HUGEPAGE)" "$out/populate-table.txt" || fail "no THP rows in the table"
	;;
vs-qemu)
	lacks=
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || lacks="no /dev/kvm (needs KVM)"
	command -v qemu-system-x86_64 >/dev/null ||
		lacks="${lacks:+$lacks; }no qemu-system-x86_64 in PATH (Debian package qemu-system-x86)"
	[ -z "$lacks" ] || skip "$lacks"
	check vs-qemu "qemu_prealloc_ms memvmm_populate_ms" --size 64M
	;;
vs-qemu-missing)
	# Without QEMU the benchmark says so and exits 0, reporting skipped=1.
	env PATH=/nonexistent "$bench" vs-qemu --repeat 1 --size 64M >"$out/vq.txt" 2>&1
	rc=$?
	last=$(tail -n 1 "$out/vq.txt")
	[ $rc -eq 0 ] || { cat "$out/vq.txt"; fail "exited $rc"; }
	case $last in
	"bench vs-qemu: "*" skipped=1"*) ;;
	*) cat "$out/vq.txt"; fail "want 'bench vs-qemu: ... skipped=1', last line '$last'" ;;
	esac
	grep -q "qemu-system-x86_64 is not installed" "$out/vq.txt" || fail "does not say why"
	echo "ok - bench vs-qemu without QEMU in PATH: $last"
	;;
vmem-plug)
	# Runs everywhere: without KVM its memvmm rows say so, the mem_populate
	# rows and (with QEMU, under TCG) the QEMU rows still run.
	check vmem-plug "size memvmm qemu meter worst_plug_populate_ratio failed" --size 128M
	case $last in *" failed=0"*) ;; *) fail "rows failed: '$last'" ;; esac
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		grep -q "^memvmm  *memfd  *auto  *[0-9]" "$out/vmem-plug.txt" ||
			fail "no measured memvmm memfd auto row"
	else
		grep -q "no /dev/kvm here: memvmm needs KVM" "$out/vmem-plug.txt" ||
			fail "the memvmm rows do not say why they were skipped"
	fi
	grep -q "^mem_populate  *memfd  *madvise  *[0-9]" "$out/vmem-plug.txt" ||
		fail "no measured mem_populate memfd madvise row"
	;;
vmem-plug-bad-size)
	"$bench" vmem-plug --size 100M >"$out/bad.txt" 2>&1
	rc=$?
	[ $rc -eq 2 ] || { cat "$out/bad.txt"; fail "--size 100M: exit $rc, want 2"; }
	grep -q "100M is not a multiple of 128M" "$out/bad.txt" || fail "the message does not say why"
	echo "ok - vmem-plug --size 100M: exit 2, says why"
	;;
balloon)
	# Runs everywhere: without KVM its memvmm rows say so; with QEMU (under TCG
	# without KVM) the QEMU rows still run.
	check balloon "size memvmm qemu meter memvmm_rows failed" --size 32M
	case $last in *" failed=0"*) ;; *) fail "rows failed: '$last'" ;; esac
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		grep -q "^memvmm  *anon  *[0-9]" "$out/balloon.txt" || fail "no measured memvmm anon row"
	else
		grep -q "no /dev/kvm here: memvmm needs KVM" "$out/balloon.txt" ||
			fail "the memvmm rows do not say why they were skipped"
	fi
	;;
balloon-bad-size)
	"$bench" balloon --size 3M >"$out/bad.txt" 2>&1
	rc=$?
	[ $rc -eq 2 ] || { cat "$out/bad.txt"; fail "--size 3M: exit $rc, want 2"; }
	grep -q "3M is not a multiple of 2M" "$out/bad.txt" || fail "the message does not say why"
	echo "ok - balloon --size 3M: exit 2, says why"
	;;
pageout)
	# Root only (it sets up swap and the mTHP sizes): afterwards the host must
	# be exactly as before (swap devices, zram0, every mTHP size's setting).
	[ "$(id -u)" = 0 ] || skip "not root (pageout sets up swap and mTHP settings)"
	host_state() {
		cat /proc/swaps
		cat /sys/block/zram0/disksize 2>/dev/null
		cat /sys/kernel/mm/transparent_hugepage/hugepages-*/enabled 2>/dev/null
	}
	host_state >"$out/state-before.txt"
	check pageout "size swap small_4k_zero_ms mthp_64k_zero_ms ratio_64k_4k_zero" --size 4M
	host_state >"$out/state-after.txt"
	cmp -s "$out/state-before.txt" "$out/state-after.txt" ||
		{ diff "$out/state-before.txt" "$out/state-after.txt"; fail "host state changed"; }
	;;
restore)
	# Part A runs everywhere (guest_memfd rows need KVM, hugetlb rows a pool
	# that already holds 16M, lazy rows userfaultfd: otherwise each says why);
	# part B (memvmm --restore) needs KVM and says so without it.
	left() { ls -d /var/tmp/memvmm-bench-restore-* 2>/dev/null | sort; }
	left >"$out/left-before.txt"
	check restore "sizes skipped_sizes cache cases failed partb 16M_save_ms \
		16M_lazy_first_max_ms" --size 16M
	left >"$out/left-after.txt"
	comm -13 "$out/left-before.txt" "$out/left-after.txt" | grep . &&
		fail "left the directories above behind in /var/tmp"
	case $last in *" failed=0"*) ;; *) fail "rows failed: '$last'" ;; esac
	case $last in *" skipped_sizes=none"*) ;; *) fail "16M was skipped: '$last'" ;; esac
	t=$out/restore.txt
	grep -q "^16M  *anon (the touched guest)  *[0-9]" "$t" || fail "no measured save row"
	# Measured everywhere: the eager fills and the baseline on anon and memfd.
	for row in "anon  *eager populate+copy" "anon  *read+memcpy (baseline)" \
		   "memfd  *eager write()" "memfd  *eager populate+copy" \
		   "memfd  *read+memcpy (baseline)"; do
		grep -q "^16M  *$row  *[0-9]" "$t" || fail "no measured row '$row'"
	done
	# Measured, or a reason this host cannot (leases, userfaultfd, KVM, the pool).
	for row in "anon  *map" "anon  *lazy-copy" "anon  *lazy-move" "memfd  *lazy-minor" \
		   "hugetlb  *eager populate+copy" "hugetlb  *read+memcpy (baseline)" \
		   "guest_memfd  *eager write()" "guest_memfd  *eager populate+copy" \
		   "guest_memfd  *read+memcpy (baseline)"; do
		grep -q "^16M  *$row  *\([0-9]\|unsupported: .\)" "$t" || fail "no row '$row'"
	done
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		grep -q "^16M  *anon  *eager  *[0-9]" "$t" ||
			fail "no measured part B anon eager row"
		case $last in *" partb=ran"*) ;; *) fail "part B did not run: '$last'" ;; esac
	else
		grep -q "^part B skipped: no /dev/kvm" "$t" ||
			fail "part B does not say it was skipped"
	fi
	# A bad size in a list: exit 2 naming it; a list for another benchmark: exit 2.
	"$bench" restore --size 16M,3M >"$out/bad.txt" 2>&1
	rc=$?
	[ $rc -eq 2 ] || { cat "$out/bad.txt"; fail "--size 16M,3M: exit $rc, want 2"; }
	grep -q "3M is not a multiple of 2M" "$out/bad.txt" || fail "the message does not say why"
	"$bench" gmem-fill --size 16M,32M >"$out/bad.txt" 2>&1
	rc=$?
	[ $rc -eq 2 ] || { cat "$out/bad.txt"; fail "gmem-fill --size 16M,32M: exit $rc, want 2"; }
	;;
bad-size)
	"$bench" gmem-fill --size 12Q >"$out/bad.txt" 2>&1
	rc=$?
	[ $rc -eq 2 ] || { cat "$out/bad.txt"; fail "--size 12Q: exit $rc, want 2"; }
	grep -q "12Q" "$out/bad.txt" || fail "the message does not name '12Q'"
	echo "ok - bad --size: exit 2, names the value"
	;;
*)
	fail "unknown case '$case'"
	;;
esac
exit 0
