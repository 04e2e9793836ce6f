"""Least privilege across every module: each `aws_iam_policy_document` is read from the HCL and held to
the house rules, so a new module or statement is checked without writing a new test.

- No wildcard in an allowed action (one documented exception: the KMS default key policy).
- An Allow on resource "*" carries only read-only actions (Describe/List/Get), a condition, or is one of
  the listed statements whose actions AWS does not scope to resources.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opskit_tools import hcl
from opskit_tools.hcl import unquote

REPO = Path(__file__).resolve().parents[1]
READ_ONLY_PREFIXES = ("Describe", "List", "Get")

# (module, policy document, sid) -> why it may use resource "*" for non-read actions.
UNSCOPED_BY_AWS = {
    ("lambda-function", "base", "XRayTraces"): "X-Ray trace writes have no resource-level permissions",
    ("lambda-function", "base", "VpcNetworkInterfaces"): "Lambda's VPC ENI actions are not resource-scoped",
    ("restart-workflow", "state_machine", "ExecutionLogDelivery"): "CloudWatch Logs delivery APIs are not scoped",
    ("restart-workflow", "state_machine", "XRayTraces"): "X-Ray trace writes have no resource-level permissions",
}
# (module, policy document, sid) -> why a wildcard action is allowed.
WILDCARD_ACTIONS = {
    ("health-check", "alarm_key", "AccountAdministersKey"): "KMS default key policy: the account keeps control",
}


def _statements() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in sorted(REPO.glob("modules/*/*.tf")):
        parsed = hcl.load(path)
        for block in parsed.get("data", []):
            for data_type, instances in block.items():
                if unquote(data_type) != "aws_iam_policy_document":
                    continue
                for name, body in instances.items():
                    statements = list(body.get("statement", []))
                    for dynamic in body.get("dynamic", []):
                        for label, dynamic_body in dynamic.items():
                            if unquote(label) == "statement":
                                statements += dynamic_body.get("content", [])
                    for statement in statements:
                        yield path.parent.name, unquote(name), statement


def _strings(value: Any) -> list[str]:
    return [unquote(v) for v in value] if isinstance(value, list) else [unquote(value)]


STATEMENTS = list(_statements())
ALLOWS = [s for s in STATEMENTS if unquote(s[2].get("effect", '"Allow"')) == "Allow"]


def test_every_module_is_covered() -> None:
    modules_with_policies = {module for module, _, _ in STATEMENTS}
    feature_modules = {p.name for p in (REPO / "modules").iterdir() if p.is_dir()}
    assert modules_with_policies == feature_modules
    assert len(ALLOWS) > 30


@pytest.mark.parametrize(("module", "document", "statement"), ALLOWS, ids=lambda v: v if isinstance(v, str) else "")
def test_allowed_actions_are_explicit_and_scoped(module: str, document: str, statement: dict[str, Any]) -> None:
    sid = unquote(statement.get("sid", '""'))
    actions = _strings(statement.get("actions", []))
    assert actions, f"{module}/{document}/{sid}: statement without actions"
    if (module, document, sid) not in WILDCARD_ACTIONS:
        wildcards = [a for a in actions if "*" in a]
        assert not wildcards, f"{module}/{document}/{sid}: wildcard actions {wildcards}"
    if "resources" not in statement:
        assert actions == ["sts:AssumeRole"], f"{module}/{document}/{sid}: only trust policies may omit resources"
        return
    if "*" not in _strings(statement["resources"]) or "condition" in statement:
        return
    if (module, document, sid) in UNSCOPED_BY_AWS or (module, document, sid) in WILDCARD_ACTIONS:
        return
    mutating = [a for a in actions if not a.split(":", 1)[1].startswith(READ_ONLY_PREFIXES)]
    assert not mutating, f"{module}/{document}/{sid}: mutating actions on resource '*' without a condition: {mutating}"
