"""Release B rolled out while a job runs, then rolled back: no step lost or repeated, queues always served."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers.molecule import changed_per_host, deployed_run_config, host, hosts_in, playbook, webserver

from lab.dagster_client import Client, RunReport, location_of

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
CONTROL = hosts_in("control")[0]
BROKER = hosts_in("broker")[0]
WORKERS = hosts_in("workers")
DAGSTER_NODES = sorted({CONTROL, *WORKERS})
QUEUES = ("dagster", "heavy")
# Longer than staging the release plus one host's turn (about 100 s), so a host still runs a step when
# its drain starts, whichever host the steps landed on.
STEP_SECONDS = 150
# A rollback stages nothing new: the first host's turn comes within about 20 s.
ROLLBACK_STEP_SECONDS = 60


def current_release(name: str) -> str:
    return Path(host(name).check_output("readlink -f /opt/dagster/current")).name


def worker_pids(name: str) -> dict[str, str]:
    node = host(name)
    return {q: node.check_output(f"systemctl show -p MainPID --value dagster-celery-worker@{q}") for q in QUEUES}


class ConsumerWatch(threading.Thread):
    """Asks the broker, about twice a second, how many consumers each queue has."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        command = ["docker", "exec", BROKER, "rabbitmqctl", "-q", "list_queues", "-p", "dagster"]
        command += ["--no-table-headers", "name", "consumers"]
        while not self.stop.is_set():
            listing = subprocess.run(command, capture_output=True, text=True).stdout
            counts = {line.split()[0]: int(line.split()[1]) for line in listing.splitlines() if len(line.split()) == 2}
            self.samples.append((time.monotonic(), {q: counts.get(q, 0) for q in QUEUES}))
            time.sleep(0.5)

    def longest_gap(self, queue: str) -> float:
        """Longest time the queue was seen without a consumer (0 if never)."""
        longest, since = 0.0, None
        for stamp, counts in self.samples:
            if counts[queue] == 0:
                since = stamp if since is None else since
                longest = max(longest, stamp - since)
            else:
                since = None
        return longest


@dataclass
class Rollout:
    """What happened while a playbook rolled the fleet during a run."""

    playbook: subprocess.CompletedProcess[str]
    seconds: float
    run: RunReport
    watch: ConsumerWatch
    releases: dict[str, str]


ROLLED_HOST = re.compile(
    r"rollout (?P<host>\S+): (?P<total>[\d.]+) s "
    r"\(draining (?P<drain>[\d.]+) s, restart and health check (?P<restart>[\d.]+) s\)"
)


def seconds_per_host(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, float]]:
    """What dagster_rollout reports for each worker host it moved (batch size 1: one host per batch)."""
    return {
        m["host"]: {"total": float(m["total"]), "draining": float(m["drain"]), "restart": float(m["restart"])}
        for m in ROLLED_HOST.finditer(result.stdout)
    }


@pytest.fixture(scope="module")
def client() -> Client:
    return webserver()


@pytest.fixture(scope="module")
def run_config() -> dict[str, Any]:
    return deployed_run_config(STEP_SECONDS)


def roll_during_run(client: Client, run_config: dict[str, Any], name: str, *extra: str) -> Rollout:
    run_id = client.launch(location_of(client, "long_steps_job"), "long_steps_job", run_config)
    deadline = time.monotonic() + 120
    while not all(s.started for s in client.report(run_id).steps.values()) or len(client.report(run_id).steps) < 2:
        assert time.monotonic() < deadline, "the long steps never started"
        time.sleep(1)
    watch = ConsumerWatch()
    watch.start()
    started = time.monotonic()
    result = playbook(name, *extra)
    seconds = time.monotonic() - started
    watch.stop.set()
    watch.join()
    client.wait(run_id, timeout=300)
    return Rollout(result, seconds, client.report(run_id), watch, {n: current_release(n) for n in DAGSTER_NODES})


@pytest.fixture(scope="module")
def release_a() -> str:
    return current_release(WORKERS[0])


@pytest.fixture(scope="module")
def upgrade(client: Client, run_config: dict[str, Any], release_a: str) -> Rollout:
    project_b = EPHEMERAL / "project_b"
    shutil.rmtree(project_b, ignore_errors=True)
    shutil.copytree(PROJECT / "files/example_project", project_b, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    with (project_b / "dagster_celery_example/definitions.py").open("a") as module:
        module.write("\n# release B: same jobs, different code\n")
    return roll_during_run(client, run_config, "upgrade.yml", "-e", f"dagster_release_project_dir={project_b}")


@pytest.fixture(scope="module")
def release_b(upgrade: Rollout) -> str:
    return upgrade.releases[WORKERS[0]]


def probe_release(client: Client, run_config: dict[str, Any]) -> str:
    executor_only = {key: value for key, value in run_config.items() if key != "ops"}
    run_id = client.launch(location_of(client, "release_probe_job"), "release_probe_job", executor_only)
    client.wait(run_id, timeout=120)
    return client.report(run_id).steps["report_release"].outputs["release"]


def test_upgrade_succeeds_and_moves_every_node_to_b(upgrade: Rollout, release_a: str, release_b: str) -> None:
    assert upgrade.playbook.returncode == 0, upgrade.playbook.stdout[-2000:] + upgrade.playbook.stderr[-2000:]
    assert release_b != release_a
    assert set(upgrade.releases.values()) == {release_b}
    per_host = seconds_per_host(upgrade.playbook)
    assert set(per_host) == set(WORKERS), "each worker host reports its rollout"
    assert max(rolled["draining"] for rolled in per_host.values()) > 10, "no host waited for a running step"


def test_the_run_during_the_upgrade_lost_and_repeated_nothing(upgrade: Rollout) -> None:
    assert upgrade.run.status == "SUCCESS"
    assert {key: (s.status, s.starts) for key, s in upgrade.run.steps.items()} == {
        "sleep_on_default": ("SUCCESS", 1),
        "long_step": ("SUCCESS", 1),
    }


def test_each_queue_kept_a_consumer_throughout_the_upgrade(upgrade: Rollout) -> None:
    assert len(upgrade.watch.samples) > 10
    for queue in QUEUES:
        assert min(counts[queue] for _, counts in upgrade.watch.samples) >= 1, queue


def test_a_run_after_the_upgrade_executes_release_b(
    upgrade: Rollout, client: Client, run_config: dict[str, Any], release_b: str
) -> None:
    assert probe_release(client, run_config) == release_b


def test_upgrading_to_the_current_release_changes_nothing(upgrade: Rollout, release_b: str) -> None:
    pids = {name: worker_pids(name) for name in WORKERS}
    again = playbook("upgrade.yml", "-e", f"dagster_release_project_dir={EPHEMERAL / 'project_b'}")
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert set(changed_per_host(again.stdout).values()) == {0}, changed_per_host(again.stdout)
    assert {name: worker_pids(name) for name in WORKERS} == pids


@pytest.fixture(scope="module")
def rollback(upgrade: Rollout, client: Client) -> Rollout:
    rolled_back = roll_during_run(client, deployed_run_config(ROLLBACK_STEP_SECONDS), "rollback.yml")
    figures = {
        label: {
            "seconds": round(rollout.seconds, 1),
            "per_host_seconds": seconds_per_host(rollout.playbook),
            "longest_without_consumer_seconds": {q: round(rollout.watch.longest_gap(q), 1) for q in QUEUES},
        }
        for label, rollout in (("upgrade", upgrade), ("rollback", rolled_back))
    }
    # Kept for the README and benchmarks (the ephemeral directory goes with the scenario).
    (PROJECT / ".cache").mkdir(exist_ok=True)
    (PROJECT / ".cache/rollout-figures.json").write_text(json.dumps(figures, indent=2))
    return rolled_back


def test_rollback_returns_every_node_to_a_without_losing_steps(
    rollback: Rollout, client: Client, run_config: dict[str, Any], release_a: str
) -> None:
    assert rollback.playbook.returncode == 0, rollback.playbook.stdout[-2000:] + rollback.playbook.stderr[-2000:]
    assert set(rollback.releases.values()) == {release_a}
    assert rollback.run.status == "SUCCESS"
    assert all((s.status, s.starts) == ("SUCCESS", 1) for s in rollback.run.steps.values())
    for queue in QUEUES:
        assert min(counts[queue] for _, counts in rollback.watch.samples) >= 1, queue
    assert probe_release(client, run_config) == release_a
