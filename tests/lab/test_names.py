"""The lab reads the deployment's shared names as its inventory sets them, over the role's defaults."""

from __future__ import annotations

from pathlib import Path

import yaml  # type: ignore[import-untyped]

from lab import names


def test_without_overrides_the_names_are_the_roles_defaults(tmp_path: Path) -> None:
    defaults = yaml.safe_load(names.DEFAULTS.read_text())
    assert names.shared_names([tmp_path]) == defaults


def test_a_later_directory_wins_and_other_variables_are_ignored(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "names.yml").write_text("dagster_deployment_shared_dir: /data/a\ndagster_deployment_user: orchestra\n")
    (second / "main.yml").write_text("dagster_deployment_shared_dir: /data/b\nrabbitmq_consumer_timeout_seconds: 90\n")
    (second / "vault.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n6162\n")
    found = names.shared_names([first, second])
    assert found["dagster_deployment_shared_dir"] == "/data/b"
    assert found["dagster_deployment_user"] == "orchestra"
    assert "rabbitmq_consumer_timeout_seconds" not in found


def test_a_labs_own_group_vars_rename_a_shared_name(tmp_path: Path) -> None:
    group_vars = tmp_path / "group_vars" / "all"
    group_vars.mkdir(parents=True)
    (group_vars / "names.yml").write_text("dagster_deployment_config_dir: /etc/orchestra\n")
    found = names.lab_names(tmp_path / "nodes.yml")
    assert found["dagster_deployment_config_dir"] == "/etc/orchestra"
    defaults = yaml.safe_load(names.DEFAULTS.read_text())
    assert found["dagster_deployment_shared_dir"] == defaults["dagster_deployment_shared_dir"]
