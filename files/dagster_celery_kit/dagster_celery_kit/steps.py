"""The Celery tasks that run a given run's steps, and stopping them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dagster._serdes import unpack_value


def run_id_of(task: Mapping[str, Any]) -> str | None:
    """The Dagster run of a task as `celery inspect active` describes it (None if not a step)."""
    packed = (task.get("kwargs") or {}).get("execute_step_args_packed")
    if packed is None:
        return None
    try:
        return getattr(unpack_value(packed), "run_id", None)
    except Exception:
        return None


def tasks_of_run(active: Mapping[str, Iterable[Mapping[str, Any]]], run_id: str) -> dict[str, str]:
    """{task id: worker} of the run's tasks among every worker's active tasks."""
    return {task["id"]: worker for worker, tasks in active.items() for task in tasks if run_id_of(task) == run_id}


def terminate_running_steps(run_id: str, timeout: float = 5.0) -> dict[str, str]:
    """Revoke and terminate (SIGTERM to the pool process) every running step of the run."""
    from dagster_celery_kit.celery_settings import make_app

    app = make_app()
    active = app.control.inspect(timeout=timeout).active() or {}
    running = tasks_of_run(active, run_id)
    for task_id in running:
        app.control.revoke(task_id, terminate=True, signal="SIGTERM")
    return running
