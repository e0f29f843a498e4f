"""Drive a lab for the benchmarks: bring nodes up, run playbooks with the timing callback, launch jobs."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from bench import timings, topology
from lab import cli as lab_cli
from lab import job
from lab.dagster_client import Client, location_of

REPO = Path(__file__).resolve().parent.parent
CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"
LAB_GROUP_VARS = REPO / "inventories" / "lab" / "group_vars" / "all" / "main.yml"


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Fleet:
    """A lab by name, and the inventory files that describe it."""

    name: str
    inventories: tuple[Path, ...]
    logs: Path

    @property
    def state(self) -> Path:
        return REPO / ".lab" / self.name

    @property
    def nodes_inventory(self) -> Path:
        return self.inventories[0]

    def lab(self, *args: str) -> None:
        argv = ["--name", self.name, "--inventory", str(self.nodes_inventory), *args]
        if lab_cli.main(argv) != 0:
            raise RuntimeError(f"lab {' '.join(args)} failed for {self.name}")

    def playbook(self, label: str, playbook: str, *extra: str) -> timings.PlaybookTimings:
        """Run a playbook with the timing callback; its output goes to a log file."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log, timing_file = self.logs / f"{label}.log", self.logs / f"{label}.json"
        environment = {
            **os.environ,
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
            "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.timer,bench_timings",
            "BENCH_TIMINGS_FILE": str(timing_file),
        }
        argv = ["ansible-playbook", *(f"-i{path}" for path in self.inventories), playbook, *extra]
        say(f"{label}: ansible-playbook {playbook} {' '.join(extra)} (log: {log})")
        busy_before, nodes_before = timings.machine_busy_seconds(), timings.containers_cpu_seconds()
        with log.open("w") as output:
            proc = subprocess.run(argv, cwd=REPO, env=environment, stdout=output, stderr=subprocess.STDOUT)
        busy, nodes_after = timings.machine_busy_seconds() - busy_before, timings.containers_cpu_seconds()
        if proc.returncode != 0:
            raise RuntimeError(f"{label}: {playbook} failed (exit {proc.returncode}); see {log}")
        on_nodes = None if nodes_before is None or nodes_after is None else round(nodes_after - nodes_before, 1)
        result = dataclasses.replace(timings.load(timing_file), cpu_seconds=round(busy, 1), node_cpu_seconds=on_nodes)
        say(
            f"{label}: {result.seconds:.1f} s, {result.total_changed} changed, "
            f"{busy:.0f} CPU-seconds ({on_nodes} on the nodes)"
        )
        return result

    def webserver(self, control: str = "node1") -> tuple[Client, dict[str, Any]]:
        """A client of the lab's webserver and the Celery run config the deployment rendered."""
        key, known_hosts = self.state / "id_ed25519", self.state / "known_hosts"
        run_config = job.deployed_run_config(self.nodes_inventory, key, known_hosts, control)
        return job.front_door(self.state, self.nodes_inventory, control).client(), run_config


def sized_fleet(name: str, nodes: int, results: Path) -> Fleet:
    """A lab of `nodes` nodes with a generated topology next to its connection inventory."""
    state = REPO / ".lab" / name
    layout = state / "topology.yml"
    layout.parent.mkdir(parents=True, exist_ok=True)
    layout.write_text("---\n# Written by the benchmarks.\n" + yaml.safe_dump(topology.topology(nodes), sort_keys=False))
    group_vars = state / "group_vars" / "all"
    group_vars.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(LAB_GROUP_VARS, group_vars / "main.yml")
    return Fleet(name, (state / "nodes.yml", layout), results / "logs" / name)


def timed_run(client: Client, job_name: str, run_config: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
    """Launch a job and wait: wall time from launch, and the run's own start-to-end time."""
    location = location_of(client, job_name)
    started, busy_before = time.monotonic(), timings.machine_busy_seconds()
    run_id = client.launch(location, job_name, run_config)
    status = client.wait(run_id, timeout=timeout, poll=0.5)
    wall, busy = time.monotonic() - started, timings.machine_busy_seconds() - busy_before
    report = client.report(run_id)
    if status != "SUCCESS":
        raise RuntimeError(f"{job_name} run {run_id} ended {status}: {'; '.join(report.failures[:3])}")
    hosts: dict[str, int] = {}
    for step in report.steps.values():
        hosts[step.host or "run host"] = hosts.get(step.host or "run host", 0) + 1
    return {
        "run_id": run_id,
        "seconds": round(wall, 1),
        "cpu_seconds": round(busy, 1),
        "steps": len(report.steps),
        "steps_per_host": hosts,
    }


def write_result(results: Path, name: str, document: dict[str, Any]) -> Path:
    results.mkdir(parents=True, exist_ok=True)
    target = results / f"{name}.json"
    target.write_text(json.dumps(document, indent=2) + "\n")
    say(f"wrote {target}")
    return target
