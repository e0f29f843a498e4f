"""requirements.yml names the collections the kit uses, and the helper links exactly those."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
import yaml  # type: ignore[import-untyped]

from tests.helpers.modules import load_file

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def helper() -> ModuleType:
    return load_file("scripts/declared_collections.py", "declared_collections")


def used_collections() -> set[str]:
    """Collections named in the roles and playbooks (modules, filters, tests, callbacks by FQCN)."""
    listed = subprocess.run(["git", "ls-files", "roles", "playbooks", "ansible.cfg"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.split()  # fmt: skip
    found = set()
    for name in listed:
        if name.endswith((".yml", ".j2", ".cfg")):
            found |= set(re.findall(r"\b((?:ansible|community)\.[a-z_]+)\.[a-z_]+\b", (REPO / name).read_text()))
    return found - {"ansible.builtin"}


def test_requirements_and_galaxy_yml_declare_every_collection_used(helper: ModuleType) -> None:
    names = {entry["name"] for entry in helper.declared(REPO / "requirements.yml")}
    dependencies = set(yaml.safe_load((REPO / "galaxy.yml").read_text())["dependencies"])
    assert used_collections() <= names
    assert names == dependencies


def fake_collection(root: Path, name: str, version: str) -> None:
    namespace, collection = name.split(".")
    path = root / namespace / collection
    path.mkdir(parents=True)
    (path / "MANIFEST.json").write_text(json.dumps({"collection_info": {"version": version}}))


def test_only_the_declared_collections_at_their_versions_are_linked(helper: ModuleType, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    fake_collection(bundle, "community.rabbitmq", "1.6.0")
    fake_collection(bundle, "community.general", "11.4.2")
    fake_collection(bundle, "community.docker", "4.8.5")
    requirements = tmp_path / "requirements.yml"
    requirements.write_text(
        "collections:\n  - {name: community.rabbitmq, version: 1.6.0}\n  - {name: community.general, version: 11.0.0}\n"
        "  - {name: community.crypto}\n"
    )
    dest = tmp_path / "dest"
    problems = helper.link_declared(requirements, dest, bundle)
    assert problems == [
        "community.general is declared at 11.0.0, the bundle has 11.4.2",
        f"community.crypto is declared but not in {bundle}",
    ]
    linked = sorted(str(p.relative_to(dest)) for p in (dest / "ansible_collections").glob("*/*"))
    assert linked == ["ansible_collections/community/rabbitmq"]
