"""Celery's database result backend, keeping its engine for the life of any process.

Celery keeps one engine (and its pooled connection) per database URL only in
forked pool processes; anywhere else it creates a new engine and a new
connection for every call. A run's orchestrator asks for the state of every
step it has submitted, each second, so a run of many parallel steps opened a
connection per step per second (a TLS handshake, an authentication and a server
process each). This backend keeps the engine in every process, and lets a
forked child start its own.

Selected by the scheme of the result backend URL (the ``celery.result_backends``
entry point of this package): ``pooled-db+postgresql+psycopg2://...``.
"""

from __future__ import annotations

import os
from typing import Any

from celery.backends.database import DatabaseBackend
from celery.backends.database.session import SessionManager


class ProcessSessionManager(SessionManager):
    """Celery's session manager, reusing its engines in whatever process it runs."""

    def __init__(self, engine_callback: Any = None) -> None:
        super().__init__(engine_callback=engine_callback)
        self.forked = True  # Celery's switch for keeping engines
        self._pid = os.getpid()

    def _after_fork(self) -> None:
        self._forget_engines()

    def _forget_engines(self) -> None:
        """Never use, nor close, connections a parent process opened."""
        for engine in self._engines.values():
            engine.dispose(close=False)
        self._engines.clear()
        self._sessions.clear()
        self._pid = os.getpid()

    def get_engine(self, dburi: str, **kwargs: Any) -> Any:
        if self._pid != os.getpid():
            self._forget_engines()
        return super().get_engine(dburi, **kwargs)


class PooledDatabaseBackend(DatabaseBackend):
    """DatabaseBackend with a ProcessSessionManager."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_manager = ProcessSessionManager(engine_callback=self.session_manager.engine_callback)
