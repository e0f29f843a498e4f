"""`python -m dagster_celery_kit.pools [--check] '{"pool": limit}'`: the instance's pools as the inventory has them.

Dagster keeps each pool's limit in its database (the UI's and `dagster instance concurrency set`'s). This makes
them what the inventory says: a listed pool gets its limit, a pool the instance has but the inventory no longer
lists is deleted, unless Dagster created it from the default limit (``concurrency.pools.default_limit``), which
it would create again for the next step that uses it. Prints JSON: what it set and deleted, and ``changed``;
with --check it changes nothing and prints what it would do.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Pool:
    limit: int
    from_default: bool


def plan(current: Mapping[str, Pool], wanted: Mapping[str, int]) -> tuple[dict[str, int], list[str]]:
    """({pool: limit} to set, [pools to delete]) that turn `current` into `wanted`."""
    to_set = {
        name: limit
        for name, limit in sorted(wanted.items())
        if name not in current or current[name].limit != limit or current[name].from_default
    }
    to_delete = sorted(name for name, pool in current.items() if name not in wanted and not pool.from_default)
    return to_set, to_delete


def main(argv: list[str]) -> int:
    check = argv[:1] == ["--check"]
    arguments = argv[1:] if check else argv
    if len(arguments) != 1:
        print("usage: python -m dagster_celery_kit.pools [--check] '<JSON {pool: limit}>'", file=sys.stderr)
        return 2
    wanted = {str(name): int(limit) for name, limit in json.loads(arguments[0]).items()}
    from dagster._core.instance import DagsterInstance

    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        if not storage.supports_global_concurrency_limits:
            print(f"this instance's storage ({type(storage).__name__}) has no pools", file=sys.stderr)
            return 1
        current = {pool.name: Pool(pool.limit, pool.from_default) for pool in storage.get_pool_limits()}
        to_set, to_delete = plan(current, wanted)
        if not check:
            for name, limit in to_set.items():
                storage.set_concurrency_slots(name, limit)
            for name in to_delete:
                storage.delete_concurrency_limit(name)
    print(json.dumps({"set": to_set, "deleted": to_delete, "changed": bool(to_set or to_delete)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
