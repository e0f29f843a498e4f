"""The base role gives every node the same dagster account and sane host settings."""

from __future__ import annotations

import pytest
from helpers.molecule import CONFIG_DIR, USER, host, hosts_in

NODES = hosts_in("all")


def test_dagster_ids_are_the_same_on_every_node() -> None:
    ids = {name: host(name).check_output("id dagster") for name in NODES}
    assert len(set(ids.values())) == 1, ids
    assert next(iter(ids.values())) == "uid=990(dagster) gid=990(dagster) groups=990(dagster)"


@pytest.mark.parametrize("name", NODES)
def test_dagster_cannot_log_in_interactively(name: str) -> None:
    assert host(name).user("dagster").shell == "/usr/sbin/nologin"


@pytest.mark.parametrize("name", NODES)
def test_config_dir_is_closed_to_other_users(name: str) -> None:
    node = host(name)
    config = node.file(CONFIG_DIR)
    assert (config.user, config.group, config.mode) == ("root", "dagster", 0o750)
    denied = node.run(f"runuser -u nobody -- ls {CONFIG_DIR}")
    assert denied.rc != 0
    assert node.run(f"runuser -u {USER} -- ls {CONFIG_DIR}").rc == 0


@pytest.mark.parametrize("name", NODES)
def test_dagster_can_build_a_python_venv(name: str) -> None:
    node = host(name)
    result = node.run(
        f"runuser -u {USER} -- python3 -m venv /tmp/probe-venv && "
        "/tmp/probe-venv/bin/python -c 'import sys; print(sys.prefix)'; "
        "rm -rf /tmp/probe-venv"
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "/tmp/probe-venv"


@pytest.mark.parametrize("name", NODES)
def test_time_zone_and_locale(name: str) -> None:
    node = host(name)
    assert node.check_output("readlink -f /etc/localtime").endswith("Etc/UTC")
    # A PAM login session reads /etc/default/locale, as an operator's SSH login would.
    assert node.check_output("su - root -c 'locale 2>&1 | head -1'") == "LANG=C.UTF-8"
