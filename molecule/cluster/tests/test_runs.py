"""Runs outlive the control plane: each run's orchestrator is a unit of its own (dagster-run@<run id>),
with the deployment's executor settings however it was launched, and a termination stops its steps."""

from __future__ import annotations

import time
import uuid
from typing import Any

from helpers.molecule import (
    LOCATION,
    SHARED_DIR,
    active_tasks_of,
    deployed_run_config,
    held_run_config,
    host,
    hosts_in,
    playbook,
    pool_slots_held,
    record_figure,
    wait_for_webserver,
)

from lab.dagster_client import FINISHED, Client, RunReport, location_of

CONTROL = hosts_in("control")[0]
WORKERS = hosts_in("workers")
CODE_SERVER = f"dagster-code-server@{LOCATION}"
CONTROL_SERVICES = (CODE_SERVER, "dagster-webserver", "dagster-daemon")
# Steps of at least 90 s, held until the test releases them, so every restart below lands while they run
# however long the deploy takes on the machine.
LONG_STEP_SECONDS = 90


def record(name: str, value: dict[str, Any]) -> None:
    record_figure("run-figures.json", name, value)


def main_pid(unit: str) -> str:
    return host(CONTROL).check_output(f"systemctl show -p MainPID --value {unit}")


def launch_long_steps(client: Client, seconds: int, run_config: dict[str, Any] | None = None) -> str:
    """Launch long_steps_job; return its run id once both steps are STARTED on workers."""
    config = run_config or deployed_run_config(seconds)
    run_id = client.launch(location_of(client, "long_steps_job"), "long_steps_job", config)
    deadline = time.monotonic() + 120
    while True:
        steps = client.report(run_id).steps.values()
        if len(steps) == 2 and all(step.started and step.worker for step in steps):
            return run_id
        assert time.monotonic() < deadline, "the long steps never started"
        time.sleep(1)


def each_step_once(report: RunReport) -> dict[str, tuple[str, int]]:
    return {key: (step.status, step.starts) for key, step in report.steps.items()}


def test_a_run_outlives_restarts_of_the_control_services_and_a_deploy(client: Client) -> None:
    release_file = f"{SHARED_DIR}/release-{uuid.uuid4().hex}"
    run_id = launch_long_steps(client, LONG_STEP_SECONDS, held_run_config(LONG_STEP_SECONDS, release_file))
    unit = f"dagster-run@{run_id}.service"
    orchestrator = main_pid(unit)
    assert orchestrator != "0", f"{unit} is not running the run's orchestrator"

    code_server = main_pid(CODE_SERVER)
    started = time.monotonic()
    host(CONTROL).check_output(f"systemctl restart {CODE_SERVER}")
    code_server_restart = time.monotonic() - started
    assert main_pid(CODE_SERVER) != code_server

    host(CONTROL).check_output(f"systemctl restart {' '.join(CONTROL_SERVICES)}")
    wait_for_webserver(client)

    # A changed setting of the control services: site.yml rewrites their units and restarts all three.
    before = {service: main_pid(service) for service in CONTROL_SERVICES}
    deploy = playbook("site.yml", "-e", "dagster_control_stop_timeout_seconds=121")
    assert deploy.returncode == 0, deploy.stdout[-2000:] + deploy.stderr[-2000:]
    assert all(main_pid(service) != pid for service, pid in before.items()), "site.yml restarted nothing"
    assert client.status(run_id) not in FINISHED, "the run ended before the last restart"
    assert main_pid(unit) == orchestrator, "the run's orchestrator was restarted"

    host(CONTROL).check_output(f"touch {release_file}")
    client.wait(run_id, timeout=300)
    report = client.report(run_id)
    record("control_restarts", {"run": report.status, "code_server_restart_seconds": round(code_server_restart, 1)})
    assert report.status == "SUCCESS", report.failures
    assert each_step_once(report) == {"sleep_on_default": ("SUCCESS", 1), "long_step": ("SUCCESS", 1)}


def test_a_killed_orchestrator_fails_its_run_within_two_minutes(client: Client) -> None:
    run_id = launch_long_steps(client, 30)
    host(CONTROL).check_output(f"systemctl kill --signal=SIGKILL dagster-run@{run_id}.service")
    killed = time.monotonic()
    status = client.wait(run_id, timeout=120, poll=2)
    noticed = time.monotonic() - killed
    report = client.report(run_id)
    record("orchestrator_sigkill", {"run": status, "noticed_after_seconds": round(noticed, 1)})
    assert status == "FAILURE", report.failures
    assert any("orchestrator" in failure for failure in report.failures), report.failures
    # Its failed unit was unloaded (CollectMode); a failed unit still loaded would say "failed".
    unit_state = host(CONTROL).run(f"systemctl is-failed dagster-run@{run_id}.service").stdout.strip()
    assert unit_state == "inactive", unit_state


def test_terminating_a_run_stops_its_running_steps_and_spares_another_run(client: Client) -> None:
    doomed = launch_long_steps(client, LONG_STEP_SECONDS)
    other = launch_long_steps(client, 30)
    assert active_tasks_of(doomed), "the run to terminate has no step running"
    client.terminate(doomed)
    terminated = time.monotonic()
    status = client.wait(doomed, timeout=60)
    canceled_after = time.monotonic() - terminated
    time.sleep(max(0.0, 30 - (time.monotonic() - terminated)))
    left_running = active_tasks_of(doomed)
    client.wait(other, timeout=120)
    spared = client.report(other)
    record("terminate", {"run": status, "canceled_after_seconds": round(canceled_after, 1), "other_run": spared.status})
    assert status == "CANCELED"
    assert left_running == []
    assert spared.status == "SUCCESS", spared.failures
    assert each_step_once(spared) == {"sleep_on_default": ("SUCCESS", 1), "long_step": ("SUCCESS", 1)}


def test_a_run_launched_with_no_run_config_uses_the_deployments_broker_settings(client: Client) -> None:
    # TLS is required in this scenario: without the deployment's broker_use_ssl, submitting a step fails.
    run_id = client.launch(location_of(client, "release_probe_job"), "release_probe_job", {})
    assert client.wait(run_id, timeout=180) == "SUCCESS", client.report(run_id).failures


def test_a_scheduled_run_uses_the_deployments_broker_settings(client: Client) -> None:
    location, schedule = location_of(client, "release_probe_job"), "release_probe_every_minute"
    client.set_schedule(location, schedule, running=True)
    try:
        deadline = time.monotonic() + 150
        while not (runs := client.runs_with_tag("dagster/schedule_name", schedule)):
            assert time.monotonic() < deadline, "the schedule launched no run"
            time.sleep(3)
    finally:
        client.set_schedule(location, schedule, running=False)
    run_id = next(iter(runs))
    assert client.wait(run_id, timeout=180) == "SUCCESS", client.report(run_id).failures


# Here, before test_worker_faults.py: after its faults the webserver answered terminateRun with HTTP 500
# (2026-12-07; the database and broker restarts of issue 35), which is not what this test is about.
def test_a_run_terminated_while_it_holds_a_pool_slot_frees_it(client: Client) -> None:
    # Held until the file exists (at most 5 minutes): released at the end whatever happens, so no step of
    # this run outlives the test.
    release_file = f"{SHARED_DIR}/release-{uuid.uuid4().hex}"
    hold = {"seconds": 5, "until_exists": release_file, "max_seconds": 300}
    config = {**deployed_run_config(), "ops": {"daily_load": {"config": hold}}}
    run_id = client.launch(LOCATION, "daily_load_job", config, {"dagster/partition": "2026-06-01"})
    try:
        deadline = time.monotonic() + 180
        while not active_tasks_of(run_id):
            assert time.monotonic() < deadline, "daily_load never ran on a worker"
            time.sleep(2)
        assert pool_slots_held(run_id) == 1
        client.terminate(run_id)
        assert client.wait(run_id, timeout=180) == "CANCELED"
        # Well before the daemon's sweep of ended runs' slots (dagster_config_pool_free_slots_after_run_end_seconds).
        deadline = time.monotonic() + 20
        while pool_slots_held(run_id):
            assert time.monotonic() < deadline, f"run {run_id} still holds a slot of warehouse 20 s after it ended"
            time.sleep(1)
    finally:
        host(CONTROL).check_output(f"touch {release_file}")
    deadline = time.monotonic() + 60
    while active_tasks_of(run_id):
        assert time.monotonic() < deadline, f"a step of the terminated run {run_id} still runs on a worker"
        time.sleep(2)
