"""Jobs whose ops run as Celery tasks on the queues of the worker fleet.

Ops choose a queue with the tag ``dagster-celery/queue`` and a priority with
``dagster-celery/priority``. Outputs travel between hosts through the default IO
manager, which writes under the instance's artifact storage on shared storage.
"""

import hashlib
import socket
import sys
import time
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    Config,
    ConfigurableResource,
    DailyPartitionsDefinition,
    DefaultScheduleStatus,
    Definitions,
    EnvVar,
    In,
    MaterializeResult,
    Nothing,
    OpExecutionContext,
    Out,
    Output,
    ScheduleDefinition,
    asset,
    define_asset_job,
    graph,
    job,
    multiprocess_executor,
    op,
)
from dagster_celery import celery_executor

DEFAULT_QUEUE = "dagster"
HEAVY_QUEUE = "heavy"
# Served by no worker: a step sent there waits in RabbitMQ until someone adds a consumer
# (`dagster-celery control add_consumer on_hold -d <worker>`). Tests use it to keep a run orchestrating.
HOLD_QUEUE = "on_hold"
SHARDS = 4
# Steps of the wide fan-out jobs, spread over both queues (the throughput benchmark).
WIDE_STEPS = 64


def _where() -> dict[str, str]:
    """Host and release a step ran with: the release is the one whose venv runs this code
    (<home>/locations/<location>/releases/<id>/venv), not what a setting claims."""
    return {"host": socket.gethostname(), "release": Path(sys.prefix).parent.name}


@op(tags={"dagster-celery/queue": DEFAULT_QUEUE, "dagster-celery/priority": 8})
def generate(context: OpExecutionContext) -> Output[dict]:
    where = _where()
    value = {"numbers": list(range(1, 101)), **where}
    context.log.info(f"generated 100 numbers on {where['host']}")
    return Output(value, metadata=where)


def _make_shard(index: int):  # type: ignore[no-untyped-def]
    @op(
        name=f"square_shard_{index}",
        tags={"dagster-celery/queue": HEAVY_QUEUE, "dagster-celery/priority": 3 + index},
    )
    def square_shard(context: OpExecutionContext, data: dict) -> Output[dict]:
        numbers = [n for n in data["numbers"] if n % SHARDS == index]  # type: ignore[attr-defined]
        where = _where()
        context.log.info(f"shard {index}: read input written on {data['host']}, running on {where['host']}")
        value = {"sum_of_squares": sum(n * n for n in numbers), "input_host": data["host"], **where}
        return Output(value, metadata={**where, "input_host": str(data["host"])})

    return square_shard


SHARD_OPS = [_make_shard(i) for i in range(SHARDS)]


class SleepConfig(Config):
    seconds: float = 1.0
    # Also wait until this file exists (on shared storage), at most max_seconds in all: lets a test
    # keep a step running for exactly as long as it needs, whatever the machine's speed.
    until_exists: str = ""
    max_seconds: float = 3600.0


def _sleep(config: SleepConfig) -> None:
    started = time.monotonic()
    while time.monotonic() - started < config.max_seconds and (
        time.monotonic() - started < config.seconds or (config.until_exists and not Path(config.until_exists).exists())
    ):
        time.sleep(0.5)


@op(tags={"dagster-celery/queue": HEAVY_QUEUE, "dagster-celery/priority": 5})
def long_step(context: OpExecutionContext, config: SleepConfig) -> Output[dict]:
    """A step that takes a while (set ``seconds`` in run config), for upgrade and failure tests."""
    context.log.info(f"sleeping {config.seconds} s")
    _sleep(config)
    return Output(_where(), metadata=_where())


@op(tags={"dagster-celery/queue": DEFAULT_QUEUE, "dagster-celery/priority": 5})
def summarize(context: OpExecutionContext, shards: list, slept: dict) -> Output[int]:
    total = sum(int(s["sum_of_squares"]) for s in shards)  # type: ignore[call-overload]
    where = _where()
    input_hosts = sorted({str(s["host"]) for s in shards} | {str(slept["host"])})
    context.log.info(f"sum of squares {total}; inputs written on {', '.join(input_hosts)}")
    return Output(total, metadata={**where, "input_hosts": ", ".join(input_hosts)})


@job(executor_def=celery_executor, tags={"dagster-celery/run_priority": 0})
def fan_out_job() -> None:
    data = generate()
    shards = [shard(data) for shard in SHARD_OPS]
    summarize(shards, long_step())


@op(tags={"dagster-celery/queue": HEAVY_QUEUE})
def report_release(context: OpExecutionContext) -> Output[str]:
    """Returns the release id the step ran with: proves which code a worker runs."""
    where = _where()
    return Output(where["release"], metadata=where)


@job(executor_def=celery_executor)
def release_probe_job() -> None:
    report_release()


@op(
    name="sleep_on_default",
    tags={"dagster-celery/queue": DEFAULT_QUEUE},
    out={"slept": Out(dict)},
)
def sleep_on_default(context: OpExecutionContext, config: SleepConfig) -> Output[dict]:
    context.log.info(f"sleeping {config.seconds} s")
    _sleep(config)
    return Output(_where(), "slept", metadata=_where())


@job(executor_def=celery_executor)
def long_steps_job() -> None:
    """A long step on each queue at once, for rolling upgrades and fault tests."""
    sleep_on_default()
    long_step()


def _make_link(index: int, queue: str):  # type: ignore[no-untyped-def]
    # The kit's release check refuses an op on a queue no worker host serves, unless the op says that
    # consumers are added on demand, as the tests do for HOLD_QUEUE.
    tags = {"dagster-celery/queue": queue} | (
        {"dagster-celery-kit/served-on-demand": "true"} if queue == HOLD_QUEUE else {}
    )

    @op(name=f"link_{index}", tags=tags, ins={"after": In(Nothing)})
    def link(context: OpExecutionContext, config: SleepConfig) -> Output[dict]:
        context.log.info(f"link {index}: sleeping {config.seconds} s")
        _sleep(config)
        return Output(_where(), metadata=_where())

    return link


CHAIN = [_make_link(1, HEAVY_QUEUE), _make_link(2, DEFAULT_QUEUE), _make_link(3, HOLD_QUEUE)]


@job(executor_def=celery_executor)
def rollout_job() -> None:
    """A long step on each queue at once, then three steps in a row, the last on the queue nobody
    serves: the run is still orchestrating when a rolling upgrade reaches the control node, until the
    test lets the last step run."""
    first = [sleep_on_default(), long_step()]
    previous = first
    for link in CHAIN:
        previous = [link(after=previous)]


class SwitchConfig(Config):
    fail_while_exists: str = ""


@op(tags={"dagster-celery/queue": DEFAULT_QUEUE})
def prepare_input(context: OpExecutionContext) -> Output[dict]:
    return Output(_where(), metadata=_where())


@op(tags={"dagster-celery/queue": HEAVY_QUEUE})
def check_switch(context: OpExecutionContext, config: SwitchConfig, prepared: dict) -> Output[dict]:
    """Fails while the file named in its config exists: a failure an operator can fix, then
    re-execute the run from the failure (the restore drill does)."""
    if config.fail_while_exists and Path(config.fail_while_exists).exists():
        raise RuntimeError(f"{config.fail_while_exists} exists: remove it and re-execute from failure")
    return Output({"prepared_on": prepared["host"], **_where()}, metadata=_where())


@job(executor_def=celery_executor)
def switch_job() -> None:
    check_switch(prepare_input())


@op
def short_step(context: OpExecutionContext) -> dict:
    """Next to no work: what a run of many of these costs is the executor's per-step overhead."""
    return _where()


@op(tags={"dagster-celery/queue": DEFAULT_QUEUE})
def count_hosts(context: OpExecutionContext, results: list) -> Output[dict]:
    hosts: dict[str, int] = {}
    for result in results:
        hosts[str(result["host"])] = hosts.get(str(result["host"]), 0) + 1
    context.log.info(f"{len(results)} steps ran on {hosts}")
    return Output(hosts, metadata={"steps per host": str(hosts)})


@graph
def wide_fan_out() -> None:
    queues = [DEFAULT_QUEUE, HEAVY_QUEUE]
    results = [
        short_step.alias(f"short_step_{index}").tag({"dagster-celery/queue": queues[index % len(queues)]})()
        for index in range(WIDE_STEPS)
    ]
    count_hosts(results)


# The same graph twice: each step a Celery task on the fleet, or a fresh process on the run's own host.
wide_fan_out_job = wide_fan_out.to_job(name="wide_fan_out_job", executor_def=celery_executor)
wide_fan_out_multiprocess_job = wide_fan_out.to_job(
    name="wide_fan_out_multiprocess_job", executor_def=multiprocess_executor
)


# A warehouse the team's code reaches with a token kept out of the code: both values come from the code
# location's environment (dagster_release_locations[].environment and secret_environment), so they must be
# set wherever environment_probe_job runs. The probe reports the host and a digest of the token, never the token.
class Warehouse(ConfigurableResource):  # type: ignore[misc]
    host: str
    token: str


@op(tags={"dagster-celery/queue": DEFAULT_QUEUE})
def probe_environment(context: OpExecutionContext, warehouse: Warehouse) -> Output[dict]:
    digest = hashlib.sha256(warehouse.token.encode()).hexdigest()
    context.log.info(f"warehouse {warehouse.host}, token of {len(warehouse.token)} characters")
    return Output({"host": warehouse.host, **_where()}, metadata={"token sha256": digest, **_where()})


@job(executor_def=celery_executor)
def environment_probe_job() -> None:
    probe_environment()


# Daily partitions of a table loaded into the warehouse: each partition is a step of the pool `warehouse`, so
# a pool limit (dagster_control_concurrency_pools) bounds how many load at once across every run and host.
DAILY = DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-12-31")


class LoadConfig(SleepConfig):
    seconds: float = 2.0


@asset(partitions_def=DAILY, pool="warehouse", op_tags={"dagster-celery/queue": DEFAULT_QUEUE})
def daily_load(context: AssetExecutionContext, config: LoadConfig) -> MaterializeResult:
    """Loads one day's partition; takes a couple of seconds (config: seconds), as a query would."""
    _sleep(config)
    return MaterializeResult(metadata={"partition": context.partition_key, **_where()})


daily_load_job = define_asset_job("daily_load_job", selection=[daily_load], partitions_def=DAILY)


# Stopped unless started from the UI: the tests start it to prove that a scheduled
# run (launched with no run config of its own) gets the deployment's executor settings.
release_probe_schedule = ScheduleDefinition(
    name="release_probe_every_minute",
    job=release_probe_job,
    cron_schedule="* * * * *",
    default_status=DefaultScheduleStatus.STOPPED,
)

defs = Definitions(
    assets=[daily_load],
    resources={"warehouse": Warehouse(host=EnvVar("EXAMPLE_WAREHOUSE_HOST"), token=EnvVar("EXAMPLE_WAREHOUSE_TOKEN"))},
    executor=celery_executor,
    jobs=[
        daily_load_job,
        environment_probe_job,
        fan_out_job,
        release_probe_job,
        long_steps_job,
        rollout_job,
        switch_job,
        wide_fan_out_job,
        wide_fan_out_multiprocess_job,
    ],
    schedules=[release_probe_schedule],
)
