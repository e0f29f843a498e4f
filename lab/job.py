"""`lab run-job`: launch a job through the webserver, wait, and show where each step ran."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from lab import names, ssh
from lab.dagster_client import (
    FINISHED,
    Client,
    DagsterError,
    Step,
    location_of,
    most_at_once,
    steps_from_events,
    table,
)

# In a lab's state directory: the generated front door logins, and the lab CA (role lab_ca).
LOGINS_FILE = "logins.yml"
CA_DIR = "ca"


@dataclass(frozen=True)
class FrontDoor:
    """The deployment's front door as the controller reaches it: HTTPS signed by the lab CA, one login."""

    url: str
    cafile: Path
    login: tuple[str, str]

    def client(self) -> Client:
        return Client(self.url, login=self.login, cafile=self.cafile)


def node_address(nodes_inventory: Path, host: str) -> str:
    inventory = yaml.safe_load(nodes_inventory.read_text())
    hosts = inventory["all"]["hosts"]
    if host not in hosts:
        raise RuntimeError(f"{host} is not in {nodes_inventory}; is the lab up?")
    address: str = hosts[host]["ansible_host"]
    return address


def deployed_run_config(nodes_inventory: Path, key: Path, known_hosts: Path, control: str) -> dict[str, Any]:
    """The Celery run config the deployment rendered on its control node."""
    config_dir = names.lab_names(nodes_inventory)["dagster_deployment_config_dir"]
    address = node_address(nodes_inventory, control)
    run_config: dict[str, Any] = yaml.safe_load(
        ssh.run(address, key, known_hosts, "cat", f"{config_dir}/run_config.yaml")
    )
    return run_config


def front_door(state: Path, nodes_inventory: Path, control: str, role: str = "operator") -> FrontDoor:
    """The front door of a lab whose files are in `state`, with the login generated for `role`."""
    logins = yaml.safe_load((state / LOGINS_FILE).read_text())
    url = f"https://{node_address(nodes_inventory, control)}"
    return FrontDoor(url, state / CA_DIR / "ca.crt", (role, logins[role]))


def run_page_url(url: str, run_id: str) -> str:
    """The run's page in the Dagster UI served at `url`."""
    return f"{url.rstrip('/')}/runs/{run_id}"


def progress_line(elapsed: float, status: str, steps: dict[str, Step]) -> str:
    done = sum(1 for step in steps.values() if step.status == "SUCCESS")
    failed = sum(1 for step in steps.values() if step.status == "FAILURE")
    running = sorted(step.key for step in steps.values() if step.status == "STARTED")
    line = f"  {elapsed:6.1f} s  {status}: {done} step{'' if done == 1 else 's'} done"
    if failed:
        line += f", {failed} failed"
    if running:
        shown = ", ".join(running[:4]) + (f" and {len(running) - 4} more" if len(running) > 4 else "")
        line += f", running {shown}"
    return line


def wait_with_progress(client: Client, run_id: str, timeout: float, poll: float = 2.0) -> str:
    """Wait for the run to finish, printing a line whenever its status or its steps change."""
    started = time.monotonic()
    last = ""
    while True:
        status = client.status(run_id)
        if status in FINISHED:
            return status
        elapsed = time.monotonic() - started
        line = progress_line(elapsed, status, steps_from_events(client.events(run_id)))
        if line.split("s  ", 1)[1] != last:
            print(line, flush=True)
            last = line.split("s  ", 1)[1]
        if elapsed > timeout:
            raise DagsterError(f"run {run_id} still {status} after {timeout:.0f} s")
        time.sleep(poll)


def run_job(door: FrontDoor, job: str, run_config: dict[str, Any], timeout: float, logins: Path) -> int:
    client = door.client()
    location = location_of(client, job)
    started = time.monotonic()
    run_id = client.launch(location, job, run_config)
    print(f"launched {job} from code location {location}: run {run_id}", flush=True)
    try:
        status = wait_with_progress(client, run_id, timeout)
    except DagsterError as error:
        print(f"error: {error}")
        status = client.status(run_id)
    report = client.report(run_id)
    print()
    print(table(report))
    print()
    hosts = sorted({s.host for s in report.steps.values() if s.host})
    print(f"run {run_id}: {status} in {time.monotonic() - started:.1f} s; steps ran on {', '.join(hosts) or 'no host'}")
    print(f"UI: {run_page_url(door.url, run_id)} (HTTPS from the lab CA {door.cafile})")
    print(f"logins: operator (full UI) and viewer (read-only), passwords in {logins}")
    print("logs: journalctl -u 'dagster-*' on the nodes; step output in the UI")
    return 0 if status == "SUCCESS" else 1


def launch_together(client: Client, job: str, run_config: dict[str, Any], runs: int) -> list[str]:
    location = location_of(client, job)
    return [client.launch(location, job, run_config) for _ in range(runs)]


def limit_check(
    door: FrontDoor, job: str, unlimited_job: str, run_config: dict[str, Any], runs: int, timeout: float
) -> int:
    """Launch `runs` runs of `job` and as many of `unlimited_job` (of another code location) at once: all must
    succeed, those of `job` one at a time (its location's run limit of 1 holds), and some of the others'
    together (the limit is the location's, not the whole queue's)."""
    client = door.client()
    launched = {name: launch_together(client, name, run_config, runs) for name in (job, unlimited_job)}
    deadline = time.monotonic() + timeout
    failed = 0
    at_once: dict[str, int] = {}
    for name, run_ids in launched.items():
        for run_id in run_ids:
            status = client.wait(run_id, timeout=max(deadline - time.monotonic(), 1.0))
            failed += status != "SUCCESS"
        times = [client.run_times(run_id) for run_id in run_ids]
        at_once[name] = most_at_once([(start, end) for start, end in times if start is not None and end is not None])
        print(f"{name}: {runs} runs launched at once, at most {at_once[name]} running at one moment", flush=True)
    if failed:
        print(f"limit-check: {failed} of the runs did not succeed")
        return 1
    if at_once[job] > 1:
        print(f"limit-check: runs of {job} overlapped: its code location's run limit of 1 did not hold")
        return 1
    if at_once[unlimited_job] < 2:
        print(
            f"limit-check: no runs of {unlimited_job} overlapped, so nothing shows the limit is only {job}'s location's"
        )
        return 1
    print(f"limit-check: {job} ran one at a time, {unlimited_job} did not")
    return 0
