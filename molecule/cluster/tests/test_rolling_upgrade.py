"""Release B rolled out while a job runs, then rolled back: no step lost or repeated, queues always served,
and the run still orchestrating when the control node switches survives it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers.molecule import (
    HOME,
    LOCATION,
    SHARED_DIR,
    changed_per_host,
    host,
    hosts_in,
    playbook,
    rollout_run_config,
    worker_instance,
)

from lab.dagster_client import FINISHED, Client, RunReport, location_of

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
CONTROL = hosts_in("control")[0]
BROKER = hosts_in("broker")[0]
WORKERS = hosts_in("workers")
DAGSTER_NODES = sorted({CONTROL, *WORKERS})
# The broker queues of the example location, which are also its worker instances and Celery node names.
QUEUES = (worker_instance("dagster"), worker_instance("heavy"))
# The two long steps start on the first host rolled (the others' consumers are off until then) and run
# until the test releases them, this long after that host stops consuming: its drain must wait for them,
# however long staging the release takes on the machine (60 s on a quick one, 162 s on the slowest seen).
HELD_INTO_DRAIN_SECONDS = 20
# Then three steps in a row, the last on a queue nobody serves until the playbook has ended: the run is
# still orchestrating when the control node switches (last), whatever the machine's speed.
LINK_SECONDS = 10
HOLD_QUEUE = worker_instance("on_hold")
ROLLOUT_STEPS = ("sleep_on_default", "long_step", "link_1", "link_2", "link_3")


def current_release(name: str) -> str:
    return Path(host(name).check_output(f"readlink -f {HOME}/locations/{LOCATION}/current")).name


def worker_pids(name: str) -> dict[str, str]:
    node = host(name)
    return {q: node.check_output(f"systemctl show -p MainPID --value dagster-celery-worker@{q}") for q in QUEUES}


class ConsumerWatch(threading.Thread):
    """Asks the broker, about twice a second, how many consumers each queue has. Once every queue had all
    its consumers and then one fewer (the first host rolled has begun draining), it creates release_file
    HELD_INTO_DRAIN_SECONDS later, on the shared storage, which ends the held steps."""

    def __init__(self, release_file: str) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.stop = threading.Event()
        self.release_file = release_file
        self.drain_seen_at: float | None = None

    def run(self) -> None:
        command = ["docker", "exec", BROKER, "rabbitmqctl", "-q", "list_queues", "-p", "dagster"]
        command += ["--no-table-headers", "name", "consumers"]
        full = len(WORKERS)  # every worker host serves every queue here (host_vars)
        was_full = False
        while not self.stop.is_set():
            listing = subprocess.run(command, capture_output=True, text=True).stdout
            counts = {line.split()[0]: int(line.split()[1]) for line in listing.splitlines() if len(line.split()) == 2}
            self.samples.append((time.monotonic(), {q: counts.get(q, 0) for q in QUEUES}))
            was_full = was_full or all(counts.get(q, 0) >= full for q in QUEUES)
            if was_full and self.drain_seen_at is None and any(counts.get(q, 0) < full for q in QUEUES):
                self.drain_seen_at = time.monotonic()
                timer = threading.Timer(HELD_INTO_DRAIN_SECONDS, self.release)
                timer.daemon = True
                timer.start()
            time.sleep(0.5)

    def release(self) -> None:
        host(CONTROL).check_output(f"touch {self.release_file}")

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
    # The run had not finished when the playbook (whose last play switches the control node) ended.
    orchestrating_after_control_switch: bool


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


def consumers(name: str, action: str) -> None:
    """cancel_consumer or add_consumer for every queue of a worker host."""
    for queue in QUEUES:
        host(name).check_output(f"dagster-celery control {action} {queue} --timeout=10 -d {queue}@{name}")


def start_long_steps_on(client: Client, first: str, run_config: dict[str, Any]) -> str:
    """Launch rollout_job with only `first` consuming; return once both long steps are STARTED there."""
    others = [name for name in WORKERS if name != first]
    for other in others:
        consumers(other, "cancel_consumer")
    try:
        run_id = client.launch(location_of(client, "rollout_job"), "rollout_job", run_config)
        deadline = time.monotonic() + 120
        while True:
            steps = client.report(run_id).steps
            if all(steps.get(key) and steps[key].started and steps[key].worker for key in ROLLOUT_STEPS[:2]):
                break
            assert time.monotonic() < deadline, "the long steps never started"
            time.sleep(1)
    finally:
        for other in others:
            consumers(other, "add_consumer")
    assert {steps[key].host for key in ROLLOUT_STEPS[:2]} == {first}
    return run_id


def roll_during_run(client: Client, name: str, *extra: str) -> Rollout:
    release_file = f"{SHARED_DIR}/release-{uuid.uuid4().hex}"
    # The first host in the rollout's order (serial batches follow the inventory's order).
    run_id = start_long_steps_on(client, WORKERS[0], rollout_run_config(release_file, LINK_SECONDS))
    watch = ConsumerWatch(release_file)
    watch.start()
    started = time.monotonic()
    try:
        result = playbook(name, *extra)
    finally:
        # Whatever happened, the held steps end.
        watch.release()
    seconds = time.monotonic() - started
    orchestrating = client.status(run_id) not in FINISHED
    watch.stop.set()
    watch.join()
    # Let the held step run, on the first worker, then stop serving its queue again.
    release = f"-d {QUEUES[0]}@{WORKERS[0]} --timeout=10"
    host(WORKERS[0]).check_output(f"dagster-celery control add_consumer {HOLD_QUEUE} {release}")
    client.wait(run_id, timeout=400)
    host(WORKERS[0]).check_output(f"dagster-celery control cancel_consumer {HOLD_QUEUE} {release}")
    releases = {n: current_release(n) for n in DAGSTER_NODES}
    return Rollout(result, seconds, client.report(run_id), watch, releases, orchestrating)


@pytest.fixture(scope="module")
def release_a() -> str:
    return current_release(WORKERS[0])


@pytest.fixture(scope="module")
def upgrade(client: Client, release_a: str) -> Rollout:
    project_b = EPHEMERAL / "project_b"
    shutil.rmtree(project_b, ignore_errors=True)
    shutil.copytree(PROJECT / "files/example_project", project_b, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    with (project_b / "dagster_celery_example/definitions.py").open("a") as module:
        module.write("\n# release B: same jobs, different code\n")
    return roll_during_run(client, "upgrade.yml", "-e", f"dagster_release_project_dir={project_b}")


@pytest.fixture(scope="module")
def release_b(upgrade: Rollout) -> str:
    return upgrade.releases[WORKERS[0]]


def probe_release(client: Client, run_config: dict[str, Any]) -> str:
    run_id = client.launch(location_of(client, "release_probe_job"), "release_probe_job", run_config)
    client.wait(run_id, timeout=120)
    return client.report(run_id).steps["report_release"].outputs["release"]


def test_upgrade_succeeds_and_moves_every_node_to_b(upgrade: Rollout, release_a: str, release_b: str) -> None:
    assert upgrade.playbook.returncode == 0, upgrade.playbook.stdout[-2000:] + upgrade.playbook.stderr[-2000:]
    assert release_b != release_a
    assert set(upgrade.releases.values()) == {release_b}
    per_host = seconds_per_host(upgrade.playbook)
    assert set(per_host) == set(WORKERS), "each worker host reports its rollout"
    assert per_host[WORKERS[0]]["draining"] > 10, "the first host did not wait for the steps running on it"


def test_the_run_during_the_upgrade_lost_and_repeated_nothing(upgrade: Rollout) -> None:
    assert upgrade.orchestrating_after_control_switch, "the run ended before the control node switched"
    assert upgrade.run.status == "SUCCESS", upgrade.run.failures
    assert {key: (s.status, s.starts) for key, s in upgrade.run.steps.items()} == {
        key: ("SUCCESS", 1) for key in ROLLOUT_STEPS
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
    rolled_back = roll_during_run(client, "rollback.yml")
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
    assert rollback.orchestrating_after_control_switch, "the run ended before the control node switched"
    assert rollback.run.status == "SUCCESS", rollback.run.failures
    assert {key: (s.status, s.starts) for key, s in rollback.run.steps.items()} == {
        key: ("SUCCESS", 1) for key in ROLLOUT_STEPS
    }
    for queue in QUEUES:
        assert min(counts[queue] for _, counts in rollback.watch.samples) >= 1, queue
    assert probe_release(client, run_config) == release_a
