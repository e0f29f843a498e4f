"""A run's orchestrator, as the unit dagster-run@<run id>.service runs it.

    python -m dagster_celery_kit.run_worker execute|resume <run id>

It reads the run from the instance (DAGSTER_HOME), takes on its code location's
environment, applies the deployment's Celery settings, sends the run's steps to
the workers of its code location, then runs Dagster's own ``dagster api
execute_run`` (or ``resume_run``) in this process, so SIGTERM from ``systemctl
stop`` or a termination reaches Dagster's interrupt handling as it would anywhere.

Pool slots: the Celery executor claims a slot for each pooled step before it
submits the step and frees it when the step's success, failure or retry event
comes back; a step revoked at a termination, or one whose task failed outside
the step, sends no such event. However the run's execution ends here, the slots
it still holds are freed before the process exits. Only a killed orchestrator
skips that: the daemon frees its slots once run monitoring has ended the run
(run_monitoring.free_slots_after_run_end_seconds).
"""

from __future__ import annotations

import sys

from dagster._cli.api import api_cli
from dagster._core.instance import DagsterInstance
from dagster._grpc.types import ExecuteRunArgs, ResumeRunArgs
from dagster._serdes import serialize_value

from dagster_celery_kit.celery_settings import apply_to_executor_defaults
from dagster_celery_kit.environment import load_location
from dagster_celery_kit.routing import route_steps_to

COMMANDS = {"execute": ("execute_run", ExecuteRunArgs), "resume": ("resume_run", ResumeRunArgs)}


def command_args(verb: str, run_id: str) -> tuple[str, list[str]]:
    """The run's code location and the arguments of `dagster api <command>` for it, from the stored run."""
    command, args_class = COMMANDS[verb]
    with DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
        if run is None or run.job_code_origin is None or run.remote_job_origin is None:
            raise SystemExit(f"run {run_id} is not in this instance's storage, or has no code origin")
        args = args_class(
            job_origin=run.job_code_origin,
            run_id=run_id,
            instance_ref=instance.get_ref(),
            set_exit_code_on_failure=True,
        )
    return run.remote_job_origin.location_name, [command, serialize_value(args)]


def free_pool_slots(run_id: str) -> None:
    """Free every pool slot the run still holds (and its pending claims)."""
    with DagsterInstance.get() as instance:
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in COMMANDS:
        raise SystemExit(f"usage: python -m dagster_celery_kit.run_worker {'|'.join(COMMANDS)} <run id>")
    location, args = command_args(argv[0], argv[1])
    # Before the Celery settings and Dagster's execution read the environment.
    load_location(location)
    apply_to_executor_defaults()
    route_steps_to(location)
    try:
        api_cli.main(args=args, prog_name="dagster api")
    finally:
        free_pool_slots(argv[1])


if __name__ == "__main__":
    main(sys.argv[1:])
