"""lab monitoring's helpers (the live checks run against the lab's Prometheus in `make test`)."""

from __future__ import annotations

import itertools
from collections import Counter

from lab import monitoring


def test_targets_not_up_are_listed_and_shown_with_their_error() -> None:
    targets = [
        {"job": "node", "instance": "node2", "health": "up", "error": ""},
        {"job": "postgres", "instance": "node1", "health": "down", "error": "connection refused"},
    ]
    assert monitoring.not_up(targets) == [targets[1]]
    table = monitoring.target_table(targets).splitlines()
    assert table[0].split() == ["node", "node2", "up"]
    assert table[1].split()[:3] == ["postgres", "node1", "down"] and table[1].endswith("connection refused")


def test_wait_for_returns_when_the_check_holds_and_none_past_the_timeout() -> None:
    answers = itertools.chain([False, False], itertools.repeat(True))
    assert monitoring.wait_for(lambda: next(answers), timeout=5, poll=0.01) is not None
    assert monitoring.wait_for(lambda: False, timeout=0.05, poll=0.01) is None


def test_the_hosts_of_journal_lines_are_read_from_json() -> None:
    lines = '{"_HOSTNAME": "node3", "MESSAGE": "x"}\n{"_HOSTNAME": "node4"}\n\n{"MESSAGE": "no host"}\n'
    assert monitoring.hosts_in_journal(lines) == {"node3", "node4"}


def test_a_dagster_queue_is_its_broker_queue_of_any_code_location() -> None:
    assert monitoring.names_queue("example.heavy", "heavy")
    assert monitoring.names_queue("heavy", "heavy")
    assert not monitoring.names_queue("example.heavy", "avy")
    assert not monitoring.names_queue("example.dagster", "heavy")


def test_steps_are_uncounted_until_flowers_counter_of_their_worker_grew_by_them() -> None:
    steps = Counter({"example.heavy@node3": 2, "example.dagster@node2": 1})
    before = Counter({"example.heavy@node3": 5})
    assert monitoring.uncounted_steps(steps, before, Counter({"example.heavy@node3": 6})) == Counter(
        {"example.heavy@node3": 1, "example.dagster@node2": 1}
    )
    after = Counter({"example.heavy@node3": 7, "example.dagster@node2": 1, "example.light@node4": 3})
    assert monitoring.uncounted_steps(steps, before, after) == Counter()
