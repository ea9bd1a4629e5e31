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
# jq: test/integration/tutorial.test.ts runs docs/tutorial.md as printed, which pipes --json into jq.
if ! command -v jq >/dev/null 2>&1; then
	echo "test-deps: installing jq"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends jq >/dev/null 2>&1 ||
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends jq >/dev/null; }
fi
# docker-registry (distribution 2.8) and htpasswd: test/helpers/registry.ts runs
# its own registries on free loopback ports. Debian enables the package's
# service on :5000; the tests never use it, so it is disabled and stopped.
if ! command -v docker-registry >/dev/null 2>&1 || ! command -v htpasswd >/dev/null 2>&1; then
	echo "test-deps: installing docker-registry and apache2-utils"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends docker-registry apache2-utils >/dev/null 2>&1 ||
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends docker-registry apache2-utils >/dev/null; }
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now docker-registry >/dev/null 2>&1 || true
	fi
fi
# redis-server: test/integration/migrate.test.ts migrates a real redis holding data.
if ! command -v redis-server >/dev/null 2>&1; then
	echo "test-deps: installing redis-server"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends redis-server >/dev/null 2>&1 ||
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends redis-server >/dev/null; }
fi
