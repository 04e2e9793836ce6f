"""EventBridge event-pattern matching, for tests of the pattern files Terraform deploys.

Implements the content-filter operators EventBridge documents: exact values, `prefix`, `suffix`,
`anything-but` (values, or a nested prefix/suffix), `numeric`, `exists`, `equals-ignore-case`,
`wildcard`, and `$or`. An event value that is an array matches when any element does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_MISSING = object()
_NUMERIC_OPS = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class PatternError(ValueError):
    """The pattern itself is not a valid EventBridge pattern."""


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True when `event` matches `pattern` the way an EventBridge rule would."""
    if not isinstance(pattern, Mapping):
        raise PatternError("an event pattern must be a JSON object")
    for key, expected in pattern.items():
        if key == "$or":
            if not isinstance(expected, list) or not expected:
                raise PatternError("$or takes a non-empty array of patterns")
            if not any(matches(alternative, event) for alternative in expected):
                return False
            continue
        actual = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(expected, Mapping):
            if actual is _MISSING or not isinstance(actual, Mapping) or not matches(expected, actual):
                return False
        elif isinstance(expected, list):
            if not _match_leaf(expected, actual):
                return False
        else:
            raise PatternError(f"pattern value for {key!r} must be an object or an array, got {expected!r}")
    return True


def _match_leaf(rules: list[Any], actual: Any) -> bool:
    if not rules:
        raise PatternError("an empty array matches nothing; EventBridge rejects it")
    values = actual if isinstance(actual, list) else [actual]
    for rule in rules:
        if isinstance(rule, Mapping) and "exists" in rule:
            if bool(rule["exists"]) == (actual is not _MISSING):
                return True
            continue
        if actual is _MISSING:
            continue
        if any(_match_value(rule, value) for value in values):
            return True
    return False


def _match_value(rule: Any, value: Any) -> bool:
    if not isinstance(rule, Mapping):
        return rule == value and type(rule) is type(value)
    if len(rule) != 1:
        raise PatternError(f"a matcher object has exactly one operator, got {sorted(rule)}")
    ((op, arg),) = rule.items()
    if op == "prefix":
        return isinstance(value, str) and _str_op(arg, value, str.startswith)
    if op == "suffix":
        return isinstance(value, str) and _str_op(arg, value, str.endswith)
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(arg).lower()
    if op == "wildcard":
        regex = ".*".join(map(re.escape, str(arg).split("*")))
        return isinstance(value, str) and re.fullmatch(regex, value) is not None
    if op == "anything-but":
        if isinstance(arg, Mapping):
            return not _match_value(arg, value)
        excluded = arg if isinstance(arg, list) else [arg]
        return not any(_match_value(item, value) for item in excluded)
    if op == "numeric":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if len(arg) % 2:
            raise PatternError(f"numeric takes operator/value pairs, got {arg!r}")
        return all(_NUMERIC_OPS[arg[i]](value, arg[i + 1]) for i in range(0, len(arg), 2))
    raise PatternError(f"unsupported matcher {op!r}")


def _str_op(arg: Any, value: str, fn: Any) -> bool:
    if isinstance(arg, Mapping) and "equals-ignore-case" in arg:
        return fn(value.lower(), str(arg["equals-ignore-case"]).lower())
    return fn(value, arg)


_OPERATORS = {"prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but", "numeric", "exists", "cidr"}


def problems(pattern: Any, path: str = "") -> list[str]:
    """Structural problems EventBridge would reject (empty arrays, unknown operators, non-object nodes)."""
    found: list[str] = []
    if not isinstance(pattern, Mapping) or not pattern:
        return [f"{path or 'pattern'}: must be a non-empty JSON object"]
    for key, value in pattern.items():
        where = f"{path}.{key}" if path else key
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                found.append(f"{where}: $or needs an array of at least two patterns")
            else:
                for n, alternative in enumerate(value):
                    found.extend(problems(alternative, f"{where}[{n}]"))
        elif isinstance(value, Mapping):
            found.extend(problems(value, where))
        elif isinstance(value, list):
            if not value:
                found.append(f"{where}: an empty array matches nothing")
            for rule in value:
                if isinstance(rule, Mapping) and (len(rule) != 1 or next(iter(rule)) not in _OPERATORS):
                    found.append(f"{where}: unknown matcher {sorted(rule)}")
        else:
            found.append(f"{where}: values must be arrays (or objects), got {value!r}")
    return found
