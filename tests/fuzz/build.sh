#!/bin/sh
# Build one libFuzzer target with clang (the project's compiler is gcc):
# each source compiled on its own with a depfile, then linked; the depfiles
# are merged into one for ninja.
# Usage: build.sh CLANG OUT DEPFILE CLANG-ARGS... -- SOURCES...
set -eu
clang=$1 out=$2 depfile=$3
shift 3
args=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
	args="$args $1"
	shift
done
[ $# -gt 0 ] || { echo "build.sh: no -- before the sources" >&2; exit 2; }
shift
objs=$out.objs
rm -rf "$objs"
mkdir -p "$objs"
i=0
for src in "$@"; do
	i=$((i + 1))
	obj=$objs/$i-$(basename "$src" .c).o
	# shellcheck disable=SC2086  # args are words on purpose
	"$clang" $args -c "$src" -o "$obj" -MD -MF "$obj.d" -MT "$out"
done
# shellcheck disable=SC2086
"$clang" $args "$objs"/*.o -o "$out"
# One rule: "OUT: every header of every source".
{
	printf '%s:' "$out"
	sed -e 's/^[^:]*://' -e 's/\\$//' "$objs"/*.o.d | tr '\n' ' '
	echo
} >"$depfile"
