"""A team's code on the fleet: its environment and secrets, Dagster's pools on the Celery executor at op
granularity, tag concurrency limits, and dagster.yaml values Dagster refuses (group_vars/all/your_code.yml)."""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
import time
from datetime import date, timedelta
from typing import Any

import pytest
from helpers.molecule import (
    CONFIG_DIR,
    HOME,
    LOCATION,
    STATE_DIR,
    USER,
    deployed_run_config,
    host,
    hosts_in,
    inventory,
    password,
    playbook,
    pool_slots_held,
    record_figure,
    sql,
)
from testinfra.utils.ansible_runner import AnsibleRunner

from lab.dagster_client import FINISHED, Client, location_of, most_at_once

CONTROL = hosts_in("control")[0]
DATABASE = hosts_in("database")[0]
WORKERS = hosts_in("workers")
DAGSTER_NODES = sorted({CONTROL, *WORKERS})
POOL, POOL_LIMIT = "warehouse", 2
BACKFILL_PARTITIONS = [str(date(2026, 3, 1) + timedelta(days=day)) for day in range(30)]


def concurrency_of(name: str, queue: str) -> int:
    variables = AnsibleRunner(inventory()).get_variables(name)
    return sum(int(q["concurrency"]) for q in variables["dagster_worker_queues"] if q["name"] == queue)


def token() -> str:
    return password("example_warehouse_token")


def lines_with_token(name: str, command: str) -> int:
    """How many lines of `command`'s output on a node hold the token. The token reaches the node base64-encoded
    into a root-only file that grep reads, so no argument of this probe holds it."""
    encoded = base64.b64encode(token().encode()).decode()
    probe = "/run/token-probe"
    found = host(name).check_output(
        f"umask 077; printf %s {encoded} | base64 -d > {probe}; ({command}) | grep -cFf {probe}; rm -f {probe} ; true"
    )
    return int(found.split()[0])


@pytest.mark.parametrize("name", DAGSTER_NODES)
def test_the_locations_environment_file_is_for_root_and_the_dagster_group_only(name: str) -> None:
    environment = host(name).file(f"{CONFIG_DIR}/locations/{LOCATION}.env")
    assert (environment.user, environment.group, environment.mode) == ("root", USER, 0o640)
    assert "EXAMPLE_WAREHOUSE_TOKEN=" in environment.content_string


def test_a_locations_plain_and_secret_environment_reach_its_steps(client: Client) -> None:
    run_id = client.launch(location_of(client, "environment_probe_job"), "environment_probe_job", deployed_run_config())
    assert client.wait(run_id, timeout=300) == "SUCCESS", client.report(run_id).failures
    step = client.report(run_id).steps["probe_environment"]
    assert step.host in WORKERS
    assert step.outputs["token sha256"] == hashlib.sha256(token().encode()).hexdigest()


def test_every_process_of_the_location_has_its_environment_and_the_deployments() -> None:
    """Code server and workers by systemd, the kit's variables besides; a run's orchestrator is proven above."""
    units = {CONTROL: [f"dagster-code-server@{LOCATION}"]} | {
        name: [f"dagster-celery-worker@{LOCATION}.dagster"] for name in WORKERS
    }
    for name, names in units.items():
        for unit in names:
            pid = host(name).check_output(f"systemctl show -p MainPID --value {unit}")
            environ = set(host(name).check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ").splitlines())
            wanted = ["EXAMPLE_WAREHOUSE_HOST=warehouse.example", "KIT_DEPLOYMENT=cluster scenario",
                      f"DAGSTER_HOME={STATE_DIR}"]  # fmt: skip
            assert [line for line in wanted if line not in environ] == [], unit
            # A boolean, so a failure never prints the process's environment, the secret in it, into the log.
            has_token = f"EXAMPLE_WAREHOUSE_TOKEN={token()}" in environ
            assert has_token, f"{unit} on {name} lacks the location's secret"


@pytest.mark.parametrize("name", DAGSTER_NODES)
def test_the_secret_is_in_no_journal_line(name: str) -> None:
    found = lines_with_token(name, "journalctl --no-pager -o cat")
    assert found == 0, f"{found} journal lines on {name} hold the secret"


def test_the_instances_pools_are_the_inventorys() -> None:
    assert sql('select concurrency_key, "limit" from concurrency_limits where not using_default_limit') == (
        f"{POOL}|{POOL_LIMIT}"
    )


def reconcile(pools: dict[str, int], *flags: str) -> dict[str, Any]:
    """The kit's pool reconciliation on the control node, as site.yml runs it."""
    command = [
        "systemd-run", "--quiet", "--wait", "--pipe", "--collect", f"--uid={USER}", f"--gid={USER}",
        f"--property=EnvironmentFile={CONFIG_DIR}/dagster.env", f"--working-directory={STATE_DIR}",
        f"{HOME}/current/venv/bin/python", "-m", "dagster_celery_kit.pools", *flags, json.dumps(pools),
    ]  # fmt: skip
    result: dict[str, Any] = json.loads(host(CONTROL).check_output(shlex.join(command)))
    return result


def test_a_pool_no_longer_listed_is_deleted_and_a_listed_one_set_back() -> None:
    reconcile({POOL: 5, "left_over": 3})
    assert reconcile({POOL: POOL_LIMIT}, "--check") == {
        "set": {POOL: POOL_LIMIT}, "deleted": ["left_over"], "changed": True
    }  # fmt: skip
    assert reconcile({POOL: POOL_LIMIT})["changed"] is True
    assert reconcile({POOL: POOL_LIMIT}) == {"set": {}, "deleted": [], "changed": False}
    test_the_instances_pools_are_the_inventorys()


def test_a_backfill_through_a_pool_of_two_never_runs_more_than_two_of_its_steps(client: Client) -> None:
    backfill_id = client.launch_backfill(["daily_load"], BACKFILL_PARTITIONS)
    deadline = time.monotonic() + 900
    while True:
        status, runs = client.backfill(backfill_id)
        if status in {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"} and all(
            run["status"] in FINISHED for run in runs
        ):
            break
        assert time.monotonic() < deadline, f"backfill {backfill_id} still {status} after 15 minutes"
        time.sleep(5)
    assert status == "COMPLETED_SUCCESS", status
    assert len(runs) == len(BACKFILL_PARTITIONS)
    assert {run["status"] for run in runs} == {"SUCCESS"}
    steps = [client.report(run["runId"]).steps["daily_load"] for run in runs]
    intervals = [(step.started, step.ended) for step in steps if step.started and step.ended]
    assert len(intervals) == len(BACKFILL_PARTITIONS)
    at_once = most_at_once(intervals)  # type: ignore[arg-type]
    assert at_once <= POOL_LIMIT, f"{at_once} steps of the pool {POOL} ran at once"
    assert at_once == POOL_LIMIT, "the pool's two slots were never both used"
    assert len({step.host for step in steps}) >= 2, {step.host for step in steps}
    assert sum(concurrency_of(name, "dagster") for name in WORKERS) > POOL_LIMIT, "the fleet alone would bound it"
    assert sum(pool_slots_held(run["runId"]) for run in runs) == 0
    started = sorted(float(run["startTime"]) for run in runs)
    record_figure("run-figures.json", "backfill_through_a_pool", {
        "partitions": len(runs), "pool_limit": POOL_LIMIT, "most_steps_at_once": at_once,
        "runs_started_per_second": round((len(started) - 1) / (started[-1] - started[0]), 2),
        "seconds_from_first_to_last_start": round(started[-1] - started[0], 1),
    })  # fmt: skip


def test_runs_with_a_tag_limited_to_one_never_overlap(client: Client) -> None:
    config = deployed_run_config(3)
    job = "long_steps_job"
    run_ids = [client.launch(location_of(client, job), job, config, {"kit-test/serial": "yes"}) for _ in range(2)]
    for run_id in run_ids:
        assert client.wait(run_id, timeout=300) == "SUCCESS"
    (_, first_end), (second_start, _) = sorted(client.run_times(run) for run in run_ids)  # type: ignore[type-var]
    assert first_end is not None and second_start is not None
    assert second_start >= first_end, f"the second run started {first_end - second_start:.1f} s before the first ended"
    # Every run carries its location as a tag, so a limit on dagster/code_location is a limit per location.
    assert set(run_ids) <= set(client.runs_with_tag("dagster/code_location", LOCATION))


def test_a_value_dagster_refuses_stops_the_deploy_before_dagster_yaml_changes() -> None:
    before = {name: host(name).file(f"{CONFIG_DIR}/dagster.yaml").sha256sum for name in DAGSTER_NODES}
    daemon = host(CONTROL).check_output("systemctl show -p MainPID --value dagster-daemon")
    overrides = {"dagster_config_instance_overrides": {"run_monitoring": {"poll_interval_seconds": "often"}}}
    result = playbook("site.yml", "-e", json.dumps(overrides))
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert "refused by Dagster" in output and "poll_interval_seconds" in output, output[-3000:]
    assert "PLAY [Run the Dagster control services]" not in result.stdout
    assert {name: host(name).file(f"{CONFIG_DIR}/dagster.yaml").sha256sum for name in DAGSTER_NODES} == before
    assert host(CONTROL).check_output("systemctl show -p MainPID --value dagster-daemon") == daemon


def test_the_secret_is_in_no_process_arguments_while_the_locations_services_start() -> None:
    """ps sampled in a tight loop on each node while the location's code server or a worker restarts (their
    ExecStartPre and start-up included); test_hardening.py samples the settled fleet. Last here: it restarts
    the code server."""
    restarts = {CONTROL: f"dagster-code-server@{LOCATION}"} | {name: f"dagster-celery-worker@{LOCATION}.heavy"
                                                                for name in WORKERS}  # fmt: skip
    for name, unit in restarts.items():
        command = f"systemctl restart --no-block {unit}; for _ in $(seq 400); do ps -eo args --no-headers; done"
        sampled = lines_with_token(name, command)
        assert sampled == 0, f"{sampled} process arguments on {name} held the secret while {unit} started"
        deadline = time.monotonic() + 120
        while host(name).run(f"systemctl is-active {unit}").stdout.strip() != "active":
            assert time.monotonic() < deadline, f"{unit} on {name} did not start again"
            time.sleep(2)
