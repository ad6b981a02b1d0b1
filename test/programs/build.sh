#!/usr/bin/env bash
# Builds the bare-metal test programs in test/programs (one ELF each, M-mode at 0x80000000) into OUTDIR.
set -euo pipefail
OUT=${1:?usage: build.sh OUTDIR}
SRC=$(cd "$(dirname "$0")" && pwd)
CC=${CC:-riscv64-linux-gnu-gcc}
mkdir -p "$OUT"
for s in "$SRC"/*.c; do
  name=$(basename "$s" .c)
  "$CC" -march=rv64gc -mabi=lp64d -mcmodel=medany -O2 -ffreestanding -fno-PIE -no-pie \
    -nostdlib -nostartfiles -static -T "$SRC/../isa/src/link.ld" -o "$OUT/$name.elf" "$s"
done
