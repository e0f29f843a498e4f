"""The deployment's shared names (role dagster_deployment), as a lab's inventory sets them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parent.parent
DEFAULTS = REPO / "roles/dagster_deployment/defaults/main.yml"
LAB_GROUP_VARS = REPO / "inventories/lab/group_vars/all"


def shared_names(group_vars_dirs: Iterable[Path]) -> dict[str, Any]:
    """The role's defaults, overridden by plain values in each group_vars/all directory, later ones winning
    (as Ansible does for inventory sources given in that order). Enough for a lab's own inventory; a real
    inventory's values are Ansible's to resolve."""
    names: dict[str, Any] = yaml.safe_load(DEFAULTS.read_text())
    for directory in group_vars_dirs:
        for path in sorted(directory.glob("*.yml")):
            values = yaml.safe_load(path.read_text())
            if isinstance(values, dict):
                names.update({key: value for key, value in values.items() if key in names})
    return names


def lab_names(nodes_inventory: Path) -> dict[str, Any]:
    """The names a lab deploys with: `lab` passes its nodes.yml and then inventories/lab to Ansible."""
    return shared_names([nodes_inventory.parent / "group_vars" / "all", LAB_GROUP_VARS])
