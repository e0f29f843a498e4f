"""The monitoring role's alert and recording rules, rendered by Ansible with the role's defaults: promtool
accepts them, and its rule tests (fixtures/alert_rules_test.yml) fire each alert on the failure it names,
with its summary and runbook link, and keep it quiet on the healthy series next to it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from tests.helpers.templates import FIXTURES, render

RULES_TEMPLATE = "roles/monitoring/templates/dagster.rules.yml.j2"
TROUBLESHOOTING = Path(__file__).resolve().parents[2] / "docs/troubleshooting.md"


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rules")
    rendered = render(out / "rendered", only=[RULES_TEMPLATE])
    (out / "dagster.rules.yml").write_text(rendered[RULES_TEMPLATE])
    shutil.copy(FIXTURES / "alert_rules_test.yml", out / "alert_rules_test.yml")
    return out


def promtool(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("promtool")
    assert executable, "promtool is missing: make bootstrap unpacks it into .venv/bin"
    return subprocess.run([executable, *arguments], cwd=cwd, capture_output=True, text=True, check=False)


def test_promtool_accepts_the_rules(rules_dir: Path) -> None:
    checked = promtool("check", "rules", "dagster.rules.yml", cwd=rules_dir)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout + checked.stderr


def test_each_alert_fires_on_its_failure_and_not_on_health(rules_dir: Path) -> None:
    tested = promtool("test", "rules", "alert_rules_test.yml", cwd=rules_dir)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_tested_and_its_runbook_section_exists(rules_dir: Path) -> None:
    rules = yaml.safe_load((rules_dir / "dagster.rules.yml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    tests = yaml.safe_load((rules_dir / "alert_rules_test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case["exp_alerts"]}
    assert sorted(set(alerts) - tested) == []
    anchors = {github_anchor(line) for line in TROUBLESHOOTING.read_text().splitlines() if line.startswith("## ")}
    missing = {name: rule["annotations"]["runbook_url"] for name, rule in alerts.items()
               if rule["annotations"]["runbook_url"].split("#")[1] not in anchors}  # fmt: skip
    assert missing == {}


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = heading.lstrip("#").strip().lower()
    return "".join(char for char in text if char.isalnum() or char in " -_").replace(" ", "-")


def test_the_dashboard_reads_only_recorded_or_exported_series(rules_dir: Path) -> None:
    rules = yaml.safe_load((rules_dir / "dagster.rules.yml").read_text())
    recorded = {rule["record"] for group in rules["groups"] for rule in group["rules"] if "record" in rule}
    dashboard = json.loads((Path(__file__).resolve().parents[2] / "files/grafana/dagster-fleet.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expression in expressions for name in re.findall(r"\bdagster:[a-z0-9_:]+", expression)}
    assert used and used <= recorded, used - recorded
