#!/usr/bin/env bash
# Builds every ISA test program in test/isa/src into OUTDIR (one ELF each).
set -euo pipefail
OUT=${1:?usage: build.sh OUTDIR}
SRC=$(cd "$(dirname "$0")/src" && pwd)
CC=${CC:-riscv64-linux-gnu-gcc}
mkdir -p "$OUT"
for s in "$SRC"/*.S; do
  name=$(basename "$s" .S)
  "$CC" -march=rv64gc -mabi=lp64d -static -mcmodel=medany -fno-PIE -no-pie -nostdlib -nostartfiles \
    -I"$SRC" -T "$SRC/link.ld" -o "$OUT/$name.elf" "$s"
done
