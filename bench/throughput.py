"""Fan-out throughput: the same 64-step graph on the Celery fleet and with the multiprocess executor."""

from __future__ import annotations

import statistics
from typing import Any

from bench import runner
from lab.dagster_client import Client

CELERY_JOB = "wide_fan_out_job"
MULTIPROCESS_JOB = "wide_fan_out_multiprocess_job"


def summarize(runs: list[dict[str, Any]], slots: int) -> dict[str, Any]:
    """Median wall time; per-step cost is the slot time one step takes (wall x slots / steps)."""
    seconds = statistics.median(run["seconds"] for run in runs)
    steps = runs[0]["steps"]
    cpu = statistics.median(run.get("cpu_seconds", 0.0) for run in runs)
    return {
        "slots": slots,
        "runs": runs,
        "median_seconds": round(seconds, 1),
        "median_cpu_seconds": round(cpu, 1),
        "cpu_seconds_per_step": round(cpu / steps, 2),
        "steps_per_second": round(steps / seconds, 2),
        "slot_seconds_per_step": round(seconds * slots / steps, 2),
    }


def measure(
    client: Client, run_config: dict[str, Any], celery_slots: int, run_host_cores: int, runs: int
) -> dict[str, Any]:
    celery: list[dict[str, Any]] = []
    multiprocess: list[dict[str, Any]] = []
    for attempt in range(1, runs + 1):
        celery.append(runner.timed_run(client, CELERY_JOB, run_config))
        # The multiprocess executor's default concurrency: the run host's CPU count.
        multiprocess.append(runner.timed_run(client, MULTIPROCESS_JOB, {}))
        runner.say(
            f"throughput run {attempt}/{runs}: celery {celery[-1]['seconds']} s, "
            f"multiprocess {multiprocess[-1]['seconds']} s"
        )
    result = {
        "figure": "throughput",
        "steps": celery[0]["steps"],
        "celery": summarize(celery, celery_slots),
        "multiprocess": summarize(multiprocess, run_host_cores),
    }
    result["speedup"] = round(result["multiprocess"]["median_seconds"] / result["celery"]["median_seconds"], 2)
    return result
