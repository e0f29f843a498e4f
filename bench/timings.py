"""Read what the bench_timings callback wrote: wall time per deploy phase, and what changed."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Deploy phases in the order a cold deploy meets them; roles not named fall into "base".
PHASES = ("facts", "preflight", "base", "broker", "database", "release build", "release install", "services")
ROLE_PHASES = {
    "preflight": "preflight",
    "rabbitmq": "broker",
    "postgresql": "database",
    "dagster_config": "services",
    "dagster_control": "services",
    "dagster_worker": "services",
    "dagster_rollout": "services",
}


def phase_of(task: dict[str, Any]) -> str:
    if task["action"] in {"gather_facts", "setup", "ansible.builtin.setup", "ansible.builtin.gather_facts"}:
        return "facts"
    role = task["role"]
    if role == "dagster_release":
        return "release build" if "/tasks/build.yml:" in task["path"] else "release install"
    return ROLE_PHASES.get(role, "base")


@dataclass(frozen=True)
class PlaybookTimings:
    seconds: float
    phases: dict[str, float]
    changed: dict[str, int]
    failed: dict[str, int]
    # Busy CPU time of the whole machine during the run (nodes and controller share it),
    # and the part the lab nodes (containers) used; the rest is mostly Ansible itself.
    cpu_seconds: float = 0.0
    node_cpu_seconds: float | None = None

    @property
    def total_changed(self) -> int:
        return sum(self.changed.values())


def summarize(document: dict[str, Any]) -> PlaybookTimings:
    """Phase time is the sum of its tasks' wall times (first start to last host's result);
    time between tasks (Ansible's own work) is counted in "other"."""
    phases = dict.fromkeys(PHASES, 0.0)
    for task in document["tasks"]:
        phases[phase_of(task)] += max(0.0, task["end"] - task["start"])
    seconds = document["ended"] - document["started"]
    phases["other"] = max(0.0, seconds - sum(phases.values()))
    stats = document["stats"]
    return PlaybookTimings(
        seconds=seconds,
        phases={name: round(value, 1) for name, value in phases.items()},
        changed={host: int(counts["changed"]) for host, counts in stats.items()},
        failed={host: int(counts["failures"]) + int(counts["unreachable"]) for host, counts in stats.items()},
    )


def load(path: Path) -> PlaybookTimings:
    return summarize(json.loads(path.read_text()))


def busy_seconds(proc_stat: str, ticks_per_second: int) -> float:
    """CPU time spent busy since boot, from /proc/stat's first line (all CPUs):
    user, nice, system, irq, softirq and steal; idle and iowait are not busy."""
    fields = [int(value) for value in proc_stat.splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / ticks_per_second


def machine_busy_seconds() -> float:
    return busy_seconds(Path("/proc/stat").read_text(), os.sysconf("SC_CLK_TCK"))


CGROUP = Path("/sys/fs/cgroup")


def containers_cpu_seconds(cgroup: Path = CGROUP) -> float | None:
    """CPU time used so far by every Docker container (the lab nodes), from Docker's cgroup:
    cgroup v1 (cpuacct, nanoseconds) or v2 (cpu.stat usage_usec, cgroupfs or systemd driver).
    None where neither is found; the harness then reports only the machine's total."""
    v1 = cgroup / "cpuacct" / "docker" / "cpuacct.usage"
    if v1.exists():
        return int(v1.read_text()) / 1e9
    stats = [cgroup / "docker" / "cpu.stat"] if (cgroup / "docker" / "cpu.stat").exists() else []
    stats = stats or sorted((cgroup / "system.slice").glob("docker-*.scope/cpu.stat"))
    if not stats:
        return None
    total = 0
    for stat in stats:
        fields = dict(line.split() for line in stat.read_text().splitlines() if line.strip())
        total += int(fields["usage_usec"])
    return total / 1e6
