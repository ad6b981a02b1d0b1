#!/usr/bin/env bash
# Records a golden recording of the golden program (src/golden.c) with the vmrs
# whose repository is VMRS_ROOT (default: this one), into NAME.vmrs, with what
# the recording printed in NAME.out and its exit status and format version in
# NAME.json. See README.md for how the checked-in files were made.
#   usage: test/golden/record.sh NAME [VMRS_ROOT]
set -euo pipefail
NAME=${1:?usage: record.sh NAME [VMRS_ROOT]}
HERE=$(cd "$(dirname "$0")" && pwd)
VMRS_ROOT=$(cd "${2:-$HERE/../..}" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$HERE/src/build.sh" "$WORK/golden.elf"
# Two console lines as two input events: the second typed once the program has
# answered the first, after it has waited (idle) for a while.
mkfifo "$WORK/in"
node "$VMRS_ROOT/bin/vmrs" record -q --embed -o "$HERE/$NAME.vmrs" \
  --bios none --kernel "$WORK/golden.elf" --rng -m 16M < "$WORK/in" > "$HERE/$NAME.out" &
pid=$!
exec 3> "$WORK/in"
wait_for() { until grep -q "$1" "$HERE/$NAME.out"; do sleep 0.1; done; }
wait_for 'entropy:'
printf 'first line\n' >&3
wait_for 'line 0:'
sleep 0.5
printf 'second\n' >&3
exec 3>&-
set +e
wait "$pid"
status=$?
set -e
version=$(node "$VMRS_ROOT/bin/vmrs" inspect --json "$HERE/$NAME.vmrs" |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).formatVersion))')
printf '{ "status": %d, "formatVersion": %d }\n' "$status" "$version" > "$HERE/$NAME.json"
echo "$NAME.vmrs: format $version, exit status $status, $(wc -c < "$HERE/$NAME.vmrs") bytes"
