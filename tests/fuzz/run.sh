#!/bin/sh
# Run one libFuzzer target for a bounded time on a copy of its seed corpus.
# Usage: run.sh FUZZER CORPUS-DIR ARTIFACT-DIR   (seconds: $MEMVMM_FUZZ_SECONDS, default 20)
#        run.sh --skip WHY                       (clang or libFuzzer missing)
# Exit status: 0 when the fuzzer ran its time without a finding, 1 on a
# finding (crash, leak, sanitizer report, timeout, out of memory), 77 skip.
set -u
if [ "${1:-}" = "--skip" ]; then
	echo "SKIP: ${2:-}"
	exit 77
fi
fuzzer=$1 corpus=$2 artifacts=$3
seconds=${MEMVMM_FUZZ_SECONDS:-20}
name=$(basename "$fuzzer")

work=$(mktemp -d) || { echo "not ok - $name: mktemp failed"; exit 1; }
trap 'rm -rf "$work"' EXIT
cp -R "$corpus"/. "$work"/ || { echo "not ok - $name: cannot copy $corpus"; exit 1; }
log=$work.log
trap 'rm -rf "$work" "$log"' EXIT

# libFuzzer's own default exit status for a finding is 77, which Meson would
# count as a skip: every finding exits 1 here.
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
	-error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 \
	-artifact_prefix="$artifacts/$name-" "$work" >"$log" 2>&1
rc=$?
tail -n 40 "$log"
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
if [ $rc -ne 0 ]; then
	[ $rc -eq 77 ] && rc=1
	echo "not ok - $name: exit $rc after ${runs:-?} runs; the input is in $artifacts/$name-* (run: $fuzzer FILE)"
	exit $rc
fi
echo "ok - $name: ${runs:-?} runs in ${seconds}s, ${rate:-?} execs/s, no finding"
