"""The release builder's id: derived from version and content, stable, and blind to build leftovers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "roles/dagster_release/files/build_release.py"
spec = importlib.util.spec_from_file_location("build_release", SCRIPT)
assert spec and spec.loader
build_release = importlib.util.module_from_spec(spec)
sys.modules["build_release"] = build_release
spec.loader.exec_module(build_release)

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


def test_project_without_module_name_is_refused(project: Path) -> None:
    (project / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "1"\n')
    with pytest.raises(SystemExit, match="module_name"):
        build_release.metadata(project)
