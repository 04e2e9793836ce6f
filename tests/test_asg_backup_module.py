"""modules/asg-backup held against the handler and the document (python-hcl2): the grants cover exactly the
calls the handler makes, the environment is what the handler reads, and the bucket module is called the way the
document's uploads need. What the module alone promises (hooks, rules, document, statements and their conditions,
validations, preconditions) is tested by Terraform itself in modules/asg-backup/tests/*.tftest.hcl."""

from __future__ import annotations

import functools
import inspect
import re
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import yaml
from opskit_tools import hcl
from opskit_tools.paths import FUNCTIONS, MODULES

MODULE = MODULES / "asg-backup"
SOURCES = sorted((FUNCTIONS / "asg_backup").glob("*.py"))


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
    """Every AWS call in the function's files (handler.py and the asg_backup_*.py it imports)."""
    source = "\n".join(path.read_text(encoding="utf-8") for path in SOURCES)
    calls = set(re.findall(r'client\("([a-z0-9-]+)"\)\.(?!get_paginator)([a-z_]+)\(', source))
    calls |= set(re.findall(r'client\("([a-z0-9-]+)"\)\.get_paginator\("([a-z_]+)"\)', source))
    assert calls, "no AWS calls found in the handler: the pattern above is out of date"
    return {
        ACTION_OF.get((service, op), f"{service}:{''.join(p.title() for p in op.split('_'))}") for service, op in calls
    }


def test_function_policy_grants_exactly_the_calls_the_handler_makes() -> None:
    granted = {action for s in statements("function") for action in s["actions"]}
    # s3:ListBucket is no call of its own: it makes HeadObject of a missing key answer 404 rather than 403.
    # The KMS actions are SNS's on the function's behalf when it publishes to the encrypted topic.
    # iam:PassRole is what CreateSchedule needs to hand the heartbeat role to EventBridge Scheduler.
    assert granted == handler_calls() | {"s3:ListBucket", "kms:GenerateDataKey", "kms:Decrypt", "iam:PassRole"}
    assert {"autoscaling:RecordLifecycleActionHeartbeat", "scheduler:CreateSchedule"} <= handler_calls()


def test_environment_is_what_the_handler_reads(handler: ModuleType) -> None:
    config = sys.modules[handler.Config.__module__]
    readers = (handler.Config.from_env, config._heartbeats)
    read = {name for f in readers for name in re.findall(r'"([A-Z][A-Z_]+)"', inspect.getsource(f))}
    read -= set(handler.RESULTS)
    assert function_module()["environment"] == "${local.function_environment}"
    environment = load("main.tf")["locals"][0]["function_environment"]
    set_by_terraform = set(re.findall(r"\b([A-Z][A-Z_]+)\s*=", environment))
    assert set_by_terraform == read
    assert {"DOCUMENT_NAME", "DOCUMENT_VERSION", "BUCKET", "PREFIX", "BACKUP_PATHS", "TOPIC_ARN", "HOOK_NAME"} <= read
    assert {"AUTOSCALING_GROUP_NAMES", "UNMANAGED_RESULT", "COMMAND_TIMEOUT_SECONDS"} <= read
    assert {"MAX_BACKUP_SECONDS", "HEARTBEAT_SCHEDULE_GROUP", "HEARTBEAT_ROLE_ARN", "FUNCTION_ARN"} <= read


def test_document_takes_every_value_as_a_checked_environment_variable() -> None:
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


BUCKET_MODULE = MODULES / "s3-bucket"


def bucket_call() -> dict[str, Any]:
    (call,) = [block["bucket"] for block in load("s3.tf")["module"] if "bucket" in block]
    return call


def bucket_resource(type_: str) -> dict[str, Any]:
    return hcl.blocks(BUCKET_MODULE, "resource", type_)["this"]


def test_bucket_is_versioned_private_owner_enforced_and_tls_only() -> None:
    assert bucket_resource("aws_s3_bucket_versioning")["versioning_configuration"][0]["status"] == "Enabled"
    assert bucket_resource("aws_s3_bucket_ownership_controls")["rule"][0]["object_ownership"] == "BucketOwnerEnforced"
    block = bucket_resource("aws_s3_bucket_public_access_block")
    assert all(
        block[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    documents = hcl.blocks(BUCKET_MODULE, "data", "aws_iam_policy_document")
    (deny,) = documents["tls_only"]["statement"]
    assert deny["effect"] == "Deny"
    assert deny["condition"][0] == {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}
    assert deny["resources"] == ["${aws_s3_bucket.this.arn}", "${aws_s3_bucket.this.arn}/*"]
    assert documents["this"]["source_policy_documents"].startswith("${concat([data.aws_iam_policy_document.tls_only")
    assert bucket_resource("aws_s3_bucket_policy")["policy"] == "${data.aws_iam_policy_document.this.json}"
    # The backup bucket takes no further statements: the instances' role and the function carry the grants.
    assert "policy_documents" not in bucket_call()


def test_bucket_is_always_sse_kms_with_the_key_or_aws_s3() -> None:
    """The uploads ask for SSE-KMS (aws:kms) whether or not kms_key_arn is set; the bucket default agrees."""
    rule = bucket_resource("aws_s3_bucket_server_side_encryption_configuration")["rule"][0]
    default = rule["apply_server_side_encryption_by_default"][0]
    assert default["sse_algorithm"] == '${var.kms_key_arn != null ? "aws:kms" : var.sse_algorithm_without_key}'
    assert default["kms_master_key_id"] == "${var.kms_key_arn}"
    assert rule["bucket_key_enabled"] == "${var.bucket_key_enabled}"
    call = bucket_call()
    assert call["kms_key_arn"] == "${var.kms_key_arn}"
    assert call["sse_algorithm_without_key"] == "aws:kms"
    assert call["bucket_key_enabled"] is True
    script = "\n".join(
        yaml.safe_load((MODULE / "backup-document.yaml").read_text(encoding="utf-8"))["mainSteps"][0]["inputs"][
            "runCommand"
        ]
    )
    assert "--sse aws:kms" in script


def test_backups_and_their_old_versions_expire_and_uploads_are_aborted_after_a_day() -> None:
    rules = {r["id"]: r for r in bucket_resource("aws_s3_bucket_lifecycle_configuration")["rule"]}
    expire = rules["${var.expiration_rule_id}"]
    assert expire["filter"][0]["prefix"] == "${var.expiration_prefix}"
    assert expire["expiration"][0]["days"] == "${var.expiration_days}"
    assert expire["noncurrent_version_expiration"][0]["noncurrent_days"] == (
        "${coalesce(var.noncurrent_expiration_days, var.expiration_days)}"
    )
    abort = rules["abort-incomplete-uploads"]
    assert abort["filter"] == [{}]
    assert abort["abort_incomplete_multipart_upload"][0]["days_after_initiation"] == (
        "${var.abort_incomplete_upload_days}"
    )
    call = bucket_call()
    assert call["expiration_rule_id"] == "expire-backups"  # the rule id of deployments made before the module
    assert call["expiration_prefix"] == "${var.backup_prefix}/"
    assert call["expiration_days"] == call["noncurrent_expiration_days"] == "${var.backup_retention_days}"
    assert call["abort_incomplete_upload_days"] == 1
    assert variables()["backup_retention_days"]["default"] == 90
