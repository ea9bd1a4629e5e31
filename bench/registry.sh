#!/usr/bin/env bash
# bash bench/registry.sh [--mib N] [--runs N]: PushCheckpoint/PullCheckpoint
# throughput against a local docker-registry next to tar|curl (bench/registry.ts).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
bash scripts/test-deps.sh
npm run --silent build:ts
npx tsc -p bench/tsconfig.json
exec node --enable-source-maps dist/bench/bench/registry.js "$@"
