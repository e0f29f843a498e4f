"""A run's orchestrator, as the unit dagster-run@<run id>.service runs it.

    python -m dagster_celery_kit.run_worker execute|resume <run id>

It reads the run from the instance (DAGSTER_HOME), applies the deployment's
Celery settings, sends the run's steps to the workers of its code location,
then runs Dagster's own ``dagster api execute_run`` (or ``resume_run``) in this
process, so SIGTERM from ``systemctl stop`` or a termination reaches Dagster's
interrupt handling as it would anywhere.
"""

from __future__ import annotations

import sys

from dagster._cli.api import api_cli
from dagster._core.instance import DagsterInstance
from dagster._grpc.types import ExecuteRunArgs, ResumeRunArgs
from dagster._serdes import serialize_value

from dagster_celery_kit.celery_settings import apply_to_executor_defaults
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


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in COMMANDS:
        raise SystemExit(f"usage: python -m dagster_celery_kit.run_worker {'|'.join(COMMANDS)} <run id>")
    apply_to_executor_defaults()
    location, args = command_args(argv[0], argv[1])
    route_steps_to(location)
    api_cli.main(args=args, prog_name="dagster api")


if __name__ == "__main__":
    main(sys.argv[1:])
