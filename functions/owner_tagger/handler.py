"""owner-tagger: give every EC2 resource a canonical Owner tag, taken from the CloudTrail event that created it.

EventBridge delivers the "AWS API Call via CloudTrail" event of a successful create call (RunInstances,
CreateVolume, CreateSnapshot, CreateImage, AllocateAddress, CreateNetworkInterface). The handler

1. parses the event without any AWS call (failed, DryRun and unknown events are logged and ignored);
2. resolves one owner from `detail.userIdentity` (IAM user, root, federated user, role session, IAM
   Identity Center user, AWS service; cross-account callers are prefixed with their account id);
3. finds what to tag: every launched instance plus the EBS volumes and network interfaces attached to it,
   or the single resource another create call returned;
4. reads the tags those resources already carry and adds only the missing Owner / CreatedBy / CreatedAt
   tags, so a value someone set at launch is never overwritten;
5. tags in batches and, when a batch fails, tags resource by resource so one bad resource does not stop
   the others, then raises `PartialFailure` naming every resource it could not tag.

A retry of the same event is harmless: already-tagged resources are skipped.
"""

from __future__ import annotations

import functools
import os
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import opskit_common as common
from botocore.exceptions import ClientError

LOG = common.get_logger(__name__)

# eventName → (EC2 resource type it creates, ID prefix of that resource).
SUPPORTED_EVENTS: dict[str, tuple[str, str]] = {
    "RunInstances": ("instance", "i-"),
    "CreateVolume": ("volume", "vol-"),
    "CreateSnapshot": ("snapshot", "snap-"),
    "CreateImage": ("image", "ami-"),
    "AllocateAddress": ("elastic-ip", "eipalloc-"),
    "CreateNetworkInterface": ("network-interface", "eni-"),
}
EC2_EVENT_SOURCE = "ec2.amazonaws.com"
ASG_NAME_TAG = "aws:autoscaling:groupName"

MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
# Characters every AWS tagging API accepts besides letters, digits and spaces.
TAG_PUNCTUATION = frozenset("+-=._:/@")
# CreateTags takes up to 1000 IDs and DescribeTags filters up to 200 values; AWS recommends smaller batches.
BATCH_SIZE = 100
METRIC_NAMESPACE = "opskit"


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
        if len(set(keys)) != len(keys):
            raise common.ConfigError(f"OWNER_TAG_KEY, CREATED_BY_TAG_KEY and CREATED_AT_TAG_KEY must differ: {keys}")
        return cls(owner_key=owner_key, created_by_key=created_by_key, created_at_key=created_at_key)

    @property
    def keys(self) -> list[str]:
        return [k for k in (self.owner_key, self.created_by_key, self.created_at_key) if k]


def _validate_key(name: str, key: str) -> None:
    if len(key) > MAX_TAG_KEY:
        raise common.ConfigError(f"{name}={key!r} is longer than {MAX_TAG_KEY} characters")
    if key.lower().startswith("aws:"):
        raise common.ConfigError(f"{name}={key!r}: the aws: prefix is reserved for AWS")
    bad = sorted({c for c in key if not (c.isalnum() or c == " " or c in TAG_PUNCTUATION)})
    if bad:
        raise common.ConfigError(f"{name}={key!r} contains characters tags do not allow: {''.join(bad)!r}")


@functools.cache
def config() -> Config:
    return Config.from_env(os.environ)


# --- who: one canonical owner from userIdentity ----------------------------------------------------


@dataclass(frozen=True)
class Caller:
    owner: str  # the Owner tag value (sanitised)
    principal: str  # the CreatedBy tag value: the caller's ARN where CloudTrail records one
    service: str | None  # set when an AWS service launched on its own (e.g. autoscaling.amazonaws.com)


def sanitise(value: str, limit: int = MAX_TAG_VALUE) -> str:
    """Map `value` onto the characters tag values allow (letters, digits, spaces, + - = . _ : / @) and cut
    it to `limit` characters. Other characters become `_`, other whitespace a space. Decomposed accents
    (e + combining acute) are composed first, so `José` stays `José` whatever form the identity provider sent."""
    cleaned = "".join(
        c if (c.isalnum() or c == " " or c in TAG_PUNCTUATION) else (" " if c.isspace() else "_")
        for c in unicodedata.normalize("NFC", value)
    ).strip()
    return cleaned[:limit]


def sanitise_arn(value: str, limit: int = MAX_TAG_VALUE) -> str:
    """Like `sanitise`, but an over-long value keeps its beginning (partition, account) and its end (the
    user or session name) around a `...` in the middle."""
    cleaned = sanitise(value, limit=len(value))
    if len(cleaned) <= limit:
        return cleaned
    head = 100
    return f"{cleaned[:head]}...{cleaned[-(limit - head - 3) :]}"


def _submapping(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = mapping.get(key)
    return value if isinstance(value, Mapping) else {}


def _text(mapping: Mapping[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _last_segment(arn: str | None) -> str | None:
    """`arn:aws:sts::1:assumed-role/Role/session` → `session`; `arn:aws:iam::1:user/path/alice` → `alice`."""
    if not arn or "/" not in arn:
        return None
    return arn.rsplit("/", 1)[1].strip() or None


def _after_colon(principal_id: str | None) -> str | None:
    """`AROAEXAMPLE:session` → `session` (principalId of role sessions and federated users)."""
    if not principal_id or ":" not in principal_id:
        return None
    return principal_id.split(":", 1)[1].strip() or None


def _is_service_identity(identity: Mapping[str, Any]) -> bool:
    """An AWS service acting on its own: type AWSService, or a session of a service-linked role
    (`AWSServiceRoleForAutoScaling` under the `aws-service-role/` path). A person's own credentials used
    through a service (CloudFormation forward access sessions also carry `invokedBy`) are not."""
    if identity.get("type") == "AWSService":
        return True
    context = identity.get("sessionContext")
    issuer = context.get("sessionIssuer") if isinstance(context, Mapping) else None
    if not isinstance(issuer, Mapping):
        return False
    return ":role/aws-service-role/" in str(issuer.get("arn") or "") or str(issuer.get("userName") or "").startswith(
        "AWSServiceRoleFor"
    )


def _person_name(identity: Mapping[str, Any]) -> str | None:
    kind = identity.get("type")
    arn = _text(identity, "arn")
    if kind == "Root":
        return "root"
    if kind == "IAMUser":
        return _text(identity, "userName") or _last_segment(arn)
    if kind == "FederatedUser":
        return _last_segment(arn) or _after_colon(_text(identity, "principalId")) or _text(identity, "userName")
    if kind == "AssumedRole":
        context = _submapping(identity, "sessionContext")
        # sourceIdentity is set once by the person who assumed the role and survives role chaining.
        return (
            _text(context, "sourceIdentity")
            or _last_segment(arn)
            or _after_colon(_text(identity, "principalId"))
            or _text(identity, "userName")
        )
    if kind == "IdentityCenterUser":
        on_behalf_of = _submapping(identity, "onBehalfOf")
        return _text(identity, "userName") or _text(on_behalf_of, "userId")
    if kind == "AWSService":
        return _text(identity, "invokedBy")
    # SAMLUser, WebIdentityUser, AWSAccount, Directory, Unknown: the best name the record offers.
    return (
        _text(identity, "userName")
        or _last_segment(arn)
        or _after_colon(_text(identity, "principalId"))
        or _text(identity, "principalId")
        or _text(identity, "accountId")
    )


def _principal(identity: Mapping[str, Any]) -> str | None:
    arn = _text(identity, "arn")
    if arn:
        return arn
    kind = identity.get("type") or "Unknown"
    if kind == "IdentityCenterUser":
        on_behalf_of = _submapping(identity, "onBehalfOf")
        store = _last_segment(_text(on_behalf_of, "identityStoreArn"))
        user = _text(on_behalf_of, "userId")
        return "/".join(p for p in (kind, store, user) if p) if user else None
    name = _text(identity, "invokedBy") or _text(identity, "userName") or _text(identity, "principalId")
    return f"{kind}/{name}" if name else None


def resolve_caller(identity: Mapping[str, Any], event_account: str | None) -> Caller | None:
    """The canonical owner of what `identity` created, or None when the record names nobody.

    Never assumes `arn` exists (Identity Center users and AWS services have none)."""
    invoked_by = _text(identity, "invokedBy")
    service = invoked_by if invoked_by and _is_service_identity(identity) else None
    if service:
        owner = service
    else:
        name = _person_name(identity)
        if not name:
            return None
        caller_account = _text(identity, "accountId")
        if caller_account and event_account and caller_account != event_account:
            name = f"{caller_account}:{name}"
        owner = name
    owner = sanitise(owner)
    principal = _principal(identity) or owner
    if not owner:
        return None
    return Caller(owner=owner, principal=sanitise_arn(principal), service=service)


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


def _iso_utc(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _items(container: Any) -> list[Mapping[str, Any]]:
    """CloudTrail renders EC2 lists as {"items": [...]}; anything else is an empty list."""
    if not isinstance(container, Mapping):
        return []
    items = container.get("items")
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def _valid_id(value: Any, prefix: str) -> str | None:
    if isinstance(value, str) and value.startswith(prefix) and len(value) > len(prefix):
        suffix = value[len(prefix) :]
        if all(c in "0123456789abcdef" for c in suffix):
            return value
    return None


def _unique(values: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _created_ids(event_name: str, response: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    _, prefix = SUPPORTED_EVENTS[event_name]
    if event_name == "RunInstances":
        instances = _items(response.get("instancesSet"))
        ids = _unique(_valid_id(i.get("instanceId"), prefix) for i in instances)
        enis = _unique(
            _valid_id(n.get("networkInterfaceId"), "eni-")
            for i in instances
            for n in _items(i.get("networkInterfaceSet"))
        )
        groups = _unique(
            _text(t, "value") for i in instances for t in _items(i.get("tagSet")) if t.get("key") == ASG_NAME_TAG
        )
        return ids, enis, groups
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
    return _unique([_valid_id(raw, prefix)]), [], []


def parse_event(event: Any) -> Creation | str:
    """The creation this event records, or the reason to ignore it. Raises InputError when the event is
    not an EventBridge event at all."""
    event = common.require_mapping(event, "event")
    detail = event.get("detail")
    if detail is None:
        raise common.InputError("event has no 'detail': expected an EventBridge 'AWS API Call via CloudTrail' event")
    detail = common.require_mapping(detail, "event.detail")

    event_name = detail.get("eventName")
    source = detail.get("eventSource")
    if detail.get("errorCode"):
        return f"{event_name} failed with {detail.get('errorCode')}: nothing was created"
    if source != EC2_EVENT_SOURCE or not isinstance(event_name, str) or event_name not in SUPPORTED_EVENTS:
        return (
            f"eventSource={source!r} eventName={event_name!r} is not an EC2 create call this function tags"
            f" ({', '.join(SUPPORTED_EVENTS)} from {EC2_EVENT_SOURCE})"
        )
    response = detail.get("responseElements")
    if not isinstance(response, Mapping):
        return f"{event_name} has no responseElements: nothing to tag"
    resources, enis, groups = _created_ids(event_name, response)
    if not resources:
        return f"{event_name} responseElements has no created resource ID in the documented shape"
    if event_name == "RunInstances":
        listed = len(_items(response.get("instancesSet")))
        if listed != len(resources):
            LOG.warning(
                "%d of %d instancesSet items carry no valid instance ID; tagging the others",
                listed - len(resources),
                listed,
                extra={"instance_ids": resources, "event_id": detail.get("eventID")},
            )
    identity = detail.get("userIdentity")
    if not isinstance(identity, Mapping) or not identity:
        return f"{event_name} has no userIdentity: cannot tell who created {', '.join(resources)}"

    account = event.get("account") if isinstance(event.get("account"), str) else None
    return Creation(
        event_name=event_name,
        event_id=detail.get("eventID") if isinstance(detail.get("eventID"), str) else None,
        event_account=account or _text(detail, "recipientAccountId"),
        created_at=_iso_utc(detail.get("eventTime")) or _iso_utc(event.get("time")),
        identity=identity,
        resources=resources,
        network_interfaces=enis,
        asg_names=groups,
    )


# --- act -------------------------------------------------------------------------------------------


def _error(exc: ClientError) -> tuple[str, str]:
    err = exc.response.get("Error", {})
    return str(err.get("Code") or "ClientError"), str(err.get("Message") or exc)


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


def _existing_keys(ec2: Any, resource_ids: Sequence[str], keys: Sequence[str]) -> dict[str, set[str]]:
    """Which of our tag keys each resource already carries (one DescribeTags per 100 resources)."""
    existing: dict[str, set[str]] = {rid: set() for rid in resource_ids}
    paginator = ec2.get_paginator("describe_tags")
    for chunk in common.chunked(list(resource_ids), BATCH_SIZE):
        filters = [{"Name": "resource-id", "Values": chunk}, {"Name": "key", "Values": list(keys)}]
        for page in paginator.paginate(Filters=filters):
            for tag in page.get("Tags", []):
                existing.setdefault(tag["ResourceId"], set()).add(tag["Key"])
    return existing


def _asg_owner(group: str, owner_key: str) -> str | None:
    autoscaling = common.client("autoscaling")
    filters = [{"Name": "auto-scaling-group", "Values": [group]}, {"Name": "key", "Values": [owner_key]}]
    for tag in autoscaling.describe_tags(Filters=filters).get("Tags", []):
        value = sanitise(str(tag.get("Value") or ""))
        if value:
            return value
    return None


def _create_tags(
    ec2: Any, resource_ids: list[str], tags: dict[str, str], tagged: list[str], failed: list[dict[str, str]]
) -> None:
    """Tag in one call; when that call fails, isolate the failing resources by tagging one by one."""
    tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
    try:
        ec2.create_tags(Resources=resource_ids, Tags=tag_list)
        tagged.extend(resource_ids)
        return
    except ClientError as exc:
        if len(resource_ids) == 1:
            code, message = _error(exc)
            failed.append({"id": resource_ids[0], "error": code, "message": message})
            return
        LOG.warning("batch CreateTags failed, retrying resource by resource", extra={"error": _error(exc)[0]})
    for rid in resource_ids:
        _create_tags(ec2, [rid], tags, tagged, failed)


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
        reason = f"userIdentity of type {parsed.identity.get('type')!r} names no user, role session or service"
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

    existing = _existing_keys(ec2, resources, list(desired))
    plans: dict[tuple[tuple[str, str], ...], list[str]] = {}
    skipped: list[str] = []
    for rid in resources:
        missing_tags = tuple((k, v) for k, v in desired.items() if k not in existing.get(rid, set()))
        if missing_tags:
            plans.setdefault(missing_tags, []).append(rid)
        else:
            skipped.append(rid)

    tagged: list[str] = []
    failed: list[dict[str, str]] = []
    for tags, rids in plans.items():
        for chunk in common.chunked(rids, BATCH_SIZE):
            _create_tags(ec2, chunk, dict(tags), tagged, failed)

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
            f"could not tag {len(failed)} of {len(resources)} resource(s) created by {parsed.event_name}: {names}",
            result,
        )
    return result
