#!/usr/bin/env bash
# Builds gpu-bundle/: what `npm run test:gpu` needs on a GPU machine that has
# no registry access and may lack Node.js, within the 64 MiB a device call
# carries: one xz tarball (this machine's node binary, the production
# node_modules, dist/, the native addon, the compiled GPU test and CRIU with
# the shared libraries it links beyond glibc) and run-gpu-tests.sh, which
# unpacks it under /tmp and runs the GPU tests, writing results to $OUT.
# Usage: bash scripts/gpu-bundle.sh [outdir]   (default: gpu-bundle/)
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
root=$PWD
out=$(readlink -f "${1:-gpu-bundle}")
criu=${CRIU:-/usr/local/sbin/criu}
node_bin=$(readlink -f "$(command -v node)")
limit=$((64 * 1024 * 1024))

npm run --silent build
npm run --silent build:gpu-test

stage=$(mktemp -d /tmp/gpu-bundle-stage.XXXXXX)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/criu-agent
mkdir -p "$pkg/bin" "$pkg/lib" "$pkg/src/native/build/Release" "$pkg/test/gpu"

cp package.json package-lock.json "$pkg/"
cp -r proto dist "$pkg/"
mkdir -p "$pkg/build" && cp -r build/gpu-test "$pkg/build/"
cp src/native/build/Release/seqpacket.node "$pkg/src/native/build/Release/"
cp test/gpu/target.py "$pkg/test/gpu/"
cp "$node_bin" "$pkg/bin/node"

# Production dependencies only, pruned from a copy of node_modules (offline).
cp -r node_modules "$pkg/node_modules"
(cd "$pkg" && npm prune --omit=dev --no-audit --no-fund --offline >/dev/null)

# CRIU and the libraries it links that a stock system may lack; glibc's own
# libraries stay the host's (a newer glibc runs binaries built for an older).
cp "$criu" "$pkg/bin/criu.bin"
ldd "$criu" | awk '/=> \// { print $3 }' | while read -r lib; do
	case "$(basename "$lib")" in
	libc.so.* | libm.so.* | libdl.so.* | libpthread.so.* | librt.so.* | libresolv.so.* | ld-linux*) ;;
	*) cp -L "$lib" "$pkg/lib/" ;;
	esac
done
# The library path is set for CRIU alone: PyTorch targets and node keep the host's libraries.
cat >"$pkg/bin/criu" <<'WRAP'
#!/bin/sh
here=$(cd "$(dirname "$0")" && pwd)
LD_LIBRARY_PATH="$here/../lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/criu.bin" "$@"
WRAP
chmod +x "$pkg/bin/criu"

rm -rf "$out" && mkdir -p "$out"
tar -C "$stage" -cf - criu-agent | xz -T0 -6 >"$out/criu-agent-gpu.tar.xz"
cp test/gpu/run-gpu-tests.sh "$out/"
chmod +x "$out/run-gpu-tests.sh"
size=$(du -cb "$out"/* | tail -1 | cut -f1)
echo "gpu-bundle: $out ($((size / 1024 / 1024)) MiB of the 64 MiB a device call carries)"
if [ "$size" -gt "$limit" ]; then
	echo "gpu-bundle: too big" >&2
	exit 1
fi
