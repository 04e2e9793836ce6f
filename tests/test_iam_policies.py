"""Least privilege across every module: each `aws_iam_policy_document` is read from the HCL and held to
the house rules, so a new module or statement is checked without writing a new test.

- No wildcard in an allowed action (one documented exception: the KMS default key policy).
- An Allow on resource "*" carries only read-only actions (Describe/List/Get), a condition, or is one of
  the listed statements whose actions AWS does not scope to resources.
- A grant of `kms:` actions to a role or user (an identity-policy statement: no `principals`) carries a
  `kms:ViaService` condition naming the services that may use the key on the caller's behalf, as
  `<service>.<region>.amazonaws.com` (the format of the KMS developer guide's kms:ViaService examples, e.g.
  `ec2.us-west-2.amazonaws.com`; the suffix may be the partition's `dns_suffix`), without wildcards and not
  `...IfExists` (which would also allow direct calls, where the key is absent). Key-policy statements (with
  `principals`) are exempt: a service principal calls KMS itself, so the key is not in its request context.
- Conditions only on keys the statement's actions can carry, where that is knowable from the text:
  a service-specific key (`kms:`, `ec2:`, `s3:` ... anything but `aws:`) is only in the request context of
  that service's actions, so every action of the statement must belong to that service; and
  `aws:ResourceTag/...` (or `<service>:ResourceTag/...`) compares tags already on the resource, which a call
  that creates the resource does not have (IAM offers `aws:RequestTag` for those), so such a statement holds
  no `Create*` action other than the tag writers `CreateTags`/`CreateOrUpdateTags`, which tag existing
  resources.
"""

from __future__ import annotations

import re
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


def _statements(root: Path = REPO) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in sorted(root.glob("modules/*/*.tf")):
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


# (module, policy document, sid) -> where the actions computed from data are asserted literally. These
# rules read HCL text, so they cannot check an expression; the module's native test evaluates it.
COMPUTED_ACTIONS = {
    (
        "owner-tagger",
        "tag_key",
        "Add${each.key}TagWhereMissingViaTaggingApi",
    ): "modules/owner-tagger/tests/iam.tftest.hcl",
    ("owner-tagger", "tagging", "TagWholeTagSetServices"): "modules/owner-tagger/tests/iam.tftest.hcl",
}


def _computed(module: str, document: str, statement: dict[str, Any]) -> bool:
    actions = statement.get("actions", [])
    if isinstance(actions, list):
        return False
    where = COMPUTED_ACTIONS.get((module, document, unquote(statement.get("sid", '""'))))
    assert where, f"{module}/{document}: actions {actions} are an expression; list where they are asserted"
    return True


def test_computed_action_statements_exist() -> None:
    present = {(m, d, unquote(s.get("sid", '""'))) for m, d, s in ALLOWS if _computed(m, d, s)}
    assert present == set(COMPUTED_ACTIONS)


STATEMENTS = list(_statements())
ALLOWS = [s for s in STATEMENTS if unquote(s[2].get("effect", '"Allow"')) == "Allow"]


def test_every_module_is_covered() -> None:
    modules_with_policies = {module for module, _, _ in STATEMENTS}
    feature_modules = {p.name for p in (REPO / "modules").iterdir() if p.is_dir()}
    assert modules_with_policies == feature_modules
    assert len(ALLOWS) > 30


@pytest.mark.parametrize(("module", "document", "statement"), ALLOWS, ids=lambda v: v if isinstance(v, str) else "")
def test_allowed_actions_are_explicit_and_scoped(module: str, document: str, statement: dict[str, Any]) -> None:
    if _computed(module, document, statement):
        return
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


def _sid(statement: dict[str, Any]) -> str:
    return unquote(statement.get("sid", '""'))


def _conditions(statement: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(test, variable, raw values) of every condition block."""
    return [(unquote(c["test"]), unquote(c["variable"]), c.get("values")) for c in statement.get("condition", [])]


def _grants_kms_to_an_identity(statement: dict[str, Any]) -> bool:
    return "principals" not in statement and any(a.startswith("kms:") for a in _strings(statement.get("actions", [])))


# kms:ViaService: <service>.<region>.<DNS suffix>, the region and suffix literal or interpolated (the
# partition's dns_suffix), never a wildcard.
VIA_SERVICE_VALUE = re.compile(
    r"^[a-z0-9-]+\.(?:[a-z]{2}(?:-gov)?-[a-z]+-[0-9]|\$\{[^}*?]+\})\.(?:amazonaws\.com(?:\.cn)?|\$\{[^}*?]+\})$"
)


def kms_problems(statement: dict[str, Any]) -> list[str]:
    """Why an identity-policy grant of kms: actions is not limited to named services (empty when it is)."""
    via = [(test, values) for test, variable, values in _conditions(statement) if variable == "kms:ViaService"]
    if not via:
        return ["a kms: grant needs a kms:ViaService condition"]
    problems = []
    for test, values in via:
        if test not in ("StringEquals", "StringLike"):
            problems.append(f"kms:ViaService with {test} (use StringEquals; IfExists also allows direct use)")
        if not isinstance(values, list):
            problems.append(f"list the kms:ViaService values literally, not {values}")
            continue
        problems += [
            f"{value!r} is not <service>.<region>.<dns suffix>"
            for value in _strings(values)
            if not VIA_SERVICE_VALUE.fullmatch(value)
        ]
    return problems


TAG_WRITERS = {"CreateTags", "CreateOrUpdateTags"}  # tag an existing resource: aws:ResourceTag applies


def condition_problems(statement: dict[str, Any]) -> list[str]:
    """Conditions on keys that the statement's actions never carry (empty when there are none)."""
    actions = _strings(statement.get("actions", []))
    services = sorted({a.split(":", 1)[0] for a in actions})
    problems = []
    for _, variable, _ in _conditions(statement):
        prefix = variable.split(":", 1)[0]
        if prefix != "aws" and services != [prefix]:
            problems.append(f"{variable} is only in the request context of {prefix}: actions, not {services}")
        if re.match(r"^[a-z0-9-]+:ResourceTag/", variable):
            creating = [
                a for a in actions if a.split(":", 1)[1].startswith("Create") and a.split(":", 1)[1] not in TAG_WRITERS
            ]
            if creating:
                problems.append(f"{variable} cannot hold for {creating}: the resource they create has no tags yet")
    return problems


KMS_IDENTITY_GRANTS = [(m, d, s) for m, d, s in ALLOWS if _grants_kms_to_an_identity(s)]


@pytest.mark.parametrize(
    ("module", "document", "statement"),
    [pytest.param(m, d, s, id=f"{m}/{d}/{_sid(s)}") for m, d, s in KMS_IDENTITY_GRANTS],
)
def test_kms_grants_name_the_services_that_may_use_the_key(
    module: str, document: str, statement: dict[str, Any]
) -> None:
    assert not kms_problems(statement), f"{module}/{document}/{_sid(statement)}: {kms_problems(statement)}"


def test_kms_grants_are_found_where_they_exist() -> None:
    """The KMS rule above is only worth something if it sees the statements it is about."""
    assert {m for m, _, _ in KMS_IDENTITY_GRANTS} >= {"lambda-function", "health-check"}


@pytest.mark.parametrize(
    ("module", "document", "statement"),
    [pytest.param(m, d, s, id=f"{m}/{d}/{_sid(s)}") for m, d, s in ALLOWS if "condition" in s],
)
def test_conditions_use_keys_the_actions_carry(module: str, document: str, statement: dict[str, Any]) -> None:
    if _computed(module, document, statement):
        return
    assert not condition_problems(statement), f"{module}/{document}/{_sid(statement)}: {condition_problems(statement)}"


RULE_CASES = """
data "aws_iam_policy_document" "cases" {
  statement {
    sid       = "good_kms"
    actions   = ["kms:Decrypt"]
    resources = [var.key]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${data.aws_region.current.region}.amazonaws.com", "s3.eu-central-1.${local.dns_suffix}"]
    }
  }
  statement {
    sid       = "kms_without_via_service"
    actions   = ["kms:GenerateDataKey"]
    resources = [var.key]
  }
  statement {
    sid       = "kms_via_service_if_exists"
    actions   = ["kms:Decrypt"]
    resources = [var.key]
    condition {
      test     = "StringEqualsIfExists"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com"]
    }
  }
  statement {
    sid       = "kms_via_any_region"
    actions   = ["kms:Decrypt"]
    resources = [var.key]
    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = ["sqs.*.amazonaws.com"]
    }
  }
  statement {
    sid       = "kms_via_an_expression"
    actions   = ["kms:Decrypt"]
    resources = [var.key]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.services
    }
  }
  statement {
    sid       = "good_tags"
    actions   = ["ec2:CreateTags", "ec2:DeleteTags", "ec2:StopInstances"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Team"
      values   = ["ops"]
    }
  }
  statement {
    sid       = "resource_tag_on_create"
    actions   = ["ec2:StartInstances", "ec2:CreateSnapshot"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/Team"
      values   = ["ops"]
    }
  }
  statement {
    sid       = "kms_key_on_other_service"
    actions   = ["kms:Decrypt", "sqs:SendMessage"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.eu-central-1.amazonaws.com"]
    }
  }
}
"""


def test_the_rules_tell_good_statements_from_bad_ones(tmp_path: Path) -> None:
    (tmp_path / "modules" / "cases").mkdir(parents=True)
    (tmp_path / "modules" / "cases" / "iam.tf").write_text(RULE_CASES)
    cases = {_sid(s): s for _, _, s in _statements(tmp_path)}
    problems = {
        sid: (kms_problems(s) if _grants_kms_to_an_identity(s) else []) + condition_problems(s)
        for sid, s in cases.items()
    }
    assert problems["good_kms"] == [] and problems["good_tags"] == []
    assert problems["kms_without_via_service"] == ["a kms: grant needs a kms:ViaService condition"]
    assert "StringEqualsIfExists" in problems["kms_via_service_if_exists"][0]
    assert problems["kms_via_any_region"] == ["'sqs.*.amazonaws.com' is not <service>.<region>.<dns suffix>"]
    assert "literally" in problems["kms_via_an_expression"][0]
    assert problems["resource_tag_on_create"] == [
        "ec2:ResourceTag/Team cannot hold for ['ec2:CreateSnapshot']: the resource they create has no tags yet"
    ]
    assert problems["kms_key_on_other_service"] == [
        "kms:ViaService is only in the request context of kms: actions, not ['kms', 'sqs']"
    ]
