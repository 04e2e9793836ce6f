"""modules/owner-tagger and functions/owner_tagger agree: both read the same events.json (the calls Terraform
accepts are the calls the handler knows), the IAM resources cover every resource the handler tags, the
environment Terraform sets is the environment the handler reads, both refuse the same key prefixes, and
every CreateTags and TagResources request the handler makes passes the per-key IAM grant. What Terraform
alone decides is asserted by Terraform: modules/owner-tagger/tests/*.tftest.hcl."""

from __future__ import annotations

import copy
import fnmatch
import functools
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import opskit_common
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from opskit_tools import hcl
from opskit_tools.paths import EVENTS, MODULES

MODULE = MODULES / "owner-tagger"


def load(name: str) -> dict[str, Any]:
    return hcl.load_unquoted(MODULE / name)


@functools.cache
def variables() -> dict[str, Any]:
    return {k: v for block in load("variables.tf")["variable"] for k, v in block.items()}


@pytest.fixture
def handler(load_handler: Callable[[str], ModuleType]) -> ModuleType:
    return load_handler("owner_tagger")


def test_terraform_and_the_handler_read_the_same_events_file(handler):
    """events.json is shipped in the Lambda package (every file of functions/owner_tagger/ is staged) and read
    by Terraform through a path relative to the module: one list of supported calls."""
    table_expr = load("main.tf")["locals"][0]["table"]
    assert table_expr == '${jsondecode(file("${path.module}/../../functions/owner_tagger/events.json"))}'
    shipped = Path(handler.__file__).with_name("events.json").resolve()
    assert (MODULE / "../../functions/owner_tagger/events.json").resolve() == shipped
    validations = variables()["event_names"]["validation"]
    assert any("local.table.events" in v["condition"] and "local.unique_names" in v["condition"] for v in validations)
    assert variables()["event_names"]["default"] is None  # every supported call
    raw = json.loads(Path(handler.__file__).with_name("events.json").read_text(encoding="utf-8"))
    assert sorted(raw["events"]) == sorted(handler.config().event_keys) and len(raw["events"]) == 37


def _arn_patterns(service: str, raw: dict[str, Any]) -> list[str]:
    """The IAM resource patterns Terraform renders for a service (iam.tf: placeholders replaced, {id} -> *)."""
    return [
        r["arn"]
        .replace("{partition}", "aws")
        .replace("{region}", "eu-central-1")
        .replace("{account}", "123456789012")
        .replace("{id}", "*")
        for row in raw["events"].values()
        if row["service"] == service
        for r in row["resources"]
    ]


def test_every_resource_the_handler_tags_is_covered_by_the_iam_resources_of_its_service(handler, load_event):
    raw = json.loads(Path(handler.__file__).with_name("events.json").read_text(encoding="utf-8"))
    checked = 0
    for path in sorted(EVENTS.glob("owner_tagger/*.json")):
        parsed = handler.parse_event(load_event(f"owner_tagger/{path.name}"))
        if isinstance(parsed, str):
            continue
        for target in parsed.targets:
            patterns = _arn_patterns(target.service, raw)
            assert any(fnmatch.fnmatchcase(target.arn, p) for p in patterns), (path.name, target.arn, patterns)
            checked += 1
    assert checked >= 45
    # RunInstances also tags the attached volumes and network interfaces.
    assert sorted(r["type"] for r in raw["events"]["ec2:RunInstances"]["resources"]) == [
        "instance",
        "network-interface",
        "volume",
    ]


def test_every_service_names_its_tagging_actions_and_terraform_grants_them_from_the_file():
    raw = json.loads((MODULES.parent / "functions" / "owner_tagger" / "events.json").read_text(encoding="utf-8"))
    for name, service in raw["services"].items():
        assert service["tag_actions"] and all(a.startswith(f"{name}:") for a in service["tag_actions"]), name
        assert service["writer"] == ("ec2" if name == "ec2" else "tagging-api")
        assert service["source"] == f"aws.{name}" and service["event_source"] == f"{name}.amazonaws.com"
    iam = (MODULE / "iam.tf").read_text(encoding="utf-8")
    assert "local.table.services[s].tag_actions" in iam and "local.table.services[s].tag_key_conditions" in iam
    assert [n for n, s in raw["services"].items() if not s["tag_key_conditions"]] == ["s3"]


def test_terraform_sets_the_environment_the_handler_reads(handler):
    environment = load("main.tf")["module"][0]["function"]["environment"]
    source = (Path(handler.__file__).parent / "owner_tagger_config.py").read_text(encoding="utf-8")
    read = set(re.findall(r'"([A-Z][A-Z_]{4,})"', source))
    assert set(environment) <= read
    assert read - set(environment) == {"SWEEP_MAX_PAGES", "AWS_LAMBDA_FUNCTION_NAME"}  # defaults / set by Lambda
    defaults = {k: variables()[k.lower()]["default"] for k in sys.modules[handler.Config.__module__].KEY_VARIABLES}
    assert defaults == {
        "OWNER_TAG_KEY": "Owner",
        "CREATED_BY_TAG_KEY": "CreatedBy",
        "CREATED_AT_TAG_KEY": "CreatedAt",
        "CREATED_VIA_TAG_KEY": "CreatedVia",
    }
    assert handler.Config.from_env({}).keys == ["Owner", "CreatedBy", "CreatedAt", "CreatedVia"]
    assert environment["EVENT_NAMES"] == "${jsonencode(local.event_keys)}"


def test_async_retries_are_few_and_failures_reach_a_dlq():
    function = load("main.tf")["module"][0]["function"]
    assert function["async_invocation"]["maximum_retry_attempts"] == 2
    assert function["create_dlq"] is True


BUCKET_MODULE = MODULES / "s3-bucket"


def trail_bucket_call() -> dict[str, Any]:
    (call,) = [block["trail_bucket"] for block in load("trail.tf")["module"] if "trail_bucket" in block]
    return call


def bucket_resource(type_: str) -> dict[str, Any]:
    return hcl.blocks(BUCKET_MODULE, "resource", type_)["this"]


# What tests/*.tftest.hcl cannot see: arguments of the module calls and the bucket module's resources.
# (The trail itself, its bucket name, the CloudTrail bucket-policy statements and the 63-character
# precondition are asserted by modules/owner-tagger/tests/trail.tftest.hcl and validation.tftest.hcl.)


def test_the_trail_waits_for_the_bucket_policy_of_the_bucket_module():
    """CloudTrail checks the bucket policy when the trail is created, so the trail depends on the bucket
    module (which applies the policy); the bucket is declared only in modules/s3-bucket."""
    trail = {
        n: b for block in load("trail.tf").get("resource", []) for t, named in block.items() for n, b in named.items()
    }
    assert list(trail) == ["this"]
    assert trail["this"]["depends_on"] == ["${module.trail_bucket}"]
    assert trail_bucket_call()["source"] == "../s3-bucket"


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


def test_trail_bucket_policy_keeps_the_tls_only_deny_and_adds_the_cloudtrail_statements():
    """The module's TLS-only deny comes first; owner-tagger passes its CloudTrail statements (asserted in
    trail.tftest.hcl) as an extra policy document."""
    documents = hcl.blocks(BUCKET_MODULE, "data", "aws_iam_policy_document")
    (deny,) = documents["tls_only"]["statement"]
    assert deny["sid"] == "DenyInsecureTransport" and deny["effect"] == "Deny"
    assert deny["condition"][0] == {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}
    assert documents["this"]["source_policy_documents"] == (
        "${concat([data.aws_iam_policy_document.tls_only.json], var.policy_documents)}"
    )
    assert bucket_resource("aws_s3_bucket_policy")["policy"] == "${data.aws_iam_policy_document.this.json}"
    assert trail_bucket_call()["policy_documents"] == ["${data.aws_iam_policy_document.trail_bucket[0].json}"]


def test_terraform_and_the_handler_reserve_the_same_key_prefixes(handler):
    """aws: is refused by each key's validation and opskit: by the reserved-keys precondition; the handler
    refuses the same prefixes at cold start, so neither side accepts a key the other refuses."""
    hcl_text = (MODULE / "variables.tf").read_text(encoding="utf-8") + (MODULE / "iam.tf").read_text(encoding="utf-8")
    prefixes = set(re.findall(r'startswith\(lower\([^)]*\), "([a-z]+:)"\)', hcl_text))
    assert prefixes == set(handler.RESERVED_PREFIXES) == {"aws:", "opskit:"}
    for key in ("aws:owner", "AWS:Owner", "opskit:owner", "OpsKit:Owner"):
        with pytest.raises(opskit_common.ConfigError, match="reserved"):
            handler.Config.from_env({"OWNER_TAG_KEY": key})


def tag_key_grant(key: str, action: str) -> list[dict[str, Any]]:
    """The conditions of iam.tf's per-key statement that grants `action`, rendered for `key`."""
    [document] = [
        d["aws_iam_policy_document"]["tag_key"]
        for d in load("iam.tf")["data"]
        if "tag_key" in d["aws_iam_policy_document"]
    ]
    contents = [d["statement"]["content"][0] for d in document["dynamic"]]
    if action == "ec2:CreateTags":
        [grant] = [c for c in contents if c["actions"] == ["ec2:CreateTags"]]
    else:
        [grant] = [c for c in contents if c["actions"] == "${local.keyed_actions}"]
    return [
        {
            "test": c["test"],
            "variable": c["variable"].replace("${each.value}", key),
            "values": [v.replace("${each.value}", key) for v in c["values"]],
        }
        for c in grant["condition"]
    ]


def create_tags_grant(key: str) -> list[dict[str, Any]]:
    return tag_key_grant(key, "ec2:CreateTags")


def iam_allows(conditions: list[dict[str, Any]], request_keys: list[str], resource_keys: set[str]) -> bool:
    """IAM's evaluation of the operators the grant uses. Condition key names compare ignoring case (so
    aws:ResourceTag/Owner also sees a tag named `owner`), values exactly."""
    context: dict[str, list[str]] = {f"aws:resourcetag/{k.lower()}": ["present"] for k in resource_keys}
    if request_keys:
        context["aws:tagkeys"] = request_keys
    for condition in conditions:
        name = condition["variable"].lower()
        if condition["test"] == "Null":
            if (name not in context) != (condition["values"] == ["true"]):
                return False
        elif condition["test"] == "ForAllValues:StringEquals":
            if not all(v in condition["values"] for v in context.get(name, [])):
                return False
        else:
            raise AssertionError(f"no simulation for {condition['test']}")
    return True


def test_the_iam_simulation_refuses_what_the_grant_must_refuse():
    """Guards the cross-check below against a simulator that allows everything."""
    grant = create_tags_grant("Owner")
    assert iam_allows(grant, ["Owner"], {"Team"})
    assert not iam_allows(grant, ["Owner"], {"Owner"})  # never overwrite
    assert not iam_allows(grant, ["Owner"], {"owner"})  # IAM matches the key name ignoring case
    assert not iam_allows(grant, ["Owner", "CreatedBy"], set())  # one key per request
    assert not iam_allows(grant, ["CreatedBy"], set())  # only this statement's key
    assert not iam_allows(grant, [], set())  # a request without tags


def test_every_create_tags_request_of_the_handler_passes_the_iam_grant(handler, load_event):
    """Each CreateTags the handler sends (recorded on moto together with the target resources' tags at that
    moment) is allowed by iam.tf's per-key statement; IAM would deny anything else, so a handler that
    batched keys or rewrote an existing tag (in any letter case) would fail in AWS, and fails here."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="eu-central-1")
        kwargs: dict[str, Any] = {"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
        plain = ec2.run_instances(MinCount=1, MaxCount=1, **kwargs)["Instances"]
        lower_owner = ec2.run_instances(
            MinCount=1, MaxCount=1, TagSpecifications=[_tags({"owner": "team-a"})], **kwargs
        )["Instances"]
        dated = ec2.run_instances(
            MinCount=1, MaxCount=1, TagSpecifications=[_tags({"CreatedAt": "2026-01-01T00:00:00Z"})], **kwargs
        )["Instances"]
        instances = plain + lower_owner + dated
        event = copy.deepcopy(load_event("owner_tagger/run-instances-multi.json"))
        for item, instance in zip(event["detail"]["responseElements"]["instancesSet"]["items"], instances, strict=True):
            item["instanceId"] = instance["InstanceId"]
            item["networkInterfaceSet"]["items"][0]["networkInterfaceId"] = instance["NetworkInterfaces"][0][
                "NetworkInterfaceId"
            ]

        requests: list[tuple[list[str], str, set[str]]] = []

        def record(params: dict[str, Any], **_: Any) -> None:
            keys = [t["Key"] for t in params["Tags"]]
            for rid in params["Resources"]:
                found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [rid]}])["Tags"]
                requests.append((keys, rid, {t["Key"] for t in found}))

        opskit_common.client("ec2").meta.events.register("before-parameter-build.ec2.CreateTags", record)
        result = handler.handler(event, None)

    assert result["failed"] == [] and len(requests) == 9 * 4 - 2  # two tags were already there
    for keys, rid, existing in requests:
        assert len(keys) == 1, f"{rid}: one key per request, got {keys}"
        assert iam_allows(create_tags_grant(keys[0]), keys, existing), f"IAM would deny {keys} on {rid} ({existing})"
    assert (["Owner"], lower_owner[0]["InstanceId"]) not in [(k, r) for k, r, _ in requests]


def _tags(tags: dict[str, str]) -> dict[str, Any]:
    return {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}


def test_the_iam_simulation_of_the_tagging_api_grant_refuses_what_it_must():
    grant = tag_key_grant("Owner", "tag:TagResources")
    assert iam_allows(grant, ["Owner"], {"Team"})
    assert not iam_allows(grant, ["Owner"], {"OWNER"})
    assert not iam_allows(grant, ["Owner", "CreatedBy"], set())


def test_every_tag_resources_request_of_the_handler_passes_the_iam_grant(handler, load_event):
    """Every non-EC2 fixture through the real handler, against a Stubber on the tagging client (moto's
    TagResources does not cover every service): each TagResources request carries one key, and the per-key
    Tagging API statement of iam.tf allows it on a resource that carries only an unrelated tag or `OWNER`."""
    requests: list[tuple[list[str], list[str]]] = []
    names = [
        p.name
        for p in sorted(EVENTS.glob("owner_tagger/*.json"))
        if not isinstance(parsed := handler.parse_event(load_event(f"owner_tagger/{p.name}")), str)
        and parsed.targets[0].writer == "tagging-api"
    ]
    assert len(names) == 24
    tagging = opskit_common.client("resourcegroupstaggingapi")
    tagging.meta.events.register(
        "before-parameter-build.resourcegroupstaggingapi.TagResources",
        lambda params, **_: requests.append((list(params["Tags"]), list(params["ResourceARNList"]))),
    )
    for name in names:
        event = load_event(f"owner_tagger/{name}")
        [target] = handler.parse_event(event).targets
        existing = [{"Key": "Team", "Value": "a"}] + ([{"Key": "OWNER", "Value": "x"}] if "kms" in name else [])
        with Stubber(tagging) as stub:
            stub.add_response(
                "get_resources",
                {"ResourceTagMappingList": [{"ResourceARN": target.arn, "Tags": existing}], "PaginationToken": ""},
            )
            for _ in range(3 if "kms" in name else 4):
                stub.add_response("tag_resources", {"FailedResourcesMap": {}})
            handler.handler(event, None)
            stub.assert_no_pending_responses()
    assert len(requests) == 24 * 4 - 1
    for keys, arns in requests:
        assert len(keys) == 1 and len(arns) == 1, (keys, arns)
        existing = {"Team", "OWNER"} if ":kms:" in arns[0] else {"Team"}
        assert iam_allows(tag_key_grant(keys[0], "tag:TagResources"), keys, existing), (keys, arns)
        assert not (keys == ["Owner"] and ":kms:" in arns[0])


def render_events_table(raw: dict[str, Any]) -> str:
    """The README's table of supported calls, rendered from events.json."""
    lines = ["| Service | Event (`event_names` entry) | Tags | ARN from | Record shape |", "|---|---|---|---|---|"]
    for key, row in raw["events"].items():
        kinds = ", ".join(r["type"] for r in row["resources"])
        paths = "; ".join(" or ".join(f"`{p}`" for p in r["paths"]) for r in row["resources"] if r["paths"])
        if key == "ec2:RunInstances":
            paths += " (volumes: DescribeInstances)"
        lines.append(f"| {row['service']} | `{key}` | {kinds} | {paths} | {row['shape']} |")
    return "\n".join(lines)


def test_the_readme_table_of_supported_calls_is_events_json():
    raw = json.loads((MODULES.parent / "functions" / "owner_tagger" / "events.json").read_text(encoding="utf-8"))
    readme = (MODULE / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- BEGIN_EVENTS -->\n", 1)[1].split("\n<!-- END_EVENTS -->", 1)[0]
    assert table == render_events_table(raw)
    assert {row["shape"] for row in raw["events"].values()} == {"docs", "sample", "inferred"}
