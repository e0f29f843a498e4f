"""The host firewall opens each service only to the hosts that use it."""

from __future__ import annotations

import shlex
import socket

import pytest
from helpers.molecule import address, host, hosts_in

CONTROL = hosts_in("control")[0]  # also broker and database in this scenario
WORKERS = hosts_in("workers")


def reachable_from_here(name: str, port: int) -> bool:
    """From the docker host, which is in no inventory group."""
    try:
        socket.create_connection((address(host(name)), port), timeout=3).close()
    except OSError:
        return False
    return True


def reachable_from(source: str, target: str, port: int) -> bool:
    probe = f"timeout 3 bash -c 'exec 3<>/dev/tcp/{address(host(target))}/{port}'"
    return host(source).run(f"bash -c {shlex.quote(probe)}").rc == 0


@pytest.mark.parametrize("port", [5671, 5432, 15672, 15692])
def test_broker_and_database_ports_are_closed_to_a_host_outside_the_inventory(port: int) -> None:
    listening = host(CONTROL).socket.get_listening_sockets()
    assert any(s.endswith(f":{port}") for s in listening), f"nothing listens on {port}: the test would prove nothing"
    assert not reachable_from_here(CONTROL, port)


@pytest.mark.parametrize("worker", WORKERS)
@pytest.mark.parametrize("port", [5671, 5432])
def test_the_dagster_hosts_reach_the_broker_and_the_database(worker: str, port: int) -> None:
    assert reachable_from(worker, CONTROL, port)


def test_the_webserver_is_open_to_its_ui_sources() -> None:
    assert reachable_from_here(CONTROL, 3000)


@pytest.mark.parametrize("name", sorted({CONTROL, *WORKERS}))
def test_every_node_drops_what_it_does_not_allow(name: str) -> None:
    node = host(name)
    assert node.service("nftables-dagster").is_enabled
    ruleset = node.check_output("nft list chain inet dagster_firewall input")
    assert "policy drop;" in ruleset
