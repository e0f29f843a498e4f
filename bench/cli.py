"""`python -m bench <figure>`: run a benchmark against a lab of its own and write JSON results."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench import backfill, deploy, floor, footprint, machine, report, runner

RESULTS = runner.REPO / "bench" / "results"
README = runner.REPO / "README.md"


def record(results: Path, name: str, document: dict[str, Any]) -> None:
    runner.write_result(results, name, {**document, "machine": machine.describe()})


def noop(args: argparse.Namespace) -> int:
    """Re-run site.yml on a lab that is already deployed; anything changed is a failure."""
    fleet = runner.Fleet(args.lab, tuple(args.inventory), args.results / "logs" / args.lab)
    timed = fleet.playbook(f"noop-{args.lab}", "site.yml")
    record(args.results, f"noop-{args.lab}", {"figure": "noop", **deploy.playbook_figure(timed)})
    if timed.total_changed:
        changed = {host: count for host, count in timed.changed.items() if count}
        runner.say(f"error: the no-op re-run changed something: {changed}")
        return 1
    return 0


def worker_footprint(args: argparse.Namespace) -> int:
    """Memory and processes of each worker instance of a deployed lab."""
    fleet = runner.Fleet(args.lab, tuple(args.inventory), args.results / "logs" / args.lab)
    record(args.results, f"footprint-{args.lab}", footprint.measure(fleet))
    return 0


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="bench", description=__doc__)
    cli.add_argument("--results", type=Path, default=RESULTS, help="where JSON results go (default: %(default)s)")
    cli.add_argument("--keep", action="store_true", help="leave the benchmark's lab up afterwards")
    figures = cli.add_subparsers(dest="figure", required=True)
    least = figures.add_parser("floor", help="unavoidable work: packages, release build and install, nothing else")
    least.add_argument("--nodes", type=int, default=1, help="1: alone on one node; N: a lab of N at once (default: 1)")
    sized = figures.add_parser("deploy", help="cold deploy of N fresh nodes by phase, then the first job")
    sized.add_argument("--nodes", type=int, default=4, help="lab size (default: %(default)s)")
    sized.add_argument("--full", action="store_true", help="also no-op re-run, code-only upgrade, fan-out throughput")
    sized.add_argument("--runs", type=int, default=3, help="fan-out runs per executor (default: %(default)s)")
    sized.add_argument("--repeats", type=int, default=1, help="with --full: no-op and upgrade runs, median kept")
    sized.add_argument("--batch-sizes", type=int, nargs="*", default=[], metavar="N",
                       help="also the no-op re-run and an upgrade per dagster_rollout_batch_size N")  # fmt: skip
    sized.add_argument("--note", default="", help="what sets this run apart, for the report's before/after table")
    volume = figures.add_parser("backfill", help="a backfill of hundreds of partitions through the run queue")
    volume.add_argument("--nodes", type=int, default=4, help="lab size (default: %(default)s)")
    volume.add_argument("--partitions", type=int, default=300, help="partitions to backfill (default: %(default)s)")
    again = figures.add_parser("noop", help="re-run site.yml on a deployed lab; fails if anything changed")
    again.add_argument("--lab", required=True, help="lab name")
    again.add_argument("--inventory", type=Path, action="append", required=True, help="inventory files, in order")
    weight = figures.add_parser("footprint", help="memory and processes of each worker instance of a deployed lab")
    weight.add_argument("--lab", required=True, help="lab name")
    weight.add_argument("--inventory", type=Path, action="append", required=True, help="inventory files, in order")
    summary = figures.add_parser("report", help="write the README's table and the plot from the results")
    summary.add_argument("--readme", type=Path, default=README, help="README to update (default: %(default)s)")
    summary.add_argument("--no-readme", action="store_true", help="write bench.md beside the results instead")
    everything = figures.add_parser(
        "all", help="floors of 1 and 4 nodes, 4 nodes in full, 2 and 6 nodes, a backfill of 300 partitions, the report"
    )
    everything.add_argument("--runs", type=int, default=3, help="fan-out runs per executor (default: %(default)s)")
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    results: Path = args.results
    try:
        if args.figure == "floor":
            name = "floor" if args.nodes == 1 else f"floor-{args.nodes}"
            record(results, name, floor.measure(results, args.nodes, args.keep))
        if args.figure == "all":
            record(results, "floor", floor.measure(results, 1))
            record(results, "floor-4", floor.measure(results, 4))
        if args.figure == "deploy":
            measured = deploy.measure(
                args.nodes, results, args.full, args.runs, args.keep, tuple(args.batch_sizes), args.repeats
            )
            if args.note:
                measured["note"] = args.note
            record(results, f"deploy-{args.nodes}", measured)
        if args.figure == "all":
            for nodes, full in ((4, True), (2, False), (6, False)):
                record(results, f"deploy-{nodes}", deploy.measure(nodes, results, full, args.runs))
        if args.figure in {"backfill", "all"}:
            nodes, partitions = getattr(args, "nodes", 4), getattr(args, "partitions", 300)
            record(results, f"backfill-{nodes}", backfill.run(nodes, partitions, results, args.keep))
        if args.figure == "noop":
            return noop(args)
        if args.figure == "footprint":
            return worker_footprint(args)
        if args.figure in {"report", "all"}:
            readme = None if getattr(args, "no_readme", False) else getattr(args, "readme", README)
            print(report.write(results, readme))
    except (RuntimeError, OSError, ValueError) as error:
        runner.say(f"error: {error}")
        return 1
    return 0
