"""What the workers cost a host at rest: memory and processes of each worker instance (one per code location
and queue), as systemd accounts them for its unit (its main process and its pool)."""

from __future__ import annotations

import statistics
from typing import Any

import yaml  # type: ignore[import-untyped]

from bench import runner
from lab import job, ssh

UNIT_PREFIX = "dagster-celery-worker@"
# Each running worker unit's accounting, one `systemctl show` block per unit.
SHOW_WORKERS = (
    f"for unit in $(systemctl list-units --plain --no-legend --state=running '{UNIT_PREFIX}*' | cut -d' ' -f1); "
    'do systemctl show -p Id -p MemoryCurrent -p TasksCurrent "$unit"; echo; done'
)
MIB = 1024 * 1024


def parse(show: str) -> list[dict[str, Any]]:
    """Instances from `systemctl show` blocks: name (<location>.<queue>), memory in MiB, tasks."""
    instances = []
    for block in show.strip().split("\n\n"):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if not fields.get("Id", "").startswith(UNIT_PREFIX):
            continue
        name = fields["Id"].removeprefix(UNIT_PREFIX).removesuffix(".service")
        memory = fields.get("MemoryCurrent", "")
        instances.append(
            {
                "instance": name,
                "location": name.partition(".")[0],
                "memory_mib": round(int(memory) / MIB, 1) if memory.isdigit() else None,
                "tasks": int(fields["TasksCurrent"]) if fields.get("TasksCurrent", "").isdigit() else None,
            }
        )
    return instances


def summarize(by_host: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    instances = [instance for listed in by_host.values() for instance in listed]
    memory = [instance["memory_mib"] for instance in instances if instance["memory_mib"] is not None]
    if not memory:
        raise RuntimeError("systemd accounts no memory for the worker units (is memory accounting off?)")
    return {
        "figure": "worker_footprint",
        "instances": len(instances),
        "locations": sorted({instance["location"] for instance in instances}),
        "median_instance_memory_mib": round(statistics.median(memory), 1),
        "median_instance_tasks": statistics.median(i["tasks"] for i in instances if i["tasks"] is not None),
        "per_host_memory_mib": {
            host: round(sum(i["memory_mib"] or 0 for i in listed), 1) for host, listed in sorted(by_host.items())
        },
        "hosts": by_host,
    }


def workers(fleet: runner.Fleet) -> list[str]:
    """The worker hosts of the fleet's inventories."""
    for path in fleet.inventories:
        group = (yaml.safe_load(path.read_text()) or {}).get("workers")
        if group:
            return sorted(group.get("hosts") or {})
    raise RuntimeError(f"no workers group in {', '.join(map(str, fleet.inventories))}")


def measure(fleet: runner.Fleet) -> dict[str, Any]:
    key, known_hosts = fleet.state / "id_ed25519", fleet.state / "known_hosts"
    by_host = {
        host: parse(ssh.run(job.node_address(fleet.nodes_inventory, host), key, known_hosts, SHOW_WORKERS))
        for host in workers(fleet)
    }
    result = summarize(by_host)
    runner.say(
        f"worker footprint: {result['instances']} instances of {len(result['locations'])} location(s), "
        f"median {result['median_instance_memory_mib']} MiB and {result['median_instance_tasks']} tasks each; "
        f"per host {result['per_host_memory_mib']} MiB"
    )
    return result
