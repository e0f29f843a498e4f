"""A code location's environment file, read the way systemd reads it.

The code server and the workers of a location get its environment from systemd (``EnvironmentFile=`` in their
drop-ins). A run's orchestrator is one unit template for every location (``dagster-run@<run id>``), so it
reads its location's file itself, once it knows the run's location, before any of the user's code is loaded.
The kit writes each assignment as ``NAME="value"``, escaping ``\\``, ``"``, `````` and ``$``; this reads
that subset of systemd's syntax with systemd's rules for it (in double quotes a backslash before one of
those characters escapes it, before a line break joins the lines, and before anything else stays), so a
value reaches the orchestrator exactly as it reaches the code server.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

ESCAPABLE = '"\\`$'
# Set by dagster.env: where each location's <name>.env lives.
DIRECTORY_VARIABLE = "DAGSTER_LOCATION_ENVIRONMENT_DIR"


class EnvironmentFileError(ValueError):
    """A line the kit would never write."""


def parse(text: str) -> dict[str, str]:
    """The assignments of an environment file (comments, blank lines and unquoted values as systemd has them)."""
    variables: dict[str, str] = {}
    position, end = 0, len(text)
    while position < end:
        if text[position] in " \t\r\n":
            position += 1
            continue
        if text[position] in "#;":
            position = _line_end(text, position) + 1
            continue
        equals = text.find("=", position)
        if equals < 0 or equals > _line_end(text, position):
            raise EnvironmentFileError(f"not an assignment: {text[position : _line_end(text, position)][:40]!r}")
        name = text[position:equals].strip()
        position = equals + 1
        while position < end and text[position] in " \t":
            position += 1
        if position < end and text[position] == '"':
            variables[name], position = _double_quoted(text, position + 1)
        else:
            variables[name] = text[position : _line_end(text, position)].strip()
            position = _line_end(text, position)
    return variables


def _line_end(text: str, position: int) -> int:
    found = text.find("\n", position)
    return len(text) if found < 0 else found


def _double_quoted(text: str, position: int) -> tuple[str, int]:
    """The value of a double-quoted string whose first character is at `position`, and the position after it."""
    chars: list[str] = []
    while position < len(text):
        char = text[position]
        if char == '"':
            return "".join(chars), position + 1
        if char == "\\" and position + 1 < len(text):
            following = text[position + 1]
            if following in ESCAPABLE:
                chars.append(following)
            elif following != "\n":
                chars.extend((char, following))
            position += 2
            continue
        chars.append(char)
        position += 1
    raise EnvironmentFileError("a double-quoted value is not closed")


def load_location(location: str, environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Put the code location's environment into `environ` (this process's by default); the names set (none
    without the file)."""
    environ = os.environ if environ is None else environ
    directory = environ.get(DIRECTORY_VARIABLE)
    if not directory:
        return []
    path = Path(directory) / f"{location}.env"
    if not path.exists():
        return []
    variables = parse(path.read_text())
    environ.update(variables)
    return sorted(variables)
