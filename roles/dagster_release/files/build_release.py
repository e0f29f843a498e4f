"""Build a code location's release on the controller: one wheelhouse per target Python.

A release is one Dagster project (a code location) plus the pinned platform packages. Its id
is derived from the project's version and the content of the project and the
pins, so the same inputs always give the same id and an edit gives a new one.
Wheelhouses are cached under --cache/<location>/<id>; building an existing one is a no-op.
With --refresh-defs-state, the build first runs `dg utils refresh-defs-state` on a copy of the project,
so that state-backed components (dbt, Fivetran, ...) ship the state they load from in the release.
Prints one JSON object (release id, project metadata, wheelhouse paths, changed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from pathlib import Path

SKIPPED_PARTS = {"__pycache__", ".git", "build", "dist", ".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
# Where Dagster keeps LOCAL_FILESYSTEM state, inside the defs module. A developer's copy in the source tree is
# neither digested nor shipped: with the refresh on, the build writes its own; with it off, none ships.
DEFS_STATE_DIR = ".local_defs_state"
SOURCE_SKIPPED_PARTS = SKIPPED_PARTS | {DEFS_STATE_DIR}


def project_files(project: Path) -> list[Path]:
    files = []
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if (
            path.is_file()
            and not SOURCE_SKIPPED_PARTS.intersection(relative.parts)
            and not any(part.endswith(".egg-info") for part in relative.parts)
        ):
            files.append(path)
    return files


def content_digest(projects: list[Path], pins: list[str], refresh_defs_state: bool = False) -> str:
    digest = hashlib.sha256()
    for project in projects:
        for path in project_files(project):
            digest.update(str(path.relative_to(project)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update("\n".join(sorted(pins)).encode())
    # A release with refreshed state differs from one without: switching the refresh gives a new id.
    if refresh_defs_state:
        digest.update(b"\0refresh-defs-state")
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


def pinned_version(pins: list[str], package: str) -> str:
    for pin in pins:
        name, _separator, version = pin.partition("==")
        if canonical(name) == package:
            return version.strip()
    raise SystemExit(
        f"refreshing defs state needs {package} among the platform pins (dagster_release_platform_packages)"
    )


def refresh_defs_state(project: Path, pins: list[str], locked: list[str], work: Path) -> Path:
    """A copy of the project in work with its LOCAL_FILESYSTEM state written by `dg utils refresh-defs-state`.

    dg runs in a throwaway venv holding the project (editable, so the state lands in the copy's defs module),
    what it needs at the release's versions, and dagster-dg-cli at the kit's Dagster version. It runs from the
    project's root, as a developer would, so the components' own settings (dbt's project_dir, ...) resolve as
    they do there. Only LOCAL_FILESYSTEM state is refreshed: VERSIONED_STATE_STORAGE lives in a deployment's
    storage, not in a release, and LEGACY_CODE_SERVER_SNAPSHOTS state is fetched by the code server itself."""
    source = work / "project"
    shutil.copytree(project, source, ignore=shutil.ignore_patterns(*SOURCE_SKIPPED_PARTS, "*.egg-info"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    dg_cli = f"dagster-dg-cli=={pinned_version(pins, 'dagster')}"
    install = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "install", "--quiet"]
    proc = subprocess.run(
        [*install, "--editable", str(source), *pins, *locked, dg_cli], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"installing {project} to refresh its defs state failed:\n{proc.stderr[-3000:]}")
    # No DAGSTER_HOME: the build must not write into an instance the controller may have.
    env = {key: value for key, value in os.environ.items() if key != "DAGSTER_HOME"}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    argv = [str(venv / "bin" / "dg"), "utils", "refresh-defs-state", "--management-type", "LOCAL_FILESYSTEM"]
    proc = subprocess.run(argv, cwd=source, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(
            f"dg utils refresh-defs-state failed in {project}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    if not list(source.rglob(f"{DEFS_STATE_DIR}/*/state")):
        raise SystemExit(
            f"dg utils refresh-defs-state wrote no LOCAL_FILESYSTEM state in {project}: it has no such component, "
            "so leave refresh_defs_state off for this location"
        )
    return source


def missing_state(source: Path, wheel: Path) -> list[str]:
    """The state files of the refreshed copy that its wheel does not hold. A wheel holds a package at its
    import path (locked_project/defs/...), the source may hold it deeper (src/locked_project/defs/...)."""
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.namelist()
    states = (path.relative_to(source).as_posix() for path in source.rglob("*") if path.is_file())
    return sorted(
        state
        for state in states
        if DEFS_STATE_DIR in state.split("/")
        and not any(state == name or state.endswith(f"/{name}") for name in shipped)
    )


def manylinux_platforms(arch: str) -> list[str]:
    """pip takes --platform literally: list every manylinux tag glibc 2.36 (Debian 12) runs."""
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(36, 4, -1)]
    tags += [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]
    return [arg for tag in tags for arg in ("--platform", tag)]


def build_wheelhouse(
    projects: list[Path],
    pins: list[str],
    locked: list[str],
    python: str,
    arch: str,
    target: Path,
    ships_state: bool = False,
) -> None:
    """Download every wheel the target Python needs, offline-installable, into a tar.

    projects: the user's project first, then the kit's own packages shipped in every release. locked: the
    project's lock as requirements, so that pip resolves nothing the lock has decided. ships_state: the user's
    project holds refreshed defs state, which its wheel must carry."""
    with tempfile.TemporaryDirectory(prefix="wheelhouse-") as tmp:
        wheels = Path(tmp) / "wheels"
        for index, project in enumerate(projects):
            # Build from a copy: setuptools writes build/ and *.egg-info into the source tree.
            source = Path(tmp) / f"source-{index}"
            skipped = SKIPPED_PARTS if ships_state and index == 0 else SOURCE_SKIPPED_PARTS
            shutil.copytree(project, source, ignore=shutil.ignore_patterns(*skipped, "*.egg-info"))
            pip("wheel", "--no-deps", "--quiet", "--wheel-dir", str(wheels), str(source))
            if ships_state and index == 0:
                (wheel,) = list(wheels.glob("*.whl"))
                missing = missing_state(source, wheel)
                if missing:
                    raise SystemExit(
                        f"the wheel of {projects[0]} leaves out the defs state it loads from: {', '.join(missing)}. "
                        "Include the package's .local_defs_state directories as package data (hatchling does by "
                        "default; setuptools needs [tool.setuptools.package-data] or MANIFEST.in)"
                    )
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
        "--refresh-defs-state",
        action="store_true",
        help="run `dg utils refresh-defs-state` on a copy of the project and ship its state in the release",
    )
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
    digest = content_digest(projects, args.pin, args.refresh_defs_state)
    release_id = args.release_id or f"{meta['version']}-{digest[:10]}"
    targets = {
        python: args.cache / meta["location_name"] / release_id / f"wheelhouse-py{python}-{args.arch}.tar"
        for python in sorted(set(args.python))
    }
    missing = [python for python, target in targets.items() if not target.exists()]
    with tempfile.TemporaryDirectory(prefix="defs-state-") as work:
        # The state is refreshed once per build, and only when a wheelhouse is missing: it is part of the release.
        if missing and args.refresh_defs_state:
            projects[0] = refresh_defs_state(project, args.pin, locked, Path(work))
        for python in missing:
            build_wheelhouse(projects, args.pin, locked, python, args.arch, targets[python], args.refresh_defs_state)
    changed = bool(missing)
    wheelhouses = {python: str(target) for python, target in targets.items()}
    lock = {"lock": "uv.lock", "locked_packages": len(locked)} if locked else {"lock": "", "locked_packages": 0}
    print(json.dumps({"release_id": release_id, **meta, **lock, "wheelhouses": wheelhouses, "changed": changed}))


if __name__ == "__main__":
    main()
