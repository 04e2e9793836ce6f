"""Cross-checks between modules/instance-protect and the handler it deploys (Python against HCL).

What the Terraform alone decides (IAM conditions, the rendered pattern, the topic and its subscriptions,
every validation block) is tested by Terraform itself: modules/instance-protect/tests/*.tftest.hcl."""

from __future__ import annotations

import json
import re
import sys
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
    return {k: unquote(v) if isinstance(v, str) else v for k, v in load("main.tf")["locals"][0].items()}


@pytest.fixture(scope="module")
def variable_defaults() -> dict[str, Any]:
    return {name: body.get("default") for name, body in labelled(load("variables.tf")["variable"])}


class RecordingEnv(dict):
    """An empty environment that remembers which variables the handler asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)


def test_module_sets_exactly_the_variables_the_handler_reads(function_module, local_values, load_handler):
    fn: ModuleType = load_handler("instance_protect")
    env = RecordingEnv()
    defaults = fn.Config.from_env(env)

    assert function_module["environment"] == "${local.environment}"
    assert set(local_values["environment"]) == env.asked
    assert defaults.max_restarts == 3 and defaults.window_seconds == 3600


def test_tag_contract_matches_the_handler_defaults(local_values, variable_defaults, load_handler):
    """opskit:stopped-by is the marker the scheduler and the restart workflow set before a planned stop."""
    defaults = load_handler("instance_protect").Config.from_env({})

    assert local_values["stopped_by_tag_key"] == defaults.stopped_by_tag_key == "opskit:stopped-by"
    assert local_values["restarts_tag_key"] == defaults.restarts_tag_key
    assert unquote(variable_defaults["hold_tag_key"]) == defaults.hold_tag_key == "opskit:hold"
    assert unquote(variable_defaults["schedule_tag_key"]) == defaults.schedule_tag_key


def test_default_module_environment_passes_the_handlers_cold_start_checks(local_values, load_handler):
    """The environment local rendered with the variables' defaults (and a topic ARN like the module's)."""
    values = {
        "${var.protect_tag.key}=${var.protect_tag.value}": "Protected=true",
        "${var.schedule_tag_key}": "Schedule",
        "${local.stopped_by_tag_key}": local_values["stopped_by_tag_key"],
        "${local.restarts_tag_key}": local_values["restarts_tag_key"],
        "${var.hold_tag_key}": "opskit:hold",
        "${tostring(var.max_restarts)}": "3",
        "${tostring(var.window_seconds)}": "3600",
        "${aws_sns_topic.notices.arn}": "arn:aws:sns:eu-central-1:123456789012:opskit-instance-protect-notices",
    }
    env = {name: values[unquote(expression)] for name, expression in local_values["environment"].items()}

    cfg = load_handler("instance_protect").Config.from_env(env)

    assert (cfg.protect_key, cfg.protect_value, cfg.hold_tag_key) == ("Protected", "true", "opskit:hold")
    assert cfg.topic_arn == env["TOPIC_ARN"]


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


def test_rule_deploys_the_pattern_file_the_tests_render(function_module, local_values):
    """tests/test_instance_protect_pattern.py renders patterns/instance-state.json with the account id; the
    rule must deploy exactly that template, rendered with the caller's account."""
    (key,) = function_module["event_rules"]
    rule = function_module["event_rules"][key]
    assert rule["event_pattern"] == "${local.event_pattern}"
    rendered = local_values["event_pattern"]
    assert '"${path.module}/patterns/instance-state.json"' in rendered
    assert "account_id = data.aws_caller_identity.current.account_id" in rendered
    assert (MODULE / "patterns/instance-state.json").is_file()
    # lambda-function names the rule "<name>-<key>"; EventBridge allows 64 characters and name_prefix 40.
    assert len("x" * 40 + "-instance-protect-" + key) <= 64


def test_every_variable_is_typed_and_described():
    for name, body in labelled(load("variables.tf")["variable"]):
        assert "type" in body, name
        assert unquote(body.get("description", "")).strip(), name


def test_handler_and_module_agree_on_the_cap_limits(load_handler):
    """variables.tf allows max_restarts 1-20 and window_seconds 60-604800; the handler takes exactly those."""
    handler = load_handler("instance_protect")
    from_env: Callable[..., Any] = handler.Config.from_env
    from_env({"MAX_RESTARTS": "20", "WINDOW_SECONDS": "60"})
    from_env({"MAX_RESTARTS": "1", "WINDOW_SECONDS": "604800"})
    text = (MODULE / "variables.tf").read_text(encoding="utf-8")
    assert "var.max_restarts >= 1 && var.max_restarts <= 20" in text
    assert "var.window_seconds >= 60 && var.window_seconds <= 604800" in text
    config_module = sys.modules[handler.Config.__module__]  # functions/instance_protect/instance_protect_config.py
    assert (config_module.MAX_RESTARTS_LIMIT, config_module.WINDOW_SECONDS_RANGE) == (20, (60, 604_800))
