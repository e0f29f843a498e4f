"""Reading a run's event log into the step table that `lab run-job` prints."""

from __future__ import annotations

from lab.dagster_client import RunReport, Step, failures_from_events, most_at_once, steps_from_events, table
from lab.job import progress_line


def engine(message: str, step: str | None = None, worker: str | None = None, ts: float = 0) -> dict[str, object]:
    entries = [{"label": "Celery worker", "text": worker}] if worker else []
    return {
        "__typename": "EngineEvent",
        "message": message,
        "stepKey": step,
        "timestamp": str(ts),
        "metadataEntries": entries,
    }


def step_event(kind: str, step: str, ts: float) -> dict[str, object]:
    return {"__typename": kind, "message": "", "stepKey": step, "timestamp": str(ts)}


EVENTS = [
    engine('Submitting celery task for step "generate" to queue "dagster".', ts=1000),
    engine("Executing steps using celery worker", step="generate", worker="dagster@node2", ts=1100),
    step_event("ExecutionStepStartEvent", "generate", 1200),
    step_event("ExecutionStepSuccessEvent", "generate", 1700),
    engine('Submitting celery task for step "shard" to queue "heavy".', ts=1800),
    engine("Executing steps using celery worker", step="shard", worker="heavy@node4", ts=1900),
    step_event("ExecutionStepStartEvent", "shard", 2000),
    step_event("ExecutionStepFailureEvent", "shard", 4500),
]


def test_steps_record_queue_worker_timing_and_outcome() -> None:
    steps = steps_from_events(EVENTS)
    assert steps["generate"] == Step("generate", "dagster", "dagster@node2", 1.2, 1.7, "SUCCESS", 1)
    assert steps["shard"].queue == "heavy"
    assert steps["shard"].host == "node4"
    assert steps["shard"].status == "FAILURE"
    assert steps["shard"].seconds == 2.5


def test_a_step_started_twice_is_counted() -> None:
    redelivered = [*EVENTS[:3], step_event("ExecutionStepStartEvent", "generate", 1500), EVENTS[3]]
    assert steps_from_events(redelivered)["generate"].starts == 2


def test_table_lists_steps_in_start_order_with_hosts() -> None:
    report = RunReport("run-1", "FAILURE", steps_from_events(EVENTS))
    lines = table(report).splitlines()
    assert lines[0].split() == ["step", "queue", "worker", "seconds", "status"]
    assert lines[2].split() == ["generate", "dagster", "dagster@node2", "0.50", "SUCCESS"]
    assert lines[3].split() == ["shard", "heavy", "heavy@node4", "2.50", "FAILURE"]


def test_failures_name_the_run_failure_and_each_error_by_its_first_line() -> None:
    events: list[dict[str, object]] = [
        *EVENTS,
        {**engine("Run terminated"), "error": {"className": "ConnectionResetError", "message": "reset\ntraceback"}},
        {"__typename": "RunFailureEvent", "message": "Exceeded maximum runtime of 10 seconds.", "error": None},
    ]
    assert failures_from_events(events) == [
        "ConnectionResetError: reset",
        "Exceeded maximum runtime of 10 seconds.",
    ]


def test_a_successful_run_has_no_failures() -> None:
    assert failures_from_events(EVENTS) == []


def test_progress_names_running_steps_and_counts_finished_ones() -> None:
    steps = {
        "a": Step("a", status="SUCCESS"),
        "b": Step("b", status="STARTED"),
        "c": Step("c", status="FAILURE"),
        **{f"s{i}": Step(f"s{i}", status="STARTED") for i in range(5)},
    }
    line = progress_line(12.34, "STARTED", steps)
    assert line == "    12.3 s  STARTED: 1 step done, 1 failed, running b, s0, s1, s2 and 2 more"
    assert progress_line(0.5, "QUEUED", {}) == "     0.5 s  QUEUED: 0 steps done"


def test_the_most_steps_at_once_counts_overlaps_only() -> None:
    assert most_at_once([(0, 2), (2, 4), (4, 6)]) == 1
    assert most_at_once([(0, 3), (1, 4), (2, 5)]) == 3
    assert most_at_once([(0, 10), (1, 2), (3, 4)]) == 2
    assert most_at_once([]) == 0
