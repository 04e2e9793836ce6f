"""Start and stop tagged EC2 instances, Auto Scaling groups and RDS databases on named schedules.

Invoked by EventBridge Scheduler (one schedule per named schedule and action) with
    {"action": "start"|"stop", "schedule": "office-hours", "timezone": "Europe/Berlin",
     "skip_dates": ["2026-12-24"], "resources": ["ec2", "asg", "rds"], "dry_run": false}
or by hand, for listed EC2 instances only:
    {"action": "start"|"stop", "instance_ids": ["i-0123456789abcdef0"]}

It acts only on resources whose schedule tag (TAG_KEY) names a CONFIGURED schedule: SCHEDULE_NAMES is the
JSON list of schedule names the module declares, and its IAM policy allows nothing else. A scheduled event
for another name is refused; a listed instance tagged with another name is reported as failed.

Contract with instance-protect: before stopping an EC2 instance the function tags it
`opskit:stopped-by = scheduler:<schedule>` (manual runs: `scheduler:manual`) and removes the tag
again after a successful start, or when the stop itself failed.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import os
import re
import time
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import opskit_common as common
from botocore.exceptions import BotoCoreError, ClientError

log = common.get_logger(__name__)

METRIC_NAMESPACE = "opskit/scheduler"
STOPPED_BY_TAG = "opskit:stopped-by"
SAVED_SIZE_TAG = "opskit:scheduler-saved-size"
ASG_NAME_TAG = "aws:autoscaling:groupName"
ACTIONS = ("start", "stop")
KINDS = ("ec2", "asg", "rds")
MANUAL = "manual"

# EC2 documents no upper bound for StartInstances/StopInstances; CreateTags takes up to 1000 ids.
# 200 keeps each request small while a 1,200-instance fleet needs only six calls per step.
BATCH_SIZE = 200
PAGE_SIZE = 1000  # DescribeInstances MaxResults (5-1000)
FILTER_VALUES = 200  # values per DescribeInstances filter
VERIFY_POLL_SECONDS = 5.0

# An AWS call that failed: an error answer (ClientError) or no answer at all (BotoCoreError: connection,
# timeout, retries exhausted by the client). Either fails the resource, never the rest of the run.
AWS_ERRORS = (ClientError, BotoCoreError)

# Whole-string patterns: use them with `fullmatch` only (`re.match(...$)` accepts a trailing newline).
_INSTANCE_ID = common.id_pattern("i")  # i- and exactly 8 or 17 lower-case hex digits
_SCHEDULE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")  # the keys modules/scheduler accepts
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ZONE = re.compile(r"UTC|[A-Z][A-Za-z_-]{1,30}(?:/[A-Za-z0-9_+-]{1,30}){1,2}")  # as modules/scheduler validates
_TAG_KEY = re.compile(r"[A-Za-z0-9 _.:/=+@-]{1,127}")
_BOOL = re.compile(r"(?i)true|false|1|0|yes|no|on|off")
_SECONDS = re.compile(r"[0-9]{1,3}")
MAX_SCHEDULES = 50  # modules/scheduler's limit (its IAM policy lists every name)
MAX_INSTANCE_IDS = 1000  # per manual run (CreateTags takes up to 1000 ids)
MAX_VERIFY_TIMEOUT_SECONDS = 300

# Injectable for tests: the bounded start verification is the only place this function waits.
sleep: Callable[[float], None] = time.sleep
monotonic: Callable[[], float] = time.monotonic


def _show(value: Any, limit: int = 100) -> str:
    """A bounded repr of untrusted input for error messages and logs."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int past the str-conversion limit, a self-containing list
        text = f"<{type(value).__name__}>"
    return common.clip(text, limit)


@dataclass(frozen=True)
class Config:
    tag_key: str
    schedule_names: frozenset[str]
    dry_run: bool
    hibernate: bool
    verify_timeout_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, Any]) -> Config:
        """Check every variable before any AWS call; ConfigError names the variable and shows at most a
        bounded part of its value."""
        for name in ("TAG_KEY", "SCHEDULE_NAMES", "DRY_RUN", "HIBERNATE", "VERIFY_TIMEOUT_SECONDS"):
            if name in env and not isinstance(env[name], str):
                raise common.ConfigError(
                    f"environment variable {name} must be a string, got {type(env[name]).__name__}"
                )
        tag_key = common.env_match(env, "TAG_KEY", _TAG_KEY, "Schedule")
        if tag_key.lower().startswith("aws:"):
            raise common.ConfigError(f"TAG_KEY={tag_key!r} is in the reserved aws: namespace")
        seconds = int(common.env_match(env, "VERIFY_TIMEOUT_SECONDS", _SECONDS, "30"))
        if seconds > MAX_VERIFY_TIMEOUT_SECONDS:
            raise common.ConfigError(f"VERIFY_TIMEOUT_SECONDS={seconds} must be at most {MAX_VERIFY_TIMEOUT_SECONDS}")
        return cls(
            tag_key=tag_key,
            schedule_names=_schedule_names(env),
            dry_run=common.env_bool({"DRY_RUN": common.env_match(env, "DRY_RUN", _BOOL, "false")}, "DRY_RUN"),
            hibernate=common.env_bool({"HIBERNATE": common.env_match(env, "HIBERNATE", _BOOL, "false")}, "HIBERNATE"),
            verify_timeout_seconds=seconds,
        )


def _schedule_names(env: Mapping[str, Any]) -> frozenset[str]:
    """SCHEDULE_NAMES: the JSON list of configured schedule names (required; `[]` when none is configured)."""
    raw = common.env_str(env, "SCHEDULE_NAMES")
    try:
        names = common.loads_json(raw, "environment variable SCHEDULE_NAMES", max_length=8192)
    except common.InputError as exc:
        raise common.ConfigError(str(exc)) from None
    if (
        not isinstance(names, list)
        or len(names) > MAX_SCHEDULES
        or not all(isinstance(n, str) and _SCHEDULE_NAME.fullmatch(n) and n != MANUAL for n in names)
    ):
        raise common.ConfigError(
            f"environment variable SCHEDULE_NAMES must be a JSON list of at most {MAX_SCHEDULES} schedule names "
            f"(1-32 letters, digits, '.', '_' or '-', not {MANUAL!r}), got {_show(raw)}"
        )
    return frozenset(names)


@functools.cache
def config() -> Config:
    return Config.from_env(os.environ)


@dataclass(frozen=True)
class Request:
    action: str
    schedule: str  # the schedule name, or "manual"
    instance_ids: tuple[str, ...]  # manual form only
    timezone: str
    skip_dates: frozenset[str]
    resources: tuple[str, ...]
    dry_run: bool

    @property
    def manual(self) -> bool:
        return self.schedule == MANUAL and bool(self.instance_ids)

    @property
    def marker(self) -> str:
        return f"scheduler:{self.schedule}"


@dataclass
class Outcome:
    succeeded: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)

    def skip(self, resource_id: str, reason: str) -> None:
        self.skipped.append({"id": resource_id, "reason": reason})

    def fail(self, resource_id: str, error: str) -> None:
        self.failed.append({"id": resource_id, "error": error})


# --- parse -----------------------------------------------------------------------------------------


def parse(event: Any, cfg: Config) -> Request:
    """The event, checked as a whole before any AWS call (InputError names the field and shows at most a
    bounded part of the value)."""
    event = common.require_mapping(event, "event")
    action = event.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise common.InputError(f"action must be 'start' or 'stop', got {_show(action)}")
    dry_run = event.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise common.InputError(f"dry_run must be true or false, got {_show(dry_run)}")
    dry_run = dry_run or cfg.dry_run

    if "instance_ids" in event:
        if "schedule" in event:
            raise common.InputError("give either schedule or instance_ids, not both")
        ids = event["instance_ids"]
        if not isinstance(ids, list) or not ids or len(ids) > MAX_INSTANCE_IDS:
            raise common.InputError(
                f"instance_ids must be a non-empty list of at most {MAX_INSTANCE_IDS} EC2 instance ids, "
                f"got {_show(ids)}"
            )
        bad = [i for i in ids if not isinstance(i, str) or not _INSTANCE_ID.fullmatch(i)]
        if bad:
            raise common.InputError(
                f"malformed instance ids (expected i- and exactly 8 or 17 lower-case hex digits): "
                f"{len(bad)} of {len(ids)}, e.g. {_show(bad[:3])}"
            )
        return Request(action, MANUAL, tuple(dict.fromkeys(ids)), "UTC", frozenset(), ("ec2",), dry_run)

    schedule = event.get("schedule")
    if schedule is None:
        raise common.InputError("the event needs a schedule name or a list of instance_ids")
    if not isinstance(schedule, str) or schedule not in cfg.schedule_names:
        configured = ", ".join(sorted(cfg.schedule_names)) or "none"
        raise common.InputError(
            f"schedule must be one of the configured schedules ({common.clip(configured)}), got {_show(schedule)}"
        )

    timezone = event.get("timezone", "UTC")
    if not isinstance(timezone, str) or not _ZONE.fullmatch(timezone):
        raise common.InputError(f"timezone must be UTC or an IANA name such as Europe/Berlin, got {_show(timezone)}")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise common.InputError(f"unknown time zone {timezone!r} (expected an IANA name like Europe/Berlin)") from None

    skip_dates = event.get("skip_dates", [])
    if not isinstance(skip_dates, list):
        raise common.InputError(f"skip_dates must be a list of YYYY-MM-DD dates, got {_show(skip_dates)}")
    for day in skip_dates:
        if not isinstance(day, str) or not _DATE.fullmatch(day):
            raise common.InputError(f"skip date {_show(day)} is not YYYY-MM-DD")
        try:
            dt.date.fromisoformat(day)
        except ValueError:
            raise common.InputError(f"skip date {day!r} is not a calendar date") from None

    resources = event.get("resources", list(KINDS))
    if (
        not isinstance(resources, list)
        or not resources
        or not all(isinstance(r, str) and r in KINDS for r in resources)
    ):
        raise common.InputError(f"resources must be a non-empty list drawn from {list(KINDS)}, got {_show(resources)}")

    return Request(action, schedule, (), timezone, frozenset(skip_dates), tuple(dict.fromkeys(resources)), dry_run)


# --- entry point -----------------------------------------------------------------------------------


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    cfg = config()
    request = parse(event, cfg)
    base = {"action": request.action, "schedule": request.schedule, "dry_run": request.dry_run}

    if not request.manual:
        today = dt.datetime.now(dt.UTC).astimezone(zoneinfo.ZoneInfo(request.timezone)).date().isoformat()
        if today in request.skip_dates:
            message = f"{today} is a skip date of schedule {request.schedule} ({request.timezone}); nothing was done"
            log.info(message, extra={**base, "skip_date": today})
            _emit(request, Outcome())
            return {**base, "succeeded": [], "skipped": [], "failed": [], "skip_date": today, "message": message}

    outcome = Outcome()
    if "ec2" in request.resources:
        _run_ec2(request, cfg, outcome)
    if "asg" in request.resources:
        _run_asg(request, cfg, outcome)
    if "rds" in request.resources:
        _run_rds(request, cfg, outcome)

    result: dict[str, Any] = {
        **base,
        "succeeded": outcome.succeeded,
        "skipped": outcome.skipped,
        "failed": outcome.failed,
    }
    if request.dry_run:
        result["planned"] = outcome.planned
    _emit(request, outcome)
    log.info(
        "scheduler run finished",
        extra={
            **base,
            "succeeded": len(outcome.succeeded),
            "skipped": len(outcome.skipped),
            "failed": len(outcome.failed),
            "planned": len(outcome.planned),
        },
    )
    if outcome.failed:
        names = "; ".join(f"{f['id']} ({common.clip(f['error'], 120)})" for f in outcome.failed[:10])
        more = f"; and {len(outcome.failed) - 10} more (see the result)" if len(outcome.failed) > 10 else ""
        message = f"{request.action} {request.schedule}: {len(outcome.failed)} failed: {names}{more}"
        raise common.PartialFailure(common.clip(message, 1800), result)
    return result


def _emit(request: Request, outcome: Outcome) -> None:
    common.emit_metrics(
        METRIC_NAMESPACE,
        {"Schedule": request.schedule, "Action": request.action},
        {
            "Succeeded": (len(outcome.succeeded), "Count"),
            "Failed": (len(outcome.failed), "Count"),
            "Skipped": (len(outcome.skipped), "Count"),
        },
        properties={"dry_run": request.dry_run},
    )


def _error(exc: Exception) -> str:
    """An AWS failure as bounded text (AWS messages can quote whole requests)."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return common.clip(f"{err.get('Code', 'Error')}: {err.get('Message', '')}".rstrip(": "))
    return common.clip(f"{type(exc).__name__}: {exc}")


# --- EC2 -------------------------------------------------------------------------------------------


def _describe_instances(filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ec2 = common.client("ec2")
    found: list[dict[str, Any]] = []
    for page in ec2.get_paginator("describe_instances").paginate(
        Filters=filters, PaginationConfig={"PageSize": PAGE_SIZE}
    ):
        for reservation in page.get("Reservations", []):
            found.extend(reservation.get("Instances", []))
    return found


def _actionable_states(action: str) -> list[str]:
    return ["stopped"] if action == "start" else ["pending", "running"]


def _select_ec2(request: Request, cfg: Config, outcome: Outcome) -> list[dict[str, Any]]:
    states = _actionable_states(request.action)
    if not request.manual:
        instances = _describe_instances(
            [
                {"Name": f"tag:{cfg.tag_key}", "Values": [request.schedule]},
                {"Name": "instance-state-name", "Values": states},
            ]
        )
        selected = []
        for inst in instances:
            if ASG_NAME_TAG in common.tags_to_dict(inst.get("Tags")):
                continue  # its Auto Scaling group owns it (the group is scheduled as a whole)
            selected.append(inst)
        return selected

    found: dict[str, dict[str, Any]] = {}
    for chunk in common.chunked(list(request.instance_ids), FILTER_VALUES):
        for inst in _describe_instances([{"Name": "instance-id", "Values": chunk}]):
            found[inst["InstanceId"]] = inst
    selected = []
    for instance_id in request.instance_ids:
        match = found.get(instance_id)
        if match is None:
            outcome.fail(instance_id, "instance not found in this account and region")
            continue
        tags = common.tags_to_dict(match.get("Tags"))
        state = match["State"]["Name"]
        if cfg.tag_key not in tags:
            outcome.fail(
                instance_id, f"not tagged {cfg.tag_key}; the function's IAM policy only allows tagged instances"
            )
        elif tags[cfg.tag_key] not in cfg.schedule_names:
            outcome.fail(
                instance_id,
                f"tagged {cfg.tag_key}={common.clip(tags[cfg.tag_key], 60)!r}, which names no configured schedule; "
                "the function's IAM policy only allows instances of configured schedules",
            )
        elif ASG_NAME_TAG in tags:
            outcome.skip(instance_id, f"member of Auto Scaling group {tags[ASG_NAME_TAG]}; left to the group")
        elif state not in states:
            outcome.skip(instance_id, f"already {state}")
        else:
            selected.append(match)
    return selected


def _run_ec2(request: Request, cfg: Config, outcome: Outcome) -> None:
    instances = _select_ec2(request, cfg, outcome)
    ids = [i["InstanceId"] for i in instances]
    if not ids:
        return
    if request.dry_run:
        outcome.planned.extend(ids)
        log.info("dry run: would %s instances", request.action, extra={"instance_ids": ids})
        return
    if request.action == "stop":
        hibernate = {i["InstanceId"] for i in instances if (i.get("HibernationOptions") or {}).get("Configured")}
        _stop_ec2(request, cfg, ids, hibernate, outcome)
    else:
        _start_ec2(request, cfg, ids, outcome)


def _bisect(ids: list[str], act: Callable[[list[str]], None], on_failure: Callable[[str, Exception], None]) -> None:
    """Run `act` on the whole batch; when EC2 refuses it, split it until the refused ids are isolated, so
    every healthy instance is still acted on (log2(n) extra calls per failing id). When EC2 gives no
    answer at all (BotoCoreError), splitting would only repeat it: the batch fails and the next one runs."""
    try:
        act(ids)
    except BotoCoreError as exc:
        for instance_id in ids:
            on_failure(instance_id, exc)
    except ClientError as exc:
        if len(ids) == 1:
            on_failure(ids[0], exc)
            return
        middle = len(ids) // 2
        _bisect(ids[:middle], act, on_failure)
        _bisect(ids[middle:], act, on_failure)


def _stop_ec2(request: Request, cfg: Config, ids: list[str], hibernate: set[str], outcome: Outcome) -> None:
    ec2 = common.client("ec2")
    marker = [{"Key": STOPPED_BY_TAG, "Value": request.marker}]

    def stop(batch: list[str]) -> None:
        ec2.create_tags(Resources=batch, Tags=marker)
        if cfg.hibernate and all(i in hibernate for i in batch):
            try:
                ec2.stop_instances(InstanceIds=batch, Hibernate=True)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "UnsupportedHibernationConfiguration":
                    raise
                log.warning("hibernation refused; plain stop", extra={"instance_ids": batch, "error": _error(exc)})
                ec2.stop_instances(InstanceIds=batch)
        else:
            ec2.stop_instances(InstanceIds=batch)
        outcome.succeeded.extend(batch)

    not_stopped: list[str] = []

    def failed(instance_id: str, exc: Exception) -> None:
        outcome.fail(instance_id, _error(exc))
        not_stopped.append(instance_id)
        log.error("stop failed", extra={"instance_id": instance_id, "error": _error(exc)})

    # Hibernation-capable instances are batched apart so a plain-stop instance never forces a fallback.
    groups = [[i for i in ids if i in hibernate], [i for i in ids if i not in hibernate]] if cfg.hibernate else [ids]
    for group in groups:
        for batch in common.chunked(group, BATCH_SIZE):
            _bisect(batch, stop, failed)

    _remove_marker(not_stopped)  # instances that keep running must not look stopped by the scheduler


def _remove_marker(ids: list[str]) -> None:
    """Batched DeleteTags of the stop marker; a refused batch is bisected like the actions themselves."""
    ec2 = common.client("ec2")

    def unmark(batch: list[str]) -> None:
        ec2.delete_tags(Resources=batch, Tags=[{"Key": STOPPED_BY_TAG}])

    def unmark_failed(instance_id: str, exc: Exception) -> None:
        log.error("could not remove stop marker", extra={"instance_id": instance_id, "error": _error(exc)})

    for batch in common.chunked(ids, BATCH_SIZE):
        _bisect(batch, unmark, unmark_failed)


def _start_ec2(request: Request, cfg: Config, ids: list[str], outcome: Outcome) -> None:
    ec2 = common.client("ec2")
    started: list[str] = []

    def start(batch: list[str]) -> None:
        ec2.start_instances(InstanceIds=batch)
        started.extend(batch)

    def failed(instance_id: str, exc: Exception) -> None:
        outcome.fail(instance_id, _error(exc))
        log.error("start failed", extra={"instance_id": instance_id, "error": _error(exc)})

    for batch in common.chunked(ids, BATCH_SIZE):
        _bisect(batch, start, failed)

    fell_back = _verify_started(request, cfg, started)
    for instance_id, reason in fell_back.items():
        outcome.fail(instance_id, f"started but fell back to stopped: {reason}")
        log.error("instance fell back to stopped", extra={"instance_id": instance_id, "state_reason": reason})
    running = [i for i in started if i not in fell_back]
    outcome.succeeded.extend(running)
    _remove_marker(running)


def _verify_started(request: Request, cfg: Config, ids: list[str]) -> dict[str, str]:
    """Re-read the started instances until none is `pending` or VERIFY_TIMEOUT_SECONDS pass. Returns
    {id: state reason} for those that went back to stopping/stopped, which is how EC2 reports a start
    it could not complete (e.g. an EBS volume under a KMS key the instance cannot use).

    A poll asks only for instances that are not running: for a schedule that is one paginated
    DescribeInstances filtered by the schedule tag and state; for a manual run one per 200 listed ids."""
    timeout_seconds = cfg.verify_timeout_seconds
    if not ids or timeout_seconds <= 0:
        return {}
    not_running = {"Name": "instance-state-name", "Values": ["pending", "stopping", "stopped", "shutting-down"]}
    if request.manual:
        queries = [[{"Name": "instance-id", "Values": c}, not_running] for c in common.chunked(ids, FILTER_VALUES)]
    else:
        queries = [[{"Name": f"tag:{cfg.tag_key}", "Values": [request.schedule]}, not_running]]
    started = set(ids)
    deadline = monotonic() + timeout_seconds
    polls_left = math.ceil(timeout_seconds / VERIFY_POLL_SECONDS) + 1  # a bound even if the clock stands still
    fell_back: dict[str, str] = {}
    pending = sorted(started)
    while pending and polls_left > 0:
        polls_left -= 1
        sleep(min(VERIFY_POLL_SECONDS, max(0.0, deadline - monotonic())))
        still: list[str] = []
        try:
            found = [inst for filters in queries for inst in _describe_instances(filters)]
        except AWS_ERRORS as exc:  # the starts were accepted; an unreadable state is not a failed start
            log.error("could not re-read instance states; verification ended", extra={"error": _error(exc)})
            break
        for inst in found:
            instance_id = inst["InstanceId"]
            if instance_id not in started or instance_id in fell_back:
                continue
            if inst["State"]["Name"] == "pending":
                still.append(instance_id)
            else:
                reason = inst.get("StateReason") or {}
                fell_back[instance_id] = reason.get("Message") or reason.get("Code") or inst["State"]["Name"]
        pending = still
        if monotonic() >= deadline:
            break
    if pending:
        log.warning("instances still pending when verification ended", extra={"instance_ids": pending})
    return fell_back


# --- Auto Scaling groups ---------------------------------------------------------------------------


def _parse_size(value: str) -> tuple[int, int, int] | None:
    match = re.fullmatch(r"min=(\d+),max=(\d+),desired=(\d+)", value or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _run_asg(request: Request, cfg: Config, outcome: Outcome) -> None:
    asg = common.client("autoscaling")
    groups: list[dict[str, Any]] = []
    for page in asg.get_paginator("describe_auto_scaling_groups").paginate(
        Filters=[{"Name": f"tag:{cfg.tag_key}", "Values": [request.schedule]}]
    ):
        groups.extend(page.get("AutoScalingGroups", []))

    for group in groups:
        name = group["AutoScalingGroupName"]
        label = f"asg/{name}"
        tags = common.tags_to_dict(group.get("Tags"))
        current = (group["MinSize"], group["MaxSize"], group["DesiredCapacity"])
        saved = _parse_size(tags.get(SAVED_SIZE_TAG, ""))
        if request.action == "stop":
            if current == (0, 0, 0):
                outcome.skip(label, "already 0/0/0")
                continue
            if request.dry_run:
                outcome.planned.append(label)
                continue
            try:
                asg.create_or_update_tags(Tags=[_asg_tag(name, "min={},max={},desired={}".format(*current))])
                asg.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=0, DesiredCapacity=0)
            except AWS_ERRORS as exc:
                outcome.fail(label, _error(exc))
                continue
            outcome.succeeded.append(label)
            log.info("group scaled to zero", extra={"group": name, "saved": current})
        else:
            if saved is None:
                reason = "no saved size (not stopped by the scheduler)"
                if SAVED_SIZE_TAG in tags:
                    outcome.fail(label, f"unreadable {SAVED_SIZE_TAG} tag {_show(tags[SAVED_SIZE_TAG])}")
                else:
                    outcome.skip(label, reason)
                continue
            if request.dry_run:
                outcome.planned.append(label)
                continue
            try:
                asg.update_auto_scaling_group(
                    AutoScalingGroupName=name, MinSize=saved[0], MaxSize=saved[1], DesiredCapacity=saved[2]
                )
                asg.delete_tags(Tags=[_asg_tag(name, tags[SAVED_SIZE_TAG])])
            except AWS_ERRORS as exc:
                outcome.fail(label, _error(exc))
                continue
            outcome.succeeded.append(label)
            log.info("group size restored", extra={"group": name, "restored": saved})


def _asg_tag(group: str, value: str) -> dict[str, Any]:
    return {
        "ResourceId": group,
        "ResourceType": "auto-scaling-group",
        "Key": SAVED_SIZE_TAG,
        "Value": value,
        "PropagateAtLaunch": False,
    }


# --- RDS -------------------------------------------------------------------------------------------


def _tagged(resource: Mapping[str, Any], cfg: Config, schedule: str) -> bool:
    return common.tags_to_dict(resource.get("TagList")).get(cfg.tag_key) == schedule


def _run_rds(request: Request, cfg: Config, outcome: Outcome) -> None:
    rds = common.client("rds")
    start = request.action == "start"
    ready, target = ("stopped", "start") if start else ("available", "stop")

    for db in _paginate(rds, "describe_db_instances", "DBInstances"):
        if not _tagged(db, cfg, request.schedule):
            continue
        ident = db["DBInstanceIdentifier"]
        label = f"rds-db/{ident}"
        if db.get("DBClusterIdentifier"):
            outcome.skip(label, f"member of cluster {db['DBClusterIdentifier']}; the cluster is scheduled")
        elif db.get("ReadReplicaSourceDBInstanceIdentifier"):
            outcome.skip(label, "read replica; RDS cannot stop or start it alone")
        elif db.get("ReadReplicaDBInstanceIdentifiers"):
            outcome.skip(label, "has read replicas; RDS cannot stop it")
        elif db.get("DBInstanceStatus") != ready:
            outcome.skip(label, f"status {db.get('DBInstanceStatus')}, not {ready}")
        elif request.dry_run:
            outcome.planned.append(label)
        else:
            _rds_call(
                outcome, label, functools.partial(getattr(rds, f"{target}_db_instance"), DBInstanceIdentifier=ident)
            )

    for cluster in _paginate(rds, "describe_db_clusters", "DBClusters"):
        if not _tagged(cluster, cfg, request.schedule):
            continue
        ident = cluster["DBClusterIdentifier"]
        label = f"rds-cluster/{ident}"
        if cluster.get("ReplicationSourceIdentifier"):
            outcome.skip(label, "replica cluster; RDS cannot stop or start it alone")
        elif cluster.get("Status") != ready:
            outcome.skip(label, f"status {cluster.get('Status')}, not {ready}")
        elif request.dry_run:
            outcome.planned.append(label)
        else:
            _rds_call(
                outcome, label, functools.partial(getattr(rds, f"{target}_db_cluster"), DBClusterIdentifier=ident)
            )


def _paginate(client: Any, operation: str, key: str) -> Iterable[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate():
        yield from page.get(key, [])


def _rds_call(outcome: Outcome, label: str, call: Callable[[], Any]) -> None:
    try:
        call()
    except AWS_ERRORS as exc:
        outcome.fail(label, _error(exc))
        log.error("rds call failed", extra={"resource": label, "error": _error(exc)})
        return
    outcome.succeeded.append(label)
