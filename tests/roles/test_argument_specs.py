"""Every role validates its inputs: each default it declares is an option of its argument specs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

ROLES = sorted(path for path in (Path(__file__).parents[2] / "roles").iterdir() if path.is_dir())


def options(role: Path) -> set[str]:
    specs = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]
    return {name for entry_point in specs.values() for name in (entry_point.get("options") or {})}


@pytest.mark.parametrize("role", ROLES, ids=[role.name for role in ROLES])
def test_every_default_is_a_validated_option(role: Path) -> None:
    defaults_file = role / "defaults/main.yml"
    defaults = set(yaml.safe_load(defaults_file.read_text()) or {}) if defaults_file.exists() else set()
    assert defaults - options(role) == set()


@pytest.mark.parametrize("role", ROLES, ids=[role.name for role in ROLES])
def test_every_role_has_a_readme_naming_its_variables(role: Path) -> None:
    readme = (role / "README.md").read_text()
    defaults_file = role / "defaults/main.yml"
    defaults = set(yaml.safe_load(defaults_file.read_text()) or {}) if defaults_file.exists() else set()
    undocumented = {name for name in defaults if name not in readme}
    assert undocumented == set()
