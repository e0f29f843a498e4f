"""`lab run-job`: launch a job through the webserver, wait, and show where each step ran."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from lab.dagster_client import Client, DagsterError, location_of, table

RUN_CONFIG = "/etc/dagster/run_config.yaml"
WEBSERVER_PORT = 3000


def node_address(nodes_inventory: Path, host: str) -> str:
    inventory = yaml.safe_load(nodes_inventory.read_text())
    hosts = inventory["all"]["hosts"]
    if host not in hosts:
        raise RuntimeError(f"{host} is not in {nodes_inventory}; is the lab up?")
    address: str = hosts[host]["ansible_host"]
    return address


def run_job(url: str, job: str, run_config: dict[str, Any], timeout: float) -> int:
    client = Client(url)
    location = location_of(client, job)
    started = time.monotonic()
    run_id = client.launch(location, job, run_config)
    print(f"launched {job} from code location {location}: run {run_id}", flush=True)
    try:
        status = client.wait(run_id, timeout=timeout)
    except DagsterError as error:
        print(f"error: {error}")
        status = client.status(run_id)
    report = client.report(run_id)
    print()
    print(table(report))
    print()
    hosts = sorted({s.host for s in report.steps.values() if s.host})
    print(f"run {run_id}: {status} in {time.monotonic() - started:.1f} s; steps ran on {', '.join(hosts) or 'no host'}")
    print(f"UI: {url}/runs/{run_id}")
    print("logs: journalctl -u 'dagster-*' on the nodes; step output in the UI")
    return 0 if status == "SUCCESS" else 1
