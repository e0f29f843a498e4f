"""The lab CLI: pure parts tested directly, the whole life cycle against docker."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest
import yaml  # type: ignore[import-untyped]

from lab import cli, docker, image, inventory, nodes, ssh


def test_run_args_boot_systemd_without_privileged() -> None:
    args = nodes.run_args(nodes.Lab("t"), "node1", "img:tag", "/data/shared")
    assert "--privileged" not in args
    assert args[-2:] == ["img:tag", "/sbin/init"]
    joined = " ".join(args)
    for expected in (
        "--cap-add SYS_ADMIN",
        "--cgroupns host",
        "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "--stop-signal SIGRTMIN+3",
        "--env container=docker",
        "--network t",
        "t-shared:/data/shared",
        "--hostname node1",
        "--name t-node1",
    ):
        assert expected in joined


def test_hostnames_are_numbered_from_one() -> None:
    assert nodes.hostnames(3) == ["node1", "node2", "node3"]


def test_recipe_hash_differs_per_distro_and_is_stable() -> None:
    assert image.recipe_hash("debian12") != image.recipe_hash("debian13")
    assert image.recipe_hash("debian12") == image.recipe_hash("debian12")


def test_nodes_inventory_holds_connection_details_only(tmp_path: Path) -> None:
    text = inventory.render_nodes(
        [nodes.Node("node1", "c1", "10.0.0.2", "running"), nodes.Node("node2", "c2", "10.0.0.3", "running")],
        tmp_path / "key",
        tmp_path / "known_hosts",
        "debian13",
        tmp_path / "ca",
    )
    assert 'node1:\n      ansible_host: "10.0.0.2"' in text
    assert "StrictHostKeyChecking=yes" in text
    assert yaml.safe_load(text)["all"]["vars"]["lab_ca_dir"] == str(tmp_path / "ca")
    for group in ("broker", "database", "workers", "control"):
        assert group not in text


def test_secrets_are_private_random_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "group_vars" / "all" / "lab_secrets.yml"
    assert inventory.ensure_secrets(path) is True
    first = path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600
    assert inventory.ensure_secrets(path) is False
    assert path.read_text() == first
    other = tmp_path / "other.yml"
    inventory.ensure_secrets(other)
    assert other.read_text() != first
    for name in inventory.SECRET_NAMES:
        assert f"{name}: " in first


def test_a_secret_added_to_the_kit_is_generated_for_an_existing_lab(tmp_path: Path) -> None:
    path = tmp_path / "lab_secrets.yml"
    path.write_text('---\nrabbitmq_app_password: "kept-as-it-was"\n')
    assert inventory.ensure_secrets(path) is True
    written = yaml.safe_load(path.read_text())
    assert written["rabbitmq_app_password"] == "kept-as-it-was"
    assert set(written) == set(inventory.SECRET_NAMES)
    assert all(len(value) >= 24 for value in written.values() if value != "kept-as-it-was")


def test_the_front_door_gets_hashes_and_the_lab_keeps_the_passwords(tmp_path: Path) -> None:
    hashes, passwords_file = tmp_path / "front_door_logins.yml", tmp_path / "logins.yml"
    assert inventory.ensure_logins(hashes, passwords_file) is True
    for written in (hashes, passwords_file):
        assert written.stat().st_mode & 0o777 == 0o600
    passwords = yaml.safe_load(passwords_file.read_text())
    logins = yaml.safe_load(hashes.read_text())["front_door_logins"]
    assert sorted(passwords) == ["operator", "viewer"]
    assert [(login["name"], login["role"]) for login in logins] == [("operator", "operator"), ("viewer", "viewer")]
    for login in logins:
        assert passwords[login["name"]] not in hashes.read_text()
        assert bcrypt.checkpw(passwords[login["name"]].encode(), login["password_hash"].encode())
        assert not bcrypt.checkpw(b"wrong", login["password_hash"].encode())
    first = hashes.read_text()
    assert inventory.ensure_logins(hashes, passwords_file) is False
    assert hashes.read_text() == first


def test_a_login_password_may_start_with_any_character(tmp_path: Path) -> None:
    hashes, passwords_file = tmp_path / "front_door_logins.yml", tmp_path / "logins.yml"
    prefix = "\"'\\$%/@: "
    inventory.ensure_logins(hashes, passwords_file, prefix)
    passwords = yaml.safe_load(passwords_file.read_text())
    for login in yaml.safe_load(hashes.read_text())["front_door_logins"]:
        assert passwords[login["name"]].startswith(prefix)
        assert bcrypt.checkpw(passwords[login["name"]].encode(), login["password_hash"].encode())


def test_logins_are_generated_again_when_the_passwords_are_gone(tmp_path: Path) -> None:
    hashes, passwords_file = tmp_path / "front_door_logins.yml", tmp_path / "logins.yml"
    inventory.ensure_logins(hashes, passwords_file)
    first = hashes.read_text()
    passwords_file.unlink()
    assert inventory.ensure_logins(hashes, passwords_file) is True
    assert passwords_file.exists() and hashes.read_text() != first


def test_up_refuses_zero_nodes(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["up", "--nodes", "0"]) == 2
    assert "--nodes must be at least 1" in capsys.readouterr().err


def test_image_refuses_unknown_distro(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["image", "debian9"]) == 2
    assert "unknown distro debian9" in capsys.readouterr().err


# Needs a docker daemon (`make bootstrap` starts one); it boots two real nodes. The inventory goes to a
# directory that does not exist yet, whose group_vars rename the shared directory.
def test_up_status_down_leaves_nothing_behind(tmp_path: Path) -> None:
    lab = nodes.Lab("lab-pytest")
    nodes_file = tmp_path / "some" / "dir" / "nodes.yml"
    shared = "/data/shared"
    names_file = nodes_file.parent / "group_vars" / "all" / "names.yml"
    names_file.parent.mkdir(parents=True)
    names_file.write_text(f"dagster_deployment_shared_dir: {shared}\n")
    common = ["--name", lab.name, "--inventory", str(nodes_file)]
    try:
        assert cli.main([*common, "up", "--nodes", "2", "--distro", "debian12"]) == 0
        described = nodes.describe(lab)
        assert [n.hostname for n in described] == ["node1", "node2"]
        paths = cli.Paths(state=cli.REPO / ".lab" / lab.name, inventory=nodes_file)
        for node in described:
            # Real SSH with the generated key and pinned host keys, as Ansible will do.
            assert ssh_hostname(node.address, paths) == node.hostname
        # Both nodes see the same shared volume.
        docker.exec_in(lab.container("node1"), ["sh", "-c", f"echo shared > {shared}/probe"])
        seen = docker.exec_in(lab.container("node2"), ["cat", f"{shared}/probe"])
        assert seen.strip() == "shared"
        assert nodes_file.exists() and paths.secrets.exists()
    finally:
        # down runs even when an assertion failed, so no test leaves nodes behind.
        assert cli.main([*common, "down"]) == 0
    assert docker.names_with_label("container", lab.label) == []
    assert docker.names_with_label("network", lab.label) == []
    assert docker.names_with_label("volume", lab.label) == []
    assert not nodes_file.exists()


def ssh_hostname(address: str, paths: cli.Paths) -> str:
    return ssh.check_login(address, paths.key, paths.known_hosts)
