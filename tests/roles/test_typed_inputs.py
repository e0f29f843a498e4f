"""Every integer and boolean input, given as `-e name=value` (a string, as Ansible passes key=value extra
vars), renders every template exactly as the same value given as a number or a boolean.

The inputs are the int and bool options of every role's meta/argument_specs.yml; the templates are every
file in roles/*/templates, rendered by Ansible itself on localhost with the roles' defaults, their internal
variables and the facts the roles publish to each other (fixtures/published_facts.yml)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.helpers.templates import ROLES, render

# A default that is an expression (e.g. "{{ not rabbitmq_tls_enabled }}") is fed this value instead.
FALLBACK = {"int": 7, "bool": False}


def typed_options() -> dict[str, tuple[str, Any]]:
    """Every int and bool option of every role with a value to feed it: its default, or a fallback."""
    options: dict[str, tuple[str, Any]] = {}
    for specs_file in sorted(ROLES.glob("*/meta/argument_specs.yml")):
        for entry_point in yaml.safe_load(specs_file.read_text())["argument_specs"].values():
            for name, option in (entry_point.get("options") or {}).items():
                kind = option.get("type")
                if kind in FALLBACK:
                    default = option.get("default")
                    usable = isinstance(default, bool) if kind == "bool" else type(default) is int
                    options[name] = (kind, default if usable else FALLBACK[kind])
    return options


def values(flip_booleans: bool) -> dict[str, Any]:
    return {
        name: (not value if flip_booleans and kind == "bool" else value)
        for name, (kind, value) in typed_options().items()
    }


def as_key_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_the_specs_declare_integers_and_booleans_of_every_kind() -> None:
    kinds = [kind for kind, _ in typed_options().values()]
    assert kinds.count("int") >= 20 and kinds.count("bool") >= 10


@pytest.mark.parametrize("flip_booleans", [False, True], ids=["booleans as defaulted", "booleans flipped"])
def test_every_template_renders_the_same_from_strings_as_from_typed_values(tmp_path: Path, flip_booleans: bool) -> None:
    chosen = values(flip_booleans)
    typed = render(tmp_path / "typed", "-e", json.dumps(chosen))
    strings = [argument for name, value in chosen.items() for argument in ("-e", f"{name}={as_key_value(value)}")]
    from_strings = render(tmp_path / "strings", *strings)
    differing = [template for template in typed if typed[template] != from_strings[template]]
    assert differing == [], "\n".join(
        f"--- {template}\n{typed[template]}\n+++ from strings\n{from_strings[template]}" for template in differing
    )
