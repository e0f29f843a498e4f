"""Load a Python file of the kit (a script, or a runtime module shipped in releases) as a module."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def load_file(relative_path: str, name: str) -> ModuleType:
    """The module at REPO/relative_path, registered as `name` (dataclasses look their module up there). The file
    may have no .py suffix (an installed script)."""
    loader = importlib.machinery.SourceFileLoader(name, str(REPO / relative_path))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
