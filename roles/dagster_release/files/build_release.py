"""Build a code location's release on the controller: one wheelhouse per target Python.

A release is one Dagster project (a code location) plus the pinned platform packages. Its id
is derived from the project's version and the content of the project and the
pins, so the same inputs always give the same id and an edit gives a new one.
Wheelhouses are cached under --cache/<location>/<id>; building an existing one is a no-op.
Prints one JSON object (release id, project metadata, wheelhouse paths, changed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

SKIPPED_PARTS = {"__pycache__", ".git", "build", "dist", ".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def project_files(project: Path) -> list[Path]:
    files = []
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if (
            path.is_file()
            and not SKIPPED_PARTS.intersection(relative.parts)
            and not any(part.endswith(".egg-info") for part in relative.parts)
        ):
            files.append(path)
    return files


def content_digest(projects: list[Path], pins: list[str]) -> str:
    digest = hashlib.sha256()
    for project in projects:
        for path in project_files(project):
            digest.update(str(path.relative_to(project)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update("\n".join(sorted(pins)).encode())
    return digest.hexdigest()


def name_and_version(project: Path) -> tuple[str, str, dict[str, object]]:
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    meta = pyproject.get("project", {})
    if "name" not in meta or "version" not in meta:
        raise SystemExit(f"{project}/pyproject.toml needs [project] name and version")
    return meta["name"], meta["version"], pyproject


def metadata(project: Path) -> dict[str, str]:
    """The module the code server loads and the location's name, from either convention of pyproject.toml:
    [tool.dagster] (module_name, code_location_name) or create-dagster's [tool.dg.project] (root_module,
    code_location_target_module defaulting to <root_module>.definitions). The location's name is
    code_location_name from either table, or the project's name."""
    name, version, pyproject = name_and_version(project)
    tool = pyproject.get("tool", {})
    dagster = tool.get("dagster", {}) if isinstance(tool, dict) else {}
    dg = tool.get("dg", {}) if isinstance(tool, dict) else {}
    dg_project = dg.get("project", {}) if isinstance(dg, dict) else {}
    if "module_name" in dagster:
        module = dagster["module_name"]
    elif "root_module" in dg_project:
        module = dg_project.get("code_location_target_module", f"{dg_project['root_module']}.definitions")
    else:
        raise SystemExit(
            f"{project}/pyproject.toml does not say which module defines the Dagster definitions: set "
            "[tool.dagster] module_name, or [tool.dg.project] root_module as create-dagster does (the module "
            "loaded is then <root_module>.definitions, or code_location_target_module)"
        )
    return {
        "project": name,
        "version": version,
        "module_name": module,
        "location_name": dagster.get("code_location_name", dg_project.get("code_location_name", name)),
    }


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_requirements(project: Path) -> list[str]:
    """The project's uv.lock as pinned requirements with their environment markers, exported by uv: every
    package the project needs (not the project itself, not the dev group). Empty without a lock. uv refuses
    a lock that no longer matches pyproject.toml."""
    if not (project / "uv.lock").is_file():
        return []
    uv = Path(sys.executable).with_name("uv")
    if not uv.exists():
        raise SystemExit(f"{project} has a uv.lock, but uv is not installed next to {sys.executable}")
    argv = [str(uv), "export", "--locked", "--no-dev", "--no-emit-workspace", "--no-hashes", "--no-header"]
    argv += ["--no-annotate", "--project", str(project)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"uv could not export {project}/uv.lock:\n{proc.stderr.strip()}")
    return [line.strip() for line in proc.stdout.splitlines() if line.strip() and not line.startswith(("#", "-"))]


def pin_conflicts(locked: list[str], pins: list[str]) -> list[str]:
    """Each platform pin the lock holds at another version, naming both."""
    versions: dict[str, set[str]] = {}
    for line in locked:
        requirement = line.split(";")[0].strip()
        name, _separator, version = requirement.partition("==")
        versions.setdefault(canonical(name), set()).add(version.strip())
    conflicts = []
    for pin in pins:
        name, _separator, version = pin.partition("==")
        held = versions.get(canonical(name))
        if held and held != {version}:
            conflicts.append(f"{name}: the kit pins {version}, uv.lock holds {', '.join(sorted(held))}")
    return conflicts


def pip(*args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"pip {args[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def manylinux_platforms(arch: str) -> list[str]:
    """pip takes --platform literally: list every manylinux tag glibc 2.36 (Debian 12) runs."""
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(36, 4, -1)]
    tags += [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]
    return [arg for tag in tags for arg in ("--platform", tag)]


def build_wheelhouse(
    projects: list[Path], pins: list[str], locked: list[str], python: str, arch: str, target: Path
) -> None:
    """Download every wheel the target Python needs, offline-installable, into a tar.

    projects: the user's project first, then the kit's own packages shipped in every release. locked: the
    project's lock as requirements, so that pip resolves nothing the lock has decided."""
    with tempfile.TemporaryDirectory(prefix="wheelhouse-") as tmp:
        wheels = Path(tmp) / "wheels"
        for index, project in enumerate(projects):
            # Build from a copy: setuptools writes build/ and *.egg-info into the source tree.
            source = Path(tmp) / f"source-{index}"
            shutil.copytree(project, source, ignore=shutil.ignore_patterns(*SKIPPED_PARTS, "*.egg-info"))
            pip("wheel", "--no-deps", "--quiet", "--wheel-dir", str(wheels), str(source))
        project_wheels = sorted(wheels.glob("*.whl"))
        pip(
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--dest",
            str(wheels),
            "--python-version",
            python,
            "--implementation",
            "cp",
            *manylinux_platforms(arch),
            *map(str, project_wheels),
            *pins,
            *locked,
        )
        released = [f"{name}=={version}" for name, version, _wheel in map(name_and_version, projects)]
        requirements = released + pins + locked
        (wheels / "requirements.txt").write_text("\n".join(requirements) + "\n")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            for wheel in sorted(wheels.iterdir()):
                tar.add(wheel, arcname=wheel.name)
        partial.rename(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--cache", type=Path, help="where wheelhouses are cached (to build)")
    parser.add_argument("--python", action="append", default=[], help="target Python X.Y (repeatable; to build)")
    parser.add_argument("--arch", default="x86_64")
    parser.add_argument("--pin", action="append", default=[], help="pinned platform requirement (repeatable)")
    parser.add_argument("--release-id", default="", help="override the derived release id")
    parser.add_argument("--location-name", default="", help="override the project's code location name")
    parser.add_argument(
        "--describe", action="store_true", help="print the project's metadata only (module, location), build nothing"
    )
    parser.add_argument(
        "--with",
        dest="with_projects",
        action="append",
        default=[],
        type=Path,
        help="another local project to ship in the release, such as the kit's runtime (repeatable)",
    )
    args = parser.parse_args()

    project = args.project.resolve()
    if not (project / "pyproject.toml").is_file():
        raise SystemExit(f"{project} is not a Python project (no pyproject.toml)")
    meta = metadata(project)
    if args.location_name:
        meta["location_name"] = args.location_name
    if args.describe:
        print(json.dumps({**meta, "project_dir": str(project)}))
        return
    if args.cache is None or not args.python:
        parser.error("building needs --cache and at least one --python")
    locked = locked_requirements(project)
    conflicts = pin_conflicts(locked, args.pin)
    if conflicts:
        raise SystemExit(
            f"{project}/uv.lock disagrees with the kit's platform pins (dagster_release_platform_packages):\n  "
            + "\n  ".join(conflicts)
            + "\nLock the project with the kit's versions (uv add 'dagster==<kit version>' ...), or change the pins."
        )
    projects = [project, *(path.resolve() for path in args.with_projects)]
    release_id = args.release_id or f"{meta['version']}-{content_digest(projects, args.pin)[:10]}"
    changed = False
    wheelhouses = {}
    for python in sorted(set(args.python)):
        target = args.cache / meta["location_name"] / release_id / f"wheelhouse-py{python}-{args.arch}.tar"
        if not target.exists():
            build_wheelhouse(projects, args.pin, locked, python, args.arch, target)
            changed = True
        wheelhouses[python] = str(target)
    lock = {"lock": "uv.lock", "locked_packages": len(locked)} if locked else {"lock": "", "locked_packages": 0}
    print(json.dumps({"release_id": release_id, **meta, **lock, "wheelhouses": wheelhouses, "changed": changed}))


if __name__ == "__main__":
    main()
