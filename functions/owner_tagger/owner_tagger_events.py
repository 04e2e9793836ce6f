"""owner-tagger: what a CloudTrail record created and which tags it should get (no AWS calls, except
DescribeInstances for a launch's attachments in `expand_launch`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import opskit_common as common
import owner_tagger_tags as tags
from owner_identity import Caller, created_via
from owner_tagger_config import Config
from owner_tagger_table import ACCOUNT_PATTERN, REGION_PATTERN, Target, partition_of, stack_name, table, targets

LOG = common.get_logger(__name__)
ASG_NAME_TAG = tags.ASG_NAME_TAG
MAX_ASG_NAME = 255


@dataclass(frozen=True)
class Creation:
    key: str  # <service>:<eventName>
    event_name: str
    event_id: str | None
    event_account: str | None
    created_at: str | None
    identity: Mapping[str, Any]
    detail: Mapping[str, Any]
    targets: list[Target]  # created resources, in response order (instances for RunInstances)
    asg_names: list[str]  # RunInstances: Auto Scaling groups named in the instances' tagSet

    @property
    def resources(self) -> list[str]:
        return [tags.label(t) for t in self.targets]


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


def _group_names(response: Mapping[str, Any]) -> list[str]:
    """Auto Scaling group names from the launched instances' tagSet; they are sent to autoscaling:DescribeTags,
    so a value that is not a tag-sized string of valid Unicode is an InputError naming it."""
    names = []
    for i, instance in enumerate(_items(response.get("instancesSet"))):
        for j, tag in enumerate(_items(instance.get("tagSet"))):
            if tag.get("key") == ASG_NAME_TAG:
                where = f"event.detail.responseElements.instancesSet.items[{i}].tagSet.items[{j}].value"
                names.append(common.require_str(tag.get("value"), where, max_length=MAX_ASG_NAME).strip())
    return list(dict.fromkeys(n for n in names if n))


def function_region() -> str | None:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return region if region and REGION_PATTERN.fullmatch(region) else None


def parse_event(event: Any) -> Creation | str:
    """The creation an EventBridge event records, or the reason to ignore it. Raises InputError when the event
    is not an EventBridge event at all, or a field this function uses is malformed."""
    event = common.require_mapping(event, "event")
    detail = event.get("detail")
    if detail is None:
        raise common.InputError("event has no 'detail': expected an EventBridge 'AWS API Call via CloudTrail' event")
    detail = common.require_mapping(detail, "event.detail")
    account = event.get("account") if isinstance(event.get("account"), str) else None
    return parse_record(detail, account, event)


def parse_record(detail: Mapping[str, Any], account: str | None, envelope: Mapping[str, Any]) -> Creation | str:
    """The creation a CloudTrail record (an event's `detail`, or a LookupEvents record) describes."""
    event_name = detail.get("eventName")
    source = detail.get("eventSource")
    if detail.get("errorCode"):
        return f"{common.clip(event_name, 100)} failed with {common.clip(detail.get('errorCode'))}: nothing was created"
    row = (
        table().by_source.get((source, event_name)) if isinstance(source, str) and isinstance(event_name, str) else None
    )
    if row is None:
        return (
            f"eventSource={common.clip(repr(source))} eventName={common.clip(repr(event_name))} is not a create"
            f" call this function tags (events.json lists {len(table().rows)})"
        )
    recipient = detail.get("recipientAccountId")
    account = account or (recipient.strip() if isinstance(recipient, str) else None) or None
    region = detail.get("awsRegion") if isinstance(detail.get("awsRegion"), str) else envelope.get("region")
    home = function_region()
    if not isinstance(region, str) or not REGION_PATTERN.fullmatch(region) or (home and region != home):
        return f"{row.key} was recorded in region {common.clip(repr(region))}; this function tags {home} only"
    if not account or not ACCOUNT_PATTERN.fullmatch(account):
        return f"{row.key} names no 12-digit account ({common.clip(repr(account))}): cannot build its ARNs"
    response = detail.get("responseElements")
    responds = all(p.startswith("responseElements.") for s in row.specs for p in s.paths)
    if responds and not isinstance(response, Mapping):
        return f"{row.event_name} has no responseElements: nothing to tag"
    found = targets(row, detail, partition_of(region), region, account)
    event_id = common.clip(detail["eventID"], 100) if isinstance(detail.get("eventID"), str) else None
    if not found:
        return f"{row.event_name} record has no created resource ID in the documented shape"
    groups: list[str] = []
    if row.key == "ec2:RunInstances" and isinstance(response, Mapping):
        groups = _group_names(response)
        listed = len(_items(response.get("instancesSet")))
        instances = [t for t in found if t.type == "instance"]
        if listed != len(instances):
            LOG.warning(
                "%d of %d instancesSet items carry no valid instance ID; tagging the others",
                listed - len(instances),
                listed,
                extra={"instance_ids": [t.id for t in instances], "event_id": event_id},
            )
        if not instances:
            return f"{row.event_name} record has no created resource ID in the documented shape"
    identity = detail.get("userIdentity")
    if not isinstance(identity, Mapping) or not identity:
        names = common.clip(", ".join(tags.label(t) for t in found))
        return f"{row.event_name} has no userIdentity: cannot tell who created {names}"
    return Creation(
        key=row.key,
        event_name=row.event_name,
        event_id=event_id,
        event_account=account,
        created_at=_created_at(envelope, detail),
        identity=identity,
        detail=detail,
        targets=found,
        asg_names=groups,
    )


def desired_tags(cfg: Config, caller: Caller, owner: str, creation: Creation) -> dict[str, str]:
    """The tags this creation should carry (only missing ones are ever written)."""
    desired = {cfg.owner_key: owner}
    if cfg.created_by_key:
        desired[cfg.created_by_key] = caller.principal
    if cfg.created_at_key and creation.created_at:
        desired[cfg.created_at_key] = creation.created_at
    if cfg.created_via_key:
        via = created_via(creation.detail, caller, stack_name(creation.detail.get("requestParameters")))
        if via:
            desired[cfg.created_via_key] = via
    return desired


def expand_launch(creation: Creation) -> tuple[list[Target], list[str]]:
    """RunInstances: the instances plus the volumes and interfaces attached to them (DescribeInstances, since
    CloudTrail records `blockDeviceMapping` empty while pending), and the Auto Scaling groups named."""
    instances = [t for t in creation.targets if t.type == "instance"]
    volumes, interfaces, groups, found = tags.instance_attachments([t.id for t in instances])
    missing = [t.id for t in instances if t.id not in found]
    if missing:
        LOG.warning("instances not found by DescribeInstances", extra={"instance_ids": missing})
    row = table().rows[creation.key]
    spec = {s.type: s for s in row.specs}
    region, account = instances[0].arn.split(":")[3], instances[0].arn.split(":")[4]
    partition = instances[0].arn.split(":")[1]
    extra = [
        Target(spec[kind].build(partition, region, account, rid), "ec2", kind, rid, "ec2")
        for kind, ids in (("volume", volumes), ("network-interface", interfaces))
        for rid in ids
    ]
    return tags.unique_targets([*creation.targets, *extra]), list(dict.fromkeys([*creation.asg_names, *groups]))
