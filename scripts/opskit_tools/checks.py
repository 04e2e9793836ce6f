"""The checks behind `scripts/build.py validate`. Each returns findings as `file:line: message`
strings and says what it skipped and why, so an offline run is honest about its coverage."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import eventpattern
from .packaging import handler_problem
from .paths import FUNCTIONS, REPO

_PLACEHOLDER = re.compile(r"\$\{\s*([^}]*?)\s*\}")
_SAMPLE = "opskit-sample"
_MIN_VALIDATE_VERSION = (1, 5)


@dataclass
class Outcome:
    name: str
    findings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


# --- Python ----------------------------------------------------------------------------------------


def check_python(functions_root: Path = FUNCTIONS) -> Outcome:
    """Every .py under functions/ and scripts/ compiles; every function's handler.py defines handler(event, context)."""
    outcome = Outcome("python")
    roots = [functions_root, REPO / "scripts"]
    count = 0
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            count += 1
            try:
                compile(path.read_text(encoding="utf-8"), str(path), "exec")
            except SyntaxError as exc:
                outcome.findings.append(f"{_rel(path)}:{exc.lineno}: does not compile: {exc.msg}")
    for directory in sorted(p for p in functions_root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        handler = directory / "handler.py"
        if not handler.is_file():
            outcome.findings.append(f"{_rel(directory)}:1: function directory has no handler.py")
            continue
        problem = handler_problem(handler)
        if problem and "does not compile" not in problem:
            line, _, message = problem.partition(": ")
            outcome.findings.append(f"{_rel(directory)}/{line}: {message}")
    outcome.notes.append(f"{count} Python files compiled")
    return outcome


# --- templates shared by Terraform and the tests ------------------------------------------------------


def render_sample(text: str, list_values: bool) -> str:
    """Fill `${...}` placeholders with sample values so a template can be parsed and linted:
    inside a JSON string → a sample word; `${jsonencode(x)}` → a sample list (patterns) or string (ASL);
    other bare placeholders → 1."""
    out, last, in_string, escaped = [], 0, False, False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "$" and text.startswith("${", index) and not text.startswith("$${", index - 1 if index else 0):
            match = _PLACEHOLDER.match(text, index)
            if match:
                out.append(text[last:index])
                expression = match.group(1)
                if in_string:
                    out.append(_SAMPLE)
                elif expression.startswith("jsonencode("):
                    out.append(json.dumps([_SAMPLE] if list_values else _SAMPLE))
                else:
                    out.append("1")
                last = index = match.end()
                continue
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        index += 1
    out.append(text[last:])
    return "".join(out)


def _templates(pattern: str) -> Iterator[Path]:
    for path in sorted((REPO / "modules").rglob(pattern)):
        if ".terraform" not in path.parts:
            yield path


def check_event_patterns() -> Outcome:
    """modules/*/patterns/*.json parse (after sample rendering) and are valid event patterns."""
    outcome = Outcome("event patterns")
    count = 0
    for path in _templates("patterns/*.json"):
        count += 1
        try:
            pattern = json.loads(render_sample(path.read_text(encoding="utf-8"), list_values=True))
        except json.JSONDecodeError as exc:
            outcome.findings.append(f"{_rel(path)}:{exc.lineno}: not valid JSON: {exc.msg}")
            continue
        for problem in eventpattern.problems(pattern):
            outcome.findings.append(f"{_rel(path)}:1: {problem}")
    outcome.notes.append(f"{count} pattern files")
    return outcome


def check_state_machines() -> Outcome:
    """Every *.asl.json passes statelint (templates are rendered with sample values first)."""
    outcome = Outcome("state machines (statelint)")
    files = list(_templates("*.asl.json"))
    statelint = shutil.which("statelint", path=str(Path(sys.executable).parent)) or shutil.which("statelint")
    if not statelint:
        outcome.skipped = "statelint is not installed (it is in requirements-dev.txt: run make venv)"
        return outcome
    for path in files:
        try:
            rendered = render_sample(path.read_text(encoding="utf-8"), list_values=False)
            json.loads(rendered)
        except json.JSONDecodeError as exc:
            outcome.findings.append(f"{_rel(path)}:{exc.lineno}: not valid JSON: {exc.msg}")
            continue
        completed = subprocess.run([statelint, rendered], capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            lines = [line.strip() for line in (completed.stdout + completed.stderr).splitlines() if line.strip()]
            problems = lines[1:] if len(lines) > 1 and lines[0].lower().endswith(("error:", "errors:")) else lines
            outcome.findings.extend(f"{_rel(path)}:1: statelint: {problem}" for problem in problems or ["failed"])
    outcome.notes.append(f"{len(files)} definitions linted")
    return outcome


# --- Terraform ---------------------------------------------------------------------------------------


def check_tfvars_and_docs() -> Outcome:
    """What Terraform does not check: tfvars keys and object attributes, and the README tables."""
    from . import tfdocs, tfvars

    outcome = Outcome("tfvars typos, README tables")
    findings = tfvars.check(REPO) + tfdocs.check(REPO)
    outcome.findings.extend(str(f) for f in findings)
    outcome.notes.append(f"{len(tfvars.tfvars_files(REPO))} tfvars files, {len(tfdocs.readmes(REPO))} READMEs")
    return outcome


def check_terraform(only: list[str] | None = None) -> Outcome:
    """Real Terraform: fmt -check, init, validate and the native test suites of every configuration.
    Without Terraform >= 1.9 this is skipped with the reason, unless OPSKIT_REQUIRE_TERRAFORM is set (CI)."""
    from . import tfgate

    outcome = Outcome("terraform (fmt, validate, native tests)")
    result, skipped = tfgate.run(only=only)
    if skipped:
        if os.environ.get("OPSKIT_REQUIRE_TERRAFORM"):
            outcome.findings.append(f".:1: Terraform is required here (OPSKIT_REQUIRE_TERRAFORM is set): {skipped}")
        else:
            outcome.skipped = f"the Terraform tests did not run: {skipped}"
        return outcome
    outcome.findings.extend(result.findings)
    outcome.notes.append(
        f"{result.configurations} configurations, {result.passed} test runs passed, {result.failed} failed"
    )
    outcome.notes.extend(result.notes)
    return outcome
