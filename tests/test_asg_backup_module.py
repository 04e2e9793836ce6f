"""modules/asg-backup read statically (python-hcl2) and held against the handler and the document: the grants
cover exactly the calls the handler makes, the environment is what the handler reads, and the hook, rules,
document and bucket are what the module promises."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import yaml
from opskit_tools import hcl
from opskit_tools.paths import FUNCTIONS, MODULES

MODULE = MODULES / "asg-backup"
HANDLER = FUNCTIONS / "asg_backup" / "handler.py"


def load(name: str) -> dict[str, Any]:
    return hcl.load_unquoted(MODULE / name)


def blocks(kind: str, type_: str) -> dict[str, Any]:
    return hcl.blocks(MODULE, kind, type_)


@functools.cache
def variables() -> dict[str, Any]:
    return {k: v for block in load("variables.tf")["variable"] for k, v in block.items()}


def statements(document: str) -> list[dict[str, Any]]:
    body = blocks("data", "aws_iam_policy_document")[document]
    found = list(body.get("statement", []))
    for dynamic in body.get("dynamic", []):
        found += dynamic.get("statement", {}).get("content", [])
    return found


def function_module() -> dict[str, Any]:
    return next(block["function"] for block in load("main.tf")["module"] if "function" in block)


@pytest.fixture
def handler(load_handler: Callable[[str], ModuleType]) -> ModuleType:
    return load_handler("asg_backup")


# boto3 operation -> IAM action, where the two names differ beyond CamelCase.
ACTION_OF = {("s3", "head_object"): "s3:GetObject"}


def handler_calls() -> set[str]:
    source = HANDLER.read_text(encoding="utf-8")
    calls = set(re.findall(r'client\("([a-z0-9-]+)"\)\.(?!get_paginator)([a-z_]+)\(', source))
    calls |= set(re.findall(r'client\("([a-z0-9-]+)"\)\.get_paginator\("([a-z_]+)"\)', source))
    assert calls, "no AWS calls found in the handler: the pattern above is out of date"
    return {
        ACTION_OF.get((service, op), f"{service}:{''.join(p.title() for p in op.split('_'))}") for service, op in calls
    }


def test_function_policy_grants_exactly_the_calls_the_handler_makes() -> None:
    granted = {action for s in statements("function") for action in s["actions"]}
    # s3:ListBucket is no call of its own: it makes HeadObject of a missing key answer 404 rather than 403.
    assert granted == handler_calls() | {"s3:ListBucket"}


def test_send_command_only_with_this_document_on_instances_of_these_groups() -> None:
    sends = [s for s in statements("function") if "ssm:SendCommand" in s["actions"]]
    assert sorted(r for s in sends for r in s["resources"]) == [
        "${local.document_arn}",
        "arn:${local.partition}:ec2:${local.region}:${local.account_id}:instance/*",
    ]
    (on_instances,) = [s for s in sends if s.get("condition")]
    (condition,) = on_instances["condition"]
    assert condition["variable"] == "aws:ResourceTag/aws:autoscaling:groupName"
    assert condition["test"] == "StringEquals"
    assert "var.autoscaling_group_names" in condition["values"]
    (complete,) = [s for s in statements("function") if "autoscaling:CompleteLifecycleAction" in s["actions"]]
    assert complete["resources"] == "${local.group_arns}"
    (publish,) = [s for s in statements("function") if "sns:Publish" in s["actions"]]
    assert publish["resources"] == ["${aws_sns_topic.results.arn}"]


def test_instance_policy_is_put_object_under_the_prefix_and_nothing_else() -> None:
    actions = {action: s["resources"] for s in statements("instance") for action in s["actions"]}
    assert actions == {
        "s3:PutObject": ["${local.prefix_arn}"],
        "kms:GenerateDataKey": ["${statement.value}"],  # only when kms_key_arn is set (dynamic block)
        "kms:Decrypt": ["${statement.value}"],
    }
    outputs = {k: v for block in load("outputs.tf")["output"] for k, v in block.items()}
    assert outputs["instance_policy_json"]["value"] == "${data.aws_iam_policy_document.instance.json}"


def test_environment_is_what_the_handler_reads(handler: ModuleType) -> None:
    read = set(re.findall(r'"([A-Z][A-Z_]+)"', inspect.getsource(handler.Config.from_env))) - set(handler.RESULTS)
    environment = function_module()["environment"]
    set_by_terraform = set(re.findall(r"\b([A-Z][A-Z_]+)\s*=", environment))
    assert set_by_terraform == read
    assert {"DOCUMENT_NAME", "BUCKET", "PREFIX", "BACKUP_PATHS", "TOPIC_ARN", "HOOK_NAME"} <= read
    assert {"UNMANAGED_RESULT", "COMMAND_TIMEOUT_SECONDS"} <= read


def test_one_terminate_hook_per_group_that_outlasts_the_command(handler: ModuleType) -> None:
    hook = blocks("resource", "aws_autoscaling_lifecycle_hook")["terminate"]
    assert hook["for_each"] == "${var.autoscaling_group_names}"
    assert hook["autoscaling_group_name"] == "${each.value}"
    assert hook["lifecycle_transition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
    assert hook["default_result"] == "CONTINUE"
    assert hook["heartbeat_timeout"] == "${var.heartbeat_timeout}"
    conditions = [p["condition"] for p in hook["lifecycle"][0]["precondition"]]
    assert "${var.heartbeat_timeout > var.command_timeout_seconds + local.delivery_timeout_seconds}" in conditions
    heartbeat, command = variables()["heartbeat_timeout"]["default"], variables()["command_timeout_seconds"]["default"]
    assert heartbeat == 3600
    assert heartbeat > command + handler.DELIVERY_TIMEOUT_SECONDS, "the defaults must pass the precondition"


def test_both_rules_render_the_pattern_files_and_target_the_function() -> None:
    rules = function_module()["event_rules"]
    assert sorted(rules) == ["command_status", "terminate"]
    assert 'patterns/terminate-lifecycle-action.json"' in rules["terminate"]["event_pattern"]
    assert 'patterns/command-status.json"' in rules["command_status"]["event_pattern"]
    for rule in rules.values():
        assert rule["event_pattern"].startswith("${templatefile(")


def test_document_takes_every_value_as_a_checked_environment_variable() -> None:
    (document,) = blocks("resource", "aws_ssm_document").values()
    assert document["content"] == '${file("${path.module}/backup-document.yaml")}'
    assert document["document_type"] == "Command"
    content = yaml.safe_load((MODULE / "backup-document.yaml").read_text(encoding="utf-8"))
    assert content["schemaVersion"] == "2.2"
    (step,) = content["mainSteps"]
    assert step["action"] == "aws:runShellScript"
    assert step["inputs"]["timeoutSeconds"] == "{{ executionTimeout }}"
    script = "\n".join(step["inputs"]["runCommand"])
    assert "{{" not in script, "parameters reach the script as SSM_<Name> variables, never by text substitution"
    for name, parameter in content["parameters"].items():
        assert parameter.get("allowedPattern"), name
        if name != "executionTimeout":  # used by timeoutSeconds, not by the script
            assert parameter.get("interpolationType") == "ENV_VAR", name


def test_bucket_is_versioned_encrypted_private_tls_only_and_expires() -> None:
    assert blocks("resource", "aws_s3_bucket_versioning")["this"]["versioning_configuration"][0]["status"] == (
        "Enabled"
    )
    sse = blocks("resource", "aws_s3_bucket_server_side_encryption_configuration")["this"]
    assert sse["rule"][0]["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"
    block = blocks("resource", "aws_s3_bucket_public_access_block")["this"]
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls"))
    assert block["restrict_public_buckets"] is True
    (deny,) = statements("bucket")
    assert deny["effect"] == "Deny"
    assert deny["condition"][0] == {
        "test": "Bool",
        "variable": "aws:SecureTransport",
        "values": ["false"],
    }
    (expire,) = [
        r for r in blocks("resource", "aws_s3_bucket_lifecycle_configuration")["this"]["rule"] if "expiration" in r
    ]
    assert expire["expiration"][0]["days"] == "${var.backup_retention_days}"
    assert variables()["backup_retention_days"]["default"] == 90
