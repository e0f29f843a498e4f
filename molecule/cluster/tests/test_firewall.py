"""The host firewall opens each service only to the hosts that use it."""

from __future__ import annotations

import shlex
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers.molecule import address, host, hosts_in

CONTROL = hosts_in("control")[0]  # also broker and database in this scenario
WORKERS = hosts_in("workers")


def answers(ip: str, port: int) -> bool:
    """Whether a TCP connection from the docker host, which is in no inventory group, is accepted."""
    try:
        socket.create_connection((ip, port), timeout=3).close()
    except OSError:
        return False
    return True


def reachable_from_here(name: str, port: int) -> bool:
    return answers(address(host(name)), port)


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


@pytest.mark.parametrize("worker", WORKERS)
def test_only_the_front_door_reaches_the_management_port(worker: str) -> None:
    assert reachable_from(worker, CONTROL, 5671), "the worker reaches no broker port: the test would prove nothing"
    assert not reachable_from(worker, CONTROL, 15672)


# What a host outside the inventory, among the UI sources but not the admin, SSH or monitoring ones, may reach.
OPEN_FROM_THE_UI_SOURCES = {"control": {80, 443}, "broker": set(), "database": set(), "workers": set()}


def listening_ports(name: str) -> set[int]:
    """Every TCP port something listens on in the node's network namespace, on any address."""
    output = host(name).check_output("ss -Hltn")
    return {int(line.split()[3].rsplit(":", 1)[1]) for line in output.splitlines()}


@pytest.mark.parametrize("name", sorted({CONTROL, *WORKERS}))
def test_from_outside_the_inventory_only_the_intended_ports_answer(name: str) -> None:
    """A port nothing listens on cannot answer, so probing every listening port covers every port."""
    ports, ip = sorted(listening_ports(name)), address(host(name))
    with ThreadPoolExecutor(max_workers=16) as pool:
        answered = pool.map(lambda port: answers(ip, port), ports)
        answering = {port for port, ok in zip(ports, answered, strict=True) if ok}
    groups = [group for group in OPEN_FROM_THE_UI_SOURCES if name in hosts_in(group)]
    intended = set().union(*(OPEN_FROM_THE_UI_SOURCES[group] for group in groups))
    assert len(ports) > len(intended), f"{name} listens on {sorted(ports)} only: the test would prove little"
    assert answering == intended, f"{name}: listening {sorted(ports)}, answering {sorted(answering)}"


@pytest.mark.parametrize("name", sorted({CONTROL, *WORKERS}))
def test_every_node_drops_what_it_does_not_allow(name: str) -> None:
    node = host(name)
    assert node.service("nftables-dagster").is_enabled
    ruleset = node.check_output("nft list chain inet dagster_firewall input")
    assert "policy drop;" in ruleset
