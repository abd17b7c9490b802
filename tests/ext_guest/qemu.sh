#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# ext_guest under QEMU (TCG), a second, independent VMM: checks what the
# guest prints and how it exits, so that a failure under memvmm can be told
# apart from a bug in the guest.
#
#   boot      mb=8 rounds=3: start, fill, filled, rounds 1..3 ok, done; exit 0
#   corrupt   corrupt=2: the guest flips one word itself; round 2 must report
#             it as BAD and the guest must exit 3 (the checker is not vacuous)
#   options   a bad option and an mb= larger than RAM: exit 2, with a message
#   migrate   a live migration to a file while the rounds run, then a new QEMU
#             restored from it: the guest continues where it was (no second
#             boot, no second fill, every round once, in order) and exits 0
#
# QEMU's isa-debug-exit (port 0x501, memvmm's exit port) exits (STATUS << 1) | 1.
#
# Usage: qemu.sh EXT_GUEST_ELF        Exit 77 (skipped) without qemu-system-x86_64.
set -uo pipefail

elf=${1:?usage: qemu.sh EXT_GUEST_ELF}
qemu=$(command -v qemu-system-x86_64) || {
	echo "qemu-system-x86_64 not found: skipped"
	exit 77
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failures=0
fail() {
	echo "FAIL [$case]: $*"
	for f in "$tmp/$case".*; do
		[ -f "$f" ] && { echo "--- $(basename "$f")"; cat "$f"; }
	done
	failures=$((failures + 1))
}

# machine NAME [MEM]: the QEMU command line every case uses (in the array
# "cmd"), with the guest's console in NAME.log.
machine() {
	cmd=("$qemu" -machine pc,accel=tcg -cpu qemu64 -m "${2:-256}" -nodefaults -display none
		-no-reboot -device isa-debug-exit,iobase=0x501,iosize=2
		-serial "file:$tmp/$1.log" -kernel "$elf")
}

# boot NAME APPEND: runs to the end; sets rc.
boot() {
	machine "$1"
	timeout 120 "${cmd[@]}" -append "$2" </dev/null >"$tmp/$1.qemu" 2>&1
	rc=$?
}

# The guest's lines that say what it did, seed masked.
progress() {
	grep -E '^ext: (start|filled|round|done|corrupt)' "$@" | sed -E 's/seed=0x[0-9a-f]+/seed=S/'
}

case=boot
boot boot 'mb=8 rounds=3'
[ "$rc" = 1 ] || fail "exit status $rc, want 1 (guest status 0)"
want="ext: start mb=8 rounds=3 gap_ms=200
ext: filled pages=2048 seed=S
ext: round 1 ok pages=2048
ext: round 2 ok pages=2048
ext: round 3 ok pages=2048
ext: done"
got=$(progress "$tmp/boot.log" | sed -E 's/^(ext: start mb=8 rounds=3 gap_ms=200).*/\1/')
[ "$got" = "$want" ] || fail "lines differ from: $want"
grep -qE '^ext: filled pages=2048 seed=0x[0-9a-f]+$' "$tmp/boot.log" || fail "no seed"
[ "$(tail -n 1 "$tmp/boot.log")" = "ext: done" ] || fail "'ext: done' is not the last line"
[ "$failures" = 0 ] && echo "ok [boot]: $(grep -c '^ext: round' "$tmp/boot.log") rounds, exit 1 (status 0)"

case=corrupt
boot corrupt 'mb=8 rounds=3 corrupt=2'
[ "$rc" = 7 ] || fail "exit status $rc, want 7 (guest status 3)"
grep -q '^ext: round 1 ok pages=2048$' "$tmp/corrupt.log" || fail "round 1 not ok"
page=$(sed -nE 's/^ext: corrupt round=2 page=(0x[0-9a-f]+)$/\1/p' "$tmp/corrupt.log")
[ -n "$page" ] || fail "no corrupt line"
grep -qE "^ext: round 2 BAD page=$page got=0x[0-9a-f]+ want=0x[0-9a-f]+$" "$tmp/corrupt.log" ||
	fail "no BAD line for page $page"
grep -q '^ext: round 2 bad=1 pages=2048$' "$tmp/corrupt.log" || fail "bad count is not 1"
grep -qE '^ext: (round 2 ok|round 3|done)' "$tmp/corrupt.log" && fail "went on after a bad page"
[ "$failures" = 0 ] && echo "ok [corrupt]: $(grep BAD "$tmp/corrupt.log"), exit 7 (status 3)"

case=options
before=$failures
boot options 'mb=8 rounds=x'
[ "$rc" = 5 ] || fail "rounds=x: exit status $rc, want 5 (guest status 2)"
grep -q "^ext: bad option 'rounds=x'" "$tmp/options.log" || fail "rounds=x: no message"
boot options 'mb=4096'
[ "$rc" = 5 ] || fail "mb=4096: exit status $rc, want 5 (guest status 2)"
grep -qE '^ext: mb=4096 needs 1048576 pages, only [0-9]+ free' "$tmp/options.log" ||
	fail "mb=4096: no message"
[ "$failures" = "$before" ] && echo "ok [options]: bad option and mb= past RAM exit 5 (status 2)"

# Live migration to a file and a restore from it (QMP over a Unix socket).
case=migrate
before=$failures
rounds=200
# 64 MiB of RAM: QEMU's first pass over it is short, so the switch-over comes
# well before the guest's last round.
machine migrate.src 64
timeout 300 "${cmd[@]}" -qmp "unix:$tmp/qmp.sock,server=on,wait=off" \
	-append "mb=8 rounds=$rounds gap_ms=50" </dev/null >"$tmp/migrate.src.qemu" 2>&1 &
src=$!
for _ in $(seq 600); do
	grep -q '^ext: round 2 ok' "$tmp/migrate.src.log" 2>/dev/null && break
	kill -0 "$src" 2>/dev/null || break
	sleep 0.1
done
python3 - "$tmp/qmp.sock" "$tmp/migrate.state" >"$tmp/migrate.qmp" 2>&1 <<'PY'
import json, socket, sys, time

sock = socket.socket(socket.AF_UNIX)
sock.connect(sys.argv[1])
f = sock.makefile("rw")

def cmd(name, **args):
    f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
    f.flush()
    while True:
        reply = json.loads(f.readline())
        if "event" in reply:
            continue
        if "error" in reply:
            sys.exit(f"{name}: {reply['error']}")
        return reply["return"]

json.loads(f.readline())  # greeting
cmd("qmp_capabilities")
cmd("migrate-set-parameters", **{"max-bandwidth": 1 << 30})  # bytes/s
cmd("migrate", uri="exec:cat > " + sys.argv[2])
deadline = time.time() + 100
while time.time() < deadline:
    status = cmd("query-migrate").get("status")
    if status in ("completed", "failed", "cancelled"):
        break
    time.sleep(0.05)
print("migration", status, json.dumps(cmd("query-migrate")))
cmd("quit")
sys.exit(0 if status == "completed" else 1)
PY
qmp_rc=$?
wait "$src"
src_rc=$?
if [ "$qmp_rc" != 0 ]; then
	fail "migration did not complete (source exit $src_rc)"
else
	[ "$src_rc" = 0 ] || fail "source QEMU exit $src_rc, want 0 (quit after migrating)"
	machine migrate.dst 64
	timeout 120 "${cmd[@]}" -incoming "exec:cat $tmp/migrate.state" \
		-append "mb=8 rounds=$rounds gap_ms=50" </dev/null >"$tmp/migrate.dst.qemu" 2>&1
	rc=$?
	[ "$rc" = 1 ] || fail "restored guest: exit status $rc, want 1 (guest status 0)"
	grep -qE '^ext: (start|fill|filled)' "$tmp/migrate.dst.log" &&
		fail "restored guest booted or filled again"
	grep -q '^ext: round' "$tmp/migrate.dst.log" || fail "restored guest ran no round"
	# Every round exactly once, in order, across the two logs (a line may be
	# cut at the switch-over; concatenating the logs rejoins it).
	want=$(seq 1 "$rounds" | sed 's/.*/ext: round & ok pages=2048/')
	got=$(cat "$tmp/migrate.src.log" "$tmp/migrate.dst.log" | grep '^ext: round')
	[ "$got" = "$want" ] || fail "rounds are not 1..$rounds once each, in order"
	[ "$(cat "$tmp/migrate.src.log" "$tmp/migrate.dst.log" | grep -c '^ext: filled')" = 1 ] ||
		fail "not exactly one fill"
	[ "$(tail -n 1 "$tmp/migrate.dst.log")" = "ext: done" ] || fail "no 'ext: done' at the end"
	[ "$failures" = "$before" ] && echo "ok [migrate]: rounds 1..$(grep -c '^ext: round' \
		"$tmp/migrate.src.log") before the switch-over, the rest after the restore, exit 1 (status 0)"
fi

[ "$failures" = 0 ] || { echo "$failures case(s) failed"; exit 1; }
echo "all cases passed"
