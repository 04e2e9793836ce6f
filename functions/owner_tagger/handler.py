"""owner-tagger: give every EC2 resource a canonical Owner tag, taken from the CloudTrail event that created it.

EventBridge delivers the "AWS API Call via CloudTrail" event of a successful create call (RunInstances,
CreateVolume, CreateSnapshot, CreateImage, AllocateAddress, CreateNetworkInterface). The handler

1. parses the event without any AWS call (failed, DryRun and unknown events are logged and ignored; a
   malformed time or Auto Scaling group name is an InputError naming the field);
2. resolves one owner from `detail.userIdentity` (owner_identity.py);
3. finds what to tag: every launched instance plus the EBS volumes and network interfaces attached to it,
   or the single resource another create call returned;
4. reads the tags those resources already carry and adds only the missing Owner / CreatedBy / CreatedAt
   tags, so a value someone set at launch is never overwritten. A key counts as present in any letter
   case, as in the IAM grant (`aws:ResourceTag/<key>` compares key names case-insensitively);
5. writes one tag key per CreateTags call (the IAM grant allows exactly one key per request, and only on
   resources that lack it), in batches; when a batch fails, tags resource by resource so one bad resource
   does not stop the others, then raises `PartialFailure` naming every resource it could not tag.

A retry of the same event is harmless: already-tagged resources are skipped.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import opskit_common as common
from botocore.exceptions import ClientError
from owner_identity import TAG_PUNCTUATION, sanitise
from owner_identity import Caller as Caller
from owner_identity import resolve_caller as resolve_caller
from owner_identity import sanitise_arn as sanitise_arn

LOG = common.get_logger(__name__)

# eventName → (EC2 resource type it creates, ID prefix of that resource).
SUPPORTED_EVENTS: dict[str, tuple[str, str]] = {
    "RunInstances": ("instance", "i"),
    "CreateVolume": ("volume", "vol"),
    "CreateSnapshot": ("snapshot", "snap"),
    "CreateImage": ("image", "ami"),
    "AllocateAddress": ("elastic-ip", "eipalloc"),
    "CreateNetworkInterface": ("network-interface", "eni"),
}
# Whole-string id patterns: the prefix and exactly 8 or 17 lower-case hex digits.
ID_PATTERNS: dict[str, re.Pattern[str]] = {name: common.id_pattern(p) for name, (_, p) in SUPPORTED_EVENTS.items()}
ENI_PATTERN = common.id_pattern("eni")
EC2_EVENT_SOURCE = "ec2.amazonaws.com"
ASG_NAME_TAG = "aws:autoscaling:groupName"
MAX_ASG_NAME = 255

MAX_TAG_KEY = 128
# Prefixes no owner-tagger key may use: AWS's own, and opskit's namespace for its cross-module markers.
RESERVED_PREFIXES = ("aws:", "opskit:")
# CreateTags takes up to 1000 IDs and DescribeTags filters up to 200 values; AWS recommends smaller batches.
BATCH_SIZE = 100
METRIC_NAMESPACE = "opskit"
MAX_MESSAGE = 1000


# --- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    owner_key: str
    created_by_key: str | None
    created_at_key: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        owner_key = common.env_str(env, "OWNER_TAG_KEY", "Owner").strip()
        created_by_key = common.env_str(env, "CREATED_BY_TAG_KEY", "CreatedBy").strip() or None
        created_at_key = common.env_str(env, "CREATED_AT_TAG_KEY", "CreatedAt").strip() or None
        if not owner_key:
            raise common.ConfigError("OWNER_TAG_KEY must not be empty: the owner tag is what this function writes")
        for name, key in (
            ("OWNER_TAG_KEY", owner_key),
            ("CREATED_BY_TAG_KEY", created_by_key),
            ("CREATED_AT_TAG_KEY", created_at_key),
        ):
            if key is not None:
                _validate_key(name, key)
        keys = [k for k in (owner_key, created_by_key, created_at_key) if k]
        if len({k.lower() for k in keys}) != len(keys):
            raise common.ConfigError(
                f"OWNER_TAG_KEY, CREATED_BY_TAG_KEY and CREATED_AT_TAG_KEY must differ (ignoring case): {keys}"
            )
        return cls(owner_key=owner_key, created_by_key=created_by_key, created_at_key=created_at_key)

    @property
    def keys(self) -> list[str]:
        return [k for k in (self.owner_key, self.created_by_key, self.created_at_key) if k]


def _validate_key(name: str, key: str) -> None:
    if len(key) > MAX_TAG_KEY:
        raise common.ConfigError(f"{name}={common.clip(key)!r} is longer than {MAX_TAG_KEY} characters")
    reserved = next((p for p in RESERVED_PREFIXES if key.lower().startswith(p)), None)
    if reserved:
        raise common.ConfigError(f"{name}={key!r}: the {reserved} prefix is reserved")
    bad = sorted({c for c in key if not (c.isalnum() or c == " " or c in TAG_PUNCTUATION)})
    if bad:
        raise common.ConfigError(f"{name}={key!r} contains characters tags do not allow: {''.join(bad)!r}")


@functools.cache
def config() -> Config:
    return Config.from_env(os.environ)


# --- what: parse the event without touching AWS ----------------------------------------------------


@dataclass(frozen=True)
class Creation:
    event_name: str
    event_id: str | None
    event_account: str | None
    created_at: str | None
    identity: Mapping[str, Any]
    resources: list[str]  # created resource IDs, in response order (instances for RunInstances)
    network_interfaces: list[str]  # RunInstances: ENIs the response lists for the instances
    asg_names: list[str]  # RunInstances: Auto Scaling groups named in the instances' tagSet


def _created_at(event: Mapping[str, Any], detail: Mapping[str, Any]) -> str | None:
    """The CloudTrail event time (else the EventBridge envelope time) as UTC `YYYY-MM-DDTHH:MM:SSZ`; None
    when neither is recorded. A time that is present but not a valid zoned ISO-8601 time is an InputError."""
    for container, key, what in ((detail, "eventTime", "event.detail.eventTime"), (event, "time", "event.time")):
        if container.get(key) is not None:
            return common.parse_time(container[key], what).strftime("%Y-%m-%dT%H:%M:%SZ")
    return None


def _items(container: Any) -> list[Mapping[str, Any]]:
    """CloudTrail renders EC2 lists as {"items": [...]}; anything else is an empty list."""
    if not isinstance(container, Mapping):
        return []
    items = container.get("items")
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def _valid_id(value: Any, pattern: re.Pattern[str]) -> str | None:
    return value if isinstance(value, str) and pattern.fullmatch(value) else None


def _unique(values: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _group_names(instances: list[Mapping[str, Any]]) -> list[str]:
    """Auto Scaling group names from the instances' tagSet; they are sent to autoscaling:DescribeTags, so a
    value that is not a tag-sized string of valid Unicode is an InputError naming it."""
    names = []
    for i, instance in enumerate(instances):
        for j, tag in enumerate(_items(instance.get("tagSet"))):
            if tag.get("key") == ASG_NAME_TAG:
                where = f"event.detail.responseElements.instancesSet.items[{i}].tagSet.items[{j}].value"
                names.append(common.require_str(tag.get("value"), where, max_length=MAX_ASG_NAME).strip())
    return _unique(names)


def _created_ids(event_name: str, response: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    pattern = ID_PATTERNS[event_name]
    if event_name == "RunInstances":
        instances = _items(response.get("instancesSet"))
        ids = _unique(_valid_id(i.get("instanceId"), pattern) for i in instances)
        enis = _unique(
            _valid_id(n.get("networkInterfaceId"), ENI_PATTERN)
            for i in instances
            for n in _items(i.get("networkInterfaceSet"))
        )
        return ids, enis, _group_names(instances)
    if event_name == "CreateNetworkInterface":
        interface = response.get("networkInterface")
        raw = interface.get("networkInterfaceId") if isinstance(interface, Mapping) else None
    else:
        field = {
            "CreateVolume": "volumeId",
            "CreateSnapshot": "snapshotId",
            "CreateImage": "imageId",
            "AllocateAddress": "allocationId",
        }[event_name]
        raw = response.get(field)
    return _unique([_valid_id(raw, pattern)]), [], []


def parse_event(event: Any) -> Creation | str:
    """The creation this event records, or the reason to ignore it. Raises InputError when the event is
    not an EventBridge event at all, or a field this function uses is malformed."""
    event = common.require_mapping(event, "event")
    detail = event.get("detail")
    if detail is None:
        raise common.InputError("event has no 'detail': expected an EventBridge 'AWS API Call via CloudTrail' event")
    detail = common.require_mapping(detail, "event.detail")

    event_name = detail.get("eventName")
    source = detail.get("eventSource")
    if detail.get("errorCode"):
        return f"{common.clip(event_name, 100)} failed with {common.clip(detail.get('errorCode'))}: nothing was created"
    if source != EC2_EVENT_SOURCE or not isinstance(event_name, str) or event_name not in SUPPORTED_EVENTS:
        return (
            f"eventSource={common.clip(repr(source))} eventName={common.clip(repr(event_name))} is not an EC2 create"
            f" call this function tags ({', '.join(SUPPORTED_EVENTS)} from {EC2_EVENT_SOURCE})"
        )
    response = detail.get("responseElements")
    if not isinstance(response, Mapping):
        return f"{event_name} has no responseElements: nothing to tag"
    resources, enis, groups = _created_ids(event_name, response)
    event_id = common.clip(detail["eventID"], 100) if isinstance(detail.get("eventID"), str) else None
    if not resources:
        return f"{event_name} responseElements has no created resource ID in the documented shape"
    if event_name == "RunInstances":
        listed = len(_items(response.get("instancesSet")))
        if listed != len(resources):
            LOG.warning(
                "%d of %d instancesSet items carry no valid instance ID; tagging the others",
                listed - len(resources),
                listed,
                extra={"instance_ids": resources, "event_id": event_id},
            )
    identity = detail.get("userIdentity")
    if not isinstance(identity, Mapping) or not identity:
        return f"{event_name} has no userIdentity: cannot tell who created {common.clip(', '.join(resources))}"

    account = event.get("account") if isinstance(event.get("account"), str) else None
    recipient = detail.get("recipientAccountId")
    return Creation(
        event_name=event_name,
        event_id=event_id,
        event_account=account or (recipient.strip() if isinstance(recipient, str) else None) or None,
        created_at=_created_at(event, detail),
        identity=identity,
        resources=resources,
        network_interfaces=enis,
        asg_names=groups,
    )


# --- act -------------------------------------------------------------------------------------------


def _error(exc: ClientError) -> tuple[str, str]:
    err = exc.response.get("Error", {})
    return common.clip(str(err.get("Code") or "ClientError"), 100), common.clip(str(err.get("Message") or exc))


def _instance_attachments(ec2: Any, instance_ids: Sequence[str]) -> tuple[list[str], list[str], list[str], set[str]]:
    """Volumes, network interfaces and Auto Scaling group names of the instances, plus the instances found.

    A filter (not InstanceIds) so that an instance that is already gone does not fail the whole call."""
    volumes: list[str] = []
    interfaces: list[str] = []
    groups: list[str] = []
    found: set[str] = set()
    paginator = ec2.get_paginator("describe_instances")
    for chunk in common.chunked(list(instance_ids), BATCH_SIZE):
        for page in paginator.paginate(Filters=[{"Name": "instance-id", "Values": chunk}]):
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    found.add(instance["InstanceId"])
                    volumes += [m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m]
                    interfaces += [n["NetworkInterfaceId"] for n in instance.get("NetworkInterfaces", [])]
                    groups += [t["Value"] for t in instance.get("Tags", []) if t.get("Key") == ASG_NAME_TAG]
    return _unique(volumes), _unique(interfaces), _unique(groups), found


def _existing_keys(ec2: Any, resource_ids: Sequence[str]) -> dict[str, set[str]]:
    """The tag keys each resource already carries, lower-cased (one DescribeTags per 100 resources). All
    keys, not only ours: the IAM condition `aws:ResourceTag/Owner` also sees a tag named `owner`."""
    existing: dict[str, set[str]] = {rid: set() for rid in resource_ids}
    paginator = ec2.get_paginator("describe_tags")
    for chunk in common.chunked(list(resource_ids), BATCH_SIZE):
        for page in paginator.paginate(Filters=[{"Name": "resource-id", "Values": chunk}]):
            for tag in page.get("Tags", []):
                existing.setdefault(tag["ResourceId"], set()).add(tag["Key"].lower())
    return existing


def _asg_owner(group: str, owner_key: str) -> str | None:
    autoscaling = common.client("autoscaling")
    filters = [{"Name": "auto-scaling-group", "Values": [group]}, {"Name": "key", "Values": [owner_key]}]
    for tag in autoscaling.describe_tags(Filters=filters).get("Tags", []):
        value = sanitise(str(tag.get("Value") or ""))
        if value:
            return value
    return None


def _create_tag(
    ec2: Any, resource_ids: list[str], key: str, value: str, tagged: set[str], failed: dict[str, dict[str, str]]
) -> None:
    """Write one tag key in one call; when that call fails, isolate the failing resources one by one."""
    try:
        ec2.create_tags(Resources=resource_ids, Tags=[{"Key": key, "Value": value}])
        tagged.update(resource_ids)
        return
    except ClientError as exc:
        if len(resource_ids) == 1:
            code, message = _error(exc)
            failed[resource_ids[0]] = {"id": resource_ids[0], "key": key, "error": code, "message": message}
            return
        LOG.warning("batch CreateTags failed, retrying resource by resource", extra={"error": _error(exc)[0]})
    for rid in resource_ids:
        _create_tag(ec2, [rid], key, value, tagged, failed)


def _result(
    owner: str | None, tagged: list[str], skipped: list[str], failed: list[dict[str, str]], **extra: Any
) -> dict[str, Any]:
    return {"owner": owner, "tagged": tagged, "skipped": skipped, "failed": failed, **extra}


def handler(event: Any, context: Any) -> dict[str, Any]:
    cfg = config()
    parsed = parse_event(event)
    if isinstance(parsed, str):
        LOG.info("ignored: %s", parsed, extra={"reason": parsed})
        return _result(None, [], [], [], ignored=parsed)

    caller = resolve_caller(parsed.identity, parsed.event_account)
    if caller is None:
        reason = f"userIdentity of type {common.clip(repr(parsed.identity.get('type')))} names no user, role or service"
        LOG.warning("ignored: %s", reason, extra={"reason": reason, "event_id": parsed.event_id})
        return _result(None, [], [], [], ignored=reason)

    ec2 = common.client("ec2")
    resources = list(parsed.resources)
    groups = list(parsed.asg_names)
    if parsed.event_name == "RunInstances":
        volumes, interfaces, described_groups, found = _instance_attachments(ec2, parsed.resources)
        missing = [i for i in parsed.resources if i not in found]
        if missing:
            LOG.warning("instances not found by DescribeInstances", extra={"instance_ids": missing})
        resources = _unique([*resources, *volumes, *parsed.network_interfaces, *interfaces])
        groups = _unique([*groups, *described_groups])

    owner = caller.owner
    if caller.service and groups:
        group_owner = _asg_owner(groups[0], cfg.owner_key)
        if group_owner:
            owner = group_owner
        LOG.info(
            "service launch",
            extra={"service": caller.service, "auto_scaling_group": groups[0], "group_owner": group_owner},
        )

    desired = {cfg.owner_key: owner}
    if cfg.created_by_key:
        desired[cfg.created_by_key] = caller.principal
    if cfg.created_at_key and parsed.created_at:
        desired[cfg.created_at_key] = parsed.created_at

    existing = _existing_keys(ec2, resources)
    missing_keys = {rid: [k for k in desired if k.lower() not in existing.get(rid, set())] for rid in resources}
    skipped = [rid for rid in resources if not missing_keys[rid]]

    done: set[str] = set()
    failures: dict[str, dict[str, str]] = {}
    for key, value in desired.items():
        # A resource that already failed (gone, denied) is not tried again for the next key in this run.
        rids = [rid for rid in resources if key in missing_keys[rid] and rid not in failures]
        for chunk in common.chunked(rids, BATCH_SIZE):
            _create_tag(ec2, chunk, key, value, done, failures)
    tagged = [rid for rid in resources if rid in done]
    failed = list(failures.values())

    result = _result(owner, tagged, skipped, failed, ignored=None)
    common.emit_metrics(
        METRIC_NAMESPACE,
        {"Module": "owner-tagger"},
        {"Tagged": (len(tagged), "Count"), "Skipped": (len(skipped), "Count"), "Failed": (len(failed), "Count")},
        properties={"event_name": parsed.event_name, "event_id": parsed.event_id},
    )
    LOG.info(
        "tagged %d, kept %d, failed %d",
        len(tagged),
        len(skipped),
        len(failed),
        extra={
            "event_name": parsed.event_name,
            "event_id": parsed.event_id,
            "owner": owner,
            "tagged": tagged,
            "skipped": skipped,
            "failed": failed,
        },
    )
    if failed:
        names = ", ".join(f"{f['id']} ({f['error']})" for f in failed)
        raise common.PartialFailure(
            f"could not tag {len(failed)} of {len(resources)} resource(s) created by {parsed.event_name}: "
            f"{common.clip(names, MAX_MESSAGE)}",
            result,
        )
    return result
