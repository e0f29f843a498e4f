"""NFS storage on real kernels: exports, squashing, refusal, reload and boot order."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from helpers.molecule import SHARED_DIR, USER, host

SHARE = SHARED_DIR
MOUNT_UNIT = "srv-dagster.mount"
WORKER_UNIT = "dagster-celery-worker@dagster.service"
DAGSTER_ID = 990

server = host("nfs-server")
client = host("nfs-client")
outsider = host("outsider")


def address(name: str) -> str:
    return str(host(name).ansible.get_variables()["ansible_host"])


def unit_property(node: Any, unit: str, name: str) -> str:
    return str(node.check_output(f"systemctl show {unit} --property={name} --value")).strip()


@pytest.fixture(scope="module")
def evidence() -> dict[str, Any]:
    """What side_effect.yml saw while it changed the exports and rebooted the client."""
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "side_effect.json"
    return dict(json.loads(path.read_text()))


def test_export_lists_each_dagster_node_and_nothing_wider() -> None:
    exports = server.check_output("exportfs -s")
    lines = [line for line in exports.splitlines() if line.startswith(SHARE + " ")]
    assert len(lines) == 1, exports
    clients = {entry.split("(")[0] for entry in lines[0].split()[1:]}
    assert clients == {address("nfs-client")}
    options = lines[0].split("(")[1].rstrip(")").split(",")
    for option in ("rw", "sync", "root_squash", "no_subtree_check", "sec=sys"):
        assert option in options


def test_server_speaks_nfs_version_4_only() -> None:
    versions = server.file("/proc/fs/nfsd/versions").content_string.split()
    assert "-3" in versions
    assert "+4.2" in versions


def test_export_belongs_to_the_fixed_dagster_ids() -> None:
    export = server.file(SHARE)
    assert (export.uid, export.gid) == (DAGSTER_ID, DAGSTER_ID)
    for directory in ("artifacts", "compute_logs"):
        made = server.file(f"{SHARE}/{directory}")
        assert made.is_directory
        assert (made.uid, made.gid) == (DAGSTER_ID, DAGSTER_ID)


def test_client_mounts_the_export_hard_with_nfs4_through_systemd() -> None:
    mount = json.loads(client.check_output(f"findmnt --json --output SOURCE,FSTYPE,OPTIONS --mountpoint {SHARE}"))
    found = mount["filesystems"][0]
    assert found["source"] == f"{address('nfs-server')}:{SHARE}"
    assert found["fstype"] == "nfs4"
    options = found["options"].split(",")
    assert "hard" in options
    assert "vers=4.2" in options
    assert unit_property(client, MOUNT_UNIT, "FragmentPath") == f"/etc/systemd/system/{MOUNT_UNIT}"
    assert client.service(MOUNT_UNIT).is_enabled


def test_nothing_was_written_to_the_local_directory_under_the_mount() -> None:
    client.check_output("mkdir -p /mnt/rootfs && mount --bind / /mnt/rootfs")
    try:
        beneath = client.check_output(f"ls -A /mnt/rootfs{SHARE}")
    finally:
        client.check_output("umount /mnt/rootfs")
    assert beneath == ""


def test_file_written_by_dagster_on_the_client_is_dagsters_on_the_server() -> None:
    name = f"{SHARE}/artifacts/probe-{uuid.uuid4().hex}"
    client.check_output(f"runuser -u {USER} -- sh -c 'echo from-the-client > {name}'")
    written = server.file(name)
    assert written.content_string == "from-the-client\n"
    assert (written.uid, written.gid) == (DAGSTER_ID, DAGSTER_ID)


def test_root_on_the_client_is_squashed_to_nobody() -> None:
    """Root passes every permission check locally; on the share it is nobody and gets none."""
    denied = client.run(f"touch {SHARE}/written-by-root")
    assert denied.rc != 0
    assert "Permission denied" in denied.stderr
    assert not server.file(f"{SHARE}/written-by-root").exists
    private = f"{SHARE}/artifacts/private-{uuid.uuid4().hex}"
    client.check_output(f"runuser -u {USER} -- sh -c 'umask 077 && echo secret > {private}'")
    assert client.run(f"cat {private}").rc != 0
    assert client.check_output(f"runuser -u {USER} -- cat {private}") == "secret"


def test_a_host_outside_the_export_list_is_refused(evidence: dict[str, Any]) -> None:
    outsider.check_output("mkdir -p /mnt/refused")
    attempt = outsider.run(f"mount -t nfs4 -o soft,timeo=50,retrans=1 {address('nfs-server')}:{SHARE} /mnt/refused")
    assert attempt.rc != 0
    assert "access denied" in attempt.stderr
    # The same mount worked while side_effect.yml had the outsider in the list:
    # the refusal comes from the export list, not from the network.
    assert int(evidence["outsider_mount_rc_while_allowed"]) == 0, evidence["outsider_mount_stderr_while_allowed"]


def test_export_changes_reload_without_restarting_the_server(evidence: dict[str, Any]) -> None:
    started = unit_property(server, "nfs-server.service", "ActiveEnterTimestampMonotonic")
    assert evidence["server_started_before"] == evidence["server_started_after"] == started


def test_after_a_reboot_the_share_is_mounted_by_systemd_during_boot(evidence: dict[str, Any]) -> None:
    assert client.file("/proc/sys/kernel/random/boot_id").content_string.strip() != evidence["client_boot_before"]
    assert client.service(MOUNT_UNIT).is_running
    assert "nfs4" in client.check_output(f"findmnt --noheadings --output FSTYPE --mountpoint {SHARE}")
    mounted = int(unit_property(client, MOUNT_UNIT, "ActiveEnterTimestampMonotonic"))
    booted = int(unit_property(client, "multi-user.target", "ActiveEnterTimestampMonotonic"))
    assert 0 < mounted <= booted


def test_dagster_units_wait_for_the_nfs_mount() -> None:
    """systemd orders a worker after the NFS mount unit and will not start it without it."""
    assert MOUNT_UNIT in unit_property(client, WORKER_UNIT, "Requires").split()
    assert MOUNT_UNIT in unit_property(client, WORKER_UNIT, "After").split()
    assert SHARE in unit_property(client, WORKER_UNIT, "RequiresMountsFor").split()
