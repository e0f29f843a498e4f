"""docs/variables.md is generated from the roles and kept in sync with them."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import yaml  # type: ignore[import-untyped]

from tests.helpers.modules import load_file

REPO = Path(__file__).resolve().parents[2]


def generator() -> ModuleType:
    return load_file("scripts/variable_reference.py", "variable_reference")


def test_the_reference_is_up_to_date() -> None:
    stale = "docs/variables.md is stale: run python scripts/variable_reference.py"
    assert (REPO / "docs/variables.md").read_text() == generator().render(REPO / "roles"), stale


def test_every_role_and_every_default_is_in_the_reference() -> None:
    text = (REPO / "docs/variables.md").read_text()
    for role in sorted((REPO / "roles").iterdir()):
        assert f"\n## {role.name}\n" in text
        defaults = role / "defaults/main.yml"
        for name in (yaml.safe_load(defaults.read_text()) or {}) if defaults.exists() else {}:
            assert f"| `{name}` |" in text, f"{role.name}: {name}"


def test_a_new_option_changes_the_reference(tmp_path: Path) -> None:
    role = tmp_path / "example_role"
    (role / "meta").mkdir(parents=True)
    (role / "defaults").mkdir()
    specs = {"argument_specs": {"main": {"short_description": "An example", "options": {}}}}
    (role / "meta/argument_specs.yml").write_text(yaml.safe_dump(specs))
    before = generator().render(tmp_path)
    assert "No variables." in before
    specs["argument_specs"]["main"]["options"] = {
        "example_role_mode": {"type": "str", "choices": ["a", "b"], "description": "Which | mode."}
    }
    (role / "meta/argument_specs.yml").write_text(yaml.safe_dump(specs))
    (role / "defaults/main.yml").write_text("example_role_mode: a\n")
    after = generator().render(tmp_path)
    assert "| `example_role_mode` | str: `a`, `b` | `a` | Which \\| mode. |" in after
