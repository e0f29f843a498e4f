"""dagster.yaml as Ansible renders it: the run bound from the command line (a string) or from YAML (an int)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
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
    "dagster_config_tag_concurrency_limits": [],
    "dagster_config_pool_default_limit": None,
    "dagster_config_pool_granularity": "op",
    "dagster_config_pool_free_slots_after_run_end_seconds": 60,
    "dagster_config_run_retries_max": 0,
    "dagster_config_run_retries_on_op_failure": True,
    "dagster_config_sensor_workers": 0,
    "dagster_config_schedule_workers": 0,
    "dagster_config_backfill_workers": 0,
    "dagster_config_run_queue_dequeue_workers": 0,
    "dagster_config_tick_retention_days": {"skipped": 7, "success": -1, "failure": -1},
    "dagster_config_instance_overrides": {},
    "_dagster_config_tag_concurrency_limits": [],
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


def test_the_storage_is_dagster_postgres_config_under_the_kits_pooled_class(tmp_path: Path) -> None:
    tls_on = '{"dagster_config_database_tls": true, "dagster_config_run_max_runtime_seconds": 0}'
    storage = render(tmp_path, "-e", tls_on)["storage"]
    assert isinstance(storage, dict)
    pooled = storage["custom"]
    kit_module = REPO / "files/dagster_celery_kit" / (pooled["module"].replace(".", "/") + ".py")
    assert f"class {pooled['class']}(" in kit_module.read_text()
    database = pooled["config"]["postgres_db"]
    assert database["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert database["params"] == {"sslmode": "verify-full", "sslrootcert": "/etc/example/tls/ca.crt"}


def test_the_result_backend_scheme_is_the_kits_entry_point() -> None:
    variables = yaml.safe_load((REPO / "roles/dagster_config/vars/main.yml").read_text())
    scheme = variables["_dagster_config_result_backend"].split("'")[1].split("+")[0]
    pyproject = tomllib.loads((REPO / "files/dagster_celery_kit/pyproject.toml").read_text())
    backends = pyproject["project"]["entry-points"]["celery.result_backends"]
    assert backends[scheme] == "dagster_celery_kit.result_backend:PooledDatabaseBackend"
    module = REPO / "files/dagster_celery_kit/dagster_celery_kit/result_backend.py"
    assert "class PooledDatabaseBackend(" in module.read_text()


def test_the_escape_hatch_is_merged_into_the_kits_sections_and_wins(tmp_path: Path) -> None:
    overrides = {
        "dagster_config_run_max_runtime_seconds": 0,
        "dagster_config_instance_overrides": {
            "run_monitoring": {"poll_interval_seconds": 5},
            "auto_materialize": {"run_tags": {"team": "data"}},
        },
    }
    rendered = render(tmp_path, "-e", json.dumps(overrides))
    monitoring = rendered["run_monitoring"]
    assert isinstance(monitoring, dict)
    assert monitoring["poll_interval_seconds"] == 5
    assert monitoring["start_timeout_seconds"] == 180, "a key beside the overridden one stays"
    assert rendered["auto_materialize"] == {"run_tags": {"team": "data"}}
    assert "storage" in rendered


def test_the_run_limits_and_daemon_threads_render_under_dagsters_current_sections(tmp_path: Path) -> None:
    settings = {
        "dagster_config_run_max_runtime_seconds": 0,
        "dagster_config_pool_default_limit": 3,
        "dagster_config_run_queue_dequeue_workers": 4,
        "dagster_config_backfill_workers": 2,
        "_dagster_config_tag_concurrency_limits": [{"key": "dagster/code_location", "value": "ml", "limit": 2}],
    }
    rendered = render(tmp_path, "-e", json.dumps(settings))
    assert rendered["concurrency"] == {
        "runs": {"max_concurrent_runs": 4,
                 "tag_concurrency_limits": [{"key": "dagster/code_location", "value": "ml", "limit": 2}]},
        "pools": {"granularity": "op", "default_limit": 3},
    }  # fmt: skip
    coordinator = rendered["run_coordinator"]
    assert isinstance(coordinator, dict)
    assert coordinator["config"] == {"dequeue_use_threads": True, "dequeue_num_workers": 4}
    assert "max_concurrent_runs" not in coordinator["config"], "Dagster refuses it beside concurrency.runs"
    assert rendered["backfills"] == {"use_threads": True, "num_workers": 2}
    assert "sensors" not in rendered
