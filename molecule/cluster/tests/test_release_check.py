"""The release check: a release whose jobs the fleet cannot run as written, or whose code does not import, is
refused with the reason in the Ansible output, before any host switches to it.

Each case builds the fixture's release and installs it on the control node only (check_release.yml), which is
where the check runs in a site.yml too, after every node has installed the release."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.molecule import HOME, LOCATION, host, hosts_in, playbook

CONTROL = hosts_in("control")[0]
NODES = sorted({CONTROL, *hosts_in("workers")})
FIXTURES = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "tests/fixtures"
CHECK_RELEASE = Path(__file__).resolve().parent.parent / "check_release.yml"
LOCATIONS = f"{HOME}/locations"


def fleet_state() -> dict[str, str]:
    """What must not move: where the deployed location's current points on each node, and its code server."""
    state = {name: host(name).check_output(f"readlink {LOCATIONS}/{LOCATION}/current") for name in NODES}
    code_server = f"dagster-code-server@{LOCATION}"
    state["code server"] = host(CONTROL).check_output(f"systemctl show -p MainPID --value {code_server}")
    return state


@pytest.fixture
def untouched_fleet() -> Iterator[None]:
    """The fleet is as it was after the refusal; the refused location's directory is removed again."""
    before, installed = fleet_state(), set(host(CONTROL).check_output(f"ls {LOCATIONS}").split())
    yield
    assert fleet_state() == before
    for location in set(host(CONTROL).check_output(f"ls {LOCATIONS}").split()) - installed:
        host(CONTROL).check_output(f"rm -rf {LOCATIONS}/{location}")


def refused(project: str, *extra: str) -> str:
    result = playbook(str(CHECK_RELEASE), "-e", f"dagster_release_project_dir={FIXTURES / project}", *extra)
    output = " ".join((result.stdout + result.stderr).replace("\\n", "\n").split())
    assert result.returncode != 0, output[-3000:]
    return output


@pytest.mark.usefixtures("untouched_fleet")
def test_an_unserved_queue_a_priority_of_11_and_a_local_executor_are_refused() -> None:
    output = refused("misrouted_project", "-e", "dagster_release_non_celery_jobs=refuse")
    assert "refused: op train of job misrouted_job is on queue gpu, which no worker host serves" in output
    assert "(served: dagster, heavy)" in output
    assert "refused: op urgent of job misrouted_job has priority 11" in output
    assert "refused: job local_job uses the multiprocess executor" in output
    # The table is printed before the reasons: each queue of each job, and who serves it.
    assert "misrouted misrouted_job celery gpu 1: train NOBODY" in output


@pytest.mark.usefixtures("untouched_fleet")
def test_a_project_that_does_not_import_is_refused_with_pythons_own_error() -> None:
    output = refused("broken_project")
    assert "ModuleNotFoundError: No module named 'a_package_nobody_installed'" in output
