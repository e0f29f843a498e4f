"""The release builder: its id (derived from version and content, stable, blind to build leftovers), the module
a project names in either pyproject convention, and how a uv.lock is checked against the kit's pins. Building real
wheelhouses runs in the lab smoke run (the example project, and tests/fixtures/locked_project with its uv.lock)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers.modules import load_file

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "roles/dagster_release/files/build_release.py"
LOCKED_PROJECT = REPO / "tests/fixtures/locked_project"
build_release = load_file("roles/dagster_release/files/build_release.py", "build_release")

PYPROJECT = """
[project]
name = "demo"
version = "1.2.3"
[tool.dagster]
module_name = "demo.defs"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "defs.py").write_text("defs = None\n")
    return tmp_path


def test_metadata_reads_the_dagster_table(project: Path) -> None:
    assert build_release.metadata(project) == {
        "project": "demo",
        "version": "1.2.3",
        "module_name": "demo.defs",
        "location_name": "demo",
    }


def test_digest_is_stable_and_ignores_build_leftovers(project: Path) -> None:
    before = build_release.content_digest([project], ["dagster==1.13.27"])
    (project / "build" / "lib").mkdir(parents=True)
    (project / "build" / "lib" / "x.py").write_text("stale\n")
    (project / "demo.egg-info").mkdir()
    (project / "demo" / "__pycache__").mkdir()
    (project / "demo" / "__pycache__" / "defs.pyc").write_bytes(b"\0")
    assert build_release.content_digest([project], ["dagster==1.13.27"]) == before


def test_digest_changes_with_code_and_with_pins(project: Path) -> None:
    before = build_release.content_digest([project], ["dagster==1.13.27"])
    assert build_release.content_digest([project], ["dagster==1.13.28"]) != before
    (project / "demo" / "defs.py").write_text("defs = 1\n")
    assert build_release.content_digest([project], ["dagster==1.13.27"]) != before


def test_digest_ignores_a_developers_defs_state_and_changes_with_the_refresh(project: Path) -> None:
    before = build_release.content_digest([project], ["dagster==1.13.27"])
    state = project / "demo" / ".local_defs_state" / "Catalog__x__"
    state.mkdir(parents=True)
    (state / "state").write_text("{}")
    assert build_release.content_digest([project], ["dagster==1.13.27"]) == before
    assert build_release.content_digest([project], ["dagster==1.13.27"], refresh_defs_state=True) != before


def write_wheel(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as wheel:
        for name in names:
            wheel.writestr(name, "")
    return path


def test_state_a_wheel_leaves_out_is_named_and_state_it_holds_is_not(tmp_path: Path) -> None:
    state_dir = tmp_path / "src" / "demo" / "defs" / ".local_defs_state"
    (state_dir / "Catalog__x__").mkdir(parents=True)
    (state_dir / "Catalog__x__" / "state").write_text("{}")
    (state_dir / ".gitignore").write_text("*")
    (tmp_path / "src" / "demo" / "defs" / "job.py").write_text("")
    shipped = ["demo/defs/job.py", "demo/defs/.local_defs_state/.gitignore"]
    wheel = write_wheel(tmp_path / "demo.whl", shipped)
    assert build_release.missing_state(tmp_path, wheel) == ["src/demo/defs/.local_defs_state/Catalog__x__/state"]
    wheel = write_wheel(tmp_path / "demo.whl", [*shipped, "demo/defs/.local_defs_state/Catalog__x__/state"])
    assert build_release.missing_state(tmp_path, wheel) == []


def test_the_dg_cli_takes_the_pinned_dagster_version_and_a_missing_pin_is_refused() -> None:
    assert build_release.pinned_version(["celery==5.7.0", "Dagster==1.13.27"], "dagster") == "1.13.27"
    with pytest.raises(SystemExit, match="needs dagster among the platform pins"):
        build_release.pinned_version(["celery==5.7.0"], "dagster")


def test_project_without_module_name_is_refused(project: Path) -> None:
    (project / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "1"\n')
    with pytest.raises(SystemExit, match="module_name"):
        build_release.metadata(project)


def pyproject_with(tmp_path: Path, tool: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "my-project"\nversion = "1.2.3"\n{tool}')
    return tmp_path


def test_the_classic_convention_names_module_and_location(tmp_path: Path) -> None:
    meta = build_release.metadata(
        pyproject_with(tmp_path, '[tool.dagster]\nmodule_name = "pkg.defs"\ncode_location_name = "x"\n')
    )
    assert (meta["module_name"], meta["location_name"]) == ("pkg.defs", "x")


def test_create_dagsters_convention_loads_root_module_definitions_under_the_projects_name(tmp_path: Path) -> None:
    meta = build_release.metadata(pyproject_with(tmp_path, '[tool.dg.project]\nroot_module = "my_project"\n'))
    assert (meta["module_name"], meta["location_name"]) == ("my_project.definitions", "my-project")


def test_create_dagsters_convention_takes_a_target_module_and_a_name(tmp_path: Path) -> None:
    tool = '[tool.dg.project]\nroot_module = "p"\ncode_location_target_module = "p.all"\ncode_location_name = "n"\n'
    meta = build_release.metadata(pyproject_with(tmp_path, tool))
    assert (meta["module_name"], meta["location_name"]) == ("p.all", "n")


def test_a_project_naming_no_module_is_refused_with_both_conventions_named(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"\[tool.dagster\] module_name, or \[tool.dg.project\] root_module"):
        build_release.metadata(pyproject_with(tmp_path, ""))


def test_a_lock_agreeing_with_the_pins_has_no_conflict() -> None:
    locked = ["dagster==1.13.27", "colorama==0.4.6 ; sys_platform == 'win32'", "Dagster_Celery==0.29.27"]
    assert build_release.pin_conflicts(locked, ["dagster==1.13.27", "dagster-celery==0.29.27", "celery==5.7.0"]) == []


def test_a_lock_holding_another_version_of_a_pin_is_a_conflict_naming_both() -> None:
    locked = ["dagster==1.13.29", "celery==5.7.0 ; python_version >= '3.10'"]
    assert build_release.pin_conflicts(locked, ["dagster==1.13.27", "celery==5.7.0"]) == [
        "dagster: the kit pins 1.13.27, uv.lock holds 1.13.29"
    ]


def test_the_fixtures_lock_exports_humanize_below_its_newest_release() -> None:
    locked = build_release.locked_requirements(LOCKED_PROJECT)
    assert "humanize==4.9.0" in locked
    assert not [line for line in locked if line.startswith("locked-project")]  # the project itself is built


def test_a_stale_lock_is_refused(tmp_path: Path) -> None:
    stale = shutil.copytree(LOCKED_PROJECT, tmp_path / "stale")
    pyproject = stale / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"humanize>=4",', '"humanize>=4",\n    "tabulate",'))
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--project", str(stale), "--cache", str(tmp_path / "cache"), "--python=3.13"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "needs to be updated" in result.stderr


def describe(project: Path, *extra: str) -> dict[str, str]:
    argv = [sys.executable, str(SCRIPT), "--project", str(project), "--describe", *extra]
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    described: dict[str, str] = json.loads(result.stdout)
    return described


def test_describe_names_module_and_location_and_builds_nothing(project: Path) -> None:
    assert describe(project) == {
        "project": "demo",
        "version": "1.2.3",
        "module_name": "demo.defs",
        "location_name": "demo",
        "project_dir": str(project),
    }
    assert not (project / "build").exists()


def test_the_inventory_may_rename_a_location(project: Path) -> None:
    assert describe(project, "--location-name", "finance")["location_name"] == "finance"
