"""Turn the JSON results into the README's table and an SVG plot."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from bench.timings import PHASES

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
COLORS = ("#8c8c8c", "#bdbdbd", "#6baed6", "#fd8d3c", "#74c476", "#9e9ac8", "#e377c2", "#3182bd", "#f0f0f0")
SEGMENTS = (*PHASES, "other")
# Issue 20's targets, on the 4-node lab.
NOOP_SHARE, NOOP_SECONDS = 0.15, 20.0
ROLLOUT_SECONDS_PER_HOST = 10.0
FAN_OUT_SHARE = 0.2


def load(results: Path) -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(results.glob("*.json"))}


def deploys(figures: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    found = [figure for figure in figures.values() if figure.get("figure") == "deploy"]
    return sorted(found, key=lambda figure: int(figure["nodes"]))


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if denominator else "-"


def runs_note(figure: dict[str, Any]) -> str:
    """ ", median of 3 (45 to 52 s)" for a figure of repeated runs, nothing for one run."""
    runs = figure.get("runs_seconds", [])
    return f", median of {len(runs)} ({min(runs):.0f} to {max(runs):.0f} s)" if len(runs) > 1 else ""


def verdict(target: str, met: bool) -> str:
    """A target and whether the figure meets it."""
    return f"{target}: {'met' if met else 'not met'}"


def floors(figures: dict[str, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Floor figures by node count (results written before --nodes existed are one node)."""
    found = [figure for figure in figures.values() if figure.get("figure") == "floor"]
    return {int(figure.get("nodes", 1)): figure for figure in sorted(found, key=lambda f: int(f.get("nodes", 1)))}


def table(figures: dict[str, dict[str, Any]]) -> str:
    by_size = floors(figures)
    floor_seconds = float(by_size[1]["seconds"]) if 1 in by_size else 0.0
    rows = [("Figure", "Seconds", "Compared with", "Ratio", "Target")]
    for nodes, floor in by_size.items():
        parts = ", ".join(f"{name} {value:.0f} s" for name, value in floor["parts"].items())
        where = "alone on one node" if nodes == 1 else f"{nodes} nodes at once"
        rows.append((f"Floor: unavoidable work, {where}", f"{floor['seconds']:.0f}", parts, "", ""))
    for figure in deploys(figures):
        nodes, cold = figure["nodes"], figure["cold"]
        same_size = by_size.get(int(nodes))
        against = f"; {ratio(cold['seconds'], same_size['seconds'])} of the {nodes}-node floor" if same_size else ""
        cold_target = ""
        if nodes == 4 and same_size:
            cold_target = verdict("≤ 1.5 of the 4-node floor", cold["seconds"] <= 1.5 * same_size["seconds"])
        rows.append(
            (
                f"Cold deploy, {nodes} nodes",
                f"{cold['seconds']:.0f}",
                f"one-node floor{against}; {float(cold['seconds']) / int(nodes):.0f} s per node",
                ratio(cold["seconds"], floor_seconds),
                cold_target,
            )
        )
        rows.append((f"First job after it ({nodes} nodes)", f"{figure['first_job']['seconds']:.0f}", "", "", ""))
        if "noop" in figure:
            noop = figure["noop"]
            changed = sum(noop["changed"].values())
            met = noop["seconds"] <= min(NOOP_SHARE * cold["seconds"], NOOP_SECONDS) and not changed
            rows.append(
                (
                    f"No-op re-run, {nodes} nodes ({changed} changed){runs_note(noop)}",
                    f"{noop['seconds']:.0f}",
                    "cold deploy",
                    ratio(noop["seconds"], cold["seconds"]),
                    verdict(f"≤ {NOOP_SHARE}, ≤ {NOOP_SECONDS:.0f} s, 0 changed", met),
                )
            )
        if "upgrade" in figure:
            upgrade = f"{figure['upgrade']['seconds']:.0f}"
            rows.append(
                (f"Code-only upgrade (upgrade.yml), {nodes} nodes{runs_note(figure['upgrade'])}", upgrade, "", "", "")
            )
        for rollout in figure.get("rollouts", []):
            rows.append(
                (
                    f"Code-only upgrade, {nodes} nodes, batches of {rollout['batch_size']}",
                    f"{rollout['seconds']:.0f}",
                    "per worker host",
                    f"{rollout['seconds_per_worker_host']:.1f} s",
                    verdict(
                        f"≤ {ROLLOUT_SECONDS_PER_HOST:.0f} s per worker host beyond its drain",
                        rollout["seconds_per_worker_host"] <= ROLLOUT_SECONDS_PER_HOST,
                    ),
                )
            )
        if "throughput" in figure:
            fan_out = figure["throughput"]
            celery, multi = fan_out["celery"], fan_out["multiprocess"]
            rows.append(
                (
                    f"Fan-out, {fan_out['steps']} steps: Celery, {celery['slots']} worker processes",
                    f"{celery['median_seconds']:.1f}",
                    f"multiprocess executor on one node, {multi['slots']} processes: {multi['median_seconds']:.1f} s",
                    f"{ratio(celery['median_seconds'], multi['median_seconds'])} ({fan_out['speedup']:.2f}x faster)",
                    verdict(
                        f"≤ {FAN_OUT_SHARE} of the multiprocess time",
                        celery["median_seconds"] <= FAN_OUT_SHARE * multi["median_seconds"],
                    ),
                )
            )
            rows.append(
                (
                    "Slot time per step: Celery / multiprocess",
                    f"{celery['slot_seconds_per_step']:.2f} / {multi['slot_seconds_per_step']:.2f}",
                    "wall x processes / steps",
                    "",
                    "",
                )
            )
            if "cpu_seconds_per_step" in celery and "cpu_seconds_per_step" in multi:
                rows.append(
                    (
                        "CPU time per step: Celery / multiprocess",
                        f"{celery['cpu_seconds_per_step']:.2f} / {multi['cpu_seconds_per_step']:.2f}",
                        "busy CPU of the whole machine during a run / steps",
                        "",
                        "",
                    )
                )
    for name, figure in figures.items():
        if figure.get("figure") == "noop":
            changed = sum(figure["changed"].values())
            rows.append(
                (f"No-op re-run of a deployed lab ({name}, {changed} changed)", f"{figure['seconds']:.0f}", "", "", "")
            )
    for figure in (figure for figure in figures.values() if figure.get("figure") == "backfill"):
        waits = figure["queued_to_started_seconds"]
        rows.append(
            (
                f"Backfill of {figure['partitions']} partitions, {figure['max_concurrent_runs']} runs at once, "
                f"{figure['nodes']} nodes",
                f"{figure['seconds']:.0f}",
                f"QUEUED to STARTED at {figure['started_runs_per_second']:.2f} runs/s "
                f"(dequeued at {figure['dequeued_runs_per_second']:.2f}/s, "
                f"submitted at {figure['submitted_runs_per_second']:.2f}/s); "
                f"slots kept {figure['slot_occupancy']:.0%} full; a run waits {waits['median']:.0f} s "
                f"(median), {waits['max']:.0f} s (max)",
                f"{figure['runs_per_second']:.2f} runs/s",
                verdict("no daemon heartbeat older than 90 s (the scheduler's, 150 s)", not figure["stalled_daemons"]),
            )
        )
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + "---|" * len(rows[0]))
    return "\n".join(lines)


def dig(document: dict[str, Any], *keys: str) -> float | None:
    """A nested figure, or None where a run did not measure it."""
    value: Any = document
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value)


def share(document: dict[str, Any], numerator: tuple[str, ...], denominator: tuple[str, ...]) -> float | None:
    top, bottom = dig(document, *numerator), dig(document, *denominator)
    return top / bottom if top is not None and bottom else None


# The 4-node figures compared with earlier measurements: label, decimals, how to read it from one run.
COMPARED: tuple[tuple[str, int, Callable[[dict[str, Any]], float | None]], ...] = (
    ("cold deploy (s)", 0, lambda run: dig(run, "cold", "seconds")),
    ("no-op re-run (s)", 0, lambda run: dig(run, "noop", "seconds")),
    ("no-op / cold deploy", 2, lambda run: share(run, ("noop", "seconds"), ("cold", "seconds"))),
    ("code-only upgrade, upgrade.yml (s)", 0, lambda run: dig(run, "upgrade", "seconds")),
    ("fan-out, Celery (s)", 1, lambda run: dig(run, "throughput", "celery", "median_seconds")),
    (
        "fan-out, Celery / multiprocess",
        2,
        lambda run: share(
            run, ("throughput", "celery", "median_seconds"), ("throughput", "multiprocess", "median_seconds")
        ),
    ),
    ("CPU-seconds per step, Celery", 2, lambda run: dig(run, "throughput", "celery", "cpu_seconds_per_step")),
)


def baselines(results: Path) -> dict[str, list[dict[str, Any]]]:
    """Earlier 4-node measurements kept for comparison: each subdirectory of the results holding JSON runs
    (the first ones, written by hand, name no node count; they were all of the 4-node lab)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for directory in sorted(path for path in results.iterdir() if path.is_dir()):
        runs = [json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))]
        runs = [run for run in runs if int(run.get("nodes", 4)) == 4]
        if runs:
            found[directory.name] = runs
    return found


def summary(values: list[float], decimals: int) -> str:
    """Median of the runs that measured it, with the range when there are several."""
    if not values:
        return "-"
    middle = f"{statistics.median(values):.{decimals}f}"
    return middle if len(values) == 1 else f"{middle} ({min(values):.{decimals}f} to {max(values):.{decimals}f})"


def comparison(figures: dict[str, dict[str, Any]], earlier: dict[str, list[dict[str, Any]]]) -> str:
    """Before and after: each set of earlier runs, then the current 4-node figures; medians, ranges in brackets."""
    now = [figure for figure in deploys(figures) if int(figure["nodes"]) == 4]
    if not now or not earlier:
        return ""
    columns = [*earlier.items(), ("now", now)]

    def heading(name: str, runs: list[dict[str, Any]]) -> str:
        dates = sorted({run["machine"]["date"] for run in runs if "machine" in run})
        return f"{name} ({', '.join(dates) or 'undated'}, {len(runs)} run{'s' if len(runs) > 1 else ''})"

    lines = ["| 4-node lab | " + " | ".join(heading(name, runs) for name, runs in columns) + " |"]
    lines.append("|" + "---|" * (len(columns) + 1))
    for label, decimals, read in COMPARED:
        cells = []
        for _, runs in columns:
            values = [value for value in map(read, runs) if value is not None]
            cells.append(summary(values, decimals))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for name, runs in earlier.items():
        notes = sorted({run["note"] for run in runs if "note" in run})
        if notes:
            lines.append(f"\n`{name}`: {' '.join(notes)}")
    return "\n".join(lines)


def playbook_columns(figures: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Every measured playbook run: (label, figure with seconds, phases and CPU time)."""
    columns = [(f"floor, {n} node{'s' if n > 1 else ''}", f) for n, f in floors(figures).items()]
    columns += [(f"cold, {f['nodes']} nodes", f["cold"]) for f in deploys(figures)]
    columns += [(f"no-op, {f['nodes']} nodes", f["noop"]) for f in deploys(figures) if "noop" in f]
    columns += [(f"upgrade, {f['nodes']} nodes", f["upgrade"]) for f in deploys(figures) if "upgrade" in f]
    columns += [(name, f) for name, f in figures.items() if f.get("figure") == "noop"]
    return columns


def phase_table(figures: dict[str, dict[str, Any]], cores: int) -> str:
    """Seconds per phase, then the machine's busy CPU time: near cores x wall time, the run was CPU-bound."""
    columns = playbook_columns(figures)
    header = "| Phase (s) | " + " | ".join(name for name, _ in columns) + " |"
    lines = [header, "|" + "---|" * (len(columns) + 1)]
    for segment in SEGMENTS:
        cells = " | ".join(f"{figure['phases'].get(segment, 0.0):.1f}" for _, figure in columns)
        lines.append(f"| {segment} | {cells} |")
    lines.append("| **total** | " + " | ".join(f"**{figure['seconds']:.1f}**" for _, figure in columns) + " |")
    if all("cpu_seconds" in figure for _, figure in columns):
        lines.append(
            "| CPU-seconds, whole machine | " + " | ".join(f"{f['cpu_seconds']:.0f}" for _, f in columns) + " |"
        )
        busy = [f"{100 * f['cpu_seconds'] / (cores * f['seconds']):.0f} %" if cores else "-" for _, f in columns]
        lines.append(f"| CPU busy (of {cores} cores) | " + " | ".join(busy) + " |")
        nodes = [f.get("node_cpu_seconds") for _, f in columns]
        if all(value is not None for value in nodes):
            lines.append("| of which the nodes (containers) | " + " | ".join(f"{v:.0f}" for v in nodes) + " |")
    return "\n".join(lines)


def machine_line(figures: dict[str, dict[str, Any]]) -> str:
    """Where and when the figures were measured: one sentence per machine and date, naming its figures."""
    by_machine: dict[str, list[str]] = {}
    for name, figure in figures.items():
        machine = figure.get("machine")
        if machine:
            where = (
                f"{machine['date']} on {machine['os']} (kernel {machine['kernel']}), {machine['cpu']}, "
                f"{machine['cores']} cores, {machine['memory_gib']} GiB"
            )
            by_machine.setdefault(where, []).append(name)
    if not by_machine:
        return ""
    if len(by_machine) == 1:
        return f"Measured {next(iter(by_machine))}; lab nodes are containers on that machine."
    parts = [f"{where} ({', '.join(sorted(names))})" for where, names in sorted(by_machine.items())]
    return "Measured " + "; measured ".join(parts) + "; lab nodes are containers on those machines."


def bars(figures: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, float]]]:
    rows: list[tuple[str, dict[str, float]]] = [
        (f"floor, {nodes} node{'s' if nodes > 1 else ''}", f["phases"]) for nodes, f in floors(figures).items()
    ]
    for figure in deploys(figures):
        rows.append((f"cold deploy, {figure['nodes']} nodes", figure["cold"]["phases"]))
    for figure in deploys(figures):
        for key, label in (("noop", "no-op re-run"), ("upgrade", "code upgrade")):
            if key in figure:
                rows.append((f"{label}, {figure['nodes']} nodes", figure[key]["phases"]))
    return rows


def svg(figures: dict[str, dict[str, Any]]) -> str:
    """Stacked bars of deploy phases, then the fan-out comparison, each on its own scale."""
    rows, width, left, bar, gap = bars(figures), 760, 170, 18, 8
    fan_out = next((f["throughput"] for f in deploys(figures) if "throughput" in f), None)
    fan_rows = (
        []
        if fan_out is None
        else [
            (f"Celery, {fan_out['celery']['slots']} processes", fan_out["celery"]["median_seconds"]),
            (f"multiprocess, {fan_out['multiprocess']['slots']} processes", fan_out["multiprocess"]["median_seconds"]),
        ]
    )
    height = 40 + len(rows) * (bar + gap) + 50 + (40 + len(fan_rows) * (bar + gap) if fan_rows else 0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        '<text x="10" y="20" font-size="14" font-weight="bold">Deploy time by phase (seconds)</text>',
    ]
    longest = max((sum(phases.values()) for _, phases in rows), default=1.0) or 1.0
    scale = (width - left - 60) / longest
    y = 35
    for label, phases in rows:
        out.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{escape(label)}</text>')
        x = float(left)
        for segment, color in zip(SEGMENTS, COLORS, strict=True):
            span = phases.get(segment, 0.0) * scale
            if span > 0:
                title = f"{segment}: {phases.get(segment, 0.0):.1f} s"
                out.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{span:.1f}" height="{bar}" fill="{color}" '
                    f'stroke="#555" stroke-width="0.3"><title>{escape(title)}</title></rect>'
                )
                x += span
        out.append(f'<text x="{x + 4:.1f}" y="{y + 13}">{sum(phases.values()):.0f}</text>')
        y += bar + gap
    legend_x = 10
    for segment, color in zip(SEGMENTS, COLORS, strict=True):
        out.append(f'<rect x="{legend_x}" y="{y + 6}" width="10" height="10" fill="{color}" stroke="#555"/>')
        out.append(f'<text x="{legend_x + 14}" y="{y + 15}">{escape(segment)}</text>')
        legend_x += 14 + 7 * len(segment) + 14
    y += 50
    if fan_out is not None:
        out.append(
            f'<text x="10" y="{y}" font-size="14" font-weight="bold">'
            f"Fan-out job, {fan_out['steps']} steps, median wall time (seconds)</text>"
        )
        y += 15
        fan_scale = (width - left - 60) / max(value for _, value in fan_rows)
        for (label, value), color in zip(fan_rows, ("#3182bd", "#fd8d3c"), strict=True):
            out.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{escape(label)}</text>')
            out.append(f'<rect x="{left}" y="{y}" width="{value * fan_scale:.1f}" height="{bar}" fill="{color}"/>')
            out.append(f'<text x="{left + value * fan_scale + 4:.1f}" y="{y + 13}">{value:.1f}</text>')
            y += bar + gap
    out.append("</svg>")
    return "\n".join(out) + "\n"


def cores(figures: dict[str, dict[str, Any]]) -> int:
    machine: dict[str, Any] = next((figure["machine"] for figure in figures.values() if "machine" in figure), {})
    return int(machine.get("cores", 0))


def markdown(figures: dict[str, dict[str, Any]], plot: str, earlier: dict[str, list[dict[str, Any]]]) -> str:
    sections = [machine_line(figures), table(figures), phase_table(figures, cores(figures))]
    sections += [comparison(figures, earlier), f"![Benchmark figures]({plot})"]
    return "\n\n".join(section for section in sections if section) + "\n"


def inject(readme: str, block: str) -> str:
    """Replace what sits between the bench markers of the README."""
    head, start, rest = readme.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"the README has no {START} ... {END} block")
    return f"{head}{START}\n{block}{END}{tail}"


def write(results: Path, readme: Path | None) -> str:
    figures = load(results)
    if not figures:
        raise RuntimeError(f"no results in {results}")
    plot = results / "bench.svg"
    plot.write_text(svg(figures))
    plot_path = str(plot.relative_to(readme.parent)) if readme else plot.name
    block = markdown(figures, plot_path, baselines(results))
    if readme is not None:
        readme.write_text(inject(readme.read_text(), block))
    else:
        (results / "bench.md").write_text(block)
    return block
