#!/usr/bin/env bash
# Builds the vmrs default guest into OUTDIR:
#   OUTDIR/Image               Linux 6.1 (Debian's linux-source-6.1), RISC-V boot image
#   OUTDIR/vmlinux             the same kernel with symbols, for debuggers
#   OUTDIR/initramfs.cpio.gz   static busybox (Debian's busybox source) with /init
# Progress goes to stdout as "[vmrs] guest: ..." lines; full logs to OUTDIR/logs/.
set -euo pipefail
OUT=${1:?usage: build.sh OUTDIR}
RECIPE=$(cd "$(dirname "$0")" && pwd)
JOBS=$(nproc 2>/dev/null || echo 2)
CROSS=riscv64-linux-gnu-
mkdir -p "$OUT/logs" "$OUT/work"
# Reproducible output: the same recipe gives the same bytes on any machine
# (recordings will carry image digests).
export SOURCE_DATE_EPOCH=1704067200 KCONFIG_NOTIMESTAMP=1
export KBUILD_BUILD_TIMESTAMP='2024-01-01' KBUILD_BUILD_USER=vmrs KBUILD_BUILD_HOST=vmrs
OUT=$(cd "$OUT" && pwd)
WORK="$OUT/work"

say() { echo "[vmrs] guest: $*"; }
run_logged() { # run_logged LOGNAME command...
  local log="$OUT/logs/$1.log"; shift
  if ! "$@" >"$log" 2>&1; then
    echo "[vmrs] guest: step failed; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
}

# --- prerequisites
missing=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_cmd ${CROSS}gcc gcc-riscv64-linux-gnu
need_cmd make make
need_cmd bc bc
need_cmd flex flex
need_cmd bison bison
need_cmd cpio cpio
need_cmd xz xz-utils
need_cmd dpkg-source dpkg-dev
need_cmd apt-get apt
[ -f /usr/src/linux-source-6.1.tar.xz ] || missing+=(linux-source-6.1)
[ -f /usr/riscv64-linux-gnu/lib/libc.a ] || missing+=(libc6-dev-riscv64-cross)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[vmrs] guest: missing build tools; install them with:" >&2
  echo "  sudo apt-get install ${missing[*]}" >&2
  exit 1
fi

# --- 1. kernel
if [ ! -f "$WORK/kernel.done" ]; then
  say "unpacking linux-source-6.1 (1/4)"
  rm -rf "$WORK/linux"
  mkdir -p "$WORK/linux"
  tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$WORK/linux" --strip-components=1
  say "configuring and building the kernel (2/4, about 2-3 minutes)"
  K="make -C $WORK/linux ARCH=riscv CROSS_COMPILE=$CROSS"
  run_logged kernel-config bash -c "$K tinyconfig && cd $WORK/linux && ./scripts/kconfig/merge_config.sh -m .config $RECIPE/kernel.config && $K olddefconfig"
  # Every option of the fragment must have survived olddefconfig.
  dropped=$(grep -E '^CONFIG_[A-Z0-9_]+=y' "$RECIPE/kernel.config" | while read -r l; do grep -qx "$l" "$WORK/linux/.config" || echo "${l%%=*}"; done)
  if [ -n "$dropped" ]; then
    echo "[vmrs] guest: kernel options dropped by Kconfig: $dropped" >&2
    exit 1
  fi
  run_logged kernel-build $K -j"$JOBS" Image vmlinux
  touch "$WORK/kernel.done"
fi

# --- 2. busybox
if [ ! -f "$WORK/busybox.done" ]; then
  say "fetching busybox source from Debian (3/4)"
  APT="$WORK/apt"
  mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$WORK/bbsrc"
  echo "deb-src http://deb.debian.org/debian bookworm main" > "$APT/sources.list"
  APTO=(-o Dir::Etc::SourceList="$APT/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::State::Lists="$APT/lists" -o Dir::Cache="$APT/cache" -o APT::Sandbox::User=root)
  run_logged busybox-fetch bash -c "apt-get ${APTO[*]} update && cd $WORK/bbsrc && apt-get ${APTO[*]} source --download-only busybox"
  rm -rf "$WORK/busybox"
  run_logged busybox-unpack bash -c "cd $WORK/bbsrc && dpkg-source -x busybox_*.dsc $WORK/busybox"
  say "building busybox (about 1-2 minutes)"
  B="make -C $WORK/busybox CROSS_COMPILE=$CROSS"
  run_logged busybox-config $B defconfig
  while read -r line; do
    case "$line" in
      "# CONFIG_"*" is not set") n=${line#"# "}; n=${n%% *}; sed -i "s/^$n=.*/# $n is not set/" "$WORK/busybox/.config" ;;
      CONFIG_*=*) n=${line%%=*}; sed -i "s/^# $n is not set/$line/; s/^$n=.*/$line/" "$WORK/busybox/.config" ;;
    esac
  done < <(grep -v '^#\s*[A-Z][a-z]' "$RECIPE/busybox.config-changes" | grep -v '^$')
  run_logged busybox-oldconfig bash -c "yes '' | $B oldconfig"
  run_logged busybox-build $B -j"$JOBS" busybox
  touch "$WORK/busybox.done"
fi

# --- 3. initramfs
say "assembling the initramfs (4/4)"
ROOT="$WORK/rootfs"
rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,mnt,root}
cp "$WORK/busybox/busybox" "$ROOT/bin/busybox"
run_logged busybox-install make -C "$WORK/busybox" CROSS_COMPILE=$CROSS CONFIG_PREFIX="$ROOT" install
rm -f "$ROOT/linuxrc"
cp "$RECIPE/init" "$ROOT/init"
cp "$RECIPE/udhcpc.script" "$ROOT/etc/udhcpc.script"
chmod 755 "$ROOT/init" "$ROOT/etc/udhcpc.script"
echo 'root:x:0:0:root:/root:/bin/sh' > "$ROOT/etc/passwd"
echo 'root:x:0:' > "$ROOT/etc/group"
# gen_init_cpio takes regular files' mtimes from the disk: pin them too.
find "$ROOT" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
chmod -R u=rwX,go=rX "$ROOT"
printf 'nod /dev/console 600 0 0 c 5 1\nnod /dev/null 666 0 0 c 1 3\n' > "$WORK/devnodes.list"
run_logged initramfs bash -c "cd $WORK/linux && ./usr/gen_initramfs.sh -u squash -g squash -o $WORK/initramfs.cpio $ROOT $WORK/devnodes.list"
gzip -9n < "$WORK/initramfs.cpio" > "$OUT/initramfs.cpio.gz.tmp"

cp "$WORK/linux/arch/riscv/boot/Image" "$OUT/Image.tmp"
cp "$WORK/linux/vmlinux" "$OUT/vmlinux.tmp"
mv "$OUT/Image.tmp" "$OUT/Image"
mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"
mv "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"
say "done: $OUT"
