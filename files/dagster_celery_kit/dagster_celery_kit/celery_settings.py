"""The deployment's Celery settings, for every process that talks to the workers.

The workers read them from the module ``dagster_celery_config`` (on PYTHONPATH
through the environment file). dagster-celery's executor never reads that module:
it builds the orchestrator's Celery app from the run config alone, on top of its
own ``DEFAULT_CONFIG``. So a run launched with an empty run config, by a schedule,
a sensor or a re-execution would talk to the broker without the deployment's TLS,
retry and ack settings. ``apply_to_executor_defaults`` makes the deployment's
settings that default; what a run config says explicitly still wins. Broker URL
and result backend come from CELERY_BROKER_URL and CELERY_RESULT_BACKEND, which
Celery reads before any setting.
"""

from __future__ import annotations

import importlib
from typing import Any

SETTINGS_MODULE = "dagster_celery_config"


def deployment_settings() -> dict[str, Any]:
    """The public names of the settings module (empty when it is not on the path)."""
    try:
        module = importlib.import_module(SETTINGS_MODULE)
    except ModuleNotFoundError as error:
        if error.name != SETTINGS_MODULE:
            raise
        return {}
    return {name: value for name, value in vars(module).items() if not name.startswith("_")}


def apply_to_executor_defaults() -> dict[str, Any]:
    """Make the deployment's settings the defaults of every celery_executor in this process."""
    from dagster_celery.config import DEFAULT_CONFIG

    settings = deployment_settings()
    DEFAULT_CONFIG.update(settings)
    return settings


def make_app() -> Any:
    """A Celery app with the deployment's settings (as the workers have them)."""
    from dagster_celery.make_app import make_app as make_dagster_app

    return make_dagster_app()
