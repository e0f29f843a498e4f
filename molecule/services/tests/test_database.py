"""PostgreSQL lets the Dagster user in from Dagster nodes only, with scram-sha-256."""

from __future__ import annotations

import json
import shlex

import pytest
from helpers.molecule import address, host, hosts_in, secret

DATABASES = hosts_in("database")
ALLOWED = host("services-client")
STRANGER = host("services-stranger")


def psql(client, server: str, password: str, sql: str = "select current_user"):  # type: ignore[no-untyped-def]
    dsn = f"host={address(host(server))} dbname=dagster user=dagster connect_timeout=10"
    return client.run(f"PGPASSWORD={shlex.quote(password)} psql {shlex.quote(dsn)} -tAc {shlex.quote(sql)}")


@pytest.mark.parametrize("server", DATABASES)
def test_dagster_user_connects_from_an_allowed_host(server: str) -> None:
    result = psql(
        ALLOWED, server, secret("postgresql_dagster_password"), "select current_user || ' ' || current_database()"
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "dagster dagster"


@pytest.mark.parametrize("server", DATABASES)
def test_dagster_user_can_create_tables(server: str) -> None:
    result = psql(
        ALLOWED,
        server,
        secret("postgresql_dagster_password"),
        "create table molecule_probe (id int); drop table molecule_probe",
    )
    assert result.rc == 0, result.stderr


@pytest.mark.parametrize("server", DATABASES)
def test_host_outside_the_inventory_is_refused_by_pg_hba(server: str) -> None:
    result = psql(STRANGER, server, secret("postgresql_dagster_password"))
    assert result.rc != 0
    assert "no pg_hba.conf entry" in result.stderr


@pytest.mark.parametrize("server", DATABASES)
def test_wrong_password_is_refused(server: str) -> None:
    result = psql(ALLOWED, server, "not-the-password")
    assert result.rc != 0
    assert "password authentication failed" in result.stderr


@pytest.mark.parametrize("server", DATABASES)
def test_password_is_stored_as_scram(server: str) -> None:
    out = host(server).check_output(
        "runuser -u postgres -- psql -tAc \"select rolpassword from pg_authid where rolname = 'dagster'\""
    )
    assert out.startswith("SCRAM-SHA-256$")


@pytest.mark.parametrize("server", DATABASES)
def test_pg_hba_allows_nothing_wider_than_the_client_hosts(server: str) -> None:
    node = host(server)
    # 192.0.2.10 was added by side_effect.yml.
    allowed = {"127.0.0.1/32", "::1/128", f"{address(ALLOWED)}/32", "192.0.2.10/32"}
    hba = node.check_output("runuser -u postgres -- psql -tAc 'show hba_file'")
    rules = [
        line.split()
        for line in node.file(hba).content_string.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    sources = {rule[3] for rule in rules if rule[0].startswith("host")}
    assert sources == allowed
    assert {rule[-1] for rule in rules if rule[0].startswith("host")} == {"scram-sha-256"}


@pytest.mark.parametrize("server", DATABASES)
def test_client_change_reloads_the_server_without_restart(server: str) -> None:
    node = host(server)
    times = json.loads(node.file("/root/side_effect.json").content_string)
    assert times["before"] == times["after"]
    loaded = node.check_output(
        "runuser -u postgres -- psql -tAc \"select count(*) from pg_hba_file_rules where address = '192.0.2.10'\""
    )
    assert loaded == "1"
    log = node.check_output("cat /var/log/postgresql/postgresql-*-main.log")
    assert "received SIGHUP, reloading configuration files" in log
