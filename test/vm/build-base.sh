#!/usr/bin/env bash
# build-base.sh OUT_DIR DEB_CACHE_DIR — the test VM's base image (run.sh calls it).
#
# A minimal Debian bookworm (debootstrap --variant=minbase) with Debian's
# stock kernel (linux-image-amd64, 6.1: CONFIG_MEM_SOFT_DIRTY=y, so CRIU can
# pre-dump there), python3 for the targets, tini as PID 1 (it reaps the
# orphans that dumped and restored trees leave), and the shared libraries
# of the CRIU that run.sh copies in from the host (built against bookworm by
# deploy/provision-criu.sh). Node and the agent are not in it: they come on a
# second disk built each run.
#
# Writes OUT_DIR/{rootfs.img,vmlinuz,initrd.img,packages.txt}. Everything
# that goes into the image is in this file (plus SUITE and MIRROR, which
# run.sh passes in the environment), so run.sh keys its cache on this file's
# hash and those two values.
set -euo pipefail

OUT="${1:?usage: build-base.sh OUT_DIR DEB_CACHE_DIR}"
DEBS="${2:?usage: build-base.sh OUT_DIR DEB_CACHE_DIR}"
SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

PACKAGES=(
  # The guest kernel, its modules (CRIU loads *_diag, nf_tables... on demand)
  # and initramfs-tools, which builds the initrd that mounts /dev/vda.
  linux-image-amd64
  # Targets (test/fixtures/target.py, test/vm/dirtier.py).
  python3
  # PID 1.
  tini
  # `ip link set lo up`; iptables for CRIU's network locking (tcp_established).
  iproute2
  iptables
  # Libraries of the host-built CRIU 4.2.1 (ldd /usr/local/sbin/criu).
  libprotobuf-c1
  libnl-3-200
  libnet1
  libnftables1
  libgnutls30
  libbsd0
  libuuid1
  # Node's (the host's node binary is copied in).
  libstdc++6
)

say() { printf 'build-base: %s\n' "$*"; }

ROOTFS="$OUT/rootfs"
mkdir -p "$OUT" "$DEBS"

say "debootstrap $SUITE (minbase + ${#PACKAGES[@]} packages) from $MIRROR"
start=$SECONDS
include="$(
  IFS=,
  echo "${PACKAGES[*]}"
)"
if ! debootstrap --variant=minbase --include="$include" --cache-dir="$DEBS" \
  "$SUITE" "$ROOTFS" "$MIRROR" >"$OUT/debootstrap.log" 2>&1; then
  tail -n 40 "$OUT/debootstrap.log" | sed 's/^/    /' >&2
  [[ -f "$ROOTFS/debootstrap/debootstrap.log" ]] && tail -n 40 "$ROOTFS/debootstrap/debootstrap.log" | sed 's/^/    /' >&2
  say "debootstrap failed (log: $OUT/debootstrap.log)" >&2
  exit 1
fi
say "debootstrap done in $((SECONDS - start)) s"

kver="$(basename "$(ls -d "$ROOTFS"/lib/modules/* | head -n1)")"
[[ -n "$kver" && -f "$ROOTFS/boot/vmlinuz-$kver" ]] || {
  say "no kernel in the image" >&2
  exit 1
}
if [[ ! -f "$ROOTFS/boot/initrd.img-$kver" ]]; then
  say "no initrd after debootstrap: running update-initramfs"
  chroot "$ROOTFS" update-initramfs -c -k "$kver" >"$OUT/initramfs.log" 2>&1
fi
grep -q '^CONFIG_MEM_SOFT_DIRTY=y' "$ROOTFS/boot/config-$kver" || {
  say "kernel $kver lacks CONFIG_MEM_SOFT_DIRTY=y" >&2
  exit 1
}

echo criu-vm >"$ROOTFS/etc/hostname"
printf '127.0.0.1\tlocalhost criu-vm\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOTFS/etc/hosts"
: >"$ROOTFS/etc/fstab"
mkdir -p "$ROOTFS/opt/criu-vm"

# The kernel runs this as init. It mounts what a system has, then the second
# disk (the agent, node, criu and the tests, see run.sh) and hands over to its
# guest.sh under tini. Whatever goes wrong before that is reported through
# QEMU's isa-debug-exit port like a test failure.
cat >"$ROOTFS/sbin/criu-vm-init" <<'EOF'
#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
echo "criu-vm: init started"
fail() {
  echo "criu-vm: init failed: $*"
  printf '\001' | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
  sleep 10
  exit 1
}
mnt() { mountpoint -q "$3" || mount -t "$1" "$2" "$3" $4 || fail "mount $3"; }
mnt proc proc /proc
mnt sysfs sys /sys
mnt devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mnt devpts devpts /dev/pts "-o gid=5,mode=620,ptmxmode=666"
mnt tmpfs shm /dev/shm "-o mode=1777"
mnt tmpfs run /run "-o mode=755"
mnt tmpfs tmp /tmp "-o mode=1777,size=75%"
mnt cgroup2 cgroup2 /sys/fs/cgroup
mount -o remount,rw / || fail "remount / rw"
mount -t ext4 /dev/vdb /opt/criu-vm || fail "mount the payload disk /dev/vdb"
[ -x /opt/criu-vm/repo/test/vm/guest.sh ] || fail "no test/vm/guest.sh on the payload disk"
exec /usr/bin/tini -- /opt/criu-vm/repo/test/vm/guest.sh
EOF
chmod 0755 "$ROOTFS/sbin/criu-vm-init"

chroot "$ROOTFS" dpkg-query -W -f '${Package} ${Version}\n' >"$OUT/packages.txt"
cp "$ROOTFS/boot/vmlinuz-$kver" "$OUT/vmlinuz"
cp "$ROOTFS/boot/initrd.img-$kver" "$OUT/initrd.img"

# Not needed at run time: package lists, docs, the downloaded debs.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
  "$ROOTFS"/usr/share/doc "$ROOTFS"/usr/share/man "$ROOTFS"/usr/share/info "$ROOTFS"/usr/share/locale

mib=$(($(du -sm "$ROOTFS" | cut -f1) * 5 / 4 + 256))
say "ext4 image of ${mib} MiB from the tree (kernel $kver)"
mkfs.ext4 -q -F -L criu-vm-root -d "$ROOTFS" "$OUT/rootfs.img" "${mib}M" >/dev/null
rm -rf "$ROOTFS"
say "done"
