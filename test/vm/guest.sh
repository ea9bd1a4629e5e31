#!/bin/bash
# guest.sh — the test VM's workload, run by /sbin/criu-vm-init (under tini, as
# PID 1's only child) from the payload disk mounted at /opt/criu-vm.
#
# Runs jest (test/vm/jest.config.json: test/vm/*.vm.test.ts and
# test/integration/agent.test.ts) against the agent in this guest, prints the
# measurements, and reports the result as QEMU's exit status through the
# isa-debug-exit port at 0xf4 (run.sh: 0 -> QEMU exits 1 = pass, 1 -> 3 = fail).
set -u
PAYLOAD=/opt/criu-vm
REPO=$PAYLOAD/repo
# Settings from run.sh.
# shellcheck source=/dev/null
[ -f "$PAYLOAD/vm.env" ] && . "$PAYLOAD/vm.env"
export PATH="$PAYLOAD/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export HOME=/root TERM=dumb CI=1 TMPDIR=/tmp
export CRIU_VM_REPORT=/tmp/criu-vm-report.txt

finish() {
  local code=$1 verdict=$2
  sync
  echo "criu-vm: RESULT $verdict"
  printf "\\$(printf '%03o' "$code")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
  sleep 10
  echo "criu-vm: the isa-debug-exit port did not stop QEMU"
  exit 1
}

say() { echo "criu-vm: $*"; }

say "guest up after $(cut -d' ' -f1 /proc/uptime) s: kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB"
ip link set lo up || finish 1 "FAIL (cannot bring lo up)"

THP_FILE=/sys/kernel/mm/transparent_hugepage/enabled
if [ -n "${CRIU_VM_THP:-}" ] && [ -w "$THP_FILE" ]; then
  echo "$CRIU_VM_THP" >"$THP_FILE" || finish 1 "FAIL (cannot set THP to $CRIU_VM_THP)"
fi
say "transparent hugepages: $(cat "$THP_FILE" 2>/dev/null || echo 'not available')"

for bin in criu node; do
  missing=$(ldd "$PAYLOAD/bin/$bin" 2>&1 | grep 'not found')
  [ -z "$missing" ] || finish 1 "FAIL ($bin lacks libraries in the guest: $missing)"
done
say "$(criu --version | head -n1), node $(node --version)"
if criu check --feature mem_dirty_track >/tmp/criu-check.txt 2>&1; then
  say "criu check --feature mem_dirty_track: $(tail -n1 /tmp/criu-check.txt)"
else
  cat /tmp/criu-check.txt
  finish 1 "FAIL (no soft-dirty memory tracking in the guest kernel)"
fi

cd "$REPO" || finish 1 "FAIL (no $REPO)"
jest_args=(--config test/vm/jest.config.json --runInBand --ci --verbose)
if [ -n "${CRIU_VM_SKIP:-}" ]; then
  say "skipping tests whose name matches: $CRIU_VM_SKIP"
  jest_args+=(--testNamePattern "^(?!.*(${CRIU_VM_SKIP}))")
fi
# shellcheck disable=SC2206
jest_args+=(${CRIU_VM_JEST_ARGS:-})
say "running jest ($(cut -d' ' -f1 /proc/uptime) s after boot)"
start=$(date +%s)
# Through a pipe: jest then sees no terminal and writes no cursor movements.
FORCE_COLOR=0 node node_modules/jest/bin/jest.js "${jest_args[@]}" 2>&1 | cat
rc=${PIPESTATUS[0]}
say "jest exited with $rc after $(($(date +%s) - start)) s"

echo "criu-vm: ---- measurements ----"
if [ -f "$CRIU_VM_REPORT" ]; then sed 's/^/criu-vm: /' "$CRIU_VM_REPORT"; else say "(none recorded)"; fi
echo "criu-vm: ----------------------"

if [ "$rc" -eq 0 ]; then finish 0 PASS; else finish 1 FAIL; fi
