"""Well-known locations in the repository."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = REPO / "functions"
SHARED = FUNCTIONS / "_shared"
MODULES = REPO / "modules"
BUILD = REPO / "build"
TESTS = REPO / "tests"
EVENTS = TESTS / "events"


def function_names() -> list[str]:
    """Every deployable function: a directory under functions/ with a handler.py (not _shared)."""
    return sorted(
        p.name for p in FUNCTIONS.iterdir() if p.is_dir() and not p.name.startswith("_") and (p / "handler.py").exists()
    )
