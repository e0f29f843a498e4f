"""The Dagster exporter's text exposition (the instance it reads is real in the lab smoke run, where Prometheus
scrapes it and `lab alert-check` reads a run's status from it)."""

from __future__ import annotations

from types import ModuleType

from tests.helpers.modules import load_file


def exporter() -> ModuleType:
    return load_file("roles/dagster_control/files/dagster_exporter.py", "dagster_exporter")


def test_a_snapshot_becomes_one_sample_per_status_and_the_ages() -> None:
    module = exporter()
    text = module.render(
        module.Snapshot(up=True, runs={"STARTED": 2, "SUCCESS": 7}, oldest_started_age=61.0, max_silence=3.0)
    )
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert "dagster_exporter_up 1" in lines
    assert 'dagster_runs{status="STARTED"} 2' in lines
    assert 'dagster_runs{status="SUCCESS"} 7' in lines
    assert 'dagster_runs{status="QUEUED"} 0' in lines
    assert len([line for line in lines if line.startswith("dagster_runs{")]) == len(module.STATUSES)
    assert "dagster_oldest_started_run_age_seconds 61.0" in lines
    assert "dagster_started_run_max_silence_seconds 3.0" in lines
    assert text.endswith("\n")


def test_an_instance_that_did_not_answer_reports_only_that() -> None:
    module = exporter()
    lines = [line for line in module.render(module.Snapshot(up=False)).splitlines() if not line.startswith("#")]
    assert lines == ["dagster_exporter_up 0"]
