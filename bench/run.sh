#!/usr/bin/env bash
# npm run bench [-- OPTIONS]: builds what the bench needs, then runs it
# (bench/README.md); BENCH_ENTRY=migrate runs bench/migrate.ts instead of
# bench/main.ts (npm run bench:migrate). Like scripts/prepare.sh, but the native addon is built
# only when it is missing, so a bench never replaces the addon under a
# running test.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

# As scripts/prepare.sh: npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	echo "bench: installing npm dependencies (npm ci)"
	npm ci --no-audit --no-fund
fi
bash deploy/provision-criu.sh >/dev/null
if [ ! -f src/native/build/Release/seqpacket.node ]; then
	echo "bench: building the native addon"
	npm run --silent build:native
fi
npm run --silent build:ts
npx tsc -p bench/tsconfig.json

run=(node --enable-source-maps "dist/bench/bench/${BENCH_ENTRY:-main}.js" "$@")
# Orphaned zombies are reaped at once by a subreaper instead of by PID 1.
run=(/usr/bin/python3 bench/subreaper.py "${run[@]}")
for arg in "$@"; do
	if [ "$arg" = "--tmpfs-run" ]; then
		# CRIU caches what it probes of the kernel in /run/criu.kdat, but only on
		# a tmpfs. Where /run is not one, this shows what the cache would save:
		# everything (agents, CRIU, workloads) runs in a private mount namespace
		# with a fresh tmpfs on /run.
		exec unshare --mount --propagation private -- /bin/sh -c 'mount -t tmpfs -o mode=0755 tmpfs /run && exec "$@"' sh "${run[@]}"
	fi
done
exec "${run[@]}"
