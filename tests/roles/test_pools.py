"""What the pool reconciliation (dagster_celery_kit.pools) sets and deletes to make the instance's pools the
inventory's; the cluster scenario runs it against Dagster's database (test_your_code.py)."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.helpers.modules import load_file


@pytest.fixture(scope="module")
def pools() -> ModuleType:
    return load_file("files/dagster_celery_kit/dagster_celery_kit/pools.py", "kit_pools")


def test_listed_pools_get_their_limits_and_unlisted_ones_go(pools: ModuleType) -> None:
    current = {"warehouse": pools.Pool(5, False), "api": pools.Pool(1, False), "old": pools.Pool(2, False)}
    assert pools.plan(current, {"warehouse": 2, "api": 1, "new": 3}) == ({"new": 3, "warehouse": 2}, ["old"])


def test_a_pool_dagster_made_from_the_default_limit_stays_unless_listed(pools: ModuleType) -> None:
    current = {"made": pools.Pool(4, True), "listed": pools.Pool(4, True)}
    assert pools.plan(current, {"listed": 4}) == ({"listed": 4}, [])


def test_nothing_to_do_when_the_instance_has_what_the_inventory_lists(pools: ModuleType) -> None:
    assert pools.plan({"warehouse": pools.Pool(2, False)}, {"warehouse": 2}) == ({}, [])
