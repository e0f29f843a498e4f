"""dagster.yaml as Ansible renders it: the run bound from the command line (a string) or from YAML (an int)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

REPO = Path(__file__).parents[2]
TEMPLATE = REPO / "roles/dagster_config/templates/dagster.yaml.j2"
INPUTS = {
    "_dagster_config_tls_ca": "/etc/example/tls/ca.crt",
    "_dagster_config_run_launcher": {
        "requests_dir": "/var/lib/example/run-requests",
        "runs_dir": "/var/lib/example/runs",
    },
    "dagster_config_run_max_resume_attempts": 0,
    "dagster_config_database_host": "db.example",
    "dagster_deployment_database_name": "dagster",
    "dagster_deployment_database_port": 5432,
    "dagster_config_database_tls": False,
    "dagster_deployment_database_user": "dagster",
    "dagster_config_max_concurrent_runs": 4,
    "dagster_config_run_monitoring_poll_interval_seconds": 120,
    "dagster_config_run_monitoring_start_timeout_seconds": 180,
    "dagster_deployment_shared_dir": "/srv/example",
}


def render(tmp_path: Path, *extra_vars: str) -> dict[str, object]:
    """Ansible's template module on localhost, with the bound passed as `ansible-playbook -e` would."""
    dest = tmp_path / "dagster.yaml"
    argv = [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local", "-m", "ansible.builtin.template",
            "-a", f"src={TEMPLATE} dest={dest}", "-e", json.dumps(INPUTS), *extra_vars]  # fmt: skip
    environment = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_LOCALHOST_WARNING": "false"}
    done = subprocess.run(argv, cwd=REPO, env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rendered: dict[str, object] = yaml.safe_load(dest.read_text())
    return rendered


@pytest.mark.parametrize(
    "extra_var",
    ["dagster_config_run_max_runtime_seconds=7200", '{"dagster_config_run_max_runtime_seconds": 7200}'],
    ids=["key=value string", "JSON int"],
)
def test_a_run_bound_from_the_command_line_renders_as_a_number(tmp_path: Path, extra_var: str) -> None:
    monitoring = render(tmp_path, "-e", extra_var)["run_monitoring"]
    assert isinstance(monitoring, dict)
    assert monitoring["max_runtime_seconds"] == 7200


def test_an_unbounded_run_writes_no_bound(tmp_path: Path) -> None:
    monitoring = render(tmp_path, "-e", "dagster_config_run_max_runtime_seconds=0")["run_monitoring"]
    assert isinstance(monitoring, dict)
    assert "max_runtime_seconds" not in monitoring
