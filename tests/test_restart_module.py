"""Static checks of modules/restart-workflow that tie the Terraform to the handler and the definition it deploys:
alarm defaults, lock-table settings the guard relies on, environment, and IAM against the calls actually made."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from opskit_tools import hcl
from opskit_tools.hcl import labelled, unquote

REPO = Path(__file__).resolve().parents[1]
MODULE = REPO / "modules" / "restart-workflow"
HANDLER = REPO / "functions" / "restart_guard" / "handler.py"
SERVICE_PREFIX = {"ec2": "ec2", "dynamodb": "dynamodb", "stepfunctions": "states", "sns": "sns"}


def load(name: str) -> dict[str, Any]:
    return hcl.load(MODULE / name)


def resource(kind: str, name: str) -> dict[str, Any]:
    return dict(labelled([b for k, b in labelled(load("main.tf")["resource"]) if k == kind]))[name]


def variables() -> dict[str, dict[str, Any]]:
    return dict(labelled(load("variables.tf")["variable"]))


def statements(document: str) -> dict[str, dict[str, Any]]:
    documents = dict(labelled([b for k, b in labelled(load("iam.tf")["data"]) if k == "aws_iam_policy_document"]))
    body = documents[document]
    found = {unquote(s["sid"]): s for s in body.get("statement", [])}
    for dynamic in body.get("dynamic", []):
        for _, dynamic_body in labelled([dynamic]):
            for content in dynamic_body["content"]:
                found[unquote(content["sid"])] = content
    return found


def actions(document: str) -> set[str]:
    return {unquote(a) for s in statements(document).values() for a in s["actions"]}


def iam_action(service: str, api: str) -> str:
    camel = "".join(part[:1].upper() + part[1:] for part in api.split("_"))
    return f"{SERVICE_PREFIX[service]}:{camel}"


# --- alarm and guard defaults ------------------------------------------------------------------------


def test_alarm_defaults_are_cpu_above_80_for_5_of_5_minutes_and_ignore_missing_data() -> None:
    alarm_type = variables()["alarm"]["type"]
    defaults = dict(re.findall(r"(\w+) = optional\(\w+, \"?([^\")]+)\"?\)", alarm_type))
    assert defaults == {
        "metric_name": "CPUUtilization",
        "namespace": "AWS/EC2",
        "statistic": "Average",
        "comparison_operator": "GreaterThanThreshold",
        "threshold": "80",
        "period": "60",
        "evaluation_periods": "5",
        "datapoints_to_alarm": "5",
        # the workflow's own stop leaves the metric without data: the alarm must keep its state, not flap
        "treat_missing_data": "ignore",
    }


def test_terraform_defaults_match_the_guard_defaults(load_handler: Any) -> None:
    guard = load_handler("restart_guard")
    cfg = guard.Config.from_env(
        {"STATE_MACHINE_ARN": "arn:aws:states:eu-central-1:123456789012:stateMachine:m", "LOCK_TABLE": "t"}
    )
    declared = variables()
    assert (cfg.cooldown_seconds, cfg.max_restarts, cfg.window_seconds) == (1800, 3, 86400)
    assert declared["cooldown_seconds"]["default"] == cfg.cooldown_seconds
    assert declared["max_restarts"]["default"] == cfg.max_restarts
    assert declared["window_seconds"]["default"] == cfg.window_seconds
    assert declared["poll_interval_seconds"]["default"] == 15
    assert cfg.opt_in_tag is None and cfg.dry_run is False


def test_every_environment_variable_the_guard_reads_is_set_by_terraform() -> None:
    read = set(re.findall(r"env(?:_\w+\(env, |\.get\()\"([A-Z_]+)\"", HANDLER.read_text()))
    assert read == {
        "STATE_MACHINE_ARN",
        "LOCK_TABLE",
        "COOLDOWN_SECONDS",
        "MAX_RESTARTS",
        "WINDOW_SECONDS",
        "LOCK_SECONDS",
        "MAX_ALARM_AGE_SECONDS",
        "OPT_IN_TAG",
        "DRY_RUN",
    }
    guard = dict(labelled(load("main.tf")["module"]))["guard"]
    assert read == set(re.findall(r"\b([A-Z_]{5,}) = ", guard["environment"]))


# --- lock table ------------------------------------------------------------------------------------


def test_lock_table_is_on_demand_with_pitr_and_the_ttl_attribute_the_guard_writes() -> None:
    table = resource("aws_dynamodb_table", "locks")
    assert unquote(table["billing_mode"]) == "PAY_PER_REQUEST"
    assert table["point_in_time_recovery"][0]["enabled"] is True
    assert table["server_side_encryption"][0]["enabled"] is True
    (ttl,) = table["ttl"]
    assert ttl["enabled"] is True
    assert unquote(table["hash_key"]) == "instance_id"
    source = HANDLER.read_text()
    assert f"{unquote(ttl['attribute_name'])} = :expires" in source  # the guard's UpdateExpression
    assert '{"instance_id": {"S": instance_id}}' in source


def test_notification_topic_is_kms_encrypted() -> None:
    topic = resource("aws_sns_topic", "notifications")
    assert 'alias/aws/sns"' in topic["kms_master_key_id"] and "var.kms_key_arn" in topic["kms_master_key_id"]


# --- IAM against what the code calls -----------------------------------------------------------------


def test_guard_policy_grants_exactly_the_calls_the_handler_makes() -> None:
    calls = re.findall(r"client\(\"(\w+)\"\)\s*\.(\w+)\(", HANDLER.read_text())
    assert {iam_action(service, api) for service, api in calls} == actions("guard") - {
        "kms:Decrypt",
        "kms:GenerateDataKey",
    }


def test_state_machine_policy_covers_every_task_of_the_definition() -> None:
    text = (MODULE / "restart.asl.json").read_text()
    needed = set()
    for service, api in re.findall(r"arn:aws:states:::(?:aws-sdk:)?(\w+):(\w+)", text):
        needed.add(f"{service}:{api[:1].upper()}{api[1:]}")
    assert needed == {
        "ec2:CreateTags",
        "ec2:StopInstances",
        "ec2:DescribeInstances",
        "ec2:StartInstances",
        "ec2:DescribeInstanceStatus",
        "ec2:DeleteTags",
        "dynamodb:UpdateItem",
        "sns:Publish",
    }
    assert needed <= actions("state_machine")


@pytest.mark.parametrize("sid", ["StoppedByTagOptedIn", "StoppedByTagWatched"])
def test_tag_permissions_cover_only_the_stopped_by_key_and_require_it(sid: str) -> None:
    statement = statements("state_machine")[sid]
    conditions = {(unquote(c["test"]), unquote(c["variable"])): c["values"] for c in statement["condition"]}
    assert conditions[("ForAllValues:StringEquals", "aws:TagKeys")] == ["${local.stopped_by_tag}"]
    # DeleteTags without keys deletes every tag, and ForAllValues is true for an empty key set
    assert [unquote(v) for v in conditions[("Null", "aws:TagKeys")]] == ["false"]
    stopped_by = dict(load("iam.tf")["locals"][0])["stopped_by_tag"]
    assert unquote(stopped_by) == "opskit:stopped-by"
    assert '"Key": "opskit:stopped-by"' in (MODULE / "restart.asl.json").read_text()


# --- optional routes -------------------------------------------------------------------------------


def test_optional_routes_grant_invoke_to_the_alarm_and_sns_principals_and_need_the_opt_in_tag() -> None:
    guard = dict(labelled(load("main.tf")["module"]))["guard"]
    assert 'principal = "lambda.alarms.cloudwatch.amazonaws.com", source_arn = arn' in guard["allowed_triggers"]
    assert 'principal = "sns.amazonaws.com", source_arn = arn' in guard["allowed_triggers"]
    subscription = resource("aws_sns_topic_subscription", "alarm_topics")
    assert unquote(subscription["protocol"]) == "lambda"
    assert unquote(subscription["filter_policy_scope"]) == "MessageBody"
    assert 'NewStateValue = ["ALARM"]' in subscription["filter_policy"]
    machine = resource("aws_sfn_state_machine", "this")
    conditions = [p["condition"] for p in machine["lifecycle"][0]["precondition"]]
    assert any(
        all(v in c for v in ("var.alarm_action_arns", "var.alarm_topic_arns", "var.alarm_names", "var.opt_in_tag"))
        for c in conditions
    )
