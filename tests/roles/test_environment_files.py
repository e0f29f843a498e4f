"""The environment files (dagster.env, locations/<name>.env) as Ansible renders them, read back the way a run's
orchestrator reads its location's (dagster_celery_kit.environment, systemd's rules for the kit's quoting): every
value arrives as it was given, whatever its characters. systemd reads the same files in the cluster scenario,
whose location secret starts with the same special characters (test_your_code.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers.modules import REPO, load_file

TEMPLATE = REPO / "roles/dagster_config/templates/environment.env.j2"
AWKWARD = {
    "SPECIALS": "\"'\\$%/@: and letters",
    "DOLLARS": "$HOME ${HOME} $$ `date` \\$",
    "BACKSLASH_AT_END": "ends in \\",
    "ESCAPE_LOOKALIKE": "\\n is not a line break, \\t no tab",
    "LINE_BREAK": "first line\nsecond line",
    "SPACES": "  padded  ",
    "EMPTY": "",
    "HASH": "# not a comment",
    "UNICODE": "grüße, 東京",
}


@pytest.fixture(scope="module")
def environment() -> ModuleType:
    return load_file("files/dagster_celery_kit/dagster_celery_kit/environment.py", "kit_environment")


def render(tmp_path: Path, values: dict[str, str]) -> str:
    """The template, with the given variables, by Ansible's template module on localhost."""
    dest = tmp_path / "location.env"
    variables = {"_dagster_config_environment_values": values, "_dagster_config_environment_purpose": "test"}
    argv = [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local", "-m", "ansible.builtin.template",
            "-a", f"src={TEMPLATE} dest={dest}", "-e", json.dumps(variables)]  # fmt: skip
    environ = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_LOCALHOST_WARNING": "false"}
    done = subprocess.run(argv, cwd=REPO, env=environ, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return dest.read_text()


def test_every_value_reads_back_as_given(environment: ModuleType, tmp_path: Path) -> None:
    assert environment.parse(render(tmp_path, AWKWARD)) == AWKWARD


def test_systemds_rules_for_what_the_kit_does_not_write(environment: ModuleType) -> None:
    text = '# comment\n; also a comment\n\nPLAIN = some value  \nQUOTED="a\\qb"\nJOINED="one\\\ntwo"\n'
    assert environment.parse(text) == {"PLAIN": "some value", "QUOTED": "a\\qb", "JOINED": "onetwo"}


@pytest.mark.parametrize("text", ['NAME="never closed\n', "no assignment here\n"])
def test_a_line_the_kit_never_writes_is_refused(environment: ModuleType, text: str) -> None:
    with pytest.raises(environment.EnvironmentFileError):
        environment.parse(text)


def test_a_location_takes_on_its_own_file_only(environment: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "ml.env").write_text(render(tmp_path, {"TOKEN": "t$ken"}))
    environ = {environment.DIRECTORY_VARIABLE: str(tmp_path), "TOKEN": "deployment-wide"}
    assert environment.load_location("analytics", environ) == []
    assert environ["TOKEN"] == "deployment-wide"
    assert environment.load_location("ml", environ) == ["TOKEN"]
    assert environ["TOKEN"] == "t$ken"


def test_without_the_directory_setting_nothing_is_read(environment: ModuleType) -> None:
    environ: dict[str, str] = {}
    assert environment.load_location("ml", environ) == []
    assert environ == {}
