"""`lab fleet`: the text and the picture drawn from the status view's JSON."""

from __future__ import annotations

from typing import Any

from lab import fleet


def state() -> dict[str, Any]:
    control = {"dagster-webserver": "running", "rabbitmq-server": "running"}
    return {
        "hosts": {
            "node1": {"groups": ["broker", "control"], "address": "10.0.0.1", "release": "1.0-aa",
                      "queues": [], "services": control},
            "node2": {"groups": ["workers"], "address": "10.0.0.2", "release": "1.0-aa",
                      "queues": [{"name": "dagster", "concurrency": 2}, {"name": "gpu", "concurrency": 1}],
                      "services": {"dagster-celery-worker@dagster": "running", "dagster-celery-worker@gpu": "stopped"}},
            "node3": {"groups": ["workers"], "address": "10.0.0.3", "release": "0.9-bb",
                      "queues": [{"name": "dagster", "concurrency": 4}],
                      "services": {"dagster-celery-worker@dagster": "running"}},
        },
        "queues": [{"name": "dagster", "broker": "node1", "ready": 3, "unacked": 1, "consumers": 2}],
    }  # fmt: skip


def test_text_lists_hosts_queues_and_releases() -> None:
    out = fleet.text(state())
    assert "node1  10.0.0.1  [broker, control]  release 1.0-aa" in out
    assert "    serves dagster x2: running" in out
    assert "    serves gpu x1: stopped" in out
    assert "dagster-webserver running, rabbitmq-server running" in out
    assert "queue dagster on node1: ready 3, unacked 1, consumers 2" in out
    assert "warning: nodes run 2 different releases: 0.9-bb, 1.0-aa" in out


def test_the_picture_links_each_queue_to_its_broker_and_workers() -> None:
    source = fleet.dot(state())
    assert '"node1" -> "queue:dagster" [style=dashed' in source
    assert '"queue:dagster" -> "node2" [label="x2", color="#238b45"]' in source
    assert '"queue:dagster" -> "node3" [label="x4", color="#238b45"]' in source
    # gpu has no depth from the broker: drawn at the broker host, its stopped worker in red.
    assert '"node1" -> "queue:gpu"' in source
    assert '"queue:gpu" -> "node2" [label="x1", color="#cb181d"]' in source


def test_graphviz_renders_the_picture() -> None:
    drawing = fleet.svg(fleet.dot(state()))
    assert drawing.lstrip().startswith("<?xml") or "<svg" in drawing[:500]
    assert "node2" in drawing and "queue dagster" in drawing
