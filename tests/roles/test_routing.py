"""How a run's orchestrator routes its steps (dagster_celery_kit.routing): to the broker queue of its code
location's workers. Here against a stand-in of dagster-celery's submit function, which records what it is
given; the lab smoke run and the cluster scenario run jobs of real locations through real workers."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import pytest

from tests.helpers.modules import load_file


def load_routing() -> ModuleType:
    return load_file("files/dagster_celery_kit/dagster_celery_kit/routing.py", "routing")


@pytest.fixture
def executor(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """dagster_celery.executor with a _submit_task that returns the queue it was asked for."""
    package, module = ModuleType("dagster_celery"), ModuleType("dagster_celery.executor")

    def submit(app: Any, plan_context: Any, step: Any, queue: str, priority: int, known: Any) -> str:
        return f"{queue} at {priority}"

    module._submit_task = submit  # type: ignore[attr-defined]
    package.executor = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dagster_celery", package)
    monkeypatch.setitem(sys.modules, "dagster_celery.executor", module)
    return module


def test_a_locations_steps_go_to_its_workers_queue(executor: ModuleType) -> None:
    routing = load_routing()
    routing.route_steps_to("ml")
    assert executor._submit_task(None, None, None, "gpu", 7, None) == "ml.gpu at 7"
    assert routing.wire_queue("ml", "gpu") == "ml.gpu"


def test_routing_twice_does_not_prefix_twice(executor: ModuleType) -> None:
    routing = load_routing()
    routing.route_steps_to("ml")
    routing.route_steps_to("ml")
    assert executor._submit_task(None, None, None, "dagster", 5, None) == "ml.dagster at 5"
