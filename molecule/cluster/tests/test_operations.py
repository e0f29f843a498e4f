"""Day-2 playbooks: the fleet's status, the workers as they report themselves, stop/start per host and queue."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pytest
from helpers.molecule import (
    HOME,
    LOCATION,
    changed_per_host,
    host,
    hosts_in,
    inventory,
    playbook,
    secret,
    worker_instance,
    worker_unit,
)
from testinfra.utils.ansible_runner import AnsibleRunner

CONTROL = hosts_in("control")[0]
BROKER = hosts_in("broker")[0]
WORKERS = hosts_in("workers")
DAGSTER_NODES = sorted({CONTROL, *WORKERS})


def queues_of(name: str) -> list[str]:
    return [q["name"] for q in AnsibleRunner(inventory()).get_variables(name)["dagster_worker_queues"]]


def flat(text: str) -> str:
    """Output with whitespace collapsed, so wrapped or padded lines compare as written."""
    return " ".join(text.split())


def run_ok(name: str, *extra: str) -> tuple[str, dict[str, int]]:
    result = playbook(name, *extra)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return flat(result.stdout), changed_per_host(result.stdout)


def test_status_shows_releases_services_and_queue_depths_and_changes_nothing() -> None:
    output, changed = run_ok("status.yml")
    assert set(changed.values()) == {0}, changed
    for name in DAGSTER_NODES:
        release = Path(host(name).check_output(f"readlink -f {HOME}/locations/{LOCATION}/current")).name
        assert f"{name} release={LOCATION} {release}" in output
    assert "dagster-webserver=running" in output
    assert f"dagster-code-server@{LOCATION}=running" in output
    assert "rabbitmq-server=running" in output
    assert f"dagster-celery-worker@{worker_instance('heavy')}=running" in output
    for queue in ("dagster", "heavy"):
        assert f"queue {worker_instance(queue)} on {BROKER}/dagster: ready=" in output


def test_worker_list_shows_what_each_worker_consumes() -> None:
    output, changed = run_ok("worker_list.yml")
    assert set(changed.values()) == {0}, changed
    for name in WORKERS:
        for queue in queues_of(name):
            assert f"{worker_instance(queue)}@{name}: queues {worker_instance(queue)}, " in output


@pytest.fixture
def worker_with_two_queues() -> str:
    return next(name for name in WORKERS if len(queues_of(name)) > 1)


def test_stopping_one_queue_on_one_host_leaves_everything_else_running(worker_with_two_queues: str) -> None:
    name = worker_with_two_queues
    stopped, other = queues_of(name)[0], queues_of(name)[1]
    node = host(name)
    try:
        _, changed = run_ok("worker_service.yml", "-l", name, "-e", "dagster_ops_action=stop", "-e",
                            f"dagster_ops_queue={stopped}")  # fmt: skip
        assert changed == {name: 1}
        assert not node.service(worker_unit(stopped)).is_running
        assert node.service(worker_unit(other)).is_running
        for peer in WORKERS:
            if peer != name and stopped in queues_of(peer):
                assert host(peer).service(worker_unit(stopped)).is_running
    finally:
        _, changed = run_ok("worker_service.yml", "-l", name, "-e", "dagster_ops_action=start")
    assert changed == {name: 1}
    assert all(node.service(worker_unit(q)).is_running for q in queues_of(name))


def flower(path: str, credentials: str | None = None) -> tuple[int, str]:
    """GET a Flower page (served under /flower/) from the control node itself; (HTTP status, body)."""
    auth = f"-u {shlex.quote(credentials)} " if credentials else ""
    url = f"http://127.0.0.1:5555/flower{path}"
    command = f"curl -s -o /tmp/flower-body -w '%{{http_code}}' {auth}{url}; cat /tmp/flower-body"
    output = host(CONTROL).check_output(command)
    return int(output[:3]), output[3:]


def test_flower_shows_the_workers_to_its_user_only() -> None:
    assert flower("/api/workers?refresh=1")[0] == 401
    credentials = f"admin:{secret('dagster_control_flower_password')}"
    expected = {f"{worker_instance(queue)}@{name}" for name in WORKERS for queue in queues_of(name)}
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    # Flower asks the workers with a short timeout and keeps what answered; a loaded host may miss one round.
    while not expected <= seen and time.monotonic() < deadline:
        status, body = flower("/api/workers?refresh=1", credentials)
        assert status == 200, body[:500]
        seen |= set(json.loads(body))
        time.sleep(2)
    assert expected <= seen
