#!/usr/bin/env python3
"""Write docs/variables.md, the reference of every role variable, from the roles' own files:
meta/argument_specs.yml (type, choices, description) and defaults/main.yml (default).
`--check` exits 1 when the file is stale (the unit tests run it)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "docs" / "variables.md"
# Roles in the order a deployment meets them; roles not listed follow alphabetically.
ORDER = (
    "preflight",
    "common",
    "firewall",
    "rabbitmq",
    "postgresql",
    "shared_storage",
    "nfs_server",
    "nfs_client",
    "dagster_release",
    "dagster_config",
    "dagster_control",
    "dagster_worker",
    "dagster_rollout",
    "dagster_ops",
    "lab_ca",
)


def cell(text: str | list[str]) -> str:
    """One table cell: descriptions may be a list of paragraphs; pipes would end the cell."""
    joined = " ".join(text) if isinstance(text, list) else text
    return " ".join(joined.split()).replace("|", "\\|")


def default_of(name: str, spec: dict[str, Any], defaults: dict[str, Any]) -> str:
    if name in defaults:
        value = defaults[name]
    elif "default" in spec:
        value = spec["default"]
    else:
        return "required" if spec.get("required") else "unset"
    text = value if isinstance(value, str) else json.dumps(value)
    text = cell(text)
    return f"`{text}`" if len(text) <= 60 else f"`{text[:57]}...` (see defaults/main.yml)"


def type_of(spec: dict[str, Any]) -> str:
    kind = str(spec.get("type", "str"))
    if kind == "list" and "elements" in spec:
        kind = f"list of {spec['elements']}"
    if "choices" in spec:
        kind += ": " + ", ".join(f"`{choice}`" for choice in spec["choices"])
    return kind


def role_section(role: Path) -> list[str]:
    specs = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]
    defaults_file = role / "defaults/main.yml"
    defaults = (yaml.safe_load(defaults_file.read_text()) or {}) if defaults_file.exists() else {}
    main = specs.get("main", {})
    lines = [
        f"## {role.name}",
        "",
        cell(main.get("short_description", "")) + f" ([README](../roles/{role.name}/README.md))",
        "",
    ]
    others = [name for name in specs if name != "main"]
    if others:
        lines += ["Entry points besides `main`: " + ", ".join(f"`{name}`" for name in others) + ".", ""]
    seen: dict[str, dict[str, Any]] = {}
    for entry in specs.values():
        for name, spec in (entry.get("options") or {}).items():
            seen.setdefault(name, spec)
    if not seen:
        return [*lines, "No variables.", ""]
    lines += ["| variable | type | default | description |", "|---|---|---|---|"]
    for name in sorted(seen):
        spec = seen[name]
        lines.append(
            f"| `{name}` | {type_of(spec)} | {default_of(name, spec, defaults)} | {cell(spec.get('description', ''))} |"
        )
    return [*lines, ""]


def roles(roles_dir: Path) -> list[Path]:
    found = {path.name: path for path in roles_dir.iterdir() if (path / "meta/argument_specs.yml").exists()}
    ordered = [found[name] for name in ORDER if name in found]
    return ordered + [found[name] for name in sorted(set(found) - set(ORDER))]


def render(roles_dir: Path) -> str:
    lines = [
        "# Variable reference",
        "",
        "Every variable of every role, generated from each role's `meta/argument_specs.yml` (which",
        "Ansible validates before the role runs) and `defaults/main.yml`. Do not edit by hand:",
        "run `python scripts/variable_reference.py` after changing a role; `make unit` fails when",
        "this file is stale. Set variables in your inventory's `group_vars`/`host_vars`.",
        "",
    ]
    listed = roles(roles_dir)
    lines += [f"- [{role.name}](#{role.name})" for role in listed] + [""]
    for role in listed:
        lines += role_section(role)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__)
    cli.add_argument("--check", action="store_true", help="exit 1 if docs/variables.md is not up to date")
    args = cli.parse_args(argv)
    text = render(REPO / "roles")
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is stale: run python scripts/variable_reference.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
