"""The one Terraform check Terraform does not make: typos in `.tfvars` files.

Terraform converts a tfvars value to its variable's type and silently drops object attributes the type does
not declare, so `scheduler = { schedules = { x = { timezon = "Europe/Berlin" } } }` plans cleanly with the
default time zone. It also only warns about a value for an undeclared variable. Both are findings here:
every key must be a declared root variable, and object values may use only the attributes their type
declares (recursively through maps, lists, sets and tuples).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lark import Tree

from .hclsyntax import (
    Finding,
    HclSyntaxError,
    Module,
    line_of,
    load_module,
    object_items,
    parse_file,
    parse_type,
    tuple_items,
)


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.65)
    return f' (did you mean "{close[0]}"?)' if close else ""


def extra_attributes(value: Tree, type_: tuple[Any, ...], where: str, fallback: int) -> Iterator[tuple[int, str]]:
    """(line, message) for every attribute of an object literal that its object type does not declare."""
    kind = type_[0]
    if kind == "object":
        declared = type_[1]
        for key, item, line in object_items(value) or []:
            if key is None:
                continue
            if key not in declared:
                hint = _suggest(key, declared)
                yield line or fallback, f'{where} has no attribute "{key}"{hint}; Terraform would silently drop it'
            else:
                yield from extra_attributes(item, declared[key], f"{where}.{key}", line or fallback)
    elif kind == "map":
        for key, item, line in object_items(value) or []:
            yield from extra_attributes(item, type_[1], f'{where}["{key}"]', line or fallback)
    elif kind in ("list", "set"):
        for n, item in enumerate(tuple_items(value) or []):
            yield from extra_attributes(item, type_[1], f"{where}[{n}]", line_of(item, fallback))
    elif kind == "tuple":
        for n, (item, item_type) in enumerate(zip(tuple_items(value) or [], type_[1], strict=False)):
            yield from extra_attributes(item, item_type, f"{where}[{n}]", line_of(item, fallback))


def check_file(path: Path, root: Module, repo: Path) -> list[Finding]:
    relative = path.relative_to(repo).as_posix() if path.is_relative_to(repo) else str(path)
    try:
        body = parse_file(path)
    except HclSyntaxError as exc:
        return [Finding(relative, exc.line, str(exc))]
    findings = [
        Finding(relative, b.line, f'blocks are not allowed in a .tfvars file ("{b.type}")') for b in body.blocks
    ]
    for attr in body.attrs:
        declared = root.variables.get(attr.name)
        if declared is None:
            hint = _suggest(attr.name, root.variables)
            findings.append(Finding(relative, attr.line, f'"{attr.name}" is not a variable of the root module{hint}'))
            continue
        type_attr = declared[1].body.attr("type")
        if type_attr is not None:
            for line, message in extra_attributes(attr.expr, parse_type(type_attr.expr), f"var.{attr.name}", attr.line):
                findings.append(Finding(relative, line, message))
    return findings


def tfvars_files(repo: Path) -> list[Path]:
    """environments/*.tfvars and the tfvars files the root's native tests use."""
    return sorted((repo / "environments").glob("*.tfvars")) + sorted((repo / "tests").rglob("*.tfvars"))


def check(repo: Path) -> list[Finding]:
    root = load_module(repo)
    findings = [Finding(p.relative_to(repo).as_posix(), line, message) for p, line, message in root.errors]
    for path in tfvars_files(repo):
        findings += check_file(path, root, repo)
    return sorted(findings)
