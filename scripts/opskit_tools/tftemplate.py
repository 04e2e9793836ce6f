"""Render the small subset of Terraform `templatefile` syntax that opskit's pattern and state-machine
files use, so tests read exactly the file Terraform deploys:

  ${name}               the variable's value (strings as-is, numbers as JSON)
  ${jsonencode(name)}   the variable as JSON

Anything else inside ${...} is an error, so a template cannot quietly drift from what this renders.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_PLACEHOLDER = re.compile(r"(?<!\$)\$\{\s*([^}]*?)\s*\}")
_JSONENCODE = re.compile(r"^jsonencode\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def render(text: str, variables: dict[str, Any]) -> str:
    def substitute(match: re.Match[str]) -> str:
        expression = match.group(1)
        encoded = _JSONENCODE.match(expression)
        if encoded:
            return json.dumps(_lookup(encoded.group(1), variables))
        if _NAME.match(expression):
            value = _lookup(expression, variables)
            return value if isinstance(value, str) else json.dumps(value)
        raise ValueError(f"unsupported template expression ${{{expression}}}")

    return _PLACEHOLDER.sub(substitute, text).replace("$${", "${")


def render_file(path: str | Path, **variables: Any) -> str:
    return render(Path(path).read_text(encoding="utf-8"), variables)


def render_json(path: str | Path, **variables: Any) -> Any:
    return json.loads(render_file(path, **variables))


def _lookup(name: str, variables: dict[str, Any]) -> Any:
    if name not in variables:
        raise KeyError(f"template variable {name!r} was not provided")
    return variables[name]
