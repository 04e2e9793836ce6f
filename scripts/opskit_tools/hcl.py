"""Reading the project's Terraform in tests.

python-hcl2 returns labels and string literals still quoted (`"\"CONTINUE\""`) and expressions as
`${...}` text. These helpers parse each file once and take the quotes off, so tests can compare HCL
values with what the handlers and templates expect.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2


@functools.cache
def _parse(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return hcl2.load(handle)


def load(path: Path) -> dict[str, Any]:
    """One .tf file as python-hcl2 returns it (cached; do not mutate)."""
    return _parse(Path(path).resolve())


def unquote(value: Any) -> Any:
    """`"\"x\""` → `x` for a string literal; anything else unchanged."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return value[1:-1]
        return decoded if isinstance(decoded, str) else value[1:-1]
    return value


def unquote_all(value: Any) -> Any:
    """unquote() applied to every key and value of a parsed document (python-hcl2's `__is_block__`
    markers dropped)."""
    if isinstance(value, dict):
        return {unquote(k): unquote_all(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [unquote_all(v) for v in value]
    return unquote(value)


def load_unquoted(path: Path) -> dict[str, Any]:
    return unquote_all(load(path))


def blocks(directory: Path, kind: str, type_: str) -> dict[str, Any]:
    """{name: body} of every `resource`/`data` block of one type across a module's .tf files (unquoted)."""
    found: dict[str, Any] = {}
    for path in sorted(Path(directory).glob("*.tf")):
        for block in load_unquoted(path).get(kind, []):
            found.update(block.get(type_, {}))
    return found


def labelled(items: list[dict[str, Any]]) -> Iterator[tuple[str, Any]]:
    """(unquoted label, body) of each entry of a raw block list such as `doc["variable"]`."""
    for item in items:
        for key, body in item.items():
            yield unquote(key), body
