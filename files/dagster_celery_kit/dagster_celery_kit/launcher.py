"""Run launcher: each run's orchestrator in a systemd unit of its own.

Dagster's DefaultRunLauncher starts a run's orchestrator as a child of the code
server, so a restart of the code server (a deploy, an upgrade, a rollback) kills
every run in flight. This launcher asks systemd for ``dagster-run@<run id>.service``
instead: the run outlives restarts of the code server, webserver and daemon and a
release switch, because it runs from the release venv of its code location that
was current when it was launched.

The Dagster processes run unprivileged and sandboxed, so they cannot start units.
They write a request file named ``<run id>.<verb>`` into ``requests_dir``; a path
unit wakes ``dagster-run-dispatch.service`` (root), which checks the name and
starts, or signals, exactly that run's unit. Nothing in a request is executed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import Field, StringSource
from dagster._core.launcher.base import (
    CheckRunHealthResult,
    LaunchRunContext,
    ResumeRunContext,
    RunLauncher,
    WorkerStatus,
)
from dagster._serdes import ConfigurableClass, ConfigurableClassData

from dagster_celery_kit.steps import terminate_running_steps

UNIT_PREFIX = "dagster-run@"
ALIVE_STATES = {"active", "activating", "deactivating", "reloading"}


def unit_name(run_id: str) -> str:
    return f"{UNIT_PREFIX}{run_id}.service"


def write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.chmod(partial, 0o640)
    partial.rename(path)


def unit_state(run_id: str) -> dict[str, str]:
    """ActiveState, SubState and Result of the run's unit, read over D-Bus (no privilege needed)."""
    proc = subprocess.run(
        ["systemctl", "show", unit_name(run_id), "--property=LoadState,ActiveState,SubState,Result"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"systemctl show {unit_name(run_id)} failed: {proc.stderr.strip()}")
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def health(state: Mapping[str, str]) -> tuple[WorkerStatus, str]:
    """What a unit's state says of the run's orchestrator."""
    active = state.get("ActiveState", "unknown")
    if active in ALIVE_STATES:
        return WorkerStatus.RUNNING, ""
    result = state.get("Result", "unknown")
    return WorkerStatus.FAILED, (
        f"the run's orchestrator is gone: its unit is {active} ({state.get('SubState', '?')}, result {result})"
    )


def run_venv(job_code_origin: Any) -> Path:
    """The release venv of the run's code location: the one its code server runs from, as the code server
    reports it (`--use-python-environment-entry-point`). The run keeps it through a later release switch.
    Without it, the venv of this process."""
    executable = getattr(getattr(job_code_origin, "repository_origin", None), "executable_path", None)
    # Not resolved itself: a venv's python is a link to the system's interpreter.
    return Path(executable).parent.parent.resolve() if executable else Path(sys.prefix).resolve()


class SystemdRunLauncher(RunLauncher, ConfigurableClass):
    """Launches each run as dagster-run@<run id>.service, through the kit's dispatcher."""

    def __init__(self, requests_dir: str, runs_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._requests_dir = Path(requests_dir)
        self._runs_dir = Path(runs_dir)
        self._inst_data = inst_data
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {
            "requests_dir": Field(StringSource, description="Where run requests are dropped for the dispatcher."),
            "runs_dir": Field(StringSource, description="Where each run's unit finds its release and command."),
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> SystemdRunLauncher:
        return cls(inst_data=inst_data, **config_value)

    def _request(self, run_id: str, verb: str, command: str | None = None, venv: Path | None = None) -> None:
        if command is not None:
            write_atomically(
                self._runs_dir / f"{run_id}.env",
                f"DAGSTER_RUN_VENV={venv}\nDAGSTER_RUN_COMMAND={command}\n",
            )
        write_atomically(self._requests_dir / f"{run_id}.{verb}", "")

    def _start(self, run: Any, command: str) -> None:
        self._request(run.run_id, "start", command, run_venv(run.job_code_origin))
        self._instance.report_engine_event(
            f"Requested {unit_name(run.run_id)} to {command} the run.", run, cls=self.__class__
        )

    def launch_run(self, context: LaunchRunContext) -> None:
        self._start(context.dagster_run, "execute")

    @property
    def supports_resume_run(self) -> bool:
        return True

    def resume_run(self, context: ResumeRunContext) -> None:
        self._start(context.dagster_run, "resume")

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: Any) -> CheckRunHealthResult:
        status, message = health(unit_state(run.run_id))
        return CheckRunHealthResult(status, message or None)

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if not run or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        # SIGTERM to the orchestrator: Dagster's interrupt handling revokes the queued steps.
        self._request(run_id, "stop")
        # dagster-celery lets running steps go on (revoke without terminate); stop them too.
        stopped = terminate_running_steps(run_id)
        self._instance.report_engine_event(
            f"Terminated {len(stopped)} running step(s) on the workers: {', '.join(sorted(stopped)) or 'none'}.",
            run,
            cls=self.__class__,
        )
        return True
