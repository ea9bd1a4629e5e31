#!/usr/bin/env bash
# provision-criu.sh — make sure a working CRIU (>= 4.2) is installed.
#
# Debian 12's criu 3.17.1 does not work on current kernels, and CRIU 4.1.x
# cannot dump TCP sockets on kernels >= 6.16, so we build CRIU from Debian
# unstable's source package (orig tarball, pinned by sha256) against
# bookworm's libraries and install the binary as /usr/local/sbin/criu.
#
# Idempotent and fast when CRIU is already good: if a `criu` on PATH or at
# /usr/local/sbin/criu reports version >= 4.2 and `criu check` passes, nothing
# is done.  Runs before every test run (npm's pretest).
#
# Usage: deploy/provision-criu.sh [--force]
#   --force   rebuild and reinstall even if a usable CRIU is already present
#
# Environment:
#   CRIU_AGENT_CRIU_VERSION      upstream version to build (default 4.2.1)
#   CRIU_AGENT_BUILD_DIR         download/build directory
#                                (default /var/cache/criu-agent/criu-build)
#   CRIU_AGENT_CRIU_DEBREV       Debian revision of the source package (default 1)
#   CRIU_AGENT_CRIU_SHA256       sha256 of the orig tarball; required when
#                                CRIU_AGENT_CRIU_VERSION is not the default
#   CRIU_AGENT_CRIU_MIN_VERSION  minimum acceptable installed version (default 4.2)
set -euo pipefail

readonly PROG="provision-criu"
readonly DEFAULT_VERSION="4.2.1"
readonly DEFAULT_SHA256="29ec0ee09e296479fe7048c80980e8ef1d0684d0b0204c2b101dfea19f6725b9"

CRIU_VERSION="${CRIU_AGENT_CRIU_VERSION:-$DEFAULT_VERSION}"
BUILD_DIR="${CRIU_AGENT_BUILD_DIR:-/var/cache/criu-agent/criu-build}"
DEBREV="${CRIU_AGENT_CRIU_DEBREV:-1}"
MIN_VERSION="${CRIU_AGENT_CRIU_MIN_VERSION:-4.2}"
INSTALL_PATH="/usr/local/sbin/criu"
SRC_LIST="/etc/apt/sources.list.d/criu-agent-unstable-src.sources"
MAKE_JOBS=2

# Packages needed for `make criu` (all from bookworm).
#  Required by the build: compiler, pkg-config, protoc + protoc-gen-c and the
#  protobuf(-c) headers (images/*.proto, google/protobuf/descriptor.proto),
#  libnl-3, libnet, libcap headers, libuuid.
#  Optional features CRIU detects at build time and that we want: libbsd
#  (setproctitle), gnutls (TLS page server), libnftables (nftables network
#  locking).
#  Not needed for `make criu`: python3-protobuf (crit only), libaio-dev
#  (CRIU's own zdtm tests only), libdrm-dev (amdgpu plugin).
BUILD_DEPS=(
  build-essential
  pkg-config
  protobuf-compiler
  protobuf-c-compiler
  libprotobuf-dev
  libprotobuf-c-dev
  libnl-3-dev
  libnet1-dev
  libcap-dev
  uuid-dev
  libbsd-dev
  libgnutls28-dev
  libnftables-dev
)
# Needed at run time: CRIU locks the network with iptables for
# tcp_established; iproute2 for network namespace handling.
RUNTIME_DEPS=(
  iptables
  iproute2
)

export DEBIAN_FRONTEND=noninteractive

say() { printf '%s: %s\n' "$PROG" "$*"; }
die() {
  printf '%s: ERROR: %s\n' "$PROG" "$*" >&2
  exit 1
}

FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h | --help)
      sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument: $arg (usage: $0 [--force])" ;;
  esac
done

# version_ge A B: true if version A >= version B.
version_ge() {
  [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]
}

# criu_version BIN: print the "Version:" field of `BIN --version`.
criu_version() {
  "$1" --version 2>/dev/null | sed -n 's/^Version:[[:space:]]*//p' | head -n1
}

# usable_criu BIN: true if BIN is executable, >= MIN_VERSION and `check` passes.
usable_criu() {
  local bin="$1" ver
  [[ -x "$bin" ]] || return 1
  ver="$(criu_version "$bin" || true)"
  if [[ -z "$ver" ]]; then
    say "$bin: cannot determine version"
    return 1
  fi
  if ! version_ge "$ver" "$MIN_VERSION"; then
    say "$bin: version $ver is older than $MIN_VERSION"
    return 1
  fi
  if ! "$bin" check >/dev/null 2>&1; then
    say "$bin: version $ver but 'criu check' fails"
    return 1
  fi
  return 0
}

# find_usable_criu: print the first usable criu, trying the one PATH resolves
# first, then /usr/local/sbin/criu.  Diagnostics go to stderr.
find_usable_criu() {
  local cand seen=""
  for cand in "$(command -v criu 2>/dev/null || true)" "$INSTALL_PATH"; do
    [[ -n "$cand" ]] || continue
    cand="$(readlink -f "$cand" 2>/dev/null || echo "$cand")"
    [[ " $seen " == *" $cand "* ]] && continue
    seen="$seen $cand"
    if usable_criu "$cand" >&2; then
      echo "$cand"
      return 0
    fi
  done
  return 1
}

warn_path() {
  local resolved
  resolved="$(command -v criu 2>/dev/null || true)"
  if [[ -z "$resolved" ]]; then
    say "WARNING: 'criu' is not on PATH ($PATH); use $1"
  elif [[ "$(readlink -f "$resolved")" != "$1" ]]; then
    say "WARNING: 'criu' on PATH resolves to $resolved, not $1"
  fi
}

# report BIN: print BIN's version and `criu check` result; returns check's status.
report() {
  local bin="$1" rc=0 out
  say "installed: $bin"
  "$bin" --version 2>&1 | sed "s/^/$PROG:   /"
  out="$("$bin" check 2>&1)" || rc=$?
  [[ -z "$out" ]] || printf '%s\n' "$out" | sed "s/^/$PROG:   /"
  if [[ $rc -eq 0 ]]; then
    say "criu check: PASSED"
  else
    say "criu check: FAILED (exit $rc)"
  fi
  return "$rc"
}

# ---------------------------------------------------------------- fast path
if [[ $FORCE -eq 0 ]]; then
  if bin="$(find_usable_criu)"; then
    say "usable CRIU already installed, nothing to do"
    warn_path "$bin"
    report "$bin"
    exit 0
  fi
  say "no usable CRIU >= $MIN_VERSION found, building CRIU $CRIU_VERSION"
else
  say "--force given, rebuilding CRIU $CRIU_VERSION"
fi

if [[ "$CRIU_VERSION" == "$DEFAULT_VERSION" ]]; then
  EXPECTED_SHA256="${CRIU_AGENT_CRIU_SHA256:-$DEFAULT_SHA256}"
else
  EXPECTED_SHA256="${CRIU_AGENT_CRIU_SHA256:-}"
  [[ -n "$EXPECTED_SHA256" ]] ||
    die "CRIU_AGENT_CRIU_VERSION=$CRIU_VERSION is not the default ($DEFAULT_VERSION): set CRIU_AGENT_CRIU_SHA256 to its orig tarball's sha256"
fi

[[ $EUID -eq 0 ]] || die "must run as root to install packages and $INSTALL_PATH"
command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian only"

mkdir -p "$BUILD_DIR" || die "cannot create build dir $BUILD_DIR"
LOG_DIR="$BUILD_DIR/logs"
mkdir -p "$LOG_DIR"

# One provisioning run at a time (e.g. concurrent test runs).
exec 9>"$BUILD_DIR/.lock"
if ! flock -n 9; then
  say "another provisioning run holds $BUILD_DIR/.lock, waiting"
  flock 9
fi
if [[ $FORCE -eq 0 ]] && bin="$(find_usable_criu 2>/dev/null)"; then
  say "a concurrent run installed a usable CRIU, nothing to do"
  report "$bin"
  exit 0
fi

# run_logged NAME CMD...: run CMD with its output in $LOG_DIR/NAME.log; on
# failure show the log's tail.  Returns CMD's exit status.
run_logged() {
  local name="$1" rc=0
  shift
  "$@" >"$LOG_DIR/$name.log" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then
    printf '%s: command failed (exit %d): %s\n' "$PROG" "$rc" "$*" >&2
    printf '%s: last lines of %s:\n' "$PROG" "$LOG_DIR/$name.log" >&2
    tail -n 30 "$LOG_DIR/$name.log" | sed "s/^/    /" >&2
  fi
  return "$rc"
}

APT_UPDATED=0
apt_update() {
  say "apt-get update"
  run_logged apt-update apt-get update || die "apt-get update failed"
  APT_UPDATED=1
}

find_tarball() {
  local f
  for f in "$BUILD_DIR"/criu_"$CRIU_VERSION".orig.tar.*; do
    [[ -f "$f" && "$f" != *.asc ]] || continue
    echo "$f"
    return 0
  done
  return 1
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

cleanup_src_list() { rm -f "$SRC_LIST"; }

# ---------------------------------------------------------------- source (1/2)
# A verified tarball from an earlier run is reused; otherwise add the
# unstable deb-src entry now so a single `apt-get update` serves both the
# source download and the package installs.
NEED_SOURCE=1
if tarball="$(find_tarball)"; then
  if [[ "$(sha256_of "$tarball")" == "$EXPECTED_SHA256" ]]; then
    say "using cached source tarball $tarball"
    NEED_SOURCE=0
  else
    say "discarding cached $tarball (sha256 mismatch)"
    rm -f "$tarball"
  fi
fi
if [[ $NEED_SOURCE -eq 1 ]]; then
  # Source packages only (Types: deb-src), so `apt-get install` can never
  # pull unstable binaries; removed again right after the download, and on
  # any exit before that.
  trap cleanup_src_list EXIT
  cat >"$SRC_LIST" <<'EOF'
# Added temporarily by criu-agent's deploy/provision-criu.sh to fetch the
# criu source package; source packages only, never binaries.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: unstable
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt_update
fi

# ---------------------------------------------------------------- packages
missing=()
for pkg in "${BUILD_DEPS[@]}" "${RUNTIME_DEPS[@]}"; do
  if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" != "installed" ]]; then
    missing+=("$pkg")
  fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
  say "installing packages: ${missing[*]}"
  [[ $APT_UPDATED -eq 1 ]] || apt_update
  run_logged apt-install apt-get install -y --no-install-recommends "${missing[@]}" ||
    die "failed to install packages: ${missing[*]}"
else
  say "build and runtime dependencies already installed"
fi

# ---------------------------------------------------------------- source (2/2)
if [[ $NEED_SOURCE -eq 1 ]]; then
  say "fetching criu=$CRIU_VERSION-$DEBREV source tarball from Debian unstable"
  # apt-get may exit non-zero (e.g. missing .dsc) even though the orig
  # tarball arrived: judge by the tarball and its checksum.
  (cd "$BUILD_DIR" && run_logged apt-source apt-get source --tar-only "criu=$CRIU_VERSION-$DEBREV") ||
    say "apt-get source exited non-zero; checking whether the tarball arrived"
  cleanup_src_list
  trap - EXIT
  tarball="$(find_tarball)" ||
    die "apt-get source did not produce criu_$CRIU_VERSION.orig.tar.* in $BUILD_DIR (see $LOG_DIR/apt-source.log)"
  actual="$(sha256_of "$tarball")"
  if [[ "$actual" != "$EXPECTED_SHA256" ]]; then
    rm -f "$tarball"
    die "sha256 mismatch for $(basename "$tarball"): got $actual, expected $EXPECTED_SHA256"
  fi
  say "source tarball $(basename "$tarball") verified (sha256 $EXPECTED_SHA256)"
fi

# ---------------------------------------------------------------- build
SRC_DIR="$BUILD_DIR/criu-$CRIU_VERSION"
say "extracting to $SRC_DIR"
rm -rf "$SRC_DIR" "$BUILD_DIR/extract.tmp"
mkdir -p "$BUILD_DIR/extract.tmp"
tar -xf "$tarball" -C "$BUILD_DIR/extract.tmp" || die "failed to extract $tarball"
top=("$BUILD_DIR"/extract.tmp/*)
[[ ${#top[@]} -eq 1 && -d "${top[0]}" ]] || die "unexpected layout of $tarball"
mv "${top[0]}" "$SRC_DIR"
rmdir "$BUILD_DIR/extract.tmp"

say "building (make -j$MAKE_JOBS criu), log: $LOG_DIR/make.log"
start=$SECONDS
run_logged make make -C "$SRC_DIR" -j"$MAKE_JOBS" criu || die "CRIU build failed"
[[ -x "$SRC_DIR/criu/criu" ]] || die "build finished but $SRC_DIR/criu/criu is missing"
say "build finished in $((SECONDS - start)) s"

built_ver="$(criu_version "$SRC_DIR/criu/criu" || true)"
[[ "$built_ver" == "$CRIU_VERSION" ]] ||
  die "built binary reports version '$built_ver', expected $CRIU_VERSION"

# Install atomically (a running criu keeps its old inode).
install -d -m 0755 "$(dirname "$INSTALL_PATH")"
install -m 0755 "$SRC_DIR/criu/criu" "$INSTALL_PATH.new"
mv -f "$INSTALL_PATH.new" "$INSTALL_PATH"
say "installed $INSTALL_PATH"
warn_path "$INSTALL_PATH"

report "$INSTALL_PATH" || die "installed CRIU $CRIU_VERSION at $INSTALL_PATH but 'criu check' fails on this machine"
say "done"
