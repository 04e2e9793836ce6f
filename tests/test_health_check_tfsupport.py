"""Shared by test_health_check_terraform.py and test_health_check_cases.py (no tests of its own): the module's
HCL read by Python, and a real Terraform over copies of the module's variables (and the TARGETS locals), without
a provider, for the tests that compare the module's rules with the handler's.

Terraform comes from PATH (the gate's binary); the tests that need it are skipped where there is none.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from opskit_tools import hcl, tfgate

MODULE = Path(__file__).resolve().parents[1] / "modules" / "health-check"
SECRET_ARN = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:opskit/api-AbCdEf"
PARAMETER_ARN = "arn:aws:ssm:eu-central-1:123456789012:parameter/opskit/partner"


def load(name: str) -> dict[str, Any]:
    return hcl.load_unquoted(MODULE / name)


def variable(name: str) -> dict[str, Any]:
    return next(
        body
        for path in ("variables.tf", "targets.tf")
        for entry in load(path).get("variable", [])
        for key, body in entry.items()
        if key == name
    )


def optional_fields(type_text: str) -> dict[str, str]:
    """{field: its type expression} of the outermost object({...}) in a type constraint."""
    body = type_text[type_text.index("object({") + len("object({") :]
    fields, depth, part = {}, 0, ""
    for char in body:
        if depth == 0 and char in ",}":
            key, _, value = part.partition("=")
            fields[key.strip()] = value.strip()
            part = ""
            if char == "}":
                break
            continue
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(char, 0)
        part += char
    return fields


# --- a real Terraform over the module's variables (and locals) ----------------------------------------------


def _terraform() -> str:
    binary, why = tfgate.find_terraform()
    if binary is None:
        pytest.skip(why)
    return binary


def hcl_value(value: Any) -> str:
    """A Python value as an HCL expression (infinity as 1e400, which JSON renders as a number Python reads
    as infinity)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isinf(value):
        return "1e400"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = "".join(c if " " <= c < "\x7f" and c not in '"\\' else f"\\u{ord(c):04x}" for c in value)
        return '"' + escaped.replace("${", "$${").replace("%{", "%%{") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(hcl_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{hcl_value(str(k))} = {hcl_value(v)}" for k, v in value.items()) + "}"


@functools.cache
def variable_block(text: str, name: str) -> str:
    """The text of `variable "<name>" { ... }` in text: braces counted outside strings and heredocs."""
    start = text.index(f'variable "{name}" {{')
    depth, i, in_string, heredoc = 0, start, False, ""
    while i < len(text):
        if heredoc:
            end = text.index("\n", i)
            heredoc = "" if text[i:end].strip() == heredoc else heredoc
            i = end + 1
            continue
        c = text[i]
        if in_string:
            in_string = c != '"'
            i += 2 if c == "\\" else 1
            continue
        match = re.match(r"<<-?(\w+)\n", text[i : i + 40])
        if match:
            heredoc, i = match.group(1), i + match.end()
            continue
        in_string = c == '"'
        depth += {"{": 1, "}": -1}.get(c, 0)
        if c == "}" and depth == 0:
            return text[start : i + 1]
        i += 1
    raise ValueError(f"variable {name} not found")


# Every variable block of the module (variables.tf, then targets.tf's "targets"); rule lines below count in this text.
TARGETS_TF = (MODULE / "targets.tf").read_text(encoding="utf-8")
VARIABLES = (MODULE / "variables.tf").read_text(encoding="utf-8") + "\n" + TARGETS_TF[: TARGETS_TF.index("\nlocals {")]
NAMES = re.findall(r'^variable "(\w+)"', VARIABLES, re.M)


def copy_name(variables: set[str]) -> str:
    """Module copies hold only the variables a call sets (a plan over 100 calls of a one-variable copy takes
    a fraction of the time); "render" is every variable with targets.tf's locals and a targets_json output."""
    return f"v{sum(1 << i for i, n in enumerate(NAMES) if n in variables):x}"  # a bit per variable


def _write_copy(work: Path, name: str) -> list[tuple[int, int]]:
    """Writes the copy `name`; returns (first line in the copy, first line in variables.tf) of each block."""
    (work / name).mkdir(parents=True, exist_ok=True)
    if name == "render":
        (work / name / "variables.tf").write_text(VARIABLES, encoding="utf-8")
        (work / name / "locals.tf").write_text(TARGETS_TF[TARGETS_TF.index("\nlocals {") :], encoding="utf-8")
        (work / name / "outputs.tf").write_text('output "targets_json" {\n  value = local.targets_json\n}\n')
        return [(1, 1)]
    blocks, offsets, line = [], [], 1
    for variable_name in [n for i, n in enumerate(NAMES) if int(name[1:], 16) >> i & 1]:
        block = variable_block(VARIABLES, variable_name)
        offsets.append((line, VARIABLES[: VARIABLES.index(block)].count("\n") + 1))
        blocks.append(block)
        line += block.count("\n") + 2
    (work / name / "variables.tf").write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return offsets


def terraform_calls(work: Path, calls: dict[str, tuple[str, str]], apply: bool = False) -> dict[str, Any]:
    """calls: {name: (module copy, HCL arguments)}. Plan: {name: [error diagnostics]}, every error placed by
    line. Apply (every call valid, "render" copies): {name: the call's targets_json}."""
    terraform = _terraform()
    copies = {copy: _write_copy(work, copy) for copy, _ in calls.values()}
    starts: list[tuple[int, str]] = []
    text = ""
    for name, (copy, arguments) in calls.items():
        starts.append((text.count("\n") + 1, name))
        text += f'module "{name}" {{\n  source = "./{copy}"\n{arguments}\n}}\n'
        text += f'output "{name}" {{\n  value = module.{name}.targets_json\n}}\n' if apply else ""
    (work / "main.tf").write_text(text, encoding="utf-8")
    env = tfgate.terraform_env({"TF_CLI_CONFIG_FILE": os.devnull})

    def tf(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([terraform, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)

    init = tf("init", "-backend=false", "-input=false", "-no-color")
    assert init.returncode == 0, init.stderr
    if apply:
        applied = tf("apply", "-auto-approve", "-input=false", "-no-color")
        assert applied.returncode == 0, applied.stderr
        return {name: value["value"] for name, value in json.loads(tf("output", "-json").stdout).items()}
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in calls}
    for line in tf("plan", "-json", "-input=false", "-no-color").stdout.splitlines():
        entry = json.loads(line)
        diagnostic = entry.get("diagnostic")
        if entry.get("type") == "diagnostic" and diagnostic["severity"] == "error":
            at = diagnostic.get("range", {}).get("start", {}).get("line", 0)
            owner = [name for start, name in starts if start <= at]
            assert owner, diagnostic
            rule = re.search(r"validation rule at ([\w-]+)/variables\.tf:(\d+),", diagnostic.get("detail", ""))
            if rule:  # the rule's line in variables.tf
                first, original = [o for o in copies[rule.group(1)] if o[0] <= int(rule.group(2))][-1]
                diagnostic["rule_line"] = original + int(rule.group(2)) - first
            found[owner[-1]].append(diagnostic)
    return found


def validation_rules() -> dict[int, str]:
    """{line of each `validation {` block in variables.tf: the variable it belongs to}."""
    rules, current = {}, ""
    for number, line in enumerate(VARIABLES.splitlines(), start=1):
        match = re.match(r'variable "(\w+)"', line)
        current = match.group(1) if match else current
        if line.strip() == "validation {":
            rules[number] = current
    return rules


def broken_rules(diagnostics: list[dict[str, Any]]) -> list[int]:
    """Lines (in variables.tf) of the validation rules a plan reported as broken; any other error is line 0."""
    return [d.get("rule_line", 0) for d in diagnostics]
