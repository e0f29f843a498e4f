"""Lab topologies of any size, shaped like the 4-node lab: node1 runs broker, database and
control; the workers take turns at serving the default queue, both queues, the heavy queue."""

from __future__ import annotations

from typing import Any

QUEUE_PATTERN: tuple[tuple[str, ...], ...] = (("dagster",), ("dagster", "heavy"), ("heavy",))
CONCURRENCY = 2


def worker_queues(index: int, workers: int) -> list[dict[str, Any]]:
    """Queues of the index-th worker; a lone worker serves both, so every job can run."""
    names = ("dagster", "heavy") if workers == 1 else QUEUE_PATTERN[index % len(QUEUE_PATTERN)]
    return [{"name": name, "concurrency": CONCURRENCY} for name in names]


def topology(nodes: int) -> dict[str, Any]:
    if nodes < 2:
        raise ValueError("a lab topology needs at least 2 nodes: node1 and one worker")
    workers = [f"node{number}" for number in range(2, nodes + 1)]
    single = {"hosts": {"node1": None}}
    return {
        "broker": single,
        "database": single,
        "storage": {"hosts": {}},
        "control": single,
        "monitoring": single,
        "workers": {
            "hosts": {
                name: {"dagster_worker_queues": worker_queues(index, len(workers))}
                for index, name in enumerate(workers)
            }
        },
    }


def slots(layout: dict[str, Any]) -> int:
    """Celery processes the fleet runs steps in: the sum of every queue's concurrency."""
    hosts = layout["workers"]["hosts"].values()
    return sum(int(queue["concurrency"]) for host in hosts for queue in host["dagster_worker_queues"])
