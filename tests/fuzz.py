"""Mutation testing of handler inputs: every fixture event (and every environment) mutated many ways.

A handler given a mutated event may accept it (the mutation was harmless) or refuse it. What it may not
do is leak an unexpected exception type (TypeError, AttributeError, OverflowError, RecursionError,
UnicodeEncodeError, ...) or refuse it with InputError/ConfigError *after* changing something in AWS.

    for label, mutant in fuzz.mutations(event, seed=7, count=400):
        fuzz.check(lambda: handler.handler(mutant, None), label)

`check` records every AWS API call made while the handler runs (botocore, so moto and Stubber calls
count too) and fails with the mutation's label when the rules above are broken.
"""

from __future__ import annotations

import copy
import json
import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import botocore.client
import opskit_common

DEEP = json.loads("[" * 60 + "]" * 60)
# Values that break naive parsing: wrong types, huge, empty, trailing newline, lone surrogate,
# timestamps outside datetime's range once their offset is applied, deep nesting.
MUTANTS: list[Any] = [
    None,
    0,
    -1,
    2**70,
    1.5,
    True,
    "",
    " ",
    "x" * 100_000,
    "i-0123456789abcdef0\n",
    "\udc80",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "not-a-time",
    [],
    [1, "two", None],
    {},
    {"nested": {"a": [1]}},
    DEEP,
]
# `make test` runs the first quarter of every (deterministic) mutation sequence; `make fuzz` runs them whole.
SCALE = float(os.environ.get("OPSKIT_FUZZ_SCALE", "1"))
READ_ONLY = ("Describe", "Get", "List", "Head", "Lookup", "Batch Get", "Query", "Scan")
ALLOWED = (opskit_common.InputError, opskit_common.ConfigError, opskit_common.PartialFailure)


def scaled(count: int) -> int:
    """How many of `count` mutations this run makes (OPSKIT_FUZZ_SCALE; never fewer than 40)."""
    return max(min(count, 40), round(count * SCALE))


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key/index path in a JSON document (containers and leaves)."""
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:5]):
            yield from paths(child, (*prefix, index))


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        document = document[step]
    return document


def mutations(event: Any, seed: int = 0, count: int = 300) -> Iterator[tuple[str, Any]]:
    """`count` mutated copies of `event`: a value replaced by a mutant, a string changed at its edges,
    a key removed, or an unexpected key added. Deterministic for a seed."""
    rng = random.Random(seed)
    all_paths = list(paths(event))
    for _ in range(count):
        mutant = copy.deepcopy(event)
        path = rng.choice(all_paths)
        parent, key = _parent(mutant, path), path[-1]
        original = parent[key]
        roll = rng.random()
        if roll < 0.6:
            parent[key] = copy.deepcopy(rng.choice(MUTANTS))
            label = f"{'.'.join(map(str, path))} = {opskit_common.clip(parent[key], 40)}"
        elif roll < 0.8 and isinstance(original, str):
            parent[key] = rng.choice([original + "\n", original + "\udc80", original * 50, " " + original, ""])
            label = f"{'.'.join(map(str, path))} = {opskit_common.clip(parent[key], 40)}"
        elif isinstance(parent, dict):
            del parent[key]
            label = f"{'.'.join(map(str, path))} removed"
        else:
            parent.append(copy.deepcopy(rng.choice(MUTANTS)))
            label = f"{'.'.join(map(str, path[:-1]))} gained an item"
        yield label, mutant


@contextmanager
def recorded_calls() -> Iterator[list[str]]:
    """Every AWS operation called inside the block, as `service:Operation`."""
    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def record(self: Any, operation: str, params: Any) -> Any:
        calls.append(f"{self.meta.service_model.service_name}:{operation}")
        return original(self, operation, params)

    with mock.patch.object(botocore.client.BaseClient, "_make_api_call", record):
        yield calls


def mutating(calls: list[str]) -> list[str]:
    return [call for call in calls if not call.split(":", 1)[1].startswith(READ_ONLY)]


def check(run: Callable[[], Any], label: str, allowed: tuple[type[BaseException], ...] = ALLOWED) -> None:
    """Run one mutated invocation and assert the rules in the module docstring."""
    with recorded_calls() as calls:
        try:
            run()
        except allowed as exc:
            if isinstance(exc, (opskit_common.InputError, opskit_common.ConfigError)):
                changed = mutating(calls)
                assert not changed, f"{label}: refused with {exc!r} after mutating calls {changed}"
                assert len(str(exc)) < 2_000, f"{label}: unbounded error message ({len(str(exc))} characters)"
        except Exception as exc:
            raise AssertionError(f"{label}: leaked {type(exc).__name__}: {opskit_common.clip(str(exc))}") from exc
