"""Steps of a code location go to that location's workers.

Each code location has a venv of its own, so a Celery worker can run the steps of one location only: the
worker role runs one worker per location and queue, consuming ``<location>.<queue>``. A run's orchestrator
sends its steps there: ``route_steps_to(location)`` puts the location in front of the queue dagster-celery
chose for each step (its ``dagster-celery/queue`` tag, or the default queue), so the user's code keeps plain
queue names. The name rule is the worker role's (``dagster_worker_checked_instances``); ``wire_queue`` is
its one copy on this side, and a job of each location running through its workers shows they agree.
"""

from __future__ import annotations

from typing import Any


def wire_queue(location: str, queue: str) -> str:
    """The broker queue of a location's steps on `queue` (also the name of the worker consuming it)."""
    return f"{location}.{queue}"


def route_steps_to(location: str) -> None:
    """Make every Celery executor of this process send its steps to `location`'s workers."""
    from dagster_celery import executor

    # The one place dagster-celery chooses a step's queue (a private name; the kit pins dagster-celery).
    submit = executor._submit_task
    if getattr(submit, "routed_to", None) is not None:
        return

    def submit_to_location(app: Any, plan_context: Any, step: Any, queue: str, priority: int, known: Any) -> Any:
        return submit(app, plan_context, step, wire_queue(location, queue), priority, known)

    submit_to_location.routed_to = location  # type: ignore[attr-defined]
    executor._submit_task = submit_to_location
