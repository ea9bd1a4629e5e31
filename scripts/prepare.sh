#!/usr/bin/env bash
# Everything `npm start` and `npm test` need on a fresh machine: the npm
# dependencies (when node_modules is missing), a working CRIU
# (deploy/provision-criu.sh) and the built agent (native addon + TypeScript).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

# npm ci when node_modules is missing or older than the lock file (npm keeps
# its own copy of the lock in node_modules/.package-lock.json).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	echo "prepare: installing npm dependencies (npm ci)"
	npm ci --no-audit --no-fund
fi
bash deploy/provision-criu.sh
# The addon only when its inputs changed (scripts/build-native.sh); the TypeScript always (a few seconds).
bash scripts/build-native.sh
npm run --silent build:ts
