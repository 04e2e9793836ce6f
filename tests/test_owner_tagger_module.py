"""modules/owner-tagger and functions/owner_tagger agree: the event names Terraform accepts are exactly
those the handler knows, the CreateTags grant covers exactly the resource types the handler tags, and the
environment Terraform sets is the environment the handler reads."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from opskit_tools import hcl
from opskit_tools.paths import MODULES

MODULE = MODULES / "owner-tagger"


def load(name: str) -> dict[str, Any]:
    return hcl.load_unquoted(MODULE / name)


@functools.cache
def variables() -> dict[str, Any]:
    return {k: v for block in load("variables.tf")["variable"] for k, v in block.items()}


@pytest.fixture
def handler(load_handler: Callable[[str], ModuleType]) -> ModuleType:
    return load_handler("owner_tagger")


def test_terraform_accepts_exactly_the_event_names_the_handler_tags(handler):
    validations = variables()["event_names"]["validation"]
    allowed = next(re.findall(r'"(\w+)"', v["condition"]) for v in validations if "contains([" in v["condition"])
    assert sorted(allowed) == sorted(handler.SUPPORTED_EVENTS)
    assert variables()["event_names"]["default"] == ["RunInstances"]


def test_create_tags_grant_covers_the_resource_types_the_handler_tags(handler):
    by_event = load("iam.tf")["locals"][0]["resource_types_by_event"]
    assert sorted(by_event) == sorted(handler.SUPPORTED_EVENTS)
    for event_name, (resource_type, _) in handler.SUPPORTED_EVENTS.items():
        assert resource_type in by_event[event_name]
    # RunInstances also tags the attached volumes and network interfaces.
    assert sorted(by_event["RunInstances"]) == ["instance", "network-interface", "volume"]


def test_terraform_sets_the_environment_the_handler_reads(handler):
    environment = load("main.tf")["module"][0]["function"]["environment"]
    source = Path(handler.__file__).read_text(encoding="utf-8")
    read = set(re.findall(r'env_str\(env, "([A-Z_]+)"', source))
    assert set(environment) == read == {"OWNER_TAG_KEY", "CREATED_BY_TAG_KEY", "CREATED_AT_TAG_KEY"}
    defaults = {k: variables()[f"{k.lower()}"]["default"] for k in read}
    assert defaults == {"OWNER_TAG_KEY": "Owner", "CREATED_BY_TAG_KEY": "CreatedBy", "CREATED_AT_TAG_KEY": "CreatedAt"}
    assert handler.Config.from_env({}).keys == ["Owner", "CreatedBy", "CreatedAt"]


def test_async_retries_are_few_and_failures_reach_a_dlq():
    function = load("main.tf")["module"][0]["function"]
    assert function["async_invocation"]["maximum_retry_attempts"] == 2
    assert function["create_dlq"] is True


def resources(name: str) -> dict[str, dict[str, Any]]:
    """{"aws_cloudtrail.this": body, ...} from one .tf file."""
    return {
        f"{t}.{n}": body
        for block in load(name).get("resource", [])
        for t, named in block.items()
        for n, body in named.items()
    }


BUCKET_MODULE = MODULES / "s3-bucket"


def trail_bucket_call() -> dict[str, Any]:
    (call,) = [block["trail_bucket"] for block in load("trail.tf")["module"] if "trail_bucket" in block]
    return call


def bucket_resource(type_: str) -> dict[str, Any]:
    return hcl.blocks(BUCKET_MODULE, "resource", type_)["this"]


def test_the_optional_trail_is_off_by_default_and_logs_to_its_own_bucket():
    """create_trail: a management-events trail with log file validation, writing to the bucket module's
    bucket only once the bucket policy lets it."""
    assert variables()["create_trail"]["default"] is False
    trail = resources("trail.tf")
    assert sorted(trail) == ["aws_cloudtrail.this"], "the bucket is declared in modules/s3-bucket only"
    call = trail_bucket_call()
    (policy,) = load("trail.tf")["data"][0]["aws_iam_policy_document"].values()
    for body in (trail["aws_cloudtrail.this"], call, policy):
        assert body["count"] == "${var.create_trail ? 1 : 0}"
    assert call["source"] == "../s3-bucket"

    cloudtrail = trail["aws_cloudtrail.this"]
    assert cloudtrail["enable_logging"] is True and cloudtrail["enable_log_file_validation"] is True
    assert cloudtrail["event_selector"][0]["include_management_events"] is True
    assert cloudtrail["s3_bucket_name"] == "${module.trail_bucket[0].bucket}"
    assert cloudtrail["depends_on"] == ["${module.trail_bucket}"]  # CloudTrail checks the bucket policy
    outputs = {k: v for block in load("outputs.tf")["output"] for k, v in block.items()}
    assert outputs["trail_bucket_name"]["value"] == "${var.create_trail ? module.trail_bucket[0].bucket : null}"


def test_trail_bucket_name_is_valid_for_the_bucket_module():
    """The bucket name is known before apply; with the default prefix it passes the module's name rules, and
    a too-long name fails the plan with a hint to shorten name_prefix."""
    trail_locals = load("trail.tf")["locals"][0]
    assert trail_locals["trail_bucket_name"] == "${lower(local.name)}-trail-${local.account_id}-${local.region}"
    assert trail_locals["trail_bucket_arn"] == "arn:${local.partition}:s3:::${local.trail_bucket_name}"
    assert trail_bucket_call()["name"] == "${local.trail_bucket_name}"
    (validation,) = {k: v for b in hcl.load_unquoted(BUCKET_MODULE / "variables.tf")["variable"] for k, v in b.items()}[
        "name"
    ]["validation"]
    (pattern,) = re.findall(r'regex\("(\^\[a-z.+?)", var\.name\)', validation["condition"])
    name = f"{variables()['name_prefix']['default']}-owner-tagger-trail-123456789012-eu-central-1"
    assert re.fullmatch(pattern, name) and len(name) <= 63
    too_long = f"{'x' * 40}-owner-tagger-trail-123456789012-ap-southeast-2"
    assert not re.fullmatch(pattern, too_long)
    (policy,) = load("trail.tf")["data"][0]["aws_iam_policy_document"].values()
    [precondition] = policy["lifecycle"][0]["precondition"]
    assert precondition["condition"] == "${length(local.trail_bucket_name) <= 63}"
    assert "shorten name_prefix" in precondition["error_message"]


def test_trail_bucket_is_sse_s3_or_sse_kms_with_the_trail_key():
    default = bucket_resource("aws_s3_bucket_server_side_encryption_configuration")["rule"][0][
        "apply_server_side_encryption_by_default"
    ][0]
    assert default["sse_algorithm"] == '${var.kms_key_arn != null ? "aws:kms" : var.sse_algorithm_without_key}'
    assert default["kms_master_key_id"] == "${var.kms_key_arn}"
    call = trail_bucket_call()
    assert call["kms_key_arn"] == "${var.trail_kms_key_arn}"
    assert call["sse_algorithm_without_key"] == "AES256"
    assert call["bucket_key_enabled"] == "${var.trail_kms_key_arn != null}"
    assert resources("trail.tf")["aws_cloudtrail.this"]["kms_key_id"] == "${var.trail_kms_key_arn}"


def test_trail_bucket_is_versioned_private_and_expires_its_log_files():
    assert bucket_resource("aws_s3_bucket_versioning")["versioning_configuration"][0]["status"] == "Enabled"
    assert bucket_resource("aws_s3_bucket_ownership_controls")["rule"][0]["object_ownership"] == "BucketOwnerEnforced"
    block = bucket_resource("aws_s3_bucket_public_access_block")
    assert all(
        block[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    rules = {r["id"]: r for r in bucket_resource("aws_s3_bucket_lifecycle_configuration")["rule"]}
    expire = rules["${var.expiration_rule_id}"]
    assert expire["filter"][0]["prefix"] == "${var.expiration_prefix}"
    assert expire["expiration"][0]["days"] == "${var.expiration_days}"
    assert rules["abort-incomplete-uploads"]["abort_incomplete_multipart_upload"][0]["days_after_initiation"] == (
        "${var.abort_incomplete_upload_days}"
    )
    call = trail_bucket_call()
    assert call["expiration_rule_id"] == "expire-trail-logs"  # the rule id of trails made before the module
    assert call["expiration_prefix"] == "AWSLogs/"
    assert call["expiration_days"] == call["noncurrent_expiration_days"] == "${var.trail_retention_days}"
    assert call["abort_incomplete_upload_days"] == 7
    assert call["force_destroy"] == "${var.trail_force_destroy}"
    assert variables()["trail_force_destroy"]["default"] is False


def test_trail_bucket_policy_is_tls_only_and_writable_by_this_trail_only():
    """The module's TLS-only deny comes first; owner-tagger adds CloudTrail's two documented statements,
    each conditioned on this trail's ARN."""
    documents = hcl.blocks(BUCKET_MODULE, "data", "aws_iam_policy_document")
    (deny,) = documents["tls_only"]["statement"]
    assert deny["sid"] == "DenyInsecureTransport" and deny["effect"] == "Deny"
    assert deny["condition"][0] == {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}
    assert documents["this"]["source_policy_documents"] == (
        "${concat([data.aws_iam_policy_document.tls_only.json], var.policy_documents)}"
    )
    assert bucket_resource("aws_s3_bucket_policy")["policy"] == "${data.aws_iam_policy_document.this.json}"

    assert trail_bucket_call()["policy_documents"] == ["${data.aws_iam_policy_document.trail_bucket[0].json}"]
    (policy,) = load("trail.tf")["data"][0]["aws_iam_policy_document"].values()
    by_sid = {s["sid"]: s for s in policy["statement"]}
    assert sorted(by_sid) == ["CloudTrailAclCheck", "CloudTrailWrite"]
    assert by_sid["CloudTrailAclCheck"]["actions"] == ["s3:GetBucketAcl"]
    assert by_sid["CloudTrailAclCheck"]["resources"] == ["${local.trail_bucket_arn}"]
    assert by_sid["CloudTrailWrite"]["actions"] == ["s3:PutObject"]
    assert by_sid["CloudTrailWrite"]["resources"] == ["${local.trail_bucket_arn}/${local.trail_log_prefix}"]
    for sid, statement in by_sid.items():
        assert statement["principals"] == [{"type": "Service", "identifiers": ["cloudtrail.amazonaws.com"]}], sid
        conditions = {c["variable"]: c["values"] for c in statement["condition"]}
        assert conditions["aws:SourceArn"] == ["${local.trail_arn}"], sid
    conditions = {c["variable"]: c["values"] for c in by_sid["CloudTrailWrite"]["condition"]}
    assert conditions["s3:x-amz-acl"] == ["bucket-owner-full-control"]


def test_duplicate_tag_keys_fail_the_plan_like_they_fail_the_handler(handler):
    """The handler raises ConfigError on duplicate keys; Terraform refuses them at plan time."""
    tagging = load("iam.tf")["data"][0]["aws_iam_policy_document"]["tagging"]
    [precondition] = tagging["lifecycle"][0]["precondition"]
    assert precondition["condition"] == "${length(distinct(local.tag_keys)) == length(local.tag_keys)}"
    assert (
        "compact([var.owner_tag_key, var.created_by_tag_key, var.created_at_tag_key])"
        in load("iam.tf")["locals"][0]["tag_keys"]
    )
    with pytest.raises(ValueError, match="must differ"):
        handler.Config.from_env({"CREATED_AT_TAG_KEY": "Owner"})
