"""With TLS required, broker and database refuse plain connections and every Dagster connection is encrypted."""

from __future__ import annotations

import json
import shlex
import time

from helpers.molecule import CONFIG_DIR, HOME, address, host, hosts_in, password

BROKER = hosts_in("broker")[0]
DATABASE = hosts_in("database")[0]
WORKER = hosts_in("workers")[0]
CA = f"{CONFIG_DIR}/tls/ca.crt"
VENV_PYTHON = f"{HOME}/current/venv/bin/python"


def connect_tcp(port: int, server: str) -> str:
    """Open a TCP connection from a worker; 'open' or the error."""
    probe = f"exec 3<>/dev/tcp/{address(host(server))}/{port} && echo open"
    return host(WORKER).run(f"bash -c {shlex.quote(probe)} 2>&1").stdout.strip()


def postgres_from_worker(sslmode: str) -> str:
    """Log in as dagster from a worker with the release's psycopg2; 'ok' or the server's refusal."""
    script = (
        "import os, psycopg2\n"
        "try:\n"
        f"    psycopg2.connect(host={address(host(DATABASE))!r}, dbname='dagster', user='dagster',\n"
        f"                     password=os.environ['PGPASSWORD'], sslmode={sslmode!r}, sslrootcert={CA!r},\n"
        "                     connect_timeout=10).close()\n"
        "    print('ok')\n"
        "except psycopg2.OperationalError as error:\n"
        "    print(error)\n"
    )
    quoted_password = shlex.quote(password("postgresql_dagster_password"))
    return host(WORKER).check_output(f"PGPASSWORD={quoted_password} {VENV_PYTHON} -c {shlex.quote(script)}")


def test_the_broker_listens_for_amqps_only() -> None:
    listening = host(BROKER).socket.get_listening_sockets()
    assert not [s for s in listening if s.endswith(":5672")], listening
    assert f"tcp://{address(host(BROKER))}:5671" in listening
    assert "refused" in connect_tcp(5672, BROKER).lower()


def test_the_broker_certificate_verifies_against_the_deployed_ca() -> None:
    script = (
        "import socket, ssl, sys\n"
        f"context = ssl.create_default_context(cafile={CA!r})\n"
        f"with socket.create_connection(({address(host(BROKER))!r}, 5671), timeout=10) as raw:\n"
        f"    with context.wrap_socket(raw, server_hostname={address(host(BROKER))!r}) as tls:\n"
        "        print(tls.version())\n"
    )
    assert host(WORKER).check_output(f"python3 -c {shlex.quote(script)}") in {"TLSv1.2", "TLSv1.3"}


def test_every_amqp_connection_is_encrypted() -> None:
    listing = host(BROKER).check_output("rabbitmqctl -q list_connections user ssl --formatter json")
    connections = json.loads(listing)
    assert len(connections) >= len(hosts_in("workers")), connections
    assert all(connection["ssl"] for connection in connections), connections


def test_the_database_refuses_an_unencrypted_login() -> None:
    refused = postgres_from_worker("disable")
    assert "no encryption" in refused, refused
    assert postgres_from_worker("verify-full") == "ok"


def test_every_dagster_database_connection_is_encrypted() -> None:
    """Sample pg_stat_ssl until five Dagster connections were seen (at most 30 s)."""
    query = shlex.quote(
        "select count(*) filter (where not s.ssl), count(*) "
        "from pg_stat_ssl s join pg_stat_activity a using (pid) where a.usename = 'dagster'"
    )
    plain = seen = 0
    deadline = time.monotonic() + 30
    while seen < 5 and time.monotonic() < deadline:
        unencrypted, total = (
            int(n) for n in host(DATABASE).check_output(f"runuser -u postgres -- psql -tA -F ' ' -c {query}").split()
        )
        plain, seen = plain + unencrypted, seen + total
        time.sleep(0.5)
    assert seen > 0, "no Dagster connection seen in 30 s"
    assert plain == 0
