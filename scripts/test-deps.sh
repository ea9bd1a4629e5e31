#!/usr/bin/env bash
# What only the tests need on top of scripts/prepare.sh: protoc, against which
# the reflection tests compare the agent's served descriptors
# (Debian's protobuf-compiler).
set -euo pipefail
if ! command -v protoc >/dev/null 2>&1; then
	echo "test-deps: installing protobuf-compiler"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends protobuf-compiler >/dev/null 2>&1 ||
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends protobuf-compiler >/dev/null; }
fi
# openssl: test/integration/security.test.ts makes its CA and certificates with it.
if ! command -v openssl >/dev/null 2>&1; then
	echo "test-deps: installing openssl"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends openssl >/dev/null 2>&1 ||
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends openssl >/dev/null; }
fi
# redis-server: test/integration/migrate.test.ts migrates a real redis holding data.
if ! command -v redis-server >/dev/null 2>&1; then
	echo "test-deps: installing redis-server"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends redis-server >/dev/null 2>&1 ||
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends redis-server >/dev/null; }
fi
