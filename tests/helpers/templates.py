"""Render the kit's templates with Ansible itself, on localhost: the roles' defaults and internal variables,
and what the roles publish to each other on a real fleet (tests/roles/fixtures/published_facts.yml)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests/roles/fixtures"
ROLES = REPO / "roles"
# The inventory's groups; localhost is in each.
GROUPS = ("broker", "database", "storage", "control", "workers", "monitoring")


def render(out: Path, *extra_vars: str, only: list[str] | None = None) -> dict[str, str]:
    """Every template (or those named in `only`) rendered in one ansible-playbook run; {template path: text}."""
    out.mkdir()
    inventory = out.parent / f"{out.name}-inventory.yml"
    groups = {name: {"hosts": {"localhost": None}} for name in GROUPS}
    inventory.write_text(yaml.safe_dump({"all": {
        "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
        "children": groups,
    }}))  # fmt: skip
    variable_files = [*sorted(ROLES.glob("*/defaults/main.yml")), *sorted(ROLES.glob("*/vars/main.yml")),
                      ROLES / "postgresql/vars/debian-12.yml"]  # fmt: skip
    templates = only or sorted(str(path.relative_to(REPO)) for path in ROLES.glob("*/templates/*"))
    harness = {
        "repo": str(REPO),
        "out": str(out),
        "variable_files": [str(path) for path in variable_files],
        "templates": templates,
        "fleet_file": str(FIXTURES / "published_facts.yml"),
    }
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
            str(FIXTURES / "render_templates.yml"), "-e", json.dumps(harness), *extra_vars]  # fmt: skip
    environment = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_LOCALHOST_WARNING": "false"}
    done = subprocess.run(argv, cwd=REPO, env=environment, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    rendered: dict[str, str] = json.loads((out / "rendered.json").read_text())
    assert sorted(rendered) == sorted(templates)
    return rendered
