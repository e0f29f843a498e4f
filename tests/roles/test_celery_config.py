"""dagster_celery_config.py as Ansible renders it: valid Python whatever the settings hold."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).parents[2]
TEMPLATE = REPO / "roles/dagster_config/templates/dagster_celery_config.py.j2"


def render(tmp_path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    dest = tmp_path / "dagster_celery_config.py"
    argv = [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local", "-m", "ansible.builtin.template",
            "-a", f"src={TEMPLATE} dest={dest}",
            "-e", json.dumps({"_dagster_config_celery_settings": settings})]  # fmt: skip
    environment = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_LOCALHOST_WARNING": "false"}
    done = subprocess.run(argv, cwd=REPO, env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    spec = importlib.util.spec_from_file_location("dagster_celery_config", dest)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: value for name, value in vars(module).items() if not name.startswith("_")}


def test_nested_booleans_nulls_and_quotes_are_valid_python(tmp_path: Path) -> None:
    settings = {
        "task_acks_late": True,
        "database_engine_options": {"pool_pre_ping": True, "echo": False, "connect_args": None},
        "broker_use_ssl": {"ca_certs": "/etc/example/tls/ca.crt", "cert_reqs": 2},
        "worker_name_hint": 'it\'s "quoted" \\ and ünïcode',
        "task_publish_retry_policy": {"max_retries": 42, "interval_max": 3},
    }
    assert render(tmp_path, settings) == settings
