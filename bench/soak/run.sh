#!/usr/bin/env bash
# npm run soak -- --minutes N [--seed S] [--json FILE]: builds what the soak
# needs, then runs it (bench/soak/README.md). Like bench/run.sh: the native
# addon is built only when missing, so a soak never replaces the addon under
# a running test.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.."

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	echo "soak: installing npm dependencies (npm ci)"
	npm ci --no-audit --no-fund
fi
bash deploy/provision-criu.sh >/dev/null
if [ ! -f src/native/build/Release/seqpacket.node ]; then
	echo "soak: building the native addon"
	npm run --silent build:native
fi
npm run --silent build:ts
npx tsc -p bench/tsconfig.json

# A private mount namespace: the tmpfs the soak mounts for its state dir
# goes away with the soak, however it ends. Everything (agent, CRIU, trees)
# runs in it, as on a node. The subreaper reaps orphaned trees at once
# (PID 1 here reaps every 1-2 s) and is the root of what the soak checks
# for strays.
exec unshare --mount --propagation private -- \
	/usr/bin/python3 bench/subreaper.py node --enable-source-maps dist/bench/bench/soak/main.js "$@"
