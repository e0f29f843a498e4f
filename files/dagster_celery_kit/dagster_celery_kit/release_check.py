"""`python -m dagster_celery_kit.release_check`: a release's jobs against the fleet, before it ships.

Run with the new release's venv, before any host switches to it. Loads the code location as the code server
would, describes each job (its executor; each step's Celery queue and priority as dagster-celery sends them),
prints a table with the hosts serving each queue, and exits 1 naming each problem: a step on a queue no worker
serves (it would wait in RabbitMQ until the run's time bound), a priority outside 0..10 (RabbitMQ's priority
queues have ten levels), and, when refused, a job whose executor is not Celery (it runs every op on the
control node).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

QUEUE_TAG = "dagster-celery/queue"
PRIORITY_TAG = "dagster-celery/priority"
RUN_PRIORITY_TAG = "dagster-celery/run_priority"
# An op whose queue gets consumers on demand (`dagster-celery control add_consumer`), not from the inventory.
ON_DEMAND_TAG = "dagster-celery-kit/served-on-demand"
CELERY_EXECUTOR = "celery"
# dagster-celery's task_default_priority; RabbitMQ's x-max-priority of the kit's queues.
DEFAULT_PRIORITY, MAX_PRIORITY = 5, 10


@dataclass(frozen=True)
class Step:
    op: str
    queue: str
    priority: str  # as tagged (step priority plus the job's run priority when both are numbers)
    on_demand: bool = False


@dataclass(frozen=True)
class Job:
    name: str
    executor: str
    steps: tuple[Step, ...]


def step_priority(op_tags: Mapping[str, str], job_tags: Mapping[str, str]) -> str:
    """The priority dagster-celery gives the step: its tag (default 5) plus the job's run priority."""
    raw = op_tags.get(PRIORITY_TAG, str(DEFAULT_PRIORITY))
    try:
        return str(int(raw) + int(job_tags.get(RUN_PRIORITY_TAG, "0")))
    except ValueError:
        return raw


def describe(module: str, default_queue: str) -> list[Job]:
    """Every job of the code location defined in `module`, loaded as the code server loads it."""
    from dagster._core.code_pointer import CodePointer
    from dagster._core.definitions.dependency import GraphNode
    from dagster._core.definitions.reconstruct import initialize_repository_def_from_pointer
    from dagster._core.workspace.autodiscovery import loadable_targets_from_python_module

    targets = loadable_targets_from_python_module(module, working_directory=None)
    if len(targets) != 1:
        raise SystemExit(f"{module} defines {len(targets)} Definitions objects; the kit loads one per location")
    pointer = CodePointer.from_python_package(module, targets[0].attribute, None)
    repository = initialize_repository_def_from_pointer(pointer)
    jobs = []
    for job in sorted(repository.get_all_jobs(), key=lambda job: job.name):
        steps = []
        for handle in job.graph.iterate_node_handles():
            node = job.graph.get_node(handle)
            if isinstance(node, GraphNode):
                continue
            tags = node.tags
            queue, on_demand = tags.get(QUEUE_TAG, default_queue), tags.get(ON_DEMAND_TAG) == "true"
            steps.append(Step(str(handle), queue, step_priority(tags, job.tags), on_demand))
        jobs.append(Job(job.name, job.executor_def.name, tuple(sorted(steps, key=lambda step: step.op))))
    return jobs


def problems(jobs: Sequence[Job], served: Mapping[str, Sequence[str]], refuse_non_celery: bool) -> list[str]:
    """What keeps the release from shipping. A non-Celery job is one only when refused (see warnings)."""
    found = []
    for job in jobs:
        if job.executor != CELERY_EXECUTOR:
            if refuse_non_celery:
                found.append(
                    f"job {job.name} uses the {job.executor} executor: its ops would all run on the control node, "
                    "not on the workers (use executor_def=celery_executor, or dagster_release_non_celery_jobs: warn)"
                )
            continue
        for step in job.steps:
            if not served.get(step.queue) and not step.on_demand:
                found.append(
                    f"op {step.op} of job {job.name} is on queue {step.queue}, which no worker host serves "
                    f"(served: {', '.join(sorted(served)) or 'none'}); it would wait until the run's time bound. "
                    f"Serve it in some host's dagster_worker_queues, or tag the op {ON_DEMAND_TAG}: 'true'"
                )
            if not (step.priority.lstrip("-").isdigit() and 0 <= int(step.priority) <= MAX_PRIORITY):
                found.append(
                    f"op {step.op} of job {job.name} has priority {step.priority} "
                    f"({PRIORITY_TAG} plus the job's {RUN_PRIORITY_TAG}); it must be 0 to {MAX_PRIORITY}"
                )
    return found


def warnings(jobs: Sequence[Job], refuse_non_celery: bool) -> list[str]:
    if refuse_non_celery:
        return []
    return [
        f"job {job.name} uses the {job.executor} executor: its ops run on the control node, not on the workers"
        for job in jobs
        if job.executor != CELERY_EXECUTOR
    ]


def hosts_by_queue(queues_by_host: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    served: dict[str, list[str]] = {}
    for host, queues in sorted(queues_by_host.items()):
        for queue in queues:
            served.setdefault(queue, []).append(host)
    return served


def shorten(names: Sequence[str], shown: int = 4) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def table(location: str, jobs: Sequence[Job], served: Mapping[str, Sequence[str]]) -> str:
    """One line per job and queue: location, job, executor, queue, its ops, the hosts serving it."""
    rows = [("location", "job", "executor", "queue", "ops", "served by")]
    for job in jobs:
        if job.executor != CELERY_EXECUTOR:
            rows.append((location, job.name, job.executor, "-", f"{len(job.steps)} (in the run's process)", "-"))
            continue
        for queue in sorted({step.queue for step in job.steps}):
            steps = [step for step in job.steps if step.queue == queue]
            on_demand = "on demand" if all(step.on_demand for step in steps) else "NOBODY"
            hosts = ", ".join(served.get(queue, [])) or on_demand
            ops = [step.op for step in steps]
            rows.append((location, job.name, job.executor, queue, f"{len(ops)}: {shorten(ops)}", hosts))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", required=True, help="the module defining the location's definitions")
    parser.add_argument("--location", required=True, help="the code location's name")
    parser.add_argument("--queues-by-host", required=True, help='JSON: {"worker host": ["queue", ...]}')
    parser.add_argument("--default-queue", default="dagster", help="queue of ops without a queue tag")
    parser.add_argument("--non-celery", choices=["warn", "refuse"], default="warn")
    args = parser.parse_args(argv)
    served = hosts_by_queue(json.loads(args.queues_by_host))
    jobs = describe(args.module, args.default_queue)
    refuse = args.non_celery == "refuse"
    report = "\n".join([table(args.location, jobs, served), *(f"warning: {w}" for w in warnings(jobs, refuse))])
    print(report)
    found = problems(jobs, served, refuse)
    for problem in found:
        print(f"refused: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
