#!/usr/bin/env bash
# Builds the native addon (src/native -> src/native/build/Release/seqpacket.node)
# only when it is missing or its inputs changed: its sources, node-addon-api,
# and the Node ABI it is built for. `npm start` and `npm test` run this on
# every start; a full `node-gyp rebuild` takes about 8 s and is needed only
# after such a change (`npm run build:native` forces one).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

addon=src/native/build/Release/seqpacket.node
stamp=src/native/build/inputs.sha256
inputs=$(
	{
		cat src/native/binding.gyp src/native/*.cc
		node -p 'process.version + " abi " + process.versions.modules + " napi " + process.versions.napi'
		node -p 'require("node-addon-api/package.json").version'
	} | sha256sum | cut -d' ' -f1
)
if [ -f "$addon" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ]; then
	echo "build-native: $addon is up to date"
	exit 0
fi
echo "build-native: building $addon"
npm run --silent build:native
echo "$inputs" >"$stamp"
