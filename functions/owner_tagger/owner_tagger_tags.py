"""owner-tagger, part 3: add only the tags a resource is missing, one tag key per call, never overwrite.

EC2 resources are tagged with `ec2:CreateTags` by id (up to BATCH_SIZE ids a call, existing tags read with
`ec2:DescribeTags`); every other service through the Resource Groups Tagging API (`tag:GetResources` reads
existing tags for up to 100 ARNs a call, `tag:TagResources` writes up to 20 ARNs a call). A key counts as
present in any letter case, as IAM's `aws:ResourceTag/<key>` does. Each call writes one key: the IAM grant
allows one key per request, and only on resources that do not carry it yet, so IAM itself refuses to
overwrite. A failing batch is retried resource by resource; what still fails is reported, never swallowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import opskit_common as common
from botocore.exceptions import ClientError
from owner_identity import sanitise
from owner_tagger_table import Target

LOG = common.get_logger(__name__)

# CreateTags takes up to 1000 IDs and DescribeTags filters up to 200 values; AWS recommends smaller batches.
BATCH_SIZE = 100
READ_BATCH = 100  # tag:GetResources ResourceARNList
TAG_API_BATCH = 20  # tag:TagResources ResourceARNList
ASG_NAME_TAG = "aws:autoscaling:groupName"


def label(target: Target) -> str:
    """How results name a resource: the id for EC2 (as CreateTags does), the ARN otherwise."""
    return target.id if target.writer == "ec2" else target.arn


@dataclass
class Result:
    tagged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    calls: int = 0
    written: dict[str, list[str]] = field(default_factory=dict)  # label -> keys written


def _error(exc: ClientError) -> tuple[str, str]:
    err = exc.response.get("Error", {})
    return common.clip(str(err.get("Code") or "ClientError"), 100), common.clip(str(err.get("Message") or exc))


# --- reading what is there -------------------------------------------------------------------------


def existing_keys(targets: Sequence[Target]) -> dict[str, set[str]]:
    """The tag keys each target already carries, lower-cased. All keys, not only ours: the IAM condition
    `aws:ResourceTag/Owner` also sees a tag named `owner`."""
    existing: dict[str, set[str]] = {label(t): set() for t in targets}
    ec2_ids = [t.id for t in targets if t.writer == "ec2"]
    if ec2_ids:
        paginator = common.client("ec2").get_paginator("describe_tags")
        for chunk in common.chunked(ec2_ids, BATCH_SIZE):
            for page in paginator.paginate(Filters=[{"Name": "resource-id", "Values": chunk}]):
                for tag in page.get("Tags", []):
                    existing.setdefault(tag["ResourceId"], set()).add(tag["Key"].lower())
    arns = [t.arn for t in targets if t.writer != "ec2"]
    if arns:
        paginator = common.client("resourcegroupstaggingapi").get_paginator("get_resources")
        for chunk in common.chunked(arns, READ_BATCH):
            for page in paginator.paginate(ResourceARNList=chunk):
                for mapping in page.get("ResourceTagMappingList", []):
                    keys = {t["Key"].lower() for t in mapping.get("Tags", [])}
                    existing.setdefault(mapping["ResourceARN"], set()).update(keys)
    return existing


def instance_attachments(instance_ids: Sequence[str]) -> tuple[list[str], list[str], list[str], set[str]]:
    """Volumes, network interfaces and Auto Scaling group names of the instances, plus the instances found.

    A filter (not InstanceIds) so that an instance that is already gone does not fail the whole call."""
    volumes: list[str] = []
    interfaces: list[str] = []
    groups: list[str] = []
    found: set[str] = set()
    paginator = common.client("ec2").get_paginator("describe_instances")
    for chunk in common.chunked(list(instance_ids), BATCH_SIZE):
        for page in paginator.paginate(Filters=[{"Name": "instance-id", "Values": chunk}]):
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    found.add(instance["InstanceId"])
                    volumes += [m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m]
                    interfaces += [n["NetworkInterfaceId"] for n in instance.get("NetworkInterfaces", [])]
                    groups += [t["Value"] for t in instance.get("Tags", []) if t.get("Key") == ASG_NAME_TAG]
    return _unique(volumes), _unique(interfaces), _unique(groups), found


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def asg_owner(group: str, owner_key: str) -> str | None:
    autoscaling = common.client("autoscaling")
    filters = [{"Name": "auto-scaling-group", "Values": [group]}, {"Name": "key", "Values": [owner_key]}]
    for tag in autoscaling.describe_tags(Filters=filters).get("Tags", []):
        value = sanitise(str(tag.get("Value") or ""))
        if value:
            return value
    return None


# --- writing ---------------------------------------------------------------------------------------


def _create_tags(ids: list[str], key: str, value: str, done: set[str], failed: dict[str, dict[str, str]]) -> int:
    """One CreateTags call for one key; when it fails, isolate the failing resources one by one."""
    try:
        common.client("ec2").create_tags(Resources=ids, Tags=[{"Key": key, "Value": value}])
        done.update(ids)
        return 1
    except ClientError as exc:
        if len(ids) == 1:
            code, message = _error(exc)
            failed[ids[0]] = {"id": ids[0], "key": key, "error": code, "message": message}
            return 1
        LOG.warning("batch CreateTags failed, retrying resource by resource", extra={"error": _error(exc)[0]})
    return 1 + sum(_create_tags([rid], key, value, done, failed) for rid in ids)


def _tag_resources(arns: list[str], key: str, value: str, done: set[str], failed: dict[str, dict[str, str]]) -> int:
    """One TagResources call for one key. Per-resource failures come back in FailedResourcesMap; a failing
    call is retried resource by resource."""
    try:
        response = common.client("resourcegroupstaggingapi").tag_resources(ResourceARNList=arns, Tags={key: value})
    except ClientError as exc:
        if len(arns) == 1:
            code, message = _error(exc)
            failed[arns[0]] = {"id": arns[0], "key": key, "error": code, "message": message}
            return 1
        LOG.warning("batch TagResources failed, retrying resource by resource", extra={"error": _error(exc)[0]})
        return 1 + sum(_tag_resources([arn], key, value, done, failed) for arn in arns)
    problems = response.get("FailedResourcesMap") or {}
    for arn in arns:
        problem = problems.get(arn)
        if problem is None:
            done.add(arn)
            continue
        failed[arn] = {
            "id": arn,
            "key": key,
            "error": common.clip(str(problem.get("ErrorCode") or "Failed"), 100),
            "message": common.clip(str(problem.get("ErrorMessage") or "")),
        }
    return 1


def apply(desired: Mapping[Target, Mapping[str, str]]) -> Result:
    """Add to each target the desired tags it does not carry yet (keys compared ignoring case)."""
    targets = list(desired)
    existing = existing_keys(targets)
    missing = {t: [k for k in desired[t] if k.lower() not in existing.get(label(t), set())] for t in targets}
    result = Result(skipped=[label(t) for t in targets if not missing[t]])

    failures: dict[str, dict[str, str]] = {}
    keys = list(dict.fromkeys(k for t in targets for k in missing[t]))
    for key in keys:
        # A resource that already failed (gone, denied) is not tried again for the next key in this run.
        groups: dict[tuple[str, str], list[Target]] = {}
        for t in targets:
            if key in missing[t] and label(t) not in failures:
                groups.setdefault((t.writer, desired[t][key]), []).append(t)
        done: set[str] = set()
        for (writer, value), members in groups.items():
            if writer == "ec2":
                for chunk in common.chunked([t.id for t in members], BATCH_SIZE):
                    result.calls += _create_tags(chunk, key, value, done, failures)
            else:
                for chunk in common.chunked([t.arn for t in members], TAG_API_BATCH):
                    result.calls += _tag_resources(chunk, key, value, done, failures)
        for name in done:
            result.written.setdefault(name, []).append(key)
    result.tagged = [label(t) for t in targets if label(t) in result.written]
    result.failed = list(failures.values())
    return result


def unique_targets(items: Iterable[Target]) -> list[Target]:
    return list({t.arn: t for t in items}.values())


def describe_error(exc: ClientError) -> dict[str, Any]:
    code, message = _error(exc)
    return {"error": code, "message": message}
