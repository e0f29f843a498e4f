"""`lab fleet`: draw the deployment as it is, from the status view's JSON (inventory and live state):
hosts, groups, the queues each worker serves with their concurrency and state, each node's release."""

from __future__ import annotations

import html
import shutil
import subprocess
from typing import Any

RUNNING = "running"


def worker_state(host: dict[str, Any], queue: str) -> str:
    return str(host["services"].get(f"dagster-celery-worker@{queue}", "absent"))


def control_services(host: dict[str, Any]) -> list[tuple[str, str]]:
    """Services other than the workers, without template units (postgresql@ itself never runs)."""
    return sorted(
        (name, state)
        for name, state in host["services"].items()
        if not name.startswith("dagster-celery-worker@") and not name.endswith("@")
    )


def text(fleet: dict[str, Any]) -> str:
    lines = []
    for name, host in sorted(fleet["hosts"].items()):
        groups = ", ".join(host["groups"]) or "no group"
        lines.append(f"{name}  {host['address']}  [{groups}]  release {host['release'] or '-'}")
        for queue in host["queues"]:
            state = worker_state(host, queue["name"])
            lines.append(f"    serves {queue['name']} x{queue['concurrency']}: {state}")
        services = control_services(host)
        if services:
            lines.append("    " + ", ".join(f"{service} {state}" for service, state in services))
    for queue in fleet["queues"]:
        lines.append(
            f"queue {queue['name']} on {queue['broker']}: ready {queue['ready']}, "
            f"unacked {queue['unacked']}, consumers {queue['consumers']}"
        )
    releases = {host["release"] for host in fleet["hosts"].values() if host["release"]}
    if len(releases) > 1:
        lines.append(f"warning: nodes run {len(releases)} different releases: {', '.join(sorted(releases))}")
    return "\n".join(lines)


def _label(name: str, host: dict[str, Any]) -> str:
    """A Graphviz HTML label: host, groups, release, then one row per queue or service."""
    rows = [
        f'<TR><TD BGCOLOR="#dbe9f6"><B>{html.escape(name)}</B> {html.escape(host["address"])}</TD></TR>',
        f"<TR><TD>{html.escape(', '.join(host['groups']) or 'no group')}</TD></TR>",
        f'<TR><TD><FONT POINT-SIZE="10">release {html.escape(host["release"] or "-")}</FONT></TD></TR>',
    ]
    for queue in host["queues"]:
        state = worker_state(host, queue["name"])
        color = "#c7e9c0" if state == RUNNING else "#fcbba1"
        cell = f"{queue['name']} x{queue['concurrency']} {state}"
        rows.append(f'<TR><TD BGCOLOR="{color}">{html.escape(cell)}</TD></TR>')
    for service, state in control_services(host):
        # Oneshot units (the dump, postgresql's umbrella unit) are stopped between runs: grey, not red.
        color = {"running": "#c7e9c0", "failed": "#fcbba1"}.get(state, "#eeeeee")
        rows.append(f'<TR><TD BGCOLOR="{color}"><FONT POINT-SIZE="10">{html.escape(service)}</FONT></TD></TR>')
    return '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0">' + "".join(rows) + "</TABLE>>"


def dot(fleet: dict[str, Any]) -> str:
    """Hosts as tables; each queue between the broker holding it and the workers consuming it."""
    lines = [
        "digraph fleet {",
        '  rankdir=LR; node [shape=plaintext, fontname="Helvetica"]; edge [fontname="Helvetica", fontsize=10];',
    ]
    for name, host in sorted(fleet["hosts"].items()):
        lines.append(f'  "{name}" [label={_label(name, host)}];')
    served = {queue["name"] for host in fleet["hosts"].values() for queue in host["queues"]}
    brokers = {queue["name"]: queue for queue in fleet["queues"]}
    broker_hosts = sorted(name for name, host in fleet["hosts"].items() if "broker" in host["groups"])
    for queue_name in sorted(served | set(brokers)):
        depth = brokers.get(queue_name)
        detail = f"\\nready {depth['ready']}, consumers {depth['consumers']}" if depth else ""
        lines.append(f'  "queue:{queue_name}" [shape=ellipse, label="queue {queue_name}{detail}"];')
        for broker in [depth["broker"]] if depth else broker_hosts:
            lines.append(f'  "{broker}" -> "queue:{queue_name}" [style=dashed, arrowhead=none];')
    for name, host in sorted(fleet["hosts"].items()):
        for queue in host["queues"]:
            state = worker_state(host, queue["name"])
            color = "#238b45" if state == RUNNING else "#cb181d"
            label = f"x{queue['concurrency']}"
            lines.append(f'  "queue:{queue["name"]}" -> "{name}" [label="{label}", color="{color}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def svg(dot_source: str) -> str:
    """Render with Graphviz's dot (the bootstrap installs it)."""
    executable = shutil.which("dot")
    if executable is None:
        raise RuntimeError("Graphviz's dot is not installed (apt install graphviz)")
    proc = subprocess.run([executable, "-Tsvg"], input=dot_source, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed: {proc.stderr.strip()}")
    return proc.stdout
