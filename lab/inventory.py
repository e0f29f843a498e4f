"""The lab's connection inventory and generated secrets (kept out of git)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import bcrypt
import yaml  # type: ignore[import-untyped]

from lab.nodes import Node

# Secrets the topology needs; generated once per lab, never committed.
SECRET_NAMES = (
    "rabbitmq_app_password",
    "postgresql_dagster_password",
    "rabbitmq_management_password",
    "dagster_control_flower_password",
)
# The front door's logins, one per role, each named after its role.
LOGIN_ROLES = ("operator", "viewer")
# nginx checks the hash on every request: cost 10 took 51 ms of a CPU here (roles/front_door/README.md).
BCRYPT_COST = 10


def render_nodes(nodes: list[Node], key: Path, known_hosts: Path, distro: str, ca_dir: Path) -> str:
    """Hosts, how to reach them and where their lab CA is; nothing about what they run (that is the topology)."""
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
        f"    lab_ca_dir: {json.dumps(str(ca_dir))}",
        "",
    ]
    return "\n".join(lines)


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def ensure_secrets(path: Path) -> bool:
    """Write a random value for each secret the file lacks, keeping those it has. True if written."""
    existing = (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}
    missing = [name for name in SECRET_NAMES if name not in existing]
    if not missing:
        return False
    values = {name: existing.get(name) or secrets.token_urlsafe(24) for name in SECRET_NAMES}
    lines = ["---", "# Written by `lab up` with random values; ignored by git. `lab down` removes it."]
    lines += [f"{name}: {json.dumps(value)}" for name, value in values.items()]
    write_private(path, "\n".join(lines) + "\n")
    return True


def hash_password(password: str) -> str:
    """A bcrypt hash in htpasswd form, as front_door_logins takes it."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()


def ensure_logins(hashes: Path, passwords: Path, prefix: str = "") -> bool:
    """Unless both files exist, generate a front door login per role: `hashes` gets front_door_logins for
    Ansible (bcrypt hashes only), `passwords` the passwords (`prefix` and a random part) for people and the
    lab's clients. True if written."""
    if hashes.exists() and passwords.exists():
        return False
    generated = {role: prefix + secrets.token_urlsafe(18) for role in LOGIN_ROLES}
    lines = ["---", "# Written by `lab up` (hashes of the passwords in the lab's logins.yml); ignored by git."]
    lines += ["front_door_logins:"] + [
        f"  - {{name: {json.dumps(role)}, role: {json.dumps(role)}, password_hash: {json.dumps(hash_password(word))}}}"
        for role, word in generated.items()
    ]
    write_private(hashes, "\n".join(lines) + "\n")
    header = "# The front door's logins (name: password), written by `lab up`.\n"
    write_private(passwords, header + yaml.safe_dump(generated, sort_keys=False))
    return True
