"""Celery's task metrics follow one switch, dagster_control_flower_enabled: the workers send task events,
Flower listens where the monitoring host reaches it, the firewall admits the monitoring host to its port, and
Prometheus scrapes its /metrics; with Flower off, none of it. Rendered by Ansible, as on a fleet whose one
host is in every group, the monitoring group included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from tests.helpers.templates import render

PROMETHEUS = "roles/monitoring/templates/prometheus.yml.j2"
FIREWALL = "roles/firewall/templates/dagster-firewall.nft.j2"
CELERY_SETTINGS = "roles/dagster_config/templates/dagster_celery_config.py.j2"
FLOWER_UNIT = "roles/dagster_control/templates/dagster-flower.service.j2"


def rendered(tmp_path: Path, flower: bool) -> dict[str, str]:
    return render(tmp_path / "out", "-e", f"dagster_control_flower_enabled={str(flower).lower()}",
                  only=[PROMETHEUS, FIREWALL, CELERY_SETTINGS, FLOWER_UNIT])  # fmt: skip


def scrape_jobs(prometheus_yml: str) -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in yaml.safe_load(prometheus_yml)["scrape_configs"]}


def test_with_flower_the_monitoring_host_scrapes_its_metrics_through_the_firewall(tmp_path: Path) -> None:
    files = rendered(tmp_path, flower=True)
    celery = scrape_jobs(files[PROMETHEUS])["celery"]
    assert celery["metrics_path"] == "/flower/metrics"
    [target] = celery["static_configs"]
    [address] = target["targets"]
    assert address.endswith(":5555") and not address.startswith("127.")
    assert f"--address={address.rsplit(':', 1)[0]} --port=5555" in files[FLOWER_UNIT]
    control_rules = [line for line in files[FIREWALL].splitlines() if "9464" in line]
    assert control_rules and all("5555" in line for line in control_rules)
    assert 'worker_send_task_events = _json.loads("true")' in files[CELERY_SETTINGS]


def test_without_flower_nothing_scrapes_or_opens_its_port(tmp_path: Path) -> None:
    files = rendered(tmp_path, flower=False)
    assert "celery" not in scrape_jobs(files[PROMETHEUS])
    assert "5555" not in files[FIREWALL]
    assert 'worker_send_task_events = _json.loads("false")' in files[CELERY_SETTINGS]
