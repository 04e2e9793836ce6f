"""owner-tagger, part 2: the table of supported create calls (events.json) and what a CloudTrail record created.

events.json is the single source of truth: Terraform reads it for the `event_names` validation, the rules and
the IAM grant; this module reads the same file from the Lambda package. Each event row names its service and
how the created resources' ARNs are found: `paths` into the record (`responseElements...` or
`requestParameters...`, `[]` flattens a list), tried in order, each yielding the resource id (the `{id}` of
the row's ARN template, built with the event's partition, region and account), the whole ARN, or either.
Every value must match the row's pattern as a whole string; anything else is never sent to AWS.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import opskit_common as common

TABLE_FILE = Path(__file__).with_name("events.json")
MAX_VALUE = 2048  # longest ARN or name read from a record
MAX_ITEMS = 1000  # list items read per path (RunInstances launches at most 1000 instances... per call)
_PLACEHOLDER = re.compile(r"\{(partition|region|account|id)\}")


@dataclass(frozen=True)
class Spec:
    """One kind of resource an event creates."""

    service: str
    type: str
    arn: str  # template with {partition}, {region}, {account}, {id}
    id: re.Pattern[str]
    paths: tuple[str, ...]
    value: str  # "id", "arn" or "arn-or-id"

    def pattern(self, region: str, account: str) -> re.Pattern[str]:
        """The whole-ARN pattern of this resource type in one region and account (any partition)."""
        parts = []
        for piece in _PLACEHOLDER.split(self.arn):
            if piece == "partition":
                parts.append("aws(?:-[a-z]+)*")
            elif piece == "region":
                parts.append(re.escape(region))
            elif piece == "account":
                parts.append(re.escape(account))
            elif piece == "id":
                parts.append(f"(?P<id>{self.id.pattern})")
            else:
                parts.append(re.escape(piece))
        return re.compile("".join(parts))

    def build(self, partition: str, region: str, account: str, resource_id: str) -> str:
        values = {"partition": partition, "region": region, "account": account, "id": resource_id}
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.arn)


@dataclass(frozen=True)
class Row:
    key: str  # <service>:<eventName>
    service: str
    event_name: str
    event_source: str
    writer: str  # "ec2" (CreateTags by id) or "tagging-api" (tag:TagResources by ARN)
    specs: tuple[Spec, ...]


@dataclass(frozen=True)
class Target:
    """A resource to tag: its ARN, and for EC2 the id CreateTags takes."""

    arn: str
    service: str
    type: str
    id: str
    writer: str


@dataclass(frozen=True)
class Table:
    services: Mapping[str, Mapping[str, Any]]
    rows: Mapping[str, Row]

    @functools.cached_property
    def by_source(self) -> dict[tuple[str, str], Row]:
        return {(row.event_source, row.event_name): row for row in self.rows.values()}

    def resolve(self, name: str) -> str | None:
        """A qualified key for `name`: the key itself, or an event name that only one service has."""
        if name in self.rows:
            return name
        matches = [row.key for row in self.rows.values() if row.event_name == name]
        return matches[0] if len(matches) == 1 else None

    def specs(self, keys: Iterable[str]) -> list[Spec]:
        seen: dict[tuple[str, str], Spec] = {}
        for key in keys:
            for spec in self.rows[key].specs:
                seen.setdefault((spec.service, spec.type), spec)
        return list(seen.values())


@functools.cache
def table() -> Table:
    raw = json.loads(TABLE_FILE.read_text(encoding="utf-8"))
    services = raw["services"]
    rows = {}
    for key, row in raw["events"].items():
        service = services[row["service"]]
        specs = tuple(
            Spec(
                service=row["service"],
                type=s["type"],
                arn=s["arn"],
                id=re.compile(s["id"]),
                paths=tuple(s["paths"]),
                value=s.get("value", "id"),
            )
            for s in row["resources"]
        )
        rows[key] = Row(key, row["service"], row["event_name"], service["event_source"], service["writer"], specs)
    return Table(services=services, rows=rows)


# --- reading values out of a record ---------------------------------------------------------------


def walk(record: Any, path: str) -> Iterator[Any]:
    """Values at a dotted path; `name[]` steps into every item of a list (at most MAX_ITEMS)."""
    nodes = [record]
    for step in path.split("."):
        flatten = step.endswith("[]")
        name = step[:-2] if flatten else step
        found = []
        for node in nodes:
            child = node.get(name) if isinstance(node, Mapping) else None
            if flatten:
                found.extend(child[:MAX_ITEMS] if isinstance(child, list) else [])
            elif child is not None:
                found.append(child)
        nodes = found
    yield from nodes


def _str(value: Any) -> str | None:
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def targets(row: Row, record: Mapping[str, Any], partition: str, region: str, account: str) -> list[Target]:
    """The resources `record` (a CloudTrail record of `row`'s call) names, as targets; values that do not have
    the documented shape, or ARNs of another region or account, are dropped."""
    found: dict[str, Target] = {}
    for spec in row.specs:
        whole = spec.pattern(region, account)
        for path in spec.paths:
            values = [v for v in (_str(x) for x in walk(record, path)) if v]
            hits = []
            for value in values:
                match = whole.fullmatch(value) if spec.value in ("arn", "arn-or-id") else None
                if match:
                    hits.append((value, match.group("id")))
                elif spec.value in ("id", "arn-or-id") and spec.id.fullmatch(value):
                    hits.append((spec.build(partition, region, account, value), value))
            for arn, resource_id in hits:
                found.setdefault(arn, Target(arn, spec.service, spec.type, resource_id, row.writer))
            if hits:
                break  # the first path that names resources wins
    return list(found.values())


def classify(arn: str, specs: Iterable[Spec], region: str, account: str) -> Target | None:
    """The target an ARN listed by tag:GetResources is, when it is of one of these resource types."""
    writers = {row.service: row.writer for row in table().rows.values()}
    for spec in specs:
        match = spec.pattern(region, account).fullmatch(arn)
        if match:
            return Target(arn, spec.service, spec.type, match.group("id"), writers[spec.service])
    return None


def stack_name(request: Any, limit: int = 2000) -> str | None:
    """CloudFormation's `aws:cloudformation:stack-name` tag where the request carries it, in any of the shapes
    CloudTrail records tags ({"key": k, "value": v}, {"Key": .., "Value": ..} or a {k: v} map). Bounded walk."""
    stack: list[Any] = [request]
    seen = 0
    while stack and seen < limit:
        node = stack.pop()
        seen += 1
        if isinstance(node, Mapping):
            key = node.get("key", node.get("Key"))
            if key == "aws:cloudformation:stack-name":
                value = _str(node.get("value", node.get("Value")))
                if value:
                    return value
            direct = node.get("aws:cloudformation:stack-name")
            if _str(direct):
                return str(direct)
            stack.extend(v for v in node.values() if isinstance(v, (Mapping, list)))
        elif isinstance(node, list):
            stack.extend(v for v in node[:MAX_ITEMS] if isinstance(v, (Mapping, list)))
    return None


def partition_of(region: str) -> str:
    """The ARN partition of a region (no AWS call)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    return "aws"


REGION_PATTERN = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d")
ACCOUNT_PATTERN = re.compile(r"\d{12}")


def require_region(value: Any, what: str) -> str:
    return common.require_str(value, what, REGION_PATTERN, max_length=32)
