#!/usr/bin/env bash
# Builds the golden program (test/golden/src/golden.c) into OUT.elf.
set -euo pipefail
OUT=${1:?usage: build.sh OUT.elf}
SRC=$(cd "$(dirname "$0")" && pwd)
CC=${CC:-riscv64-linux-gnu-gcc}
"$CC" -march=rv64gc -mabi=lp64d -mcmodel=medany -O2 -Wall -Werror -ffreestanding -fno-builtin \
  -fno-PIE -no-pie -static -nostdlib -nostartfiles -Wl,--build-id=none,--no-warn-rwx-segments,-z,max-page-size=16 -T "$SRC/link.ld" \
  -o "$OUT" "$SRC/golden.c"
