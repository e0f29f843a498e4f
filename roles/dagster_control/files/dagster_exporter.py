"""dagster_exporter.py --address A --port P: the Dagster instance's runs as Prometheus metrics.

Runs with the platform release's Python (it imports dagster and reads the instance of DAGSTER_HOME). Each
scrape reads the run storage afresh:
  dagster_runs{status}                          runs in each status
  dagster_oldest_queued_run_age_seconds         since the oldest QUEUED run was created (0: none queued)
  dagster_oldest_started_run_age_seconds        since the oldest STARTED run started (0: none started)
  dagster_started_run_max_silence_seconds       the longest any STARTED run has gone without an event
  dagster_exporter_up                           1 when the instance answered, 0 when it failed
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STATUSES = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "SUCCESS", "FAILURE", "CANCELING", "CANCELED")
# A STARTED run is read for its newest event; a fleet has far fewer at once.
MAX_STARTED_RUNS_READ = 500


@dataclass
class Snapshot:
    up: bool
    runs: dict[str, int] = field(default_factory=dict)
    oldest_queued_age: float = 0.0
    oldest_started_age: float = 0.0
    max_silence: float = 0.0


def render(snapshot: Snapshot) -> str:
    """The Prometheus text exposition of a snapshot."""
    lines = [
        "# HELP dagster_exporter_up Whether the Dagster instance answered this scrape.",
        "# TYPE dagster_exporter_up gauge",
        f"dagster_exporter_up {int(snapshot.up)}",
    ]
    if not snapshot.up:
        return "\n".join(lines) + "\n"
    lines += ["# HELP dagster_runs Runs in the run storage by status.", "# TYPE dagster_runs gauge"]
    lines += [f'dagster_runs{{status="{status}"}} {snapshot.runs.get(status, 0)}' for status in STATUSES]
    for name, value, text in (
        ("dagster_oldest_queued_run_age_seconds", snapshot.oldest_queued_age, "Age of the oldest QUEUED run."),
        ("dagster_oldest_started_run_age_seconds", snapshot.oldest_started_age, "Since the oldest STARTED run began."),
        ("dagster_started_run_max_silence_seconds", snapshot.max_silence, "Longest silence of a STARTED run."),
    ):
        lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name} {value:.1f}"]
    return "\n".join(lines) + "\n"


def read_instance(instance: Any, now: float) -> Snapshot:
    from dagster import DagsterRunStatus, RunsFilter

    runs = {
        status: instance.get_runs_count(filters=RunsFilter(statuses=[DagsterRunStatus[status]])) for status in STATUSES
    }
    snapshot = Snapshot(up=True, runs=runs)
    queued = instance.get_run_records(
        filters=RunsFilter(statuses=[DagsterRunStatus.QUEUED]), limit=1, order_by="create_timestamp", ascending=True
    )
    if queued:
        snapshot.oldest_queued_age = max(0.0, now - queued[0].create_timestamp.timestamp())
    started = instance.get_run_records(
        filters=RunsFilter(statuses=[DagsterRunStatus.STARTED]), limit=MAX_STARTED_RUNS_READ
    )
    for record in started:
        began = record.start_time or record.create_timestamp.timestamp()
        snapshot.oldest_started_age = max(snapshot.oldest_started_age, now - began)
        newest = instance.get_records_for_run(record.dagster_run.run_id, limit=1, ascending=False).records
        last_event = newest[0].event_log_entry.timestamp if newest else began
        snapshot.max_silence = max(snapshot.max_silence, now - last_event)
    return snapshot


def serve(address: str, port: int) -> None:
    from dagster import DagsterInstance

    instance = DagsterInstance.get()

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            try:
                snapshot = read_instance(instance, time.time())
            except Exception as error:
                print(f"dagster_exporter: reading the instance failed: {error}", file=sys.stderr)
                snapshot = Snapshot(up=False)
            body = render(snapshot).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    ThreadingHTTPServer((address, port), Metrics).serve_forever()


def main(argv: list[str] | None = None) -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--address", required=True)
    options.add_argument("--port", type=int, required=True)
    arguments = options.parse_args(argv)
    serve(arguments.address, arguments.port)


if __name__ == "__main__":
    main()
