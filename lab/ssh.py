"""SSH access to the nodes: a generated key and the nodes' own host keys, pinned."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from lab import docker


def ensure_key(key: Path) -> Path:
    """Create an ed25519 key pair for the lab unless it exists; returns the public key."""
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dagster-lab", "-f", str(key)], check=True)
    return key.with_name(key.name + ".pub")


def authorize(container: str, public_key: Path) -> None:
    docker.exec_in(
        container,
        ["sh", "-c", "umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys"],
        input_bytes=public_key.read_bytes(),
    )


def wait_for_port(address: str, port: int = 22, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{address}:{port} did not accept connections") from None
            time.sleep(0.5)


def host_keys(addresses: list[str]) -> str:
    """known_hosts lines for the addresses, as the nodes present them now."""
    proc = subprocess.run(
        ["ssh-keyscan", "-T", "5", "-t", "ed25519", *addresses], capture_output=True, text=True, check=True
    )
    found = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
    missing = set(addresses) - found
    if missing:
        raise RuntimeError(f"no SSH host key from {', '.join(sorted(missing))}")
    return proc.stdout


def run(address: str, key: Path, known_hosts: Path, *command: str) -> str:
    """Run a command on a node as root over SSH with the lab key and pinned host keys."""
    proc = subprocess.run(
        [
            "ssh",
            "-i",
            str(key),
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            f"root@{address}",
            *command,
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ssh root@{address} {' '.join(command)} failed: {proc.stderr.strip()}")
    return proc.stdout


def check_login(address: str, key: Path, known_hosts: Path) -> str:
    return run(address, key, known_hosts, "hostname").strip()
