"""dagster-run-dispatch: which requests become systemctl calls, and that every request is consumed.

systemctl is replaced by a recorder here; the real units are started and stopped in the cluster scenario."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "roles/dagster_control/files/dagster-run-dispatch"
RUN_ID = "0b5c2c1e-8f3a-4c1d-9a7e-3f2b1c0d9e8a"


@pytest.fixture
def dispatch(tmp_path: Path):  # type: ignore[no-untyped-def]
    bin_dir, requests, calls = tmp_path / "bin", tmp_path / "requests", tmp_path / "calls"
    bin_dir.mkdir()
    requests.mkdir()
    recorder = bin_dir / "systemctl"
    recorder.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    recorder.chmod(0o755)

    def run(*names: str) -> tuple[list[str], list[str]]:
        for name in names:
            (requests / name).write_text("")
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
        subprocess.run(["sh", str(SCRIPT), str(requests)], env=env, check=True, capture_output=True)
        made = calls.read_text().splitlines() if calls.exists() else []
        return made, sorted(path.name for path in requests.iterdir())

    return run


def test_a_start_request_starts_the_runs_unit(dispatch) -> None:  # type: ignore[no-untyped-def]
    calls, left = dispatch(f"{RUN_ID}.start")
    assert calls == [f"start --no-block dagster-run@{RUN_ID}.service"]
    assert left == []


def test_a_stop_request_signals_the_orchestrator_only(dispatch) -> None:  # type: ignore[no-untyped-def]
    calls, left = dispatch(f"{RUN_ID}.stop")
    assert calls == [f"kill --kill-whom=main --signal=SIGTERM dagster-run@{RUN_ID}.service"]
    assert left == []


@pytest.mark.parametrize(
    "name",
    ["not-a-run-id.start", f"{RUN_ID}.restart", f"{RUN_ID.upper()}.start", f"x{RUN_ID}.start", f"{RUN_ID}x.stop"],
)
def test_a_request_that_is_not_a_run_id_and_verb_is_dropped(dispatch, name: str) -> None:  # type: ignore[no-untyped-def]
    calls, left = dispatch(name)
    assert calls == []
    assert left == []


def test_a_partial_request_being_written_is_left_alone(dispatch) -> None:  # type: ignore[no-untyped-def]
    calls, left = dispatch(f".{RUN_ID}.start.partial")
    assert calls == []
    assert left == [f".{RUN_ID}.start.partial"]
