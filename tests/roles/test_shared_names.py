"""The shared names (role dagster_deployment) are written once: no other file of the kit spells out their
paths or their account, so a name set in the inventory reaches every file, unit and helper."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml  # type: ignore[import-untyped]

REPO = Path(__file__).parents[2]
SOURCE = "roles/dagster_deployment/"
DEFAULTS = yaml.safe_load((REPO / SOURCE / "defaults/main.yml").read_text())
# Molecule's platform definition is read by molecule, not Ansible: it mounts the scenario's volume at the
# default shared directory, which it cannot look up.
EXEMPT = {"molecule/cluster/molecule.yml"}


def kit_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [
        name
        for name in listed.split()
        if not name.startswith(SOURCE)
        and not name.endswith(".md")
        and name not in EXEMPT
        and not name.startswith("docs/")
        and (REPO / name).is_file()
    ]


def spelled_out() -> dict[str, re.Pattern[str]]:
    """Each shared path, and the account as systemd or runuser would name it."""
    patterns = {
        name: re.compile(re.escape(value) + r"(?![\w-])")
        for name, value in DEFAULTS.items()
        if isinstance(value, str) and value.startswith("/")
    }
    user = re.escape(DEFAULTS["dagster_deployment_user"])
    group = re.escape(DEFAULTS["dagster_deployment_group"])
    patterns["dagster_deployment_user"] = re.compile(rf"(User=|--uid=|-u ){user}\b")
    patterns["dagster_deployment_group"] = re.compile(rf"(Group=|--gid=){group}\b")
    return patterns


def test_the_source_names_every_path() -> None:
    assert {"dagster_deployment_home", "dagster_deployment_config_dir", "dagster_deployment_state_dir",
            "dagster_deployment_shared_dir"} <= set(spelled_out())  # fmt: skip


def test_no_file_outside_the_source_spells_out_a_shared_name() -> None:
    found = []
    for name in kit_files():
        try:
            text = (REPO / name).read_text()
        except UnicodeDecodeError:
            continue
        for variable, pattern in spelled_out().items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{name}:{line}: {match.group(0)} (use {variable})")
    assert found == []
