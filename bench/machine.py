"""What the figures were measured on."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path


def cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def memory_gib(meminfo: str) -> float:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def os_name(os_release: str) -> str:
    for line in os_release.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip('"')
    return platform.system()


def describe() -> dict[str, object]:
    def read(path: str) -> str:
        file = Path(path)
        return file.read_text() if file.exists() else ""

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "cpu": cpu_model(read("/proc/cpuinfo")),
        "cores": os.cpu_count() or 0,
        "memory_gib": memory_gib(read("/proc/meminfo")),
        "os": os_name(read("/etc/os-release")),
        "kernel": platform.release(),
    }
