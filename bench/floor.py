"""The floor: unavoidable work (packages, release build, venv install), alone on one node or on
N nodes at once laid out like the lab (the same work as a cold deploy of N, with nothing else)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench import runner
from lab import job, ssh

PARTS = {"base": "packages", "release build": "release build", "release install": "release install"}


def check_broker_and_database_packages(fleet: runner.Fleet) -> None:
    """node1 runs broker and database in every layout: a floor without their packages measured nothing."""
    address = job.node_address(fleet.nodes_inventory, "node1")
    key, known_hosts = fleet.state / "id_ed25519", fleet.state / "known_hosts"
    ssh.run(address, key, known_hosts, "dpkg-query", "--show", "rabbitmq-server", "postgresql")


def measure(results: Path, nodes: int = 1, keep: bool = False) -> dict[str, Any]:
    name = f"dagster-bench-floor-{nodes}"
    if nodes == 1:
        fleet = runner.Fleet(name, (runner.REPO / ".lab" / name / "nodes.yml",), results / "logs" / name)
    else:
        fleet = runner.sized_fleet(name, nodes, results)
    fleet.lab("down")
    try:
        fleet.lab("up", "--nodes", str(nodes))
        with tempfile.TemporaryDirectory(prefix="bench-wheelhouse-") as cache:
            started = time.monotonic()
            playbook = str(runner.REPO / "bench" / "floor.yml")
            timed = fleet.playbook(f"floor-{nodes}", playbook, "-e", f"dagster_release_cache_dir={cache}")
            seconds = time.monotonic() - started
        check_broker_and_database_packages(fleet)
    finally:
        if not keep:
            fleet.lab("down")
    parts = {label: timed.phases.get(phase, 0.0) for phase, label in PARTS.items()}
    return {
        "figure": "floor",
        "nodes": nodes,
        "seconds": round(seconds, 1),
        "cpu_seconds": timed.cpu_seconds,
        "node_cpu_seconds": timed.node_cpu_seconds,
        "parts": parts,
        "phases": timed.phases,
    }
