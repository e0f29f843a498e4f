"""The restore drill: the nightly dump leaves the database host, playbooks/restore.yml puts it on a
fresh database host, the old runs are back and a failed run re-executes from its failure.

Last in this scenario (conftest.py orders it): it replaces the database."""

from __future__ import annotations

from helpers.molecule import (
    SHARED_DIR,
    changed_per_host,
    deployed_run_config,
    host,
    hosts_in,
    playbook,
    wait_for_webserver,
)

from lab.dagster_client import Client, location_of

CONTROL = hosts_in("control")[0]
DATABASE = hosts_in("database")[0]
DUMPS = f"{SHARED_DIR}/backups/database"
SWITCH = f"{SHARED_DIR}/restore-drill-switch"


def test_a_restored_database_keeps_the_runs_and_a_failed_run_reexecutes(client: Client) -> None:
    control, database = host(CONTROL), host(DATABASE)
    control.check_output(f"touch {SWITCH}")
    config = {**deployed_run_config(), "ops": {"check_switch": {"config": {"fail_while_exists": SWITCH}}}}
    failed = client.launch(location_of(client, "switch_job"), "switch_job", config)
    assert client.wait(failed, timeout=180) == "FAILURE"
    runs_before = client.run_ids()

    # The nightly dump, now: taken on the control node, stored on the shared storage.
    control.check_output("systemctl start dagster-db-dump.service")
    dumps = control.check_output(f"ls {DUMPS}").split()
    assert len(dumps) == 1 and dumps[0].endswith(".dump"), dumps

    # The database host is lost: a fresh, empty PostgreSQL cluster in its place.
    # /etc/postgresql also holds the kit's tls directory: ask for the cluster instead.
    version = database.check_output("pg_lsclusters --no-header").split()[0]
    database.check_output(f"pg_dropcluster --stop {version} main && pg_createcluster {version} main")

    restored = playbook("restore.yml")
    assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-2000:]
    again = playbook("restore.yml")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    assert set(changed_per_host(again.stdout).values()) == {0}, changed_per_host(again.stdout)

    wait_for_webserver(client)
    assert runs_before <= client.run_ids()
    assert client.status(failed) == "FAILURE"

    control.check_output(f"rm -f {SWITCH}")
    rerun = client.reexecute(failed)
    assert client.wait(rerun, timeout=180) == "SUCCESS", client.report(rerun).failures
    # From the failure: only the failed step ran again; its input came from the first run's output.
    assert set(client.report(rerun).steps) == {"check_switch"}
