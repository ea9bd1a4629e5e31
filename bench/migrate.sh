#!/usr/bin/env bash
# npm run bench:migrate [-- --sizes 64,512[,2048] --runs N]: Migrate stop-and-copy
# against criu dump + copy + criu restore (bench/migrate.ts); writes
# bench/results/migrate.{json,md}.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
bash deploy/provision-criu.sh >/dev/null
npm run --silent build:ts
npx tsc -p bench/tsconfig.json
# Orphaned zombies are reaped at once by a subreaper instead of by PID 1.
exec /usr/bin/python3 bench/subreaper.py node --enable-source-maps dist/bench/bench/migrate.js "$@"
