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
    """{"aws_s3_bucket.trail": body, ...} from one .tf file."""
    return {
        f"{t}.{n}": body
        for block in load(name).get("resource", [])
        for t, named in block.items()
        for n, body in named.items()
    }


def test_the_optional_trail_is_off_by_default_and_its_bucket_is_locked_down():
    """create_trail: a management-events trail whose bucket is encrypted, versioned, public-access-blocked,
    TLS-only, writable only by this trail, and expires its log files."""
    assert variables()["create_trail"]["default"] is False
    trail = resources("trail.tf")
    assert all(body["count"] == "${var.create_trail ? 1 : 0}" for body in trail.values())

    block = trail["aws_s3_bucket_public_access_block.trail"]
    assert all(
        block[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    assert trail["aws_s3_bucket_versioning.trail"]["versioning_configuration"][0]["status"] == "Enabled"
    sse = trail["aws_s3_bucket_server_side_encryption_configuration.trail"]["rule"][0]
    assert "AES256" in sse["apply_server_side_encryption_by_default"][0]["sse_algorithm"]
    rules = trail["aws_s3_bucket_lifecycle_configuration.trail"]["rule"]
    assert any(r.get("expiration", [{}])[0].get("days") == "${var.trail_retention_days}" for r in rules)

    cloudtrail = trail["aws_cloudtrail.this"]
    assert cloudtrail["enable_logging"] is True and cloudtrail["enable_log_file_validation"] is True
    assert cloudtrail["event_selector"][0]["include_management_events"] is True

    policy = load("trail.tf")["data"][0]["aws_iam_policy_document"]["trail_bucket"]["statement"]
    by_sid = {s["sid"]: s for s in policy}
    deny = by_sid["DenyInsecureTransport"]
    assert deny["effect"] == "Deny"
    assert deny["condition"][0]["variable"] == "aws:SecureTransport" and deny["condition"][0]["values"] == ["false"]
    for sid in ("CloudTrailAclCheck", "CloudTrailWrite"):
        conditions = {c["variable"]: c["values"] for c in by_sid[sid]["condition"]}
        assert conditions["aws:SourceArn"] == ["${local.trail_arn}"], sid


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
