#!/usr/bin/env python3
"""Put the collections requirements.yml declares, and only those, into a collections path.

Galaxy is not reachable where the kit is tested; the pinned `ansible` bundle holds the same collections.
This links each declared one from the bundle into DEST/ansible_collections/<namespace>/<name> and fails
when one is missing or its version differs from the declared one. With ANSIBLE_COLLECTIONS_PATH=DEST and
ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false, Ansible then sees ansible-core plus what is declared, as on an
execution environment built from requirements.yml.

    python scripts/declared_collections.py requirements.yml DEST
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]


def bundle_root() -> Path:
    """The ansible_collections directory of the `ansible` package installed next to ansible-core."""
    import ansible_collections  # type: ignore[import-untyped]

    return Path(next(iter(ansible_collections.__path__)))


def declared(requirements: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = yaml.safe_load(requirements.read_text())["collections"]
    return entries


def installed_version(collection: Path) -> str:
    manifest = json.loads((collection / "MANIFEST.json").read_text())
    version: str = manifest["collection_info"]["version"]
    return version


def link_declared(requirements: Path, dest: Path, bundle: Path) -> list[str]:
    """Link every declared collection into dest; return the problems found (none: all linked)."""
    problems = []
    for entry in declared(requirements):
        namespace, name = entry["name"].split(".")
        source = bundle / namespace / name
        if not source.is_dir():
            problems.append(f"{entry['name']} is declared but not in {bundle}")
            continue
        bundled = installed_version(source)
        if "version" in entry and bundled != str(entry["version"]):
            problems.append(f"{entry['name']} is declared at {entry['version']}, the bundle has {bundled}")
            continue
        target = dest / "ansible_collections" / namespace / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to(source)
    return problems


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("requirements", type=Path)
    cli.add_argument("dest", type=Path)
    args = cli.parse_args(argv)
    problems = link_declared(args.requirements, args.dest, bundle_root())
    for problem in problems:
        print(f"declared_collections: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
