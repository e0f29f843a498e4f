"""Reach the nodes of the running molecule scenario and the secrets it generated."""

from __future__ import annotations

import os
from pathlib import Path

import testinfra
from testinfra.host import Host
from testinfra.utils.ansible_runner import AnsibleRunner


def inventory() -> str:
    """The scenario's whole inventory directory: molecule's hosts plus linked topology and vars."""
    return str(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent)


def hosts_in(group: str) -> list[str]:
    """Names of the scenario's hosts in an inventory group."""
    return sorted(AnsibleRunner(inventory()).get_hosts(group))


def host(name: str) -> Host:
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory()}")


def secret(name: str) -> str:
    """A secret the scenario generated with the password lookup (see molecule.yml)."""
    return (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "secrets" / name).read_text().split()[0]


def address(node: Host) -> str:
    """The node's primary IPv4 address, as the roles see it."""
    facts = node.ansible("setup", "filter=ansible_default_ipv4", check=False)
    return str(facts["ansible_facts"]["ansible_default_ipv4"]["address"])
