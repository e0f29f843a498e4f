"""The deployed cluster runs Dagster jobs through Celery across hosts, as the inventory says."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.molecule import (
    CONFIG_DIR,
    SHARED_DIR,
    USER,
    changed_per_host,
    host,
    hosts_in,
    inventory,
    worker_instance,
    worker_unit,
)
from testinfra.utils.ansible_runner import AnsibleRunner

from lab.dagster_client import Client, RunReport, location_of

WORKERS = hosts_in("workers")
DAGSTER_NODES = sorted(set(hosts_in("control")) | set(WORKERS))
# side_effect.yml added a queue to this host, then took it away again.
CHANGED_HOST = WORKERS[-1]
CONFIG_FILES = ["dagster.yaml", "dagster.env", "run_config.yaml", "celery/dagster_celery_config.py"]


def queues_of(name: str) -> dict[str, int]:
    variables = AnsibleRunner(inventory()).get_variables(name)
    return {q["name"]: int(q["concurrency"]) for q in variables["dagster_worker_queues"]}


def heavy_concurrency(name: str) -> int:
    return queues_of(name)["heavy"]


def serving(queue: str) -> set[str]:
    return {name for name in WORKERS if queue in queues_of(name)}


def run(client: Client, run_config: dict[str, Any], job: str, tags: dict[str, str] | None = None) -> RunReport:
    run_id = client.launch(location_of(client, job), job, run_config, tags)
    client.wait(run_id, timeout=300)
    return client.report(run_id)


@pytest.fixture(scope="module")
def fan_out(client: Client, run_config: dict[str, Any]) -> RunReport:
    return run(client, run_config, "fan_out_job")


@pytest.mark.parametrize("path", CONFIG_FILES)
def test_config_is_byte_identical_on_every_dagster_node(path: str) -> None:
    sums = {name: host(name).file(f"{CONFIG_DIR}/{path}").sha256sum for name in DAGSTER_NODES}
    assert len(set(sums.values())) == 1, sums


@pytest.mark.parametrize("name", DAGSTER_NODES)
def test_secrets_file_is_readable_by_root_and_dagster_only(name: str) -> None:
    node = host(name)
    secrets = node.file(f"{CONFIG_DIR}/dagster.env")
    assert (secrets.user, secrets.group, secrets.mode) == ("root", "dagster", 0o640)
    assert node.run(f"runuser -u nobody -- cat {CONFIG_DIR}/dagster.env").rc != 0
    assert "DAGSTER_PG_PASSWORD=" in node.check_output(f"runuser -u {USER} -- cat {CONFIG_DIR}/dagster.env")


@pytest.mark.parametrize("name", WORKERS)
def test_worker_host_runs_exactly_its_queues_as_dagster(name: str) -> None:
    node = host(name)
    listing = node.check_output(
        "systemctl list-units --state=running --plain --no-legend 'dagster-celery-worker@*.service'"
    )
    running = {
        line.split()[0].removeprefix("dagster-celery-worker@").removesuffix(".service")
        for line in listing.splitlines()
        if line.strip()
    }
    assert running == {worker_instance(queue) for queue in queues_of(name)}
    for queue, concurrency in queues_of(name).items():
        unit = worker_unit(queue)
        pid = node.check_output(f"systemctl show -p MainPID --value {unit}")
        assert node.check_output(f"ps -o user= -p {pid}") == "dagster"
        children = node.check_output(f"ps -o pid= --ppid {pid}").split()
        assert len(children) == concurrency


@pytest.mark.parametrize("name", DAGSTER_NODES)
def test_every_dagster_unit_is_ordered_after_the_shared_mount(name: str) -> None:
    """The docker volume is mounted outside systemd, so systemd orders (After) but cannot require it."""
    node = host(name)
    listing = node.check_output("systemctl list-units --plain --no-legend 'dagster-*.service'")
    units = [line.split()[0] for line in listing.splitlines() if line.strip()]
    assert units
    for unit in units:
        shown = node.check_output(f"systemctl show {unit} --property=RequiresMountsFor,After")
        properties = dict(line.split("=", 1) for line in shown.splitlines())
        assert SHARED_DIR in properties["RequiresMountsFor"].split(), unit
        assert "srv-dagster.mount" in properties["After"].split(), unit


def test_job_succeeds_on_the_cluster(fan_out: RunReport) -> None:
    assert fan_out.status == "SUCCESS"
    assert all(step.status == "SUCCESS" for step in fan_out.steps.values()), fan_out.steps
    assert len(fan_out.steps) == 7


def test_every_step_ran_on_a_host_serving_its_queue(fan_out: RunReport) -> None:
    for step in fan_out.steps.values():
        assert step.queue, f"{step.key}: no queue recorded"
        assert step.host in serving(step.queue), f"{step.key} on {step.worker}, queue {step.queue}"
        assert step.worker.startswith(f"{worker_instance(step.queue)}@")


def test_output_written_on_one_host_is_read_on_another(
    client: Client, run_config: dict[str, Any], fan_out: RunReport
) -> None:
    # generate feeds every shard; summarize reads every shard. Scheduling decides
    # the hosts, so look for a cross-host edge over at most three runs.
    report = fan_out
    for _ in range(3):
        shard_hosts = {s.host for key, s in report.steps.items() if key.startswith("square_shard")}
        read_generate_elsewhere = shard_hosts - {report.steps["generate"].host}
        summarize_read_elsewhere = shard_hosts - {report.steps["summarize"].host}
        if read_generate_elsewhere or summarize_read_elsewhere:
            return
        report = run(client, run_config, "fan_out_job")
    pytest.fail("no output crossed hosts in three runs")


def database_sessions() -> int:
    """Connections the database has accepted since it started."""
    database = host(hosts_in("database")[0])
    return int(database.check_output("runuser -u postgres -- psql -tAc 'select sum(sessions) from pg_stat_database'"))


def test_steps_reuse_their_processes_database_connections(client: Client, run_config: dict[str, Any]) -> None:
    """Dagster's storage and the result backend keep one connection per process (dagster_celery_kit).

    Without, every query of a step or of the orchestrator's polling opened one: about 24 per step.
    """
    run(client, run_config, "wide_fan_out_job")  # every worker process opens its connections
    before = database_sessions()
    report = run(client, run_config, "wide_fan_out_job")
    opened = database_sessions() - before
    assert report.status == "SUCCESS"
    assert opened < len(report.steps), f"{opened} new database connections for {len(report.steps)} steps"


def test_queued_steps_are_picked_in_priority_order(client: Client, run_config: dict[str, Any]) -> None:
    heavy_hosts = sorted(serving("heavy"))
    for name in heavy_hosts:
        host(name).check_output(f"systemctl stop {worker_unit('heavy')}")
    try:
        launched = {}
        location = location_of(client, "release_probe_job")
        for priority in (1, 5, 9):
            launched[priority] = client.launch(
                location, "release_probe_job", run_config, {"dagster-celery/run_priority": str(priority)}
            )
        deadline = time.monotonic() + 120
        while not all(
            client.report(r).steps.get("report_release", None) and client.report(r).steps["report_release"].queue
            for r in launched.values()
        ):
            assert time.monotonic() < deadline, "steps were not submitted to the heavy queue"
            time.sleep(1)
        # One worker comes back; with prefetch 1 it reserves as many steps as it
        # has pool processes, so the lowest-priority step must be the one left waiting.
        first = heavy_hosts[0]
        host(first).check_output(f"systemctl start {worker_unit('heavy')}")
        for run_id in launched.values():
            assert client.wait(run_id, timeout=180) == "SUCCESS"
        started = {p: client.report(r).steps["report_release"].started for p, r in launched.items()}
        assert heavy_concurrency(first) < len(launched)
        assert started[1] > max(started[5], started[9]), started  # type: ignore[type-var]
    finally:
        for name in heavy_hosts:
            host(name).check_output(f"systemctl start {worker_unit('heavy')}")


def recap(name: str) -> dict[str, int]:
    """changed= count per host in a PLAY RECAP left by side_effect.yml."""
    return changed_per_host((Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / f"side_effect-{name}.txt").read_text())


def test_changing_one_hosts_queues_changes_only_that_host() -> None:
    changed = recap("added")
    assert set(changed) == set(DAGSTER_NODES)
    assert changed[CHANGED_HOST] > 0
    assert {name: count for name, count in changed.items() if name != CHANGED_HOST} == dict.fromkeys(
        [n for n in DAGSTER_NODES if n != CHANGED_HOST], 0
    )


def test_a_queue_that_left_the_inventory_is_stopped_and_disabled() -> None:
    changed = recap("restored")
    assert changed[CHANGED_HOST] > 0
    assert all(count == 0 for name, count in changed.items() if name != CHANGED_HOST), changed
    node = host(CHANGED_HOST)
    assert not node.service(worker_unit("extra")).is_running
    assert not node.service(worker_unit("extra")).is_enabled
