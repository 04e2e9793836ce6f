"""Import a function's handler the way Lambda does (handler.py next to the shared runtime module),
without the name clash of every function calling its file `handler.py`."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from .paths import EVENTS, FUNCTIONS, SHARED


def load_handler(function: str) -> ModuleType:
    """Load functions/<function>/handler.py as module `opskit_fn_<function>` (fresh on each call)."""
    path = FUNCTIONS / function / "handler.py"
    if not path.exists():
        raise FileNotFoundError(f"no handler for function {function!r}: {path}")
    for extra in (str(SHARED), str(path.parent)):
        if extra not in sys.path:
            sys.path.insert(0, extra)
    name = f"opskit_fn_{function}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_event(relative: str | Path) -> Any:
    """A captured event fixture from tests/events/."""
    return json.loads((EVENTS / relative).read_text(encoding="utf-8"))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
