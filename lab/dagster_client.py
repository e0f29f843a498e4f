"""A small client of the Dagster webserver's GraphQL API: what the UI does to launch and watch runs."""

from __future__ import annotations

import base64
import json
import re
import ssl
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}
"""

STATUS = """
query Status($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status } }
}
"""

LATEST_RUN = """
query LatestRun($job: String!) {
  runsOrError(filter: {pipelineName: $job}, limit: 1) { __typename ... on Runs { results { runId } } }
}
"""

LOGS = """
query Logs($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        __typename
        ... on MessageEvent { message timestamp stepKey }
        ... on EngineEvent { metadataEntries { label ... on TextMetadataEntry { text } } }
        ... on ExecutionStepOutputEvent { metadataEntries { label ... on TextMetadataEntry { text } } }
        ... on ErrorEvent { error { className message } }
      }
    }
  }
}
"""

TERMINATE = """
mutation Terminate($runId: String!) {
  terminateRun(runId: $runId) {
    __typename
    ... on TerminateRunFailure { message }
    ... on PythonError { message }
  }
}
"""

START_SCHEDULE = """
mutation StartSchedule($selector: ScheduleSelector!) {
  startSchedule(scheduleSelector: $selector) { __typename ... on PythonError { message } }
}
"""

RESET_SCHEDULE = """
mutation ResetSchedule($selector: ScheduleSelector!) {
  resetSchedule(scheduleSelector: $selector) { __typename ... on PythonError { message } }
}
"""

RUNS_WITH_TAG = """
query RunsWithTag($key: String!, $value: String!) {
  runsOrError(filter: {tags: [{key: $key, value: $value}]}) {
    __typename ... on Runs { results { runId status } }
  }
}
"""

REEXECUTE = """
mutation Reexecute($params: ReexecutionParams!) {
  launchRunReexecution(reexecutionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""

RUN_IDS = """
query RunIds { runsOrError(limit: 1000) { __typename ... on Runs { results { runId } } } }
"""

LAUNCH_BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
    ... on PartitionKeysNotFoundError { message }
  }
}
"""

BACKFILL = """
query Backfill($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill { status runs { runId status creationTime startTime endTime } }
    ... on PythonError { message }
  }
}
"""

DAEMON_HEARTBEATS = """
query DaemonHeartbeats {
  instance { daemonHealth { allDaemonStatuses { daemonType required lastHeartbeatTime } } }
}
"""

RUN_TIMES = """
query RunTimes($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { startTime endTime } }
}
"""

BACKFILL_FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
RUN_ENDED_BADLY = {"RunFailureEvent", "RunCancelingEvent", "RunCanceledEvent"}
QUEUE_MESSAGE = re.compile(r'Submitting celery task for step "(?P<step>[^"]+)" to queue "(?P<queue>[^"]+)"')


class DagsterError(RuntimeError):
    """The webserver refused a request or a run did not finish in time."""


@dataclass
class Step:
    key: str
    queue: str = ""
    worker: str = ""
    started: float | None = None
    ended: float | None = None
    status: str = "NOT RUN"
    starts: int = 0
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.worker.partition("@")[2]

    @property
    def seconds(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started


@dataclass
class RunReport:
    run_id: str
    status: str
    steps: dict[str, Step] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def basic_auth(login: tuple[str, str]) -> str:
    """The Authorization header of an HTTP basic-auth login."""
    return "Basic " + base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()


class Client:
    """GraphQL at `url`; through the front door with a login (name, password) and the CA that signed its certificate."""

    def __init__(
        self, url: str, timeout: float = 30.0, login: tuple[str, str] | None = None, cafile: Path | None = None
    ) -> None:
        self.url = url.rstrip("/") + "/graphql"
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json"}
        if login:
            self.headers["Authorization"] = basic_auth(login)
        self.context = ssl.create_default_context(cafile=str(cafile)) if cafile else None

    def query(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"query": document, "variables": variables}).encode()
        request = urllib.request.Request(self.url, data=body, headers=self.headers)
        with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as response:
            payload: dict[str, Any] = json.loads(response.read())
        if payload.get("errors"):
            raise DagsterError(f"GraphQL error: {payload['errors'][0].get('message')}")
        data: dict[str, Any] = payload["data"]
        return data

    def launch(self, location: str, job: str, run_config: dict[str, Any], tags: dict[str, str] | None = None) -> str:
        params = {
            "selector": {"repositoryLocationName": location, "repositoryName": "__repository__", "jobName": job},
            "runConfigData": run_config,
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
        }
        result = self.query(LAUNCH, {"params": params})["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            detail = result.get("message") or "; ".join(e["message"] for e in result.get("errors", []))
            raise DagsterError(f"launching {job} failed ({result['__typename']}): {detail}")
        run_id: str = result["run"]["runId"]
        return run_id

    def launch_backfill(self, assets: list[str], partitions: list[str]) -> str:
        """Materialize partitions of assets as the UI's "Materialize" of a partition range does; the backfill's id."""
        params = {"assetSelection": [{"path": [asset]} for asset in assets], "partitionNames": partitions}
        result = self.query(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise DagsterError(f"launching the backfill failed ({result['__typename']}): {result.get('message')}")
        backfill_id: str = result["backfillId"]
        return backfill_id

    def backfill(self, backfill_id: str) -> tuple[str, list[dict[str, Any]]]:
        """A backfill's status and its runs (runId, status, startTime, endTime)."""
        result = self.query(BACKFILL, {"backfillId": backfill_id})["partitionBackfillOrError"]
        if result["__typename"] != "PartitionBackfill":
            raise DagsterError(f"backfill {backfill_id} not found ({result['__typename']}): {result.get('message')}")
        return str(result["status"]), list(result["runs"])

    def daemon_heartbeats(self) -> dict[str, float | None]:
        """When each daemon the instance requires last wrote its heartbeat (seconds since the epoch; None never)."""
        statuses = self.query(DAEMON_HEARTBEATS, {})["instance"]["daemonHealth"]["allDaemonStatuses"]
        return {status["daemonType"]: status["lastHeartbeatTime"] for status in statuses if status["required"]}

    def run_times(self, run_id: str) -> tuple[float | None, float | None]:
        """When a run started and ended (seconds since the epoch; None before)."""
        result = self.query(RUN_TIMES, {"runId": run_id})["runOrError"]
        if result["__typename"] != "Run":
            raise DagsterError(f"run {run_id} not found ({result['__typename']})")
        return result["startTime"], result["endTime"]

    def reexecute(self, run_id: str, strategy: str = "FROM_FAILURE") -> str:
        """Re-execute a run (the UI's "Re-execute from failure" by default); the new run's id."""
        params = {"parentRunId": run_id, "strategy": strategy}
        result = self.query(REEXECUTE, {"params": params})["launchRunReexecution"]
        if result["__typename"] != "LaunchRunSuccess":
            raise DagsterError(f"re-executing {run_id} failed ({result['__typename']}): {result.get('message')}")
        new_run_id: str = result["run"]["runId"]
        return new_run_id

    def run_ids(self) -> set[str]:
        """Ids of the newest 1000 runs the instance knows."""
        result = self.query(RUN_IDS, {})["runsOrError"]
        if result["__typename"] != "Runs":
            raise DagsterError(f"listing runs failed ({result['__typename']})")
        return {run["runId"] for run in result["results"]}

    def terminate(self, run_id: str) -> None:
        """Terminate a run as the UI's Terminate button does."""
        result = self.query(TERMINATE, {"runId": run_id})["terminateRun"]
        if result["__typename"] != "TerminateRunSuccess":
            raise DagsterError(f"terminating {run_id} failed ({result['__typename']}): {result.get('message')}")

    def set_schedule(self, location: str, schedule: str, running: bool) -> None:
        """Start a schedule, or reset it to its default status (the UI's toggle)."""
        selector = {"repositoryLocationName": location, "repositoryName": "__repository__", "scheduleName": schedule}
        document, field_name = (START_SCHEDULE, "startSchedule") if running else (RESET_SCHEDULE, "resetSchedule")
        result = self.query(document, {"selector": selector})[field_name]
        if result["__typename"] == "PythonError":
            raise DagsterError(f"{field_name} {schedule} failed: {result['message']}")

    def runs_with_tag(self, key: str, value: str) -> dict[str, str]:
        """{run id: status} of the runs carrying a tag, newest first."""
        result = self.query(RUNS_WITH_TAG, {"key": key, "value": value})["runsOrError"]
        if result["__typename"] != "Runs":
            raise DagsterError(f"listing runs tagged {key}={value} failed ({result['__typename']})")
        return {run["runId"]: run["status"] for run in result["results"]}

    def latest_run(self, job: str) -> str:
        result = self.query(LATEST_RUN, {"job": job})["runsOrError"]
        if result["__typename"] != "Runs" or not result["results"]:
            raise DagsterError(f"no run of {job} found ({result['__typename']}); launch one with `lab run-job`")
        run_id: str = result["results"][0]["runId"]
        return run_id

    def status(self, run_id: str) -> str:
        result = self.query(STATUS, {"runId": run_id})["runOrError"]
        if result["__typename"] != "Run":
            raise DagsterError(f"run {run_id} not found ({result['__typename']})")
        status: str = result["status"]
        return status

    def wait(self, run_id: str, timeout: float = 600.0, poll: float = 1.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(run_id)
            if status in FINISHED:
                return status
            if time.monotonic() > deadline:
                raise DagsterError(f"run {run_id} still {status} after {timeout:.0f} s")
            time.sleep(poll)

    def events(self, run_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        cursor = None
        while True:
            result = self.query(LOGS, {"runId": run_id, "cursor": cursor})["logsForRun"]
            if result["__typename"] != "EventConnection":
                raise DagsterError(f"no event log for run {run_id} ({result['__typename']})")
            events += result["events"]
            cursor = result["cursor"]
            if not result["hasMore"]:
                return events

    def report(self, run_id: str) -> RunReport:
        events = self.events(run_id)
        return RunReport(run_id, self.status(run_id), steps_from_events(events), failures_from_events(events))


def steps_from_events(events: list[dict[str, Any]]) -> dict[str, Step]:
    """Per step: queue, worker (name@host, from the engine event Celery workers write), timing, outcome."""
    steps: dict[str, Step] = {}
    for event in events:
        kind = event["__typename"]
        message = event.get("message") or ""
        submitted = QUEUE_MESSAGE.search(message)
        if submitted:
            steps.setdefault(submitted["step"], Step(submitted["step"])).queue = submitted["queue"]
        key = event.get("stepKey")
        if not key:
            continue
        step = steps.setdefault(key, Step(key))
        stamp = float(event["timestamp"]) / 1000.0
        for entry in event.get("metadataEntries") or []:
            if entry.get("label") == "Celery worker" and entry.get("text"):
                step.worker = entry["text"]
            elif kind == "ExecutionStepOutputEvent" and entry.get("text") is not None:
                step.outputs[entry["label"]] = entry["text"]
        if kind == "ExecutionStepStartEvent":
            step.started, step.status, step.starts = stamp, "STARTED", step.starts + 1
        elif kind == "ExecutionStepSuccessEvent":
            step.ended, step.status = stamp, "SUCCESS"
        elif kind == "ExecutionStepFailureEvent":
            step.ended, step.status = stamp, "FAILURE"
    return steps


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The most (start, end) intervals open at one moment: how many steps ran at once (one ending as another
    starts counts once)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = most = 0
    for _, change in edges:
        running += change
        most = max(most, running)
    return most


def failures_from_events(events: list[dict[str, Any]]) -> list[str]:
    """Why a run failed or was canceled: those events' messages and every error (class: first line) events carry."""
    failures: list[str] = []
    for event in events:
        if event["__typename"] in RUN_ENDED_BADLY and event.get("message"):
            failures.append(event["message"])
        error = event.get("error")
        if error:
            failures.append(f"{error['className']}: {(error['message'].strip().splitlines() or [''])[0]}")
    return failures


def table(report: RunReport) -> str:
    rows = [("step", "queue", "worker", "seconds", "status")]
    ordered = sorted(report.steps.values(), key=lambda s: (s.started or float("inf"), s.key))
    for step in ordered:
        seconds = f"{step.seconds:.2f}" if step.seconds is not None else "-"
        rows.append((step.key, step.queue or "-", step.worker or "-", seconds, step.status))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


LOCATIONS = """
query Locations {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection { nodes { name location { name } jobs { name } } }
  }
}
"""


def location_of(client: Client, job: str) -> str:
    """The code location that defines the job."""
    result = client.query(LOCATIONS, {})["repositoriesOrError"]
    for repository in result.get("nodes", []):
        if job in {j["name"] for j in repository["jobs"]}:
            location: str = repository["location"]["name"]
            return location
    raise DagsterError(f"no code location defines a job named {job}")
