#!/usr/bin/env bash
# test/vm/run.sh — `npm run test:vm`: PreDump for real, in a VM.
#
# This machine's kernel has no soft-dirty memory tracking, so CRIU cannot
# pre-dump here. This boots a Debian bookworm guest (stock 6.1 kernel, which
# has it) under QEMU, runs the built agent, this host's CRIU and node and the
# jest suite test/vm/jest.config.json inside it, and exits 0 only if the guest
# reports that the suite passed. See test/vm/README.md.
#
# Steps, each bounded, the whole run by CRIU_VM_TIMEOUT:
#   1. host packages (debootstrap, qemu-system-x86, ...) via apt-get
#   2. scripts/prepare.sh: npm ci if needed, CRIU (deploy/provision-criu.sh), build
#   3. the base image (test/vm/build-base.sh), cached in CRIU_VM_CACHE keyed on
#      the recipe's hash; rebuilt when missing, damaged or CRIU_VM_REBUILD=1
#   4. the payload disk: node, criu, the built agent, node_modules and the tests
#   5. QEMU: KVM when it boots the guest, TCG otherwise
#
# Environment (all optional):
#   CRIU_VM_TIMEOUT        hard limit for the whole run, s (default 1140)
#   CRIU_VM_CACHE          cache dir (default /var/cache/criu-agent/vm)
#   CRIU_VM_REBUILD=1      rebuild the base image even if cached
#   CRIU_VM_ACCEL          auto (default), kvm or tcg
#   CRIU_VM_MEM, CRIU_VM_SMP  guest RAM (default 6G) and CPUs (default: host's, at most 4)
#   CRIU_VM_THP            guest transparent_hugepage/enabled (default madvise;
#                          "always" is Debian's default and defeats pre-dumps)
#   CRIU_VM_JEST_ARGS      extra jest arguments in the guest (e.g. test/vm to run only those)
#   CRIU_VM_SKIP           regex of test names not to run in the guest (default: none),
#                          for host tests whose timing does not hold under emulation
#   CRIU_VM_SKIP_PREPARE=1 do not run scripts/prepare.sh (dist/ must be built)
set -euo pipefail

HERE="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PROG="test:vm"
LIMIT="${CRIU_VM_TIMEOUT:-1140}"

say() { printf '%s: %s\n' "$PROG" "$*"; }
die() {
  printf '%s: ERROR: %s\n' "$PROG" "$*" >&2
  exit 2
}

# ------------------------------------------------------------------ outer
# The real work runs under timeout(1), which signals its whole process group
# (QEMU included) when the limit passes, and SIGKILLs it 15 s later. A signal
# to this script is passed on to it. Steps run by the inner script under their
# own timeout(1) have process groups of their own: the inner script kills them
# when it exits, and lists them in PGFILE so that this one can kill them too
# should the inner script itself have been SIGKILLed.
if [[ "${1:-}" != "--inner" ]]; then
  [[ $EUID -eq 0 ]] || die "must run as root (apt-get, debootstrap, CRIU)"
  [[ "$LIMIT" =~ ^[0-9]+$ ]] || die "CRIU_VM_TIMEOUT must be a number of seconds, got '$LIMIT'"
  PGFILE="$(mktemp /tmp/criu-vm-pgids.XXXXXX)"
  CRIU_VM_PGFILE="$PGFILE" timeout --kill-after=15 "$LIMIT" bash "$0" --inner "$@" &
  tpid=$!
  trap 'kill -TERM "$tpid" 2>/dev/null || true' INT TERM HUP
  while :; do
    rc=0
    wait "$tpid" || rc=$?
    kill -0 "$tpid" 2>/dev/null || break
  done
  while read -r pg; do
    kill -KILL -- "-$pg" 2>/dev/null || true
  done <"$PGFILE"
  rm -f "$PGFILE"
  case $rc in
    124 | 137) say "FAILED: the run exceeded CRIU_VM_TIMEOUT=$LIMIT s and was stopped" >&2 ;;
  esac
  exit "$rc"
fi
shift
PGFILE="${CRIU_VM_PGFILE:?run test/vm/run.sh without --inner}"

# ------------------------------------------------------------------ inner
CACHE="${CRIU_VM_CACHE:-/var/cache/criu-agent/vm}"
SUITE=bookworm
MIRROR="http://deb.debian.org/debian"
ACCEL="${CRIU_VM_ACCEL:-auto}"
MEM="${CRIU_VM_MEM:-6G}"
SMP="${CRIU_VM_SMP:-$(($(nproc) > 4 ? 4 : $(nproc)))}"
THP="${CRIU_VM_THP:-madvise}"
SKIP="${CRIU_VM_SKIP:-}"
KVM_BOOT_TIMEOUT=60
TCG_BOOT_TIMEOUT=240

export DEBIAN_FRONTEND=noninteractive
mkdir -p /var/tmp
# Work dirs of runs that were SIGKILLed (named after their runner's pid).
for stale in /var/tmp/criu-vm.*; do
  [[ -d "$stale" ]] || continue
  owner="${stale#/var/tmp/criu-vm.}"
  owner="${owner%%.*}"
  [[ "$owner" =~ ^[0-9]+$ ]] && kill -0 "$owner" 2>/dev/null || rm -rf "$stale"
done
WORK="$(mktemp -d "/var/tmp/criu-vm.$$.XXXXXX")"
QEMU_PID=""
TAIL_PID=""
BUILD_DIR=""

stop_qemu() {
  if [[ -n "$QEMU_PID" ]] && kill -0 "$QEMU_PID" 2>/dev/null; then
    kill -TERM "$QEMU_PID" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$QEMU_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$QEMU_PID" 2>/dev/null || true
  fi
  [[ -z "$QEMU_PID" ]] || wait "$QEMU_PID" 2>/dev/null || true
  QEMU_PID=""
  if [[ -n "$TAIL_PID" ]]; then
    kill "$TAIL_PID" 2>/dev/null || true
    wait "$TAIL_PID" 2>/dev/null || true
    TAIL_PID=""
  fi
}

# Unmounts whatever debootstrap left mounted under DIR (it mounts /proc,
# /sys... in the target, and cannot unmount them when killed).
umount_under() {
  local dir="$1" m
  [[ -n "$dir" ]] || return 0
  awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}

# Process groups of the steps run under run_bounded that may still be running.
STEP_PGIDS=()
kill_steps() {
  local pg live=()
  for pg in "${STEP_PGIDS[@]}"; do
    kill -TERM -- "-$pg" 2>/dev/null && live+=("$pg")
    kill -TERM "$pg" 2>/dev/null || true
  done
  [[ ${#live[@]} -gt 0 ]] || return 0
  for _ in $(seq 30); do
    local any=0
    for pg in "${live[@]}"; do kill -0 -- "-$pg" 2>/dev/null && any=1; done
    [[ $any -eq 1 ]] || return 0
    sleep 0.1
  done
  for pg in "${live[@]}"; do kill -KILL -- "-$pg" 2>/dev/null || true; done
}

cleanup() {
  local rc=$?
  trap - EXIT
  trap '' TERM INT HUP
  stop_qemu
  kill_steps
  if [[ -n "$BUILD_DIR" ]]; then
    umount_under "$BUILD_DIR"
    rm -rf "$BUILD_DIR"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

# run_bounded SECONDS CMD...: CMD under timeout(1), which kills CMD's whole
# process group when the time is up; waited for in the background so that
# a signal to this script is handled at once. Returns CMD's status.
run_bounded() {
  local secs="$1" pid rc=0
  shift
  timeout --kill-after=10 "$secs" "$@" &
  pid=$!
  # timeout(1) leads its own process group: its pid is the group's id.
  STEP_PGIDS+=("$pid")
  echo "$pid" >>"$PGFILE"
  wait "$pid" || rc=$?
  return "$rc"
}

# bounded SECONDS WHAT CMD...: run_bounded, a failure fatal.
bounded() {
  local secs="$1" what="$2" rc=0
  shift 2
  run_bounded "$secs" "$@" || rc=$?
  [[ $rc -eq 0 ]] && return 0
  [[ $rc -eq 124 || $rc -eq 137 ]] && die "$what did not finish within $secs s"
  die "$what failed (exit $rc)"
}

declare -A TIMES=()
step_start=0
begin() {
  step_start=$SECONDS
  say "== $*"
}
end() { TIMES[$1]=$((SECONDS - step_start)); }

# ------------------------------------------------------------------ 1. host packages
begin "host packages"
HOST_PKGS=(debootstrap debian-archive-keyring qemu-system-x86 e2fsprogs wget)
missing=()
for p in "${HOST_PKGS[@]}"; do
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" == installed ]] || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  say "installing ${missing[*]}"
  bounded 300 "apt-get update" apt-get update -qq
  rc=0
  run_bounded 600 apt-get install -y -q --no-install-recommends "${missing[@]}" >"$WORK/apt.log" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then
    tail -n 30 "$WORK/apt.log" | sed 's/^/    /' >&2
    die "apt-get install ${missing[*]} failed (exit $rc)"
  fi
else
  say "already installed: ${HOST_PKGS[*]}"
fi
end host-packages

# ------------------------------------------------------------------ 2. agent build
begin "agent build (scripts/prepare.sh)"
if [[ "${CRIU_VM_SKIP_PREPARE:-}" == 1 ]]; then
  say "skipped (CRIU_VM_SKIP_PREPARE=1)"
else
  bounded 600 "scripts/prepare.sh" bash "$REPO/scripts/prepare.sh"
fi
[[ -f "$REPO/dist/cli.js" && -f "$REPO/src/native/build/Release/seqpacket.node" ]] || die "the agent is not built (dist/cli.js, seqpacket.node)"
CRIU_BIN=/usr/local/sbin/criu
[[ -x "$CRIU_BIN" ]] || CRIU_BIN="$(command -v criu || true)"
[[ -n "$CRIU_BIN" && -x "$CRIU_BIN" ]] || die "no criu binary (deploy/provision-criu.sh should have installed /usr/local/sbin/criu)"
CRIU_BIN="$(readlink -f "$CRIU_BIN")"
NODE_BIN="$(readlink -f "$(command -v node)")"
say "criu: $CRIU_BIN ($("$CRIU_BIN" --version | head -n1)), node: $NODE_BIN ($("$NODE_BIN" --version))"
end agent-build

# ------------------------------------------------------------------ 3. base image
begin "base image"
mkdir -p "$CACHE"
KEY="$( (
  cat "$HERE/build-base.sh"
  echo "suite=$SUITE mirror=$MIRROR"
) | sha256sum | cut -c1-16)"
BASE="$CACHE/base-$KEY"
base_ok() {
  [[ -f "$BASE/ok" && -s "$BASE/vmlinuz" && -s "$BASE/initrd.img" && -s "$BASE/rootfs.img" ]] &&
    e2fsck -fn "$BASE/rootfs.img" >/dev/null 2>&1
}
exec 9>"$CACHE/.lock"
bounded "$LIMIT" "waiting for another test:vm run's lock on $CACHE" flock 9
# Builds left behind by runs that were SIGKILLed (we hold the lock: none is running).
for stale in "$CACHE"/.build-*; do
  [[ -d "$stale" ]] || continue
  umount_under "$stale"
  rm -rf "$stale"
done
if [[ "${CRIU_VM_REBUILD:-}" != 1 ]] && base_ok; then
  say "cached: $BASE"
  BASE_SOURCE=cached
else
  [[ -d "$BASE" ]] && say "discarding $BASE (incomplete, damaged or CRIU_VM_REBUILD=1)"
  rm -rf "$BASE"
  BUILD_DIR="$CACHE/.build-$KEY-$$"
  rm -rf "$BUILD_DIR"
  SUITE="$SUITE" MIRROR="$MIRROR" bounded 900 "building the base image" bash "$HERE/build-base.sh" "$BUILD_DIR" "$CACHE/debs"
  touch "$BUILD_DIR/ok"
  mv "$BUILD_DIR" "$BASE"
  BUILD_DIR=""
  # Older images (other keys) and debs no longer referenced are dead weight.
  find "$CACHE" -mindepth 1 -maxdepth 1 -name 'base-*' ! -name "base-$KEY" -exec rm -rf {} +
  find "$CACHE/debs" -name '*.deb' -mtime +30 -delete 2>/dev/null || true
  BASE_SOURCE=built
fi
flock -u 9
say "guest kernel: $(grep -o '^linux-image-[0-9][^ ]* [^ ]*' "$BASE/packages.txt" | head -n1)"
end base-image

# ------------------------------------------------------------------ 4. payload disk
begin "payload disk"
P="$WORK/payload"
mkdir -p "$P/bin" "$P/repo/test/integration"
cp "$NODE_BIN" "$P/bin/node"
cp "$CRIU_BIN" "$P/bin/criu"
(
  cd "$REPO"
  cp -a package.json tsconfig.json dist proto src node_modules "$P/repo/"
  cp -a test/helpers test/fixtures test/vm "$P/repo/test/"
  cp -a test/integration/agent.test.ts "$P/repo/test/integration/"
)
printf 'CRIU_VM_THP=%q\nCRIU_VM_JEST_ARGS=%q\nCRIU_VM_SKIP=%q\n' "$THP" "${CRIU_VM_JEST_ARGS:-}" "$SKIP" >"$P/vm.env"
mib=$(($(du -sm "$P" | cut -f1) * 5 / 4 + 64))
mkfs.ext4 -q -F -L criu-vm-payload -d "$P" "$WORK/payload.img" "${mib}M" >/dev/null
rm -rf "$P"
say "payload: ${mib} MiB"
end payload

# ------------------------------------------------------------------ 5. QEMU
kvm_usable() {
  [[ -c /dev/kvm ]] && (: <>/dev/kvm) 2>/dev/null
}

LOG="$WORK/console.log"
# boot ACCEL: starts QEMU in the background, its console in $LOG (and shown).
boot() {
  local accel="$1" cpu=max
  [[ "$accel" == kvm ]] && cpu=host
  [[ "$accel" == tcg ]] && accel="tcg,thread=multi"
  : >"$LOG"
  TMPDIR="$WORK" qemu-system-x86_64 \
    -name criu-vm -machine pc -accel "$accel" -cpu "$cpu" -m "$MEM" -smp "$SMP" \
    -nodefaults -no-user-config -display none -no-reboot \
    -chardev stdio,id=con,signal=off -serial chardev:con \
    -kernel "$BASE/vmlinuz" -initrd "$BASE/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 init=/sbin/criu-vm-init panic=-1 quiet loglevel=4" \
    -drive "file=$BASE/rootfs.img,format=raw,if=virtio,snapshot=on" \
    -drive "file=$WORK/payload.img,format=raw,if=virtio" \
    -device virtio-rng-pci \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    </dev/null >"$LOG" 2>&1 &
  QEMU_PID=$!
  tail -n +1 -f --pid="$QEMU_PID" "$LOG" &
  TAIL_PID=$!
}

# watch_guest BOOT_TIMEOUT RUN_TIMEOUT: waits for QEMU; returns its exit status, or
# 200 when the guest's init did not start in time, 201 when the run timed out.
watch_guest() {
  local boot_timeout="$1" run_timeout="$2" started=$SECONDS rc=0
  while kill -0 "$QEMU_PID" 2>/dev/null; do
    if ! grep -q 'criu-vm: init started' "$LOG" && ((SECONDS - started > boot_timeout)); then
      stop_qemu
      return 200
    fi
    if ((SECONDS - started > run_timeout)); then
      stop_qemu
      return 201
    fi
    sleep 1
  done
  wait "$QEMU_PID" 2>/dev/null || rc=$?
  QEMU_PID=""
  wait "$TAIL_PID" 2>/dev/null || true
  TAIL_PID=""
  return "$rc"
}

case "$ACCEL" in
  auto) if kvm_usable; then accels=(kvm tcg); else accels=(tcg); fi ;;
  kvm | tcg) accels=("$ACCEL") ;;
  *) die "CRIU_VM_ACCEL must be auto, kvm or tcg, got '$ACCEL'" ;;
esac

qrc=0
for accel in "${accels[@]}"; do
  begin "guest ($accel, $SMP CPUs, $MEM RAM; THP $THP)"
  # Whatever time is left, keeping 20 s to clean up before the hard limit.
  run_timeout=$((LIMIT - SECONDS - 20))
  ((run_timeout > 60)) || die "no time left for the guest (CRIU_VM_TIMEOUT=$LIMIT)"
  boot_timeout=$TCG_BOOT_TIMEOUT
  [[ "$accel" == kvm ]] && boot_timeout=$KVM_BOOT_TIMEOUT
  boot "$accel"
  qrc=0
  watch_guest "$boot_timeout" "$run_timeout" || qrc=$?
  end guest
  if [[ "$accel" == kvm ]] && ! grep -q 'criu-vm: init started' "$LOG"; then
    say "the guest did not boot under KVM (QEMU status $qrc): falling back to TCG"
    continue
  fi
  break
done
USED_ACCEL="$accel"

cp "$LOG" "$CACHE/last-console.log" 2>/dev/null || true
say "timings (s): host packages ${TIMES[host-packages]}, build ${TIMES[agent-build]}, base image ${TIMES[base-image]} ($BASE_SOURCE)," \
  "payload ${TIMES[payload]}, guest ${TIMES[guest]} ($USED_ACCEL); total $SECONDS"
say "guest console log: $CACHE/last-console.log"

if [[ $qrc -eq 1 ]] && grep -q 'criu-vm: RESULT PASS' "$LOG"; then
  say "PASSED"
  exit 0
fi
case $qrc in
  3) say "FAILED: the guest suite failed (see above)" >&2 ;;
  200) say "FAILED: the guest did not start its init within $boot_timeout s" >&2 ;;
  201) say "FAILED: the guest did not finish within $run_timeout s" >&2 ;;
  *) say "FAILED: the guest stopped without reporting a result (QEMU exit status $qrc: crash, kernel panic or QEMU error)" >&2 ;;
esac
exit 1
