"""Deploy figures on a lab of N fresh nodes: cold deploy by phase and the first job; with --full
also the no-op re-run, a code-only upgrade (the median of --repeats runs each) and the fan-out throughput
on the same lab; with batch sizes,
the no-op re-run and one code-only upgrade per `dagster_rollout_batch_size`."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from bench import runner, throughput, timings, topology
from lab import job, ssh

EXAMPLE_PROJECT = runner.REPO / "files" / "example_project"


def playbook_figure(timed: timings.PlaybookTimings) -> dict[str, Any]:
    return {
        "seconds": round(timed.seconds, 1),
        "cpu_seconds": timed.cpu_seconds,
        "node_cpu_seconds": timed.node_cpu_seconds,
        "phases": timed.phases,
        "changed": timed.changed,
    }


def edited_project(workdir: Path) -> Path:
    """The example project with one comment added: new code, same dependencies."""
    project = workdir / "example_project"
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(EXAMPLE_PROJECT, project, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    definitions = project / "dagster_celery_example" / "definitions.py"
    definitions.write_text(definitions.read_text() + f"\n# benchmark edit {time.time()}\n")
    return project


def run_host_cores(fleet: runner.Fleet, host: str = "node1") -> int:
    address = job.node_address(fleet.nodes_inventory, host)
    return int(ssh.run(address, fleet.state / "id_ed25519", fleet.state / "known_hosts", "nproc").strip())


def median_figure(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median wall time, with every run's seconds; changed is each host's most over all runs,
    so a run that changed something is never hidden behind the median."""
    if len(runs) == 1:
        return runs[0]
    middle = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    hosts = {host for run in runs for host in run["changed"]}
    changed = {host: max(run["changed"].get(host, 0) for run in runs) for host in sorted(hosts)}
    return {**middle, "changed": changed, "runs_seconds": [run["seconds"] for run in runs]}


def rollout_figure(timed: timings.PlaybookTimings, batch_size: int, worker_hosts: int) -> dict[str, Any]:
    return {**playbook_figure(timed), "batch_size": batch_size,
            "seconds_per_worker_host": round(timed.seconds / worker_hosts, 1)}  # fmt: skip


def measure(
    nodes: int,
    results: Path,
    full: bool,
    runs: int,
    keep: bool = False,
    batch_sizes: tuple[int, ...] = (),
    repeats: int = 1,
) -> dict[str, Any]:
    fleet = runner.sized_fleet(f"dagster-bench-{nodes}", nodes, results)
    layout = yaml.safe_load(fleet.inventories[1].read_text())
    fleet.lab("down")
    document: dict[str, Any] = {"figure": "deploy", "nodes": nodes}
    try:
        started = time.monotonic()
        fleet.lab("up", "--nodes", str(nodes))
        document["nodes_up_seconds"] = round(time.monotonic() - started, 1)
        with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
            cache = f"dagster_release_cache_dir={workdir}/wheelhouses"
            # The front door's certificate comes from the lab CA, issued on the controller; not part of the figure.
            fleet.playbook(f"ca-{nodes}", "playbooks/lab_ca.yml")
            cold = fleet.playbook(f"cold-{nodes}", "site.yml", "-e", cache)
            client, run_config = fleet.webserver()
            first_job = runner.timed_run(client, "fan_out_job", run_config)
            document["cold"] = playbook_figure(cold)
            document["first_job"] = first_job
            document["to_first_job_seconds"] = round(cold.seconds + first_job["seconds"], 1)
            if full:
                noops = [fleet.playbook(f"noop-{nodes}-{run}", "site.yml", "-e", cache) for run in range(repeats)]
                document["noop"] = median_figure([playbook_figure(noop) for noop in noops])
                upgrades = []
                for run in range(repeats):
                    project = f"dagster_release_project_dir={edited_project(Path(workdir) / f'upgrade-{run}')}"
                    upgrades.append(
                        fleet.playbook(f"upgrade-{nodes}-{run}", "playbooks/upgrade.yml", "-e", cache, "-e", project)
                    )
                document["upgrade"] = median_figure([playbook_figure(upgrade) for upgrade in upgrades])
                document["throughput"] = throughput.measure(
                    client, run_config, topology.slots(layout), run_host_cores(fleet), runs
                )
            if batch_sizes and not full:
                document["noop"] = playbook_figure(fleet.playbook(f"noop-{nodes}", "site.yml", "-e", cache))
            worker_hosts = len(layout["workers"]["hosts"])
            document["rollouts"] = []
            for size in batch_sizes:
                project = f"dagster_release_project_dir={edited_project(Path(workdir) / f'batch-{size}')}"
                rolled = fleet.playbook(f"upgrade-{nodes}-batch-{size}", "playbooks/upgrade.yml", "-e", cache,
                                        "-e", project, "-e", f"dagster_rollout_batch_size={size}")  # fmt: skip
                document["rollouts"].append(rollout_figure(rolled, size, worker_hosts))
    finally:
        if not keep:
            fleet.lab("down")
    return document
