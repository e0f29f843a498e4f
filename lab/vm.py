"""Virtual machines with real kernels, for what the lab's containers cannot do here (NFS).

Each VM boots the cached image's kernel with qemu, on a tap device of a host bridge;
the host masquerades the bridge's subnet so the VMs reach the Debian mirror. The
kernel command line sets the address and hostname, and systemd reads root's SSH key
from an SMBIOS credential, so one image serves every VM. KVM is used when a guest
gets as far as the kernel's first message; otherwise TCG (software emulation).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import select
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

QEMU = "qemu-system-x86_64"
DEFAULT_SUBNET = ipaddress.IPv4Network("10.77.0.0/24")
FIRST_HOST = 11  # .1 is the host; VMs get .11, .12, ...
ACCEL_CHOICES = ("auto", "kvm", "tcg")


@dataclass(frozen=True)
class VmLab:
    """Names and addresses of everything one VM lab owns, derived from its name."""

    name: str
    state: Path
    subnet: ipaddress.IPv4Network = DEFAULT_SUBNET

    @property
    def _tag(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()[:8]

    @property
    def bridge(self) -> str:
        return f"dlab{self._tag}"  # interface names are limited to 15 characters

    def tap(self, index: int) -> str:
        return f"{self.bridge}t{index}"

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return self.subnet.network_address + 1

    def address(self, index: int) -> ipaddress.IPv4Address:
        return self.subnet.network_address + FIRST_HOST + index

    def mac(self, index: int) -> str:
        return f"52:54:00:{self._tag[:2]}:{self._tag[2:4]}:{index:02x}"

    def vm_dir(self, hostname: str) -> Path:
        return self.state / "vms" / hostname

    @property
    def comment(self) -> str:
        """Marks the firewall rules this lab added, so `down` removes exactly those."""
        return f"dagster-lab:{self.name}"

    def firewall_rules(self) -> list[tuple[str, str, list[str]]]:
        """iptables rules (table, chain, rule) that give the VMs a way out and to each other."""
        tag = ["-m", "comment", "--comment", self.comment]
        return [
            ("nat", "POSTROUTING", ["-s", str(self.subnet), "!", "-o", self.bridge, "-j", "MASQUERADE", *tag]),
            ("filter", "FORWARD", ["-i", self.bridge, "-j", "ACCEPT", *tag]),
            ("filter", "FORWARD", ["-o", self.bridge, "-j", "ACCEPT", *tag]),
        ]


@dataclass(frozen=True)
class Vm:
    hostname: str
    index: int
    memory_mb: int


def kernel_command_line(lab: VmLab, vm: Vm) -> str:
    netmask = lab.subnet.netmask
    network = f"ip={lab.address(vm.index)}::{lab.gateway}:{netmask}:{vm.hostname}:eth0:off"
    return f"root=/dev/vda rw console=ttyS0 net.ifnames=0 {network} systemd.hostname={vm.hostname}"


def qemu_command(lab: VmLab, vm: Vm, image: Path, accel: str, public_key: str) -> list[str]:
    """The qemu command line of one VM; it detaches and writes its pid file."""
    directory = lab.vm_dir(vm.hostname)
    credential = base64.b64encode(public_key.encode()).decode()
    return [
        QEMU,
        "-name",
        vm.hostname,
        "-accel",
        accel,
        "-cpu",
        "host" if accel == "kvm" else "max",
        "-smp",
        "1",
        "-m",
        str(vm.memory_mb),
        "-kernel",
        str(image / "vmlinuz"),
        "-initrd",
        str(image / "initrd"),
        "-append",
        kernel_command_line(lab, vm),
        "-drive",
        f"file={directory / 'disk.qcow2'},if=virtio,format=qcow2",
        "-netdev",
        f"tap,id=net0,ifname={lab.tap(vm.index)},script=no,downscript=no",
        "-device",
        f"virtio-net-pci,netdev=net0,mac={lab.mac(vm.index)}",
        "-smbios",
        f"type=11,value=io.systemd.credential.binary:ssh.authorized_keys.root={credential}",
        "-serial",
        f"file:{directory / 'serial.log'}",
        "-display",
        "none",
        "-monitor",
        "none",
        "-daemonize",
        "-pidfile",
        str(directory / "qemu.pid"),
    ]


def choose_accel(requested: str, image: Path) -> str:
    """kvm or tcg. `auto` tries KVM and falls back to TCG when the guest does not boot."""
    if requested != "auto":
        return requested
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    return "kvm" if kvm_boots(image / "vmlinuz") else "tcg"


def kvm_boots(kernel: Path, timeout: float = 20.0) -> bool:
    """True if a KVM guest prints the kernel's banner. Nested guests here abort or hang before it."""
    command = [QEMU, "-accel", "kvm", "-cpu", "host", "-m", "256", "-nodefaults", "-display", "none", "-no-reboot"]
    command += ["-serial", "stdio", "-kernel", str(kernel), "-append", "console=ttyS0 panic=-1"]
    probe = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert probe.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while b"Linux version" not in seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select([probe.stdout], [], [], remaining)
            chunk = os.read(probe.stdout.fileno(), 4096) if ready else b""
            if ready and not chunk:
                return False  # qemu exited
            seen = (seen + chunk)[-4096:]
        return True
    finally:
        probe.kill()
        probe.wait()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def _link_exists(name: str) -> bool:
    return _ip("link", "show", name, check=False).returncode == 0


def ensure_network(lab: VmLab) -> None:
    """The bridge with the host's address on it, forwarding and NAT. Idempotent."""
    if not _link_exists(lab.bridge):
        _ip("link", "add", lab.bridge, "type", "bridge")
        _ip("addr", "add", f"{lab.gateway}/{lab.subnet.prefixlen}", "dev", lab.bridge)
    _ip("link", "set", lab.bridge, "up")
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    for table, chain, rule in lab.firewall_rules():
        exists = subprocess.run(["iptables", "-t", table, "-C", chain, *rule], capture_output=True).returncode == 0
        if not exists:
            # Inserted first: docker's FORWARD chain ends in a DROP policy.
            subprocess.run(["iptables", "-t", table, "-I", chain, "1", *rule], check=True)


def remove_network(lab: VmLab) -> None:
    for table, chain, rule in lab.firewall_rules():
        while subprocess.run(["iptables", "-t", table, "-D", chain, *rule], capture_output=True).returncode == 0:
            pass
    if _link_exists(lab.bridge):
        _ip("link", "del", lab.bridge)


def running_pid(lab: VmLab, hostname: str) -> int | None:
    pidfile = lab.vm_dir(hostname) / "qemu.pid"
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def boot(lab: VmLab, vm: Vm, image: Path, accel: str, public_key: str) -> bool:
    """Start the VM on a copy-on-write overlay of the image. False if it was already running."""
    if running_pid(lab, vm.hostname) is not None:
        return False
    directory = lab.vm_dir(vm.hostname)
    directory.mkdir(parents=True, exist_ok=True)
    disk = directory / "disk.qcow2"
    if not disk.exists():
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(image / "root.raw"), str(disk)],
            check=True,
        )
    tap = lab.tap(vm.index)
    if not _link_exists(tap):
        _ip("tuntap", "add", tap, "mode", "tap")
    _ip("link", "set", tap, "master", lab.bridge, "up")
    subprocess.run(qemu_command(lab, vm, image, accel, public_key), check=True)
    return True


def stop(lab: VmLab, hostname: str, timeout: float = 10.0) -> None:
    pid = running_pid(lab, hostname)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running_pid(lab, hostname) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    if running_pid(lab, hostname) is not None:
        os.kill(pid, signal.SIGKILL)


def hostnames(lab: VmLab) -> list[str]:
    vms = lab.state / "vms"
    return sorted(path.name for path in vms.iterdir()) if vms.exists() else []


def remove_all(lab: VmLab) -> list[str]:
    """Stop every VM of the lab, remove its taps, bridge, firewall rules and disks."""
    removed = hostnames(lab)
    for hostname in removed:
        stop(lab, hostname)
    for line in _ip("-o", "link", "show").stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(f"{lab.bridge}t"):
            _ip("link", "del", name)
    remove_network(lab)
    shutil.rmtree(lab.state / "vms", ignore_errors=True)
    return removed
