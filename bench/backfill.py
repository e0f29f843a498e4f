"""Backfills at volume: hundreds of partitions of the example project's `daily_load` asset, launched as the
UI's "Materialize" of a partition range does, go through the run queue. Measured: how fast the backfill
daemon submits runs, how fast they leave the queue (dequeued, and QUEUED to STARTED, runs per second; the
queue holds dagster_config_max_concurrent_runs at once), how full the queue keeps those slots, how long a
run waits, and the oldest heartbeat of each daemon seen while the backfill ran: a daemon that stalls under
the load shows there, and fails the target."""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from bench import runner
from lab import job, names, ssh
from lab.dagster_client import BACKFILL_FINISHED, Client

ASSET = "daily_load"
# The asset's DailyPartitionsDefinition: 2026-01-01 to 2026-12-30, 364 partitions.
FIRST_PARTITION = date(2026, 1, 1)
MOST_PARTITIONS = 364
# Each daemon writes a heartbeat at most every 30 s, between its iterations (DEFAULT_HEARTBEAT_INTERVAL_SECONDS):
# one older than three of those means its loop was stuck. The scheduler iterates once a minute, sleeping to the
# next one, so its heartbeats come up to 90 s apart at rest. (Dagster waits 1800 s before calling one unhealthy.)
HEARTBEAT_TOLERANCE_SECONDS = 90.0
SCHEDULER_HEARTBEAT_TOLERANCE_SECONDS = 150.0


def heartbeat_tolerance(daemon: str) -> float:
    return SCHEDULER_HEARTBEAT_TOLERANCE_SECONDS if daemon == "SCHEDULER" else HEARTBEAT_TOLERANCE_SECONDS


@dataclass(frozen=True)
class RunTimes:
    """A run's life, seconds since the epoch: made by the backfill daemon (QUEUED), taken off the queue and
    launched by the run coordinator (its RunStartingEvent), its orchestrator started (STARTED), ended."""

    status: str
    created: float
    dequeued: float | None
    started: float | None
    ended: float | None


def partition_keys(count: int) -> list[str]:
    if not 1 <= count <= MOST_PARTITIONS:
        raise ValueError(f"the backfill takes 1 to {MOST_PARTITIONS} partitions of {ASSET}, not {count}")
    return [(FIRST_PARTITION + timedelta(days=day)).isoformat() for day in range(count)]


def rate(times: list[float]) -> float:
    """Events per second from the first to the last of them."""
    span = max(times) - min(times) if len(times) > 1 else 0.0
    return round((len(times) - 1) / span, 2) if span else 0.0


def spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return {"median": round(statistics.median(ordered), 1), "p95": round(p95, 1), "max": round(ordered[-1], 1)}


def occupancy(runs: list[RunTimes], max_concurrent_runs: int) -> float:
    """How full the run coordinator kept its max_concurrent_runs slots, from the first dequeue to the last end:
    a run holds a slot from its dequeue to its end. Near 1, the queue refilled every slot as soon as it freed."""
    held = [(run.dequeued, run.ended) for run in runs if run.dequeued is not None and run.ended is not None]
    if not held or max_concurrent_runs < 1:
        return 0.0
    span = max(end for _start, end in held) - min(start for start, _end in held)
    return round(sum(end - start for start, end in held) / (max_concurrent_runs * span), 2) if span else 0.0


def summarize(
    runs: list[RunTimes], launched: float, finished: float, max_concurrent_runs: int, heartbeat_ages: dict[str, float]
) -> dict[str, Any]:
    """The figure, from every run of the backfill and the oldest heartbeat seen of each daemon."""
    statuses: dict[str, int] = {}
    for run in runs:
        statuses[run.status] = statuses.get(run.status, 0) + 1
    stalled = sorted(name for name, age in heartbeat_ages.items() if age > heartbeat_tolerance(name))
    return {
        "runs": len(runs),
        "statuses": statuses,
        "max_concurrent_runs": max_concurrent_runs,
        "seconds": round(finished - launched, 1),
        "runs_per_second": round(len(runs) / (finished - launched), 2) if finished > launched else 0.0,
        "submitted_runs_per_second": rate([run.created for run in runs]),
        "dequeued_runs_per_second": rate([run.dequeued for run in runs if run.dequeued is not None]),
        "started_runs_per_second": rate([run.started for run in runs if run.started is not None]),
        "slot_occupancy": occupancy(runs, max_concurrent_runs),
        "queued_seconds": spread([run.dequeued - run.created for run in runs if run.dequeued is not None]),
        "queued_to_started_seconds": spread([run.started - run.created for run in runs if run.started is not None]),
        "dequeued_to_started_seconds": spread(
            [run.started - run.dequeued for run in runs if run.started is not None and run.dequeued is not None]
        ),
        "started_to_end_seconds": spread(
            [run.ended - run.started for run in runs if run.ended is not None and run.started is not None]
        ),
        "oldest_heartbeat_seconds": {name: round(age, 1) for name, age in sorted(heartbeat_ages.items())},
        "heartbeat_tolerance_seconds": {name: heartbeat_tolerance(name) for name in sorted(heartbeat_ages)},
        "stalled_daemons": stalled,
    }


def dequeued_at(events: list[dict[str, Any]]) -> float | None:
    """When the run coordinator took the run off the queue: the RunStartingEvent its launch writes (Dagster
    writes no event of the dequeue itself; timestamps in ms)."""
    for event in events:
        if event["__typename"] == "RunStartingEvent":
            return float(event["timestamp"]) / 1000
    return None


def measure(
    client: Client, partitions: int, max_concurrent_runs: int, timeout: float = 5400, poll: float = 5.0
) -> dict[str, Any]:
    keys = partition_keys(partitions)
    launched = time.time()
    backfill_id = client.launch_backfill([ASSET], keys)
    runner.say(f"backfill {backfill_id}: {partitions} partitions of {ASSET}")
    heartbeat_ages: dict[str, float] = {}
    while True:
        status, runs = client.backfill(backfill_id)
        now = time.time()
        for daemon, heartbeat in client.daemon_heartbeats().items():
            age = now - heartbeat if heartbeat is not None else now - launched
            heartbeat_ages[daemon] = max(heartbeat_ages.get(daemon, 0.0), age)
        if status in BACKFILL_FINISHED:
            break
        if now - launched > timeout:
            raise RuntimeError(f"backfill {backfill_id} still {status} after {timeout:.0f} s, {len(runs)} runs made")
        done = sum(1 for run in runs if run["status"] in {"SUCCESS", "FAILURE", "CANCELED"})
        runner.say(f"backfill {backfill_id}: {status}, {len(runs)} runs made, {done} ended, {now - launched:.0f} s")
        time.sleep(poll)
    finished = time.time()
    times = [
        RunTimes(run["status"], run["creationTime"], dequeued, run["startTime"], run["endTime"])
        for run, dequeued in ((run, dequeued_at(client.events(run["runId"]))) for run in runs)
    ]
    figure = {
        "figure": "backfill",
        "backfill_id": backfill_id,
        "status": status,
        "partitions": partitions,
        **summarize(times, launched, finished, max_concurrent_runs, heartbeat_ages),
    }
    if status != "COMPLETED_SUCCESS" or figure["statuses"] != {"SUCCESS": partitions}:
        raise RuntimeError(f"backfill {backfill_id} ended {status} with runs {figure['statuses']}")
    return figure


def deployed_max_concurrent_runs(fleet: runner.Fleet, control: str = "node1") -> int:
    """The run queue's bound as the deployment rendered it in dagster.yaml."""
    config_dir = names.lab_names(fleet.nodes_inventory)["dagster_deployment_config_dir"]
    address = job.node_address(fleet.nodes_inventory, control)
    rendered = ssh.run(
        address, fleet.state / "id_ed25519", fleet.state / "known_hosts", "cat", f"{config_dir}/dagster.yaml"
    )
    return int(yaml.safe_load(rendered)["concurrency"]["runs"]["max_concurrent_runs"])


def run(nodes: int, partitions: int, results: Path, keep: bool = False) -> dict[str, Any]:
    """A lab of its own, deployed cold, then the backfill."""
    fleet = runner.sized_fleet(f"dagster-bench-backfill-{nodes}", nodes, results)
    fleet.lab("down")
    try:
        fleet.lab("up", "--nodes", str(nodes))
        with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
            fleet.playbook(f"backfill-ca-{nodes}", "playbooks/lab_ca.yml")
            fleet.playbook(
                f"backfill-deploy-{nodes}", "site.yml", "-e", f"dagster_release_cache_dir={workdir}/wheelhouses"
            )
        client, _run_config = fleet.webserver()
        return {"nodes": nodes, **measure(client, partitions, deployed_max_concurrent_runs(fleet))}
    finally:
        if not keep:
            fleet.lab("down")
