"""One converged cluster serves every module here; the restore drill replaces its database, so it runs last."""

from __future__ import annotations

import pytest

LAST_MODULE = "test_restore.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name == LAST_MODULE)
