"""Dagster's PostgreSQL storage, with one pooled engine per process.

dagster-postgres opens a new database connection for every query (SQLAlchemy's
NullPool), because a process may create a DagsterInstance per request and never
dispose of it. A Celery worker creates one for every step, from the run's
instance reference, checks the three storages' tables, and writes each event of
the step over a connection of its own: about 20 connections per step, each a
TLS handshake, a SCRAM authentication and a new server process.

Here every instance in a process shares one engine per database URL: it keeps
one connection open (more are opened, and closed again, only while threads use
the database at once) and pings it before each use, so a restarted database
costs one reconnect. The tables are checked by a process's first instance only.

    storage:
      custom:
        module: dagster_celery_kit.storage
        class: PooledPostgresStorage
        config: <what dagster_postgres's storage takes>
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

if TYPE_CHECKING:
    from collections.abc import Mapping

    import sqlalchemy
    from dagster._serdes import ConfigurableClassData
    from dagster_postgres.auth import PgTokenProvider

# One connection stays open; a thread that finds it taken opens another, closed when returned.
ENGINE_OPTIONS: dict[str, Any] = {
    "isolation_level": "AUTOCOMMIT",
    "pool_size": 1,
    "max_overflow": -1,
    "pool_pre_ping": True,
    "pool_recycle": 3600,
}

_engines: dict[str, sqlalchemy.engine.Engine] = {}
_engines_lock = threading.Lock()


def _forget_engines() -> None:
    """In a forked child: never use, nor close, the connections of the parent."""
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


os.register_at_fork(after_in_child=_forget_engines)


def shared_engine(
    postgres_url: str, token_provider: PgTokenProvider | None = None
) -> tuple[sqlalchemy.engine.Engine, bool]:
    """This process's engine for the URL, and whether this call created it."""
    with _engines_lock:
        engine = _engines.get(postgres_url)
        if engine is not None:
            return engine, False
        engine = _engines[postgres_url] = create_pg_engine(postgres_url, token_provider, **ENGINE_OPTIONS)
        return engine, True


class PooledPostgresStorage(DagsterPostgresStorage):
    """DagsterPostgresStorage whose run, event log and schedule storages use the process's shared engine."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: PgTokenProvider | None = None,
    ) -> None:
        engine, first_in_process = shared_engine(postgres_url, token_provider)
        super().__init__(postgres_url, should_autocreate_tables and first_in_process, inst_data, token_provider)
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            storage._engine = engine

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
