#!/usr/bin/env bash
# Recipe of a lab node image: a minimal Debian root filesystem that boots systemd
# as PID 1 in a container and accepts SSH, like a freshly installed server.
# Usage: node-image.sh <suite> <rootfs-dir>. NODE_IMAGE_EXTRA_PACKAGES (comma
# separated) adds packages; vm-image.sh uses it. The lab hashes this file:
# editing it rebuilds the images.
set -euo pipefail
suite=$1
rootfs=$2
mirror=${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}

debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,openssh-server,python3,python3-apt,iproute2,sudo,ca-certificates,procps${NODE_IMAGE_EXTRA_PACKAGES:+,$NODE_IMAGE_EXTRA_PACKAGES} \
  "$suite" "$rootfs" "$mirror"

cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
SOURCES

# Empty package lists, dated in the past: the first apt task with cache_valid_time
# must see them as stale and update.
rm -rf "$rootfs"/var/lib/apt/lists/*
mkdir -p "$rootfs/var/lib/apt/lists/partial"
touch -d '2000-01-01' "$rootfs/var/lib/apt/lists" "$rootfs/var/cache/apt" 2>/dev/null || true
rm -f "$rootfs"/var/cache/apt/*.bin
rm -f "$rootfs"/var/cache/apt/archives/*.deb

# Units that make no sense (or fail) in a container.
for unit in systemd-timesyncd.service getty.target console-getty.service systemd-logind.service \
  systemd-networkd-wait-online.service; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done

# Every node gets its own machine-id and SSH host keys at first boot.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs"/etc/ssh/ssh_host_*
mkdir -p "$rootfs/etc/systemd/system/ssh.service.d"
cat >"$rootfs/etc/systemd/system/ssh.service.d/host-keys.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT
# Debian 13 starts sshd by socket activation when available; a plain service is
# what servers run and what the lab waits for.
ln -sf /lib/systemd/system/ssh.service "$rootfs/etc/systemd/system/multi-user.target.wants/ssh.service"
rm -f "$rootfs/etc/systemd/system/sockets.target.wants/ssh.socket"

install -d -m 0700 "$rootfs/root/.ssh"
