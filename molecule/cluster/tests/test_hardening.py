"""Dagster services run confined by systemd (measured exposure, writes outside their paths refused) and no
secret shows in process arguments or in the run config Dagster stores."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import pytest
from helpers.molecule import LOCATION, SHARED_DIR, STATE_DIR, host, hosts_in, secret, webserver

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
DAGSTER_NODES = sorted(set(hosts_in("control")) | set(hosts_in("workers")))
CONTROL_UNITS = {
    f"dagster-code-server@{LOCATION}.service",
    "dagster-webserver.service",
    "dagster-webserver-read-only.service",
    "dagster-daemon.service",
}
MAX_EXPOSURE = 4.0
EXPOSURE = re.compile(r"Overall exposure level for (?P<unit>\S+): (?P<score>[\d.]+)")
FIGURES = PROJECT / ".cache/exposure.json"


def running_dagster_units(name: str) -> list[str]:
    listing = host(name).check_output("systemctl list-units --state=running --plain --no-legend 'dagster-*.service'")
    return sorted(line.split()[0] for line in listing.splitlines() if line.strip())


def exposure(name: str, unit: str) -> float:
    report = host(name).check_output(f"systemd-analyze security --no-pager {unit}")
    found = EXPOSURE.search(report)
    assert found, report[-500:]
    return float(found["score"])


@pytest.mark.parametrize("name", DAGSTER_NODES)
def test_every_running_dagster_service_has_an_exposure_of_at_most_4(name: str) -> None:
    units = running_dagster_units(name)
    if name in hosts_in("control"):
        assert set(units) >= CONTROL_UNITS
    if name in hosts_in("workers"):
        assert any(unit.startswith("dagster-celery-worker@") for unit in units)
    scores = {unit: exposure(name, unit) for unit in units}
    figures = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    figures[name] = scores
    FIGURES.parent.mkdir(exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2, sort_keys=True))
    assert all(score <= MAX_EXPOSURE for score in scores.values()), scores


SANDBOX = "/etc/systemd/dagster-sandbox.conf"


def in_a_dagster_unit(name: str, user: str, script: str) -> str:
    """Run a script in a transient unit confined by the services' sandbox (its settings as properties)."""
    lines = host(name).file(SANDBOX).content_string.splitlines()
    properties = " ".join(f"-p {shlex.quote(line)}" for line in lines if "=" in line and not line.startswith("#"))
    unit = f"systemd-run --unit sandbox-probe --wait --pipe --quiet -p User={user} {properties}"
    return host(name).check_output(f"{unit} sh -c {shlex.quote(script)}")


def drop_ins(name: str, unit: str) -> str:
    return host(name).check_output(f"systemctl show -p DropInPaths --value {unit}")


@pytest.mark.parametrize("name", DAGSTER_NODES)
def test_the_sandbox_confines_the_dagster_services_and_no_other_unit(name: str) -> None:
    node = host(name)
    assert not node.file("/etc/systemd/system/dagster-.service.d").exists  # older kits' prefix drop-in
    for unit in running_dagster_units(name):
        assert "50-sandbox.conf" in drop_ins(name, unit), unit
    # A unit named like them but not meant to run confined gets nothing.
    node.check_output("systemd-run --unit dagster-unconfined-probe --remain-after-exit --quiet true")
    try:
        assert "sandbox" not in drop_ins(name, "dagster-unconfined-probe.service")
    finally:
        node.check_output("systemctl stop dagster-unconfined-probe.service")
    if name in hosts_in("database"):
        assert "sandbox" not in drop_ins(name, "postgresql-dagster-backup.service")


@pytest.mark.parametrize("name", DAGSTER_NODES)
def test_a_dagster_unit_writes_only_to_the_shared_directory_and_dagster_home(name: str) -> None:
    written = in_a_dagster_unit(
        name,
        "dagster",
        f"for dir in {SHARED_DIR}/artifacts {STATE_DIR}; do touch $dir/.sandbox-probe && rm $dir/.sandbox-probe"
        " && echo $dir:ok; done",
    )
    assert written.split() == [f"{SHARED_DIR}/artifacts:ok", f"{STATE_DIR}:ok"]
    # Even root in such a unit cannot write the system or change a file's owner.
    refused = in_a_dagster_unit(
        name,
        "root",
        "touch /usr/local/bin/sandbox-probe 2>&1; touch /etc/sandbox-probe 2>&1;"
        " touch /tmp/sandbox-probe; chown nobody /tmp/sandbox-probe 2>&1; true",
    )
    assert "touch: cannot touch '/usr/local/bin/sandbox-probe': Read-only file system" in refused
    assert "touch: cannot touch '/etc/sandbox-probe': Read-only file system" in refused
    assert "chown: changing ownership of '/tmp/sandbox-probe': Operation not permitted" in refused


SECRETS = (
    "rabbitmq_app_password",
    "postgresql_dagster_password",
    "dagster_control_flower_password",
    "rabbitmq_management_password",
    "example_warehouse_token",
)


@pytest.mark.parametrize("name", sorted(set(DAGSTER_NODES) | set(hosts_in("broker")) | set(hosts_in("database"))))
def test_no_secret_appears_in_any_process_arguments(name: str) -> None:
    arguments = host(name).check_output("ps -eo args --no-headers")
    assert "celery" in arguments or name not in hosts_in("workers")
    for name_of_secret in SECRETS:
        assert secret(name_of_secret) not in arguments, name_of_secret


RUN_CONFIGS = "{ runsOrError(limit: 50) { __typename ... on Runs { results { runId runConfigYaml } } } }"


def test_stored_run_configs_reference_the_secrets_instead_of_holding_them() -> None:
    runs = webserver().query(RUN_CONFIGS, {})["runsOrError"]["results"]
    assert runs, "no run stored: the cluster tests launch several"
    for run in runs:
        for name_of_secret in SECRETS:
            assert secret(name_of_secret) not in run["runConfigYaml"], run["runId"]


def test_a_database_dump_on_a_control_node_leaves_the_database_serving() -> None:
    """The Dagster services' sandbox removes its user's IPC objects when a unit stops; the dump runs as postgres
    and must not get it, or the server's shared memory goes with the dump's end (node1 is database and control)."""
    database = host(hosts_in("database")[0])
    database.check_output("systemctl start postgresql-dagster-backup.service")
    assert database.check_output("runuser -u postgres -- psql -Atc 'select 1'") == "1"
