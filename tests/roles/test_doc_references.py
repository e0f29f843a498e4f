"""Messages and comments in the roles point to documentation that exists: `docs/<page>.md, "<Heading>"`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).parents[2]
REFERENCE = re.compile(r"(docs/[a-z0-9_-]+\.md)(?:, \"([^\"]+)\")?")


def references() -> list[tuple[str, str, str | None]]:
    listed = subprocess.run(["git", "ls-files", "roles"], cwd=REPO, capture_output=True, text=True, check=True)
    found = []
    for name in listed.stdout.split():
        if name.endswith((".yml", ".j2", ".py", ".sh")):
            for match in REFERENCE.finditer((REPO / name).read_text()):
                found.append((name, match.group(1), match.group(2)))
    return found


def test_the_roles_refer_to_documentation() -> None:
    assert len(references()) >= 3


def test_every_page_and_heading_referred_to_exists() -> None:
    missing = []
    for source, page, heading in references():
        path = REPO / page
        if not path.exists():
            missing.append(f"{source}: {page}")
        elif heading and not re.search(rf"^#+ {re.escape(heading)}\s*$", path.read_text(), re.M):
            missing.append(f'{source}: {page}, "{heading}"')
    assert missing == []
