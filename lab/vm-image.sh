#!/usr/bin/env bash
# Recipe of a lab virtual machine: the container node's root filesystem plus a
# Debian kernel, packed as an ext4 disk image, with the kernel and initrd beside it
# (qemu boots them directly, so no boot loader). Address and hostname come from the
# kernel command line, root's SSH key from an SMBIOS credential (see lab/vm.py).
# Usage: vm-image.sh <suite> <rootfs-dir> <output-dir>. The lab hashes this file
# and node-image.sh: editing either rebuilds the image.
set -euo pipefail
suite=$1
rootfs=$2
out=$3
disk_size=${LAB_VM_DISK_SIZE:-4G}

NODE_IMAGE_EXTRA_PACKAGES=linux-image-amd64,udev,kmod,initramfs-tools \
  bash "$(dirname "$0")/node-image.sh" "$suite" "$rootfs"

# A VM has a real init system: undo the container-only masks that matter here.
rm -f "$rootfs"/etc/systemd/system/{systemd-networkd-wait-online.service,systemd-logind.service}

cp "$rootfs"/boot/vmlinuz-* "$out/vmlinuz"
cp "$rootfs"/boot/initrd.img-* "$out/initrd"
# The VMs boot the initrd copied above; regenerating the one inside the guest
# after every package install only costs minutes of emulated CPU.
sed -i 's/^update_initramfs=.*/update_initramfs=no/' "$rootfs/etc/initramfs-tools/update-initramfs.conf"

echo '/dev/vda / ext4 defaults,noatime 0 0' >"$rootfs/etc/fstab"
# systemd-network-generator turns the kernel's ip= argument into a networkd
# configuration.
ln -sf /lib/systemd/system/systemd-networkd.service \
  "$rootfs/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
mkdir -p "$rootfs/etc/systemd/system/sysinit.target.wants"
ln -sf /lib/systemd/system/systemd-network-generator.service \
  "$rootfs/etc/systemd/system/sysinit.target.wants/systemd-network-generator.service"
mkdir -p "$rootfs/etc/systemd/system/network-online.target.wants"
ln -sf /lib/systemd/system/systemd-networkd-wait-online.service \
  "$rootfs/etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service"

mkfs.ext4 -q -L root -d "$rootfs" "$out/root.raw" "$disk_size"
