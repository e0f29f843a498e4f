"""The benchmark harness's pure parts: phase split, topologies, the report."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from bench import backfill, deploy, footprint, machine, report, throughput, timings, topology
from bench.cli import parser

REPO = Path(__file__).resolve().parent.parent.parent


def task(role: str, path: str, start: float, end: float, action: str = "ansible.builtin.copy") -> dict[str, Any]:
    return {"play": "p", "role": role, "name": "t", "action": action, "path": path, "start": start, "end": end}


def timing_document() -> dict[str, Any]:
    return {
        "started": 100.0,
        "ended": 160.0,
        "tasks": [
            task("", "site.yml:1", 100.0, 102.0, action="gather_facts"),
            task("common", "roles/common/tasks/install.yml:2", 102.0, 110.0),
            task("rabbitmq", "roles/rabbitmq/tasks/install.yml:2", 110.0, 120.0),
            task("postgresql", "roles/postgresql/tasks/install.yml:2", 120.0, 125.0),
            task("dagster_release", "/r/roles/dagster_release/tasks/build.yml:4", 125.0, 131.0),
            task("dagster_release", "/r/roles/dagster_release/tasks/install.yml:9", 131.0, 141.0),
            task("dagster_worker", "roles/dagster_worker/tasks/main.yml:3", 141.0, 158.0),
        ],
        "stats": {
            "node1": {"ok": 5, "changed": 3, "failures": 0, "unreachable": 0},
            "node2": {"ok": 5, "changed": 0, "failures": 0, "unreachable": 0},
        },
    }


def test_phases_add_up_to_the_playbook_time() -> None:
    summary = timings.summarize(timing_document())
    assert summary.seconds == 60.0
    assert summary.phases == {
        "facts": 2.0,
        "preflight": 0.0,
        "base": 8.0,
        "broker": 10.0,
        "database": 5.0,
        "release build": 6.0,
        "release install": 10.0,
        "services": 17.0,
        "other": 2.0,
    }
    assert summary.total_changed == 3
    assert summary.failed == {"node1": 0, "node2": 0}


def test_the_callback_output_is_what_summarize_reads(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(timing_document()))
    assert timings.load(path).changed == {"node1": 3, "node2": 0}


def test_the_generated_four_node_topology_is_the_lab() -> None:
    lab = yaml.safe_load((REPO / "inventories/lab/topology.yml").read_text())
    generated = topology.topology(4)
    assert {group: set(body["hosts"] or {}) for group, body in lab.items()} == {
        group: set(body["hosts"]) for group, body in generated.items()
    }
    for host, variables in generated["workers"]["hosts"].items():
        host_vars = yaml.safe_load((REPO / f"inventories/lab/host_vars/{host}.yml").read_text())
        assert variables["dagster_worker_queues"] == host_vars["dagster_worker_queues"]
    assert topology.slots(generated) == 8


@pytest.mark.parametrize("nodes", [2, 3, 6])
def test_every_topology_serves_both_queues(nodes: int) -> None:
    workers = topology.topology(nodes)["workers"]["hosts"]
    assert len(workers) == nodes - 1
    served = {queue["name"] for host in workers.values() for queue in host["dagster_worker_queues"]}
    assert served == {"dagster", "heavy"}


def test_a_topology_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least 2 nodes"):
        topology.topology(1)


def test_the_floor_installs_what_the_roles_install() -> None:
    floor = yaml.safe_load((REPO / "bench/floor.yml").read_text())
    packages = floor[0]["vars"]["bench_role_packages"]
    role_tasks = "".join((REPO / f"roles/{role}/tasks/install.yml").read_text() for role in ("rabbitmq", "postgresql"))
    assert sorted(packages) == sorted(set(re.findall(r"^\s+- ([a-z0-9-]+)$", role_tasks, re.MULTILINE)))


def test_throughput_summary() -> None:
    runs = [{"seconds": s, "steps": 65} for s in (20.0, 10.0, 13.0)]
    summary = throughput.summarize(runs, slots=8)
    assert summary["median_seconds"] == 13.0
    assert summary["steps_per_second"] == 5.0
    assert summary["slot_seconds_per_step"] == 1.6


def figures() -> dict[str, dict[str, Any]]:
    phases = dict.fromkeys((*timings.PHASES, "other"), 1.0)
    fan_out: dict[str, Any] = {"steps": 65, "speedup": 3.0}
    fan_out["celery"] = {"slots": 8, "median_seconds": 20.0, "slot_seconds_per_step": 2.46}
    fan_out["multiprocess"] = {"slots": 2, "median_seconds": 60.0, "slot_seconds_per_step": 1.85}
    info = {"date": "2026-11-24", "os": "Debian", "kernel": "6", "cpu": "cpu", "cores": 2, "memory_gib": 8.0}
    return {
        "floor": {"figure": "floor", "seconds": 50.0, "parts": {"packages": 30.0}, "phases": phases, "machine": info},
        "floor-4": {"figure": "floor", "nodes": 4, "seconds": 80.0, "parts": {"packages": 40.0}, "phases": phases},
        "deploy-4": {
            "figure": "deploy",
            "nodes": 4,
            "cold": {"seconds": 100.0, "phases": phases, "changed": {"node1": 9}},
            "first_job": {"seconds": 7.0},
            "noop": {"seconds": 20.0, "phases": phases, "changed": {"node1": 0}},
            "upgrade": {"seconds": 40.0, "phases": phases, "changed": {"node1": 5}},
            "throughput": fan_out,
        },
        "deploy-2": {
            "figure": "deploy",
            "nodes": 2,
            "cold": {"seconds": 80.0, "phases": phases, "changed": {}},
            "first_job": {"seconds": 6.0},
            "rollouts": [{"batch_size": 1, "seconds": 30.0, "seconds_per_worker_host": 30.0, "phases": phases}],
        },
    }


def test_the_table_states_ratios_and_targets() -> None:
    text = report.table(figures())
    assert "| Floor: unavoidable work, alone on one node | 50 | packages 30 s |" in text
    assert "| Floor: unavoidable work, 4 nodes at once | 80 |" in text
    assert (
        "| Cold deploy, 4 nodes | 100 | one-node floor; 1.25 of the 4-node floor; 25 s per node | 2.00 "
        "| ≤ 1.5 of the 4-node floor: met |" in text
    )
    assert "| Cold deploy, 2 nodes | 80 | one-node floor; 40 s per node | 1.60 |  |" in text
    assert (
        "| No-op re-run, 4 nodes (0 changed) | 20 | cold deploy | 0.20 | ≤ 0.15, ≤ 20 s, 0 changed: not met |" in text
    )
    assert "| 0.33 (3.00x faster) | ≤ 0.2 of the multiprocess time: not met |" in text
    assert "| Code-only upgrade, 2 nodes, batches of 1 | 30 | per worker host | 30.0 s | ≤ 10 s per" in text
    assert "beyond its drain: not met |" in text
    assert text.index("Cold deploy, 2 nodes") < text.index("Cold deploy, 4 nodes")


def test_targets_are_met_only_within_every_bound() -> None:
    fast = figures()
    fast["deploy-4"]["noop"]["seconds"] = 15.0
    fast["deploy-4"]["throughput"]["celery"]["median_seconds"] = 12.0
    assert "≤ 0.15, ≤ 20 s, 0 changed: met" in report.table(fast)
    assert "≤ 0.2 of the multiprocess time: met" in report.table(fast)
    fast["deploy-4"]["noop"]["changed"] = {"node1": 1}
    assert "≤ 0.15, ≤ 20 s, 0 changed: not met" in report.table(fast)
    fast["deploy-4"]["noop"] = {"seconds": 14.0, "changed": {}}
    fast["deploy-4"]["cold"]["seconds"] = 90.0
    assert "(0 changed) | 14 | cold deploy | 0.16 | ≤ 0.15, ≤ 20 s, 0 changed: not met |" in report.table(fast)


def test_a_backfill_takes_the_assets_daily_partitions_from_its_first_day() -> None:
    assert backfill.partition_keys(3) == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert backfill.partition_keys(364)[-1] == "2026-12-30"
    with pytest.raises(ValueError, match="1 to 364 partitions"):
        backfill.partition_keys(365)


def test_the_backfill_figure_rates_the_queue_and_names_a_stalled_daemon() -> None:
    # Four runs made one a second from 100 s, dequeued one every 2 s from 101 s (so waiting 1 to 4 s), each
    # started 1 s after its dequeue and ending 4 s after its start.
    runs = [backfill.RunTimes("SUCCESS", 100.0 + i, 101.0 + 2 * i, 102.0 + 2 * i, 106.0 + 2 * i) for i in range(4)]
    figure = backfill.summarize(
        runs, launched=99.0, finished=119.0, max_concurrent_runs=2,
        heartbeat_ages={"BACKFILL": 31.0, "QUEUED_RUN_COORDINATOR": 95.0, "SCHEDULER": 95.0},
    )  # fmt: skip
    assert figure["statuses"] == {"SUCCESS": 4}
    assert figure["submitted_runs_per_second"] == 1.0
    assert figure["dequeued_runs_per_second"] == 0.5
    assert figure["started_runs_per_second"] == 0.5
    assert figure["runs_per_second"] == 0.2
    assert figure["queued_seconds"] == {"median": 2.5, "p95": 4.0, "max": 4.0}
    assert figure["queued_to_started_seconds"] == {"median": 3.5, "p95": 5.0, "max": 5.0}
    assert figure["dequeued_to_started_seconds"]["max"] == 1.0
    assert figure["started_to_end_seconds"]["median"] == 4.0
    # Held from dequeue to end: 4 runs x 5 s = 20 slot-seconds of 2 slots x the 11 s from 101 to 112.
    assert figure["slot_occupancy"] == 0.91
    assert figure["stalled_daemons"] == ["QUEUED_RUN_COORDINATOR"]


def test_a_runs_dequeue_is_the_run_starting_event_of_its_launch() -> None:
    events = [
        {"__typename": "RunEnqueuedEvent", "timestamp": "1000"},
        {"__typename": "RunStartingEvent", "timestamp": "2500"},
    ]
    assert backfill.dequeued_at(events) == 2.5
    assert backfill.dequeued_at(events[:1]) is None


def test_the_table_shows_the_backfills_dequeue_rate_and_its_daemons_verdict() -> None:
    runs = [backfill.RunTimes("SUCCESS", 100.0, 100.5 + i, 101.0 + i, 130.0) for i in range(11)]
    measured = backfill.summarize(runs, 99.0, 149.0, 10, heartbeat_ages={"BACKFILL": 20.0})
    figure = {"figure": "backfill", "partitions": 11, "nodes": 4, **measured}
    text = report.table({"backfill-4": figure})
    assert (
        "| Backfill of 11 partitions, 10 runs at once, 4 nodes | 50 "
        "| QUEUED to STARTED at 1.00 runs/s (dequeued at 1.00/s, submitted at 0.00/s); slots kept 91% full" in text
    )
    assert "| 0.22 runs/s | no daemon heartbeat older than 90 s (the scheduler's, 150 s): met |" in text
    figure["stalled_daemons"] = ["BACKFILL"]
    assert "(the scheduler's, 150 s): not met" in report.table({"backfill-4": figure})


def test_the_comparison_sets_each_earlier_run_set_beside_the_current_figures(tmp_path: Path) -> None:
    earlier = tmp_path / "before"
    earlier.mkdir()
    info = {"date": "2026-11-20"}
    (earlier / "run-1.json").write_text(json.dumps({"cold": {"seconds": 150.0}, "noop": {"seconds": 60.0}}))
    first = {"cold": {"seconds": 130.0}, "noop": {"seconds": 50.0}, "note": "old code", "machine": info}
    (earlier / "run-2.json").write_text(json.dumps(first))
    (earlier / "deploy-12.json").write_text(json.dumps({"nodes": 12, "cold": {"seconds": 900.0}}))
    (tmp_path / "logs").mkdir()
    text = report.comparison(figures(), report.baselines(tmp_path))
    lines = text.splitlines()
    assert lines[0] == "| 4-node lab | before (2026-11-20, 2 runs) | now (undated, 1 run) |"
    assert "| cold deploy (s) | 140 (130 to 150) | 100 |" in lines
    assert "| no-op / cold deploy | 0.39 (0.38 to 0.40) | 0.20 |" in lines
    assert "| code-only upgrade, upgrade.yml (s) | - | 40 |" in lines
    assert "| fan-out, Celery / multiprocess | - | 0.33 |" in lines
    assert lines[-1] == "`before`: old code"
    assert report.comparison(figures(), {}) == ""


def test_the_plot_is_svg_with_a_bar_per_run() -> None:
    drawing = report.svg(figures())
    assert drawing.startswith("<svg") and drawing.rstrip().endswith("</svg>")
    for label in (
        "floor, 1 node",
        "floor, 4 nodes",
        "cold deploy, 2 nodes",
        "cold deploy, 4 nodes",
        "no-op re-run, 4 nodes",
    ):
        assert f">{label}</text>" in drawing
    assert "Celery, 8 processes" in drawing


def test_the_report_replaces_only_the_marked_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.START}\nstale figures\n{report.END}\noutro\n")
    results = tmp_path / "results"
    results.mkdir()
    for name, figure in figures().items():
        (results / f"{name}.json").write_text(json.dumps(figure))
    report.write(results, readme)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "stale figures" not in text
    assert "Measured 2026-11-24 on Debian" in text and "](results/bench.svg)" in text
    assert (results / "bench.svg").exists()


def test_the_report_refuses_a_readme_without_markers() -> None:
    with pytest.raises(ValueError, match="bench:start"):
        report.inject("no markers", "x")


def test_machine_parsers() -> None:
    assert machine.cpu_model("processor: 0\nmodel name\t: Some CPU @ 2GHz\n") == "Some CPU @ 2GHz"
    assert machine.memory_gib("MemTotal:       8388608 kB\n") == 8.0
    assert (
        machine.os_name('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
        == "Debian GNU/Linux 12 (bookworm)"
    )


def test_cli_knows_every_figure() -> None:
    for argv in (["floor"], ["deploy", "--nodes", "6", "--full"], ["report", "--no-readme"], ["all"]):
        assert parser().parse_args(argv).figure == argv[0]
    args = parser().parse_args(["noop", "--lab", "x", "--inventory", "a.yml", "--inventory", "b.yml"])
    assert args.inventory == [Path("a.yml"), Path("b.yml")]


def test_busy_cpu_time_leaves_out_idle_and_iowait() -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice
    stat = "cpu  100 20 30 5000 400 5 5 40 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"
    assert timings.busy_seconds(stat, 100) == 2.0


def test_the_phase_table_shows_cpu_use() -> None:
    text = report.phase_table(figures(), cores=2)
    assert "| **total** |" in text
    header = text.splitlines()[0]
    assert header.startswith("| Phase (s) | floor, 1 node | floor, 4 nodes | cold, 2 nodes | cold, 4 nodes |")


def test_container_cpu_from_cgroup_v1_and_v2(tmp_path: Path) -> None:
    assert timings.containers_cpu_seconds(tmp_path) is None
    v2 = tmp_path / "system.slice"
    for index, usage in enumerate((1_500_000, 500_000)):
        scope = v2 / f"docker-{index}.scope"
        scope.mkdir(parents=True)
        (scope / "cpu.stat").write_text(f"usage_usec {usage}\nuser_usec 1\nsystem_usec 1\n")
    assert timings.containers_cpu_seconds(tmp_path) == 2.0
    v1 = tmp_path / "cpuacct" / "docker"
    v1.mkdir(parents=True)
    (v1 / "cpuacct.usage").write_text("3000000000\n")
    assert timings.containers_cpu_seconds(tmp_path) == 3.0


SHOWN = """Id=dagster-celery-worker@example.dagster.service
MemoryCurrent=157286400
TasksCurrent=9

Id=dagster-celery-worker@ml.gpu.service
MemoryCurrent=[not set]
TasksCurrent=5

"""


def test_the_footprint_reads_each_worker_units_accounting() -> None:
    assert footprint.parse(SHOWN) == [
        {"instance": "example.dagster", "location": "example", "memory_mib": 150.0, "tasks": 9},
        {"instance": "ml.gpu", "location": "ml", "memory_mib": None, "tasks": 5},
    ]


def test_the_footprint_sums_per_host_and_takes_medians() -> None:
    summary = footprint.summarize({"node2": footprint.parse(SHOWN), "node3": footprint.parse(SHOWN)[:1]})
    assert summary["instances"] == 3
    assert summary["locations"] == ["example", "ml"]
    assert summary["median_instance_memory_mib"] == 150.0
    assert summary["per_host_memory_mib"] == {"node2": 150.0, "node3": 150.0}


def test_figures_from_two_machines_name_each_machine_and_its_figures() -> None:
    measured = figures()
    later = {**measured["floor"]["machine"], "date": "2026-12-02", "cpu": "other"}
    measured["deploy-2"]["machine"] = later
    line = report.machine_line(measured)
    assert "2026-11-24 on Debian (kernel 6), cpu, 2 cores, 8.0 GiB (floor)" in line
    assert "; measured 2026-12-02 on Debian (kernel 6), other, 2 cores, 8.0 GiB (deploy-2)" in line


def test_repeated_runs_keep_the_median_and_never_hide_a_change() -> None:
    runs = [
        {"seconds": 52.0, "changed": {"node1": 0}, "phases": {}},
        {"seconds": 45.0, "changed": {"node1": 1, "node2": 0}, "phases": {}},
        {"seconds": 48.0, "changed": {"node1": 0}, "phases": {}},
    ]
    figure = deploy.median_figure(runs)
    assert figure["seconds"] == 48.0 and figure["runs_seconds"] == [52.0, 45.0, 48.0]
    assert figure["changed"] == {"node1": 1, "node2": 0}
    assert deploy.median_figure(runs[:1]) == runs[0]
    assert report.runs_note(figure) == ", median of 3 (45 to 52 s)" and report.runs_note(runs[0]) == ""
