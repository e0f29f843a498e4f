"""`python -m dagster_celery_kit.instance_check <dagster.yaml>`: is this file an instance Dagster would load?

Run with a release's venv on a candidate dagster.yaml before it replaces the deployed one (the template's
``validate``), so that a value Dagster refuses stops the deploy with Dagster's own message, not the services
as they restart. It checks what Dagster checks when an instance starts, short of connecting anywhere: the
file against the instance schema, each configurable class (storage, run launcher, run coordinator, compute
logs, ...) against its own config schema, and the concurrency settings as Dagster combines them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def configurable_sections(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """{path: {module, class, config}} of every configurable class the instance config names."""
    found: dict[str, Mapping[str, Any]] = {}
    for key, value in config.items():
        if not isinstance(value, Mapping):
            continue
        if "module" in value and "class" in value:
            found[key] = value
        custom = value.get("custom")
        if isinstance(custom, Mapping) and "module" in custom and "class" in custom:
            found[f"{key}.custom"] = custom
    return found


def shorten(message: str, longest: int = 300) -> str:
    """Dagster's message without the whole schema it appends after "Expected:" (thousands of characters)."""
    if len(message) <= longest or " Expected: " not in message:
        return message
    return message.split(" Expected: ")[0] + " (see Dagster's instance reference for the keys it takes)"


def problems(path: Path) -> list[str]:
    """What Dagster would refuse in the instance config at `path` (empty: it loads)."""
    from dagster._config import validate_config
    from dagster._core.errors import DagsterInvalidConfigError
    from dagster._core.instance.config import dagster_instance_config
    from dagster._serdes.config_class import class_from_code_pointer

    try:
        config = dagster_instance_config(str(path.parent), config_filename=path.name)[0]
    except DagsterInvalidConfigError as error:
        return [shorten(error.errors[0].message if error.errors else str(error))] + [
            shorten(more.message) for more in error.errors[1:]
        ]
    found = []
    for section, pointer in configurable_sections(config).items():
        try:
            klass = class_from_code_pointer(pointer["module"], pointer["class"])
        except Exception as error:  # an import error names the module, as Dagster would on start
            found.append(f"{section}: cannot load {pointer['module']}.{pointer['class']}: {error}")
            continue
        result = validate_config(klass.config_type(), pointer.get("config") or {})
        if not result.success:
            found.extend(f"{section}: {shorten(error.message)}" for error in result.errors)
    if not found:
        found.extend(concurrency_problems(config))
    return found


def concurrency_problems(config: Mapping[str, Any]) -> list[str]:
    """The run queue's and the pools' settings as the instance combines them (the granularity's name, say)."""
    from dagster._config import process_config
    from dagster._core.instance.config import ConcurrencyConfig
    from dagster._core.run_coordinator.queued_run_coordinator import QueuedRunCoordinator

    coordinator = config.get("run_coordinator") or {}
    queue_config = None
    if coordinator.get("class") == QueuedRunCoordinator.__name__:
        processed = process_config(QueuedRunCoordinator.config_type(), coordinator.get("config") or {})
        queue_config = QueuedRunCoordinator.from_config_value(None, processed.value or {}).get_run_queue_config()
    try:
        ConcurrencyConfig.from_concurrency_settings(config.get("concurrency") or {}, queue_config)
    except Exception as error:
        return [f"concurrency: {error}"]
    return []


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m dagster_celery_kit.instance_check <dagster.yaml>", file=sys.stderr)
        return 2
    found = problems(Path(argv[0]))
    for problem in found:
        print(f"refused by Dagster: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
