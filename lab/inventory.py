"""The lab's connection inventory and generated secrets (kept out of git)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from lab.nodes import Node

# Secrets the topology needs; generated once per lab, never committed.
SECRET_NAMES = ("rabbitmq_app_password", "postgresql_dagster_password")


def render_nodes(nodes: list[Node], key: Path, known_hosts: Path, distro: str) -> str:
    """Hosts and how to reach them, nothing about what they run (that is the topology)."""
    lines = [
        "---",
        "# Written by `lab up`: how to reach the lab nodes. What they run is in topology.yml.",
        "all:",
        "  hosts:",
    ]
    for node in nodes:
        lines += [f"    {node.hostname}:", f"      ansible_host: {json.dumps(node.address)}"]
    ssh_args = f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
    lines += [
        "  vars:",
        "    ansible_user: root",
        f"    ansible_ssh_private_key_file: {json.dumps(str(key))}",
        f"    ansible_ssh_common_args: {json.dumps(ssh_args)}",
        f"    lab_distro: {json.dumps(distro)}",
        "",
    ]
    return "\n".join(lines)


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def ensure_secrets(path: Path) -> bool:
    """Write fresh random secrets unless the file exists. True if written."""
    if path.exists():
        return False
    lines = ["---", "# Written by `lab up` with random values; ignored by git. `lab down` removes it."]
    lines += [f"{name}: {json.dumps(secrets.token_urlsafe(24))}" for name in SECRET_NAMES]
    write_private(path, "\n".join(lines) + "\n")
    return True
