"""owner-tagger, part 4: the daily coverage sweep with backfill (`{"mode": "sweep"}`).

1. List the region's resources of the configured services with `tag:GetResources` (at most SWEEP_MAX_PAGES
   pages of 100) and keep those of the resource types events.json creates.
2. Coverage = resources carrying the owner tag (any letter case) / resources listed.
3. For the ones without it, in ARN order starting after the resume point saved in SSM Parameter Store, look
   up who created each in CloudTrail event history (`cloudtrail:LookupEvents` by resource name, then by ARN,
   last 90 days) and tag it exactly as the event path would have (only missing keys, never overwriting).
4. Stop at SWEEP_MAX_LOOKUPS lookups or when the time budget runs out (the smaller of SWEEP_BUDGET_SECONDS and
   the Lambda's remaining time less a reserve), save where it stopped, and continue there the next day.

Metrics (EMF): OwnerCoveragePct, Untagged, Backfilled, Unresolved, MissedCreates (backfilled resources created
in the last MISSED_CREATE_HOURS hours: the event path should have tagged them, so events are not arriving).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from typing import Any

import opskit_common as common
import owner_tagger_events as main
import owner_tagger_tags as tags
from botocore.exceptions import ClientError
from owner_identity import resolve_caller
from owner_tagger_config import MAX_MESSAGE, METRIC_NAMESPACE, Config, dimensions
from owner_tagger_table import ACCOUNT_PATTERN, Spec, Target, classify, table

LOG = common.get_logger(__name__)

LOOKBACK_DAYS = 90  # CloudTrail event history
RESERVE_SECONDS = 20  # left free before the Lambda timeout
LOOKUP_PAGES = 2  # LookupEvents pages (50 events each) read per resource name
PAGE_SIZE = 100


def _deadline(cfg: Config, context: Any) -> float:
    budget = float(cfg.sweep_budget_seconds)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        budget = min(budget, remaining() / 1000 - RESERVE_SECONDS)
    return time.monotonic() + max(budget, 0.0)


def _account(context: Any) -> str:
    arn = getattr(context, "invoked_function_arn", None)
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) > 4 and ACCOUNT_PATTERN.fullmatch(parts[4]):
        return parts[4]
    return str(common.client("sts").get_caller_identity()["Account"])


def _region() -> str:
    region = main.function_region()
    if not region:
        raise common.ConfigError("AWS_REGION is not set: the sweep lists the function's own region")
    return region


# --- resume point ----------------------------------------------------------------------------------


def load_cursor(cfg: Config) -> str:
    if not cfg.state_parameter:
        return ""
    try:
        value = common.client("ssm").get_parameter(Name=cfg.state_parameter)["Parameter"]["Value"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return ""
        raise
    try:
        cursor = json.loads(value).get("cursor", "")
    except (ValueError, AttributeError):
        LOG.warning("sweep state is not the JSON this function writes; starting from the beginning")
        return ""
    return cursor if isinstance(cursor, str) else ""


def save_cursor(cfg: Config, cursor: str) -> None:
    if not cfg.state_parameter:
        return
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    common.client("ssm").put_parameter(
        Name=cfg.state_parameter, Value=json.dumps({"cursor": cursor, "updated": now}), Type="String", Overwrite=True
    )


# --- list ------------------------------------------------------------------------------------------


def list_resources(
    cfg: Config, specs: list[Spec], region: str, account: str
) -> tuple[dict[str, tuple[Target, bool]], bool, int]:
    """{arn: (target, carries the owner key)} for the listed resources of the supported types, whether the
    listing is complete, and the number of GetResources calls."""
    services = sorted({s.service for s in specs})
    owner = cfg.owner_key.lower()
    found: dict[str, tuple[Target, bool]] = {}
    kwargs: dict[str, Any] = {"ResourceTypeFilters": services, "ResourcesPerPage": PAGE_SIZE}
    client = common.client("resourcegroupstaggingapi")
    calls = 0
    while calls < cfg.sweep_max_pages:
        page = client.get_resources(**kwargs)
        calls += 1
        for mapping in page.get("ResourceTagMappingList", []):
            target = classify(str(mapping.get("ResourceARN", "")), specs, region, account)
            if target is not None:
                keys = {str(t.get("Key", "")).lower() for t in mapping.get("Tags", [])}
                found[target.arn] = (target, owner in keys)
        token = page.get("PaginationToken")
        if not token:
            return found, True, calls
        kwargs["PaginationToken"] = token
    return found, False, calls


# --- who created it --------------------------------------------------------------------------------


def find_creation(target: Target, cfg: Config, account: str, deadline: float) -> tuple[main.Creation | None, int]:
    """The most recent supported create record in event history that names this resource, and the calls made."""
    accepted = {
        (row.event_source, row.event_name)
        for key in cfg.event_keys
        for row in [table().rows[key]]
        if any(s.service == target.service and s.type == target.type for s in row.specs)
    }
    now = dt.datetime.now(dt.UTC)
    client = common.client("cloudtrail")
    calls = 0
    for name in dict.fromkeys([target.id, target.arn]):
        kwargs: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": name}],
            "StartTime": now - dt.timedelta(days=LOOKBACK_DAYS),
            "EndTime": now,
            "MaxResults": 50,
        }
        for _ in range(LOOKUP_PAGES):
            if time.monotonic() > deadline:
                return None, calls
            page = client.lookup_events(**kwargs)
            calls += 1
            for record in page.get("Events", []):
                if (record.get("EventSource"), record.get("EventName")) not in accepted:
                    continue
                creation = _creation(record, account)
                if creation is not None and target.arn in {t.arn for t in creation.targets}:
                    return creation, calls
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return None, calls


def _creation(record: Mapping[str, Any], account: str) -> main.Creation | None:
    try:
        detail = common.loads_json(record.get("CloudTrailEvent"), "LookupEvents CloudTrailEvent")
        parsed = main.parse_record(common.require_mapping(detail, "CloudTrailEvent"), account, {})
    except common.InputError as exc:
        LOG.warning("skipping an event history record: %s", exc, extra={"event_id": record.get("EventId")})
        return None
    return parsed if isinstance(parsed, main.Creation) else None


# --- the sweep -------------------------------------------------------------------------------------


def run(cfg: Config, context: Any) -> dict[str, Any]:
    deadline = _deadline(cfg, context)
    region, account = _region(), _account(context)
    specs = table().specs(cfg.event_keys)
    listed, complete, list_calls = list_resources(cfg, specs, region, account)
    untagged = sorted(arn for arn, (_, owned) in listed.items() if not owned)
    cursor = load_cursor(cfg)
    order = [a for a in untagged if a > cursor] + [a for a in untagged if a <= cursor]

    plan: dict[Target, dict[str, str]] = {}
    unresolved: list[str] = []
    processed = 0
    lookups = 0
    missed = 0
    recent = dt.datetime.now(dt.UTC) - dt.timedelta(hours=cfg.missed_create_hours)
    for arn in order:
        if lookups >= cfg.sweep_max_lookups or time.monotonic() > deadline:
            break
        target = listed[arn][0]
        creation, calls = find_creation(target, cfg, account, deadline)
        lookups += calls
        if creation is None and time.monotonic() > deadline:
            break  # ran out of time in the middle of this one: it is looked up again next time
        processed += 1
        caller = resolve_caller(creation.identity, creation.event_account) if creation else None
        if creation is None or caller is None:
            unresolved.append(arn)
            continue
        owner = caller.owner
        if caller.service and creation.asg_names:
            owner = tags.asg_owner(creation.asg_names[0], cfg.owner_key) or owner
        plan[target] = main.desired_tags(cfg, caller, owner, creation)
        created = common.parse_time(creation.created_at, "created_at") if creation.created_at else None
        missed += int(created is not None and created >= recent)

    outcome = tags.apply(plan) if plan else tags.Result()
    # Where the next sweep starts: after the last resource looked up; the beginning once all were.
    done = cursor if not processed and order else ("" if processed == len(order) else order[processed - 1])
    if done != cursor:
        save_cursor(cfg, done)

    owned = sum(1 for _, has in listed.values() if has)
    backfilled = [t.arn for t in plan if cfg.owner_key in outcome.written.get(tags.label(t), [])]
    total = len(listed)
    coverage = 100.0 if total == 0 else round(100.0 * (owned + len(backfilled)) / total, 2)
    result = {
        "mode": "sweep",
        "resources": total,
        "listing_complete": complete,
        "owned_before": owned,
        "backfilled": backfilled,
        "unresolved": unresolved,
        "failed": outcome.failed,
        "remaining": len(order) - processed,
        "coverage_pct": coverage,
        "missed_creates": missed,
        "cursor": done,
        "calls": {"GetResources": list_calls, "LookupEvents": lookups, "tagging": outcome.calls},
    }
    common.emit_metrics(
        METRIC_NAMESPACE,
        dimensions(),
        {
            "OwnerCoveragePct": (coverage, "Percent"),
            "Untagged": (total - owned - len(backfilled), "Count"),
            "Backfilled": (len(backfilled), "Count"),
            "Unresolved": (len(unresolved), "Count"),
            "MissedCreates": (missed, "Count"),
        },
        properties={"mode": "sweep", "listing_complete": complete, "remaining": result["remaining"]},
    )
    LOG.info(
        "sweep: %d resources, coverage %.2f%%, backfilled %d, unresolved %d, %d left for the next run",
        total,
        coverage,
        len(backfilled),
        len(unresolved),
        result["remaining"],
        extra={k: v for k, v in result.items() if k not in ("backfilled", "unresolved")},
    )
    if not complete:
        LOG.warning(
            "the listing stopped at SWEEP_MAX_PAGES=%d pages: coverage counts the listed part", cfg.sweep_max_pages
        )
    if outcome.failed:
        names = ", ".join(f"{f['id']} ({f['error']})" for f in outcome.failed)
        raise common.PartialFailure(
            f"sweep could not tag {len(outcome.failed)} of {len(plan)} resource(s): {common.clip(names, MAX_MESSAGE)}",
            result,
        )
    return result
