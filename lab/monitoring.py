"""`lab monitoring` and `lab alert-check`: the monitoring host's Prometheus and Alertmanager, live.

`monitoring` waits until every scrape target is up and prints where to look. `alert-check` proves an alert
end to end: it stops the workers of a queue with the kit's own playbook, launches a job with a step on that
queue, waits for DagsterQueueWithoutConsumers and DagsterWorkerDown in Alertmanager, starts the workers
again, and waits for the run to succeed and the alerts to resolve; the Dagster exporter must have counted
the run as STARTED and then as SUCCESS, and Flower's task metrics must have counted each step as a
succeeded Celery task of the worker (queue and host) that Dagster says ran it."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from lab import names
from lab.dagster_client import location_of
from lab.job import FrontDoor, node_address, wait_with_progress

# Where the monitoring host keeps the journals it receives (role monitoring).
REMOTE_JOURNAL_DIR: str = yaml.safe_load((names.REPO / "roles/monitoring/vars/main.yml").read_text())[
    "_monitoring_remote_journal_dir"
]
QUEUE_ALERT = "DagsterQueueWithoutConsumers"
WORKER_ALERT = "DagsterWorkerDown"


@dataclass(frozen=True)
class Monitoring:
    """Prometheus and Alertmanager of a lab's monitoring host, as the controller reaches them."""

    prometheus: str
    alertmanager: str

    def get(self, url: str) -> Any:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)

    def targets(self) -> list[dict[str, str]]:
        """Every active scrape target: job, instance, health and last error."""
        answer = self.get(f"{self.prometheus}/api/v1/targets?state=active")
        return [
            {
                "job": target["labels"].get("job", ""),
                "instance": target["labels"].get("instance", ""),
                "health": target["health"],
                "error": target.get("lastError", ""),
            }
            for target in answer["data"]["activeTargets"]
        ]

    def query(self, expression: str) -> list[tuple[dict[str, str], float]]:
        answer = self.get(f"{self.prometheus}/api/v1/query?{urllib.parse.urlencode({'query': expression})}")
        return [(sample["metric"], float(sample["value"][1])) for sample in answer["data"]["result"]]

    def firing(self, alertname: str) -> list[dict[str, str]]:
        """The labels of each active alert of that name in Alertmanager."""
        alerts = self.get(f"{self.alertmanager}/api/v2/alerts?active=true&silenced=false&inhibited=false")
        return [alert["labels"] for alert in alerts if alert["labels"].get("alertname") == alertname]


def monitoring_of(nodes_inventory: Path, host: str) -> Monitoring:
    shared = names.lab_names(nodes_inventory)
    address = node_address(nodes_inventory, host)
    return Monitoring(
        prometheus=f"http://{address}:{shared['dagster_deployment_prometheus_port']}",
        alertmanager=f"http://{address}:{shared['dagster_deployment_alertmanager_port']}",
    )


def not_up(targets: list[dict[str, str]]) -> list[dict[str, str]]:
    return [target for target in targets if target["health"] != "up"]


def target_table(targets: list[dict[str, str]]) -> str:
    rows = sorted((t["job"], t["instance"], t["health"], t["error"]) for t in targets)
    width = max((len(job) for job, *_ in rows), default=3)
    lines = [f"  {job:<{width}}  {instance:<8}  {health}  {error}".rstrip() for job, instance, health, error in rows]
    return "\n".join(lines)


def wait_for(check: Callable[[], bool], timeout: float, poll: float = 3.0) -> float | None:
    """Seconds until `check` held, or None when it did not within `timeout`."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            return None
        time.sleep(poll)


def show(monitoring: Monitoring, timeout: float, journal_dir: str) -> int:
    """Wait until every scrape target is up; print them and where to look."""
    targets: list[dict[str, str]] = []

    def all_up() -> bool:
        nonlocal targets
        targets = monitoring.targets()
        return bool(targets) and not not_up(targets)

    waited = wait_for(all_up, timeout)
    print(f"scrape targets ({len(targets)}):")
    print(target_table(targets))
    print(f"Prometheus: {monitoring.prometheus} (alerts: {monitoring.prometheus}/alerts)")
    print(f"Alertmanager: {monitoring.alertmanager}")
    print(f"every node's journal, on the monitoring host: journalctl -D {journal_dir}")
    if waited is None:
        print(f"error: {len(not_up(targets))} scrape targets not up after {timeout:.0f} s")
        return 1
    return 0


def worker_service(inventories: list[Path], action: str, queue: str) -> None:
    """Start or stop every worker instance of a queue, with the kit's playbook."""
    argv = ["ansible-playbook"]
    for path in inventories:
        argv += ["-i", str(path)]
    argv += ["playbooks/worker_service.yml", "-e", f"dagster_ops_action={action}", "-e", f"dagster_ops_queue={queue}"]
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def hosts_in_journal(journal_json: str) -> set[str]:
    """The hosts of `journalctl -o json` lines (one JSON object per line)."""
    return {json.loads(line).get("_HOSTNAME", "") for line in journal_json.splitlines() if line.strip()} - {""}


def names_queue(broker_queue: str, queue: str) -> bool:
    """Whether a broker queue is that Dagster queue: each code location has its own, `<location>.<queue>`."""
    return broker_queue == queue or broker_queue.endswith(f".{queue}")


def succeeded_tasks_by_worker(monitoring: Monitoring) -> Counter[str]:
    """Celery tasks succeeded so far per Celery worker (`<location>.<queue>@<host>`), by Flower's metrics."""
    samples = monitoring.query('sum by (worker) (flower_events_total{job="celery",type="task-succeeded"})')
    return Counter({labels["worker"]: round(value) for labels, value in samples if "worker" in labels})


def uncounted_steps(steps_per_worker: Counter[str], before: Counter[str], after: Counter[str]) -> Counter[str]:
    """Per worker, the run's steps that Flower's counter of succeeded tasks has not grown by."""
    missing = Counter({worker: steps - (after[worker] - before[worker]) for worker, steps in steps_per_worker.items()})
    return +missing


def runs_by_status(monitoring: Monitoring, status: str) -> float:
    samples = monitoring.query(f'sum(dagster_runs{{status="{status}"}})')
    return samples[0][1] if samples else 0.0


def alert_check(
    monitoring: Monitoring,
    door: FrontDoor,
    inventories: list[Path],
    queue: str,
    job: str,
    run_config: dict[str, Any],
    timeout: float,
    on_monitoring_host: Callable[..., str],
) -> int:
    failures: list[str] = []
    client = door.client()
    succeeded_before = runs_by_status(monitoring, "SUCCESS")
    tasks_before = succeeded_tasks_by_worker(monitoring)
    print(f"stopping every worker of queue {queue}")
    worker_service(inventories, "stop", queue)
    run_id = client.launch(location_of(client, job), job, run_config)
    print(f"launched {job}: run {run_id}, with a step on {queue}, which nobody serves now")
    queue_alert = wait_for(
        lambda: any(names_queue(a.get("queue", ""), queue) for a in monitoring.firing(QUEUE_ALERT)), timeout
    )
    workers_down = sorted(a.get("name", "") + " on " + a.get("instance", "") for a in monitoring.firing(WORKER_ALERT))
    started_counted = runs_by_status(monitoring, "STARTED")
    if queue_alert is None:
        failures.append(f"{QUEUE_ALERT} for {queue} did not fire in Alertmanager within {timeout:.0f} s")
    else:
        print(f"{QUEUE_ALERT} for {queue} firing in Alertmanager after {queue_alert:.0f} s")
    if not workers_down:
        failures.append(f"{WORKER_ALERT} did not fire for the stopped workers")
    print(f"{WORKER_ALERT} firing for: {', '.join(workers_down) or 'nothing'}")
    print(f"the Dagster exporter counts {started_counted:.0f} STARTED run(s)")
    if started_counted < 1:
        failures.append("the Dagster exporter did not count the waiting run as STARTED")
    print(f"starting the workers of {queue} again")
    worker_service(inventories, "start", queue)
    status = wait_with_progress(client, run_id, timeout=600)
    print(f"run {run_id}: {status}")
    if status != "SUCCESS":
        failures.append(f"run {run_id} ended {status}")
    resolved = wait_for(lambda: not monitoring.firing(QUEUE_ALERT) and not monitoring.firing(WORKER_ALERT), timeout)
    if resolved is None:
        failures.append(f"{QUEUE_ALERT} or {WORKER_ALERT} still firing {timeout:.0f} s after the workers started")
    else:
        print(f"both alerts resolved {resolved:.0f} s after the run ended")
    steps = client.report(run_id).steps.values()
    # Celery's task metrics: each step a succeeded task of the worker Dagster's engine event names.
    steps_per_worker = Counter(step.worker for step in steps if step.worker)
    uncounted: Counter[str] = Counter()

    def flower_counts_every_step() -> bool:
        nonlocal uncounted
        uncounted = uncounted_steps(steps_per_worker, tasks_before, succeeded_tasks_by_worker(monitoring))
        return bool(steps_per_worker) and not uncounted

    if wait_for(flower_counts_every_step, timeout) is None:
        failures.append(f"Flower's metrics lack succeeded tasks (per worker) of the run: {dict(uncounted)}")
    else:
        print("Flower's metrics in Prometheus count the run's steps as succeeded Celery tasks: "
              + ", ".join(f"{worker} {count}" for worker, count in sorted(steps_per_worker.items())))  # fmt: skip
    # Logs in one place: the run's lines, from every host that ran a step, in the monitoring host's journal.
    step_hosts = {step.host for step in steps if step.host}
    journal_hosts: set[str] = set()

    def journal_has_every_step_host() -> bool:
        nonlocal journal_hosts
        lines = on_monitoring_host(
            "journalctl", "-D", REMOTE_JOURNAL_DIR, "--grep", run_id, "-o", "json", "--output-fields=_HOSTNAME",
            "||", "true",  # no line yet is not an error here
        )  # fmt: skip
        journal_hosts = hosts_in_journal(lines)
        return bool(step_hosts) and step_hosts <= journal_hosts

    if wait_for(journal_has_every_step_host, timeout) is None:
        failures.append(
            f"the monitoring host's journal has the run from {sorted(journal_hosts)}, not {sorted(step_hosts)}"
        )
    else:
        print(f"journalctl -D {REMOTE_JOURNAL_DIR} --grep {run_id} on the monitoring host: lines from "
              f"{', '.join(sorted(journal_hosts))}, every host that ran a step")  # fmt: skip
    counted = wait_for(lambda: runs_by_status(monitoring, "SUCCESS") > succeeded_before, timeout)
    if counted is None:
        failures.append("the Dagster exporter did not count the run as SUCCESS")
    else:
        print(f"the Dagster exporter counts {runs_by_status(monitoring, 'SUCCESS'):.0f} SUCCESS run(s)")
    for failure in failures:
        print(f"error: {failure}")
    return 1 if failures else 0
