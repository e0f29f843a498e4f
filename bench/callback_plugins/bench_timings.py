"""Ansible callback: write every task's wall time and per-host outcome to a JSON file.

Enabled by the benchmarks only (ANSIBLE_CALLBACKS_ENABLED=bench_timings), beside
the normal output. BENCH_TIMINGS_FILE names the file written when the run ends.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase  # type: ignore[import-untyped]

DOCUMENTATION = """
name: bench_timings
type: aggregate
short_description: task wall times and outcomes as JSON, for the benchmarks
description: Writes one JSON document with each task's start, end, role, file and per-host status.
requirements:
  - BENCH_TIMINGS_FILE in the environment
"""


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timings"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._started = time.time()
        self._tasks: list[dict[str, Any]] = []
        self._by_uuid: dict[str, dict[str, Any]] = {}
        self._play = ""

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._play = play.get_name()

    def _start(self, task: Any) -> None:
        role = task._role.get_name() if task._role else ""
        record = {
            "play": self._play,
            "role": role,
            "name": task.get_name(),
            "action": task.action,
            "path": task.get_path() or "",
            "start": time.time(),
            "end": time.time(),
            "hosts": {},
        }
        self._tasks.append(record)
        self._by_uuid[task._uuid] = record

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._start(task)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._start(task)

    def _finish(self, result: Any, status: str) -> None:
        record = self._by_uuid.get(result._task._uuid)
        if record is None:
            return
        now = time.time()
        record["end"] = max(record["end"], now)
        if status == "ok" and result._result.get("changed", False):
            status = "changed"
        record["hosts"][result._host.get_name()] = status

    def v2_runner_on_ok(self, result: Any) -> None:
        self._finish(result, "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._finish(result, "failed")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._finish(result, "skipped")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._finish(result, "unreachable")

    def v2_playbook_on_stats(self, stats: Any) -> None:
        target = os.environ.get("BENCH_TIMINGS_FILE")
        if not target:
            return
        hosts = sorted(stats.processed.keys())
        document = {
            "started": self._started,
            "ended": time.time(),
            "tasks": self._tasks,
            "stats": {host: stats.summarize(host) for host in hosts},
        }
        with open(target, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
