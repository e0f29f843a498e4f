"""Scheduled pg_dump of the Dagster database: dumps restore the data, old dumps are pruned, postgres only."""

from __future__ import annotations

import shlex

import pytest
from helpers.molecule import USER, host, hosts_in, inventory
from testinfra.host import Host
from testinfra.utils.ansible_runner import AnsibleRunner

# One pytest process runs these in order (see molecule.yml): a test changes what the others read.
pytestmark = pytest.mark.xdist_group("backup")

DATABASES = hosts_in("database")
DUMPS = "/var/backups/dagster-db"


def sql(node: Host, statement: str) -> str:
    return node.check_output(f"runuser -u postgres -- psql -d dagster -tAc {shlex.quote(statement)}")


def dumps(node: Host) -> list[str]:
    return node.check_output(f"ls -1t {DUMPS}/dagster-*.dump 2>/dev/null || true").split()


@pytest.mark.parametrize("server", DATABASES)
def test_the_dump_timer_is_scheduled(server: str) -> None:
    node = host(server)
    assert node.service("postgresql-dagster-backup.timer").is_enabled
    assert node.service("postgresql-dagster-backup.timer").is_running
    assert node.check_output("systemctl show -p NextElapseUSecRealtime --value postgresql-dagster-backup.timer")


@pytest.mark.parametrize("server", DATABASES)
def test_a_dump_restores_dropped_data(server: str) -> None:
    node = host(server)
    sql(
        node,
        "drop table if exists backup_probe; create table backup_probe (note text); "
        "insert into backup_probe values ('kept by the dump')",
    )
    node.check_output("systemctl start postgresql-dagster-backup.service")
    latest = dumps(node)[0]
    sql(node, "drop table backup_probe")
    node.check_output(f"runuser -u postgres -- pg_restore --dbname=dagster --clean --if-exists {latest}")
    assert sql(node, "select note from backup_probe") == "kept by the dump"
    sql(node, "drop table backup_probe")


@pytest.mark.parametrize("server", DATABASES)
def test_only_the_newest_dumps_are_kept(server: str) -> None:
    node = host(server)
    keep = int(AnsibleRunner(inventory()).get_variables(server)["postgresql_backup_keep"])
    for _ in range(keep + 1):
        node.check_output("systemctl start postgresql-dagster-backup.service && sleep 1")
    assert len(dumps(node)) == keep
    assert not node.check_output(f"ls -A {DUMPS} | grep partial || true")


@pytest.mark.parametrize("server", DATABASES)
def test_dumps_are_readable_by_postgres_only(server: str) -> None:
    node = host(server)
    directory = node.file(DUMPS)
    assert (directory.user, directory.group, directory.mode) == ("postgres", "postgres", 0o700)
    assert node.run(f"runuser -u {USER} -- ls {DUMPS}").rc != 0
