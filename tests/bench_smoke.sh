#!/bin/sh
# Every benchmark runs end to end at a tiny size, writes its --out file, checks
# its fills (gmem-fill exits 1 on a wrong fill), and ends with its key=value
# line. Speed is not asserted: benchmarks measure, tests do not.
# Usage: bench_smoke.sh BENCH
set -u
bench=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0

check() { # name want-keys args...
	name=$1 keys=$2
	shift 2
	"$bench" "$name" --repeat 1 --out "$out/$name.json" "$@" >"$out/$name.txt" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "not ok - $name exited $rc:"; cat "$out/$name.txt"; fail=1; return
	fi
	last=$(tail -n 1 "$out/$name.txt")
	case $last in
	"bench $name: "*) ;;
	*) echo "not ok - $name: last line is '$last'"; fail=1; return ;;
	esac
	for k in $keys; do
		case $last in
		*" $k="*) ;;
		*) echo "not ok - $name: no $k= in '$last'"; fail=1; return ;;
		esac
	done
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$out/$name.json" ||
		{ echo "not ok - $name: --out is not JSON"; fail=1; return; }
	echo "ok - bench $name: $last"
}

[ -e /dev/kvm ] || { echo "skipped: needs /dev/kvm"; exit 77; }
check gmem-fill "auto_vs_memcpy floor_ratio" --size 64M
check guest-touch "auto_vs_none" --size 16M
check populate-table "size cases" --size 4M
if command -v qemu-system-x86_64 >/dev/null; then
	check vs-qemu "qemu_prealloc_ms memvmm_populate_ms" --size 64M
else
	check vs-qemu "skipped"
fi
"$bench" gmem-fill --size 12Q >/dev/null 2>&1
[ $? -eq 2 ] && echo "ok - bad --size: exit 2" || { echo "not ok - bad --size"; fail=1; }
exit $fail
