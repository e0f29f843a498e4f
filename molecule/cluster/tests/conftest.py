"""One converged cluster serves every module here; the restore drill replaces its database, so it runs last."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.molecule import deployed_run_config, webserver

from lab.dagster_client import Client

LAST_MODULE = "test_restore.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name == LAST_MODULE)


@pytest.fixture(scope="session")
def client() -> Client:
    """The GraphQL client of the control node's webserver."""
    return webserver()


@pytest.fixture(scope="session")
def run_config() -> dict[str, Any]:
    """The executor settings the kit deployed, as a run config."""
    return deployed_run_config()
