"""Static checks of modules/instance-protect that tie the Terraform to the handler it deploys."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from opskit_tools import hcl
from opskit_tools.hcl import labelled, unquote

MODULE = Path(__file__).resolve().parents[1] / "modules/instance-protect"


def load(name: str) -> dict[str, Any]:
    return hcl.load(MODULE / name)


@pytest.fixture(scope="module")
def function_module() -> dict[str, Any]:
    return dict(labelled(load("main.tf")["module"]))["function"]


@pytest.fixture(scope="module")
def local_values() -> dict[str, Any]:
    return {k: unquote(v) for k, v in load("main.tf")["locals"][0].items() if not k.startswith("__")}


@pytest.fixture(scope="module")
def statements() -> dict[str, dict[str, Any]]:
    data = dict(labelled(load("iam.tf")["data"]))
    document = dict(labelled([data["aws_iam_policy_document"]]))["protect"]
    found = {unquote(s["sid"]): s for s in document["statement"]}
    for dynamic in document.get("dynamic", []):
        for _, body in labelled([dynamic]):
            for content in body["content"]:
                found[unquote(content["sid"])] = content
    return found


class RecordingEnv(dict):
    """An empty environment that remembers which variables the handler asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)


def test_module_sets_exactly_the_variables_the_handler_reads(function_module, load_handler):
    fn: ModuleType = load_handler("instance_protect")
    env = RecordingEnv()
    defaults = fn.Config.from_env(env)

    assert set(function_module["environment"]) == env.asked
    assert defaults.max_restarts == 3 and defaults.window_seconds == 3600


def test_tag_contract_matches_the_handler_defaults(local_values, load_handler):
    """opskit:stopped-by is the marker the scheduler and the restart workflow set before a planned stop."""
    defaults = load_handler("instance_protect").Config.from_env({})

    assert local_values["stopped_by_tag_key"] == defaults.stopped_by_tag_key == "opskit:stopped-by"
    assert local_values["restarts_tag_key"] == defaults.restarts_tag_key


def asl_marker_keys(node: Any) -> set[str]:
    """Tag keys of every createTags/deleteTags task in a Step Functions definition."""
    found: set[str] = set()
    if isinstance(node, dict):
        if str(node.get("Resource", "")).endswith(("ec2:createTags", "ec2:deleteTags")):
            found |= {tag["Key"] for tag in node["Parameters"]["Tags"]}
        for value in node.values():
            found |= asl_marker_keys(value)
    elif isinstance(node, list):
        for value in node:
            found |= asl_marker_keys(value)
    return found


def test_marker_key_is_the_one_the_scheduler_and_restart_workflow_write(local_values, load_handler):
    """The contract read from the other side's code: the scheduler's STOPPED_BY_TAG and the tag tasks of
    restart.asl.json."""
    scheduler = load_handler("scheduler")
    template = (MODULE.parent / "restart-workflow/restart.asl.json").read_text(encoding="utf-8")
    asl = json.loads(re.sub(r"\$\{[^}]*\}", "0", template))  # template values do not matter here

    assert local_values["stopped_by_tag_key"] == scheduler.STOPPED_BY_TAG
    assert asl_marker_keys(asl) == {local_values["stopped_by_tag_key"]}


def test_protect_tag_default_matches_the_handler_default(load_handler):
    variables = dict(labelled(load("variables.tf")["variable"]))
    type_expr = variables["protect_tag"]["type"]
    key = re.search(r'key\s*=\s*optional\(string,\s*\\?"([^"\\]+)', type_expr).group(1)
    value = re.search(r'value\s*=\s*optional\(string,\s*\\?"([^"\\]+)', type_expr).group(1)
    defaults = load_handler("instance_protect").Config.from_env({})

    assert (key, value) == (defaults.protect_key, defaults.protect_value)


def test_rule_reads_the_pattern_file_the_tests_use(function_module):
    (key,) = function_module["event_rules"]
    rule = function_module["event_rules"][key]
    assert "patterns/instance-state.json" in rule["event_pattern"]
    assert (MODULE / "patterns/instance-state.json").is_file()
    assert not (MODULE / "patterns/instance-stopped.json").exists()
    # lambda-function names the rule "<name>-<key>"; EventBridge allows 64 characters and name_prefix 40.
    assert len("x" * 40 + "-instance-protect-" + key) <= 64


def conditions_of(statement: dict[str, Any]) -> dict[tuple[str, str], list[Any]]:
    return {
        (unquote(c["test"]), unquote(c["variable"])): [unquote(v) for v in c["values"]] for c in statement["condition"]
    }


def test_mutating_grants_are_conditioned_on_the_protect_tag(statements):
    for sid in ("StartProtectedInstances", "RecordRestartHistory", "ClearStaleStopMarker"):
        conditions = conditions_of(statements[sid])
        assert conditions[("StringEquals", "aws:ResourceTag/${var.protect_tag.key}")] == ["${var.protect_tag.value}"]
        assert [unquote(r) for r in statements[sid]["resources"]] == ["${local.instance_arns}"], sid


@pytest.mark.parametrize(
    ("sid", "action", "key"),
    [
        ("RecordRestartHistory", "ec2:CreateTags", "${local.restarts_tag_key}"),
        ("ClearStaleStopMarker", "ec2:DeleteTags", "${local.stopped_by_tag_key}"),
    ],
)
def test_tag_grants_cover_one_tag_key_each(statements, sid, action, key):
    assert [unquote(a) for a in statements[sid]["actions"]] == [action]
    assert conditions_of(statements[sid])[("ForAllValues:StringEquals", "aws:TagKeys")] == [key]


def test_delete_tags_must_name_a_key(statements):
    """DeleteTags without any tag deletes every tag of the instance, and ForAllValues holds for an empty set."""
    assert conditions_of(statements["ClearStaleStopMarker"])[("Null", "aws:TagKeys")] == ["false"]


def test_no_wildcard_actions_and_only_describes_on_every_resource(statements):
    for sid, statement in statements.items():
        actions = [unquote(a) for a in statement["actions"]]
        assert not any("*" in a for a in actions), sid
        if [unquote(r) for r in statement["resources"]] == ["*"]:
            assert all(a.split(":")[1].startswith("Describe") for a in actions), sid


def test_every_variable_is_typed_and_described():
    for name, body in labelled(load("variables.tf")["variable"]):
        assert "type" in body, name
        assert unquote(body.get("description", "")).strip(), name


def test_handler_and_module_agree_on_the_cap_limits(load_handler):
    """variables.tf allows max_restarts 1-20 and window_seconds >= 60; the handler refuses anything else."""
    fn: Callable[..., Any] = load_handler("instance_protect").Config.from_env
    fn({"MAX_RESTARTS": "20", "WINDOW_SECONDS": "60"})
    text = (MODULE / "variables.tf").read_text(encoding="utf-8")
    assert "var.max_restarts >= 1 && var.max_restarts <= 20" in text
    assert "var.window_seconds >= 60" in text
