#!/bin/sh
# Runs test:gpu from the bundle scripts/gpu-bundle.sh built, on a machine
# that may have no Node.js and no registry: unpacks it under /tmp, runs the
# GPU tests with the bundled node and CRIU, and writes the TAP output,
# results.json and the agent's logs under $OUT (default ./gpu-out).
# Exit status: the tests'. Without an NVIDIA driver they fail, saying
# "no NVIDIA driver (libcuda.so.1 not found)".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
work=$(mktemp -d /tmp/criu-agent-gpu.XXXXXX)
xz -dc "$here/criu-agent-gpu.tar.xz" | tar -C "$work" -xf -
app=$work/criu-agent
export CRIU_AGENT_CRIU_PATH="$app/bin/criu"
export GPU_TEST_OUT="$OUT"
export PATH="$app/bin:$PATH"
cd "$app"
{
	echo "node $("$app/bin/node" --version), $("$app/bin/criu" --version | head -1), kernel $(uname -r)"
	nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || true
} | tee "$OUT/environment.txt"
status=0
"$app/bin/node" --test --test-concurrency=1 --test-reporter=tap build/gpu-test/test/gpu/gpu.test.js >"$OUT/test-gpu.tap" 2>&1 || status=$?
tail -n 60 "$OUT/test-gpu.tap"
echo "test:gpu exit status $status (full output in $OUT/test-gpu.tap)"
# GPU_BENCH=1: then the per-phase bench (bench/gpu.ts; GPU_BENCH_GIB sizes, default 1,8,32).
if [ "${GPU_BENCH:-0}" = 1 ]; then
	"$app/bin/node" build/gpu-test/bench/gpu.js 2>&1 | tee "$OUT/bench-gpu.txt" || status=$?
fi
rm -rf "$work"
exit "$status"
