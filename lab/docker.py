"""Thin, typed calls of the docker CLI (no SDK: the CLI is what operators debug with)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from typing import Any


class DockerError(RuntimeError):
    """A docker command failed; the message carries its stderr."""


def docker(*args: str, input_bytes: bytes | None = None, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], input=input_bytes, capture_output=True)
    if check and proc.returncode != 0:
        raise DockerError(f"docker {' '.join(args[:3])} failed: {proc.stderr.decode().strip()}")
    return proc.stdout.decode()


def exists(kind: str, name: str) -> bool:
    """True if the docker object (image, container, network, volume) exists."""
    proc = subprocess.run(["docker", kind, "inspect", name], capture_output=True)
    return proc.returncode == 0


def inspect(kind: str, name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(docker(kind, "inspect", name))
    return data[0]


def names_with_label(kind: str, label: str) -> list[str]:
    """Names of containers, networks or volumes carrying a label (key=value)."""
    if kind == "container":
        out = docker("ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}")
    else:
        out = docker(kind, "ls", "--filter", f"label={label}", "--format", "{{.Name}}")
    return sorted(line for line in out.splitlines() if line)


def exec_in(container: str, command: Sequence[str], input_bytes: bytes | None = None, check: bool = True) -> str:
    flags = ["-i"] if input_bytes is not None else []
    return docker("exec", *flags, container, *command, input_bytes=input_bytes, check=check)
