"""The release check's judgement (dagster_celery_kit.release_check): which jobs keep a release from shipping,
and the table it prints. Loading real definitions runs on every deploy of the lab and the cluster scenario, and
the refusals there in molecule/cluster/tests/test_release_check.py."""

from __future__ import annotations

from tests.helpers.modules import load_file

check = load_file("files/dagster_celery_kit/dagster_celery_kit/release_check.py", "release_check")
SERVED = {"dagster": ["node2", "node3"], "heavy": ["node3"]}


def job(name: str, *steps: tuple[str, str, str], executor: str = "celery", on_demand: bool = False) -> object:
    return check.Job(name, executor, tuple(check.Step(op, queue, priority, on_demand) for op, queue, priority in steps))


def test_a_job_on_served_queues_with_priorities_in_range_passes() -> None:
    jobs = [job("fan_out", ("generate", "dagster", "5"), ("square", "heavy", "0"), ("sum", "dagster", "10"))]
    assert check.problems(jobs, SERVED, refuse_non_celery=True) == []


def test_an_op_on_an_unserved_queue_is_refused_naming_op_queue_and_what_is_served() -> None:
    [problem] = check.problems([job("j", ("train", "gpu", "5"))], SERVED, refuse_non_celery=False)
    assert problem.startswith("op train of job j is on queue gpu, which no worker host serves (served: dagster, heavy)")


def test_an_op_whose_queue_is_served_on_demand_passes() -> None:
    assert check.problems([job("j", ("hold", "on_hold", "5"), on_demand=True)], SERVED, refuse_non_celery=True) == []


def test_a_priority_outside_0_to_10_is_refused() -> None:
    jobs = [job("j", ("a", "dagster", "11"), ("b", "dagster", "-1"), ("c", "dagster", "high"), ("d", "dagster", "7"))]
    found = check.problems(jobs, SERVED, refuse_non_celery=True)
    assert [problem.split(" has priority ")[1].split(" ")[0] for problem in found] == ["11", "-1", "high"]


def test_the_run_priority_of_the_job_adds_to_the_ops() -> None:
    assert check.step_priority({"dagster-celery/priority": "8"}, {"dagster-celery/run_priority": "3"}) == "11"
    assert check.step_priority({}, {}) == "5"
    assert check.step_priority({"dagster-celery/priority": "x"}, {}) == "x"


def test_a_non_celery_job_warns_by_default_and_is_refused_when_asked() -> None:
    jobs = [job("local", ("a", "nowhere", "50"), executor="multiprocess")]
    assert check.problems(jobs, SERVED, refuse_non_celery=False) == []
    assert check.warnings(jobs, refuse_non_celery=False) == [
        "job local uses the multiprocess executor: its ops run on the control node, not on the workers"
    ]
    [problem] = check.problems(jobs, SERVED, refuse_non_celery=True)
    assert problem.startswith("job local uses the multiprocess executor: its ops would all run on the control node")


def test_the_table_names_each_queue_of_each_job_and_who_serves_it() -> None:
    jobs = [
        job("fan_out", ("generate", "dagster", "5"), ("s1", "heavy", "5"), ("s2", "heavy", "5")),
        job("local", ("a", "dagster", "5"), executor="multiprocess"),
        job("hold", ("h", "on_hold", "5"), on_demand=True),
        job("lost", ("l", "gpu", "5")),
    ]
    lines = [line.split() for line in check.table("example", jobs, SERVED).splitlines()]
    assert lines[0] == ["location", "job", "executor", "queue", "ops", "served", "by"]
    assert lines[1] == ["example", "fan_out", "celery", "dagster", "1:", "generate", "node2,", "node3"]
    assert lines[2] == ["example", "fan_out", "celery", "heavy", "2:", "s1,", "s2", "node3"]
    assert lines[3][:4] == ["example", "local", "multiprocess", "-"]
    assert lines[4][-2:] == ["on", "demand"] and lines[5][-1] == "NOBODY"


def test_queues_are_gathered_from_each_worker_host() -> None:
    assert check.hosts_by_queue({"node3": ["heavy", "dagster"], "node2": ["dagster"]}) == SERVED
    assert check.shorten(["a", "b", "c", "d", "e", "f"]) == "a, b, c, d and 2 more"
