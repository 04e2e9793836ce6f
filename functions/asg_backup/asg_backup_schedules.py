"""asg-backup: the heartbeat schedules. Each is a one-shot EventBridge Scheduler schedule, `at()` a time,
that invokes this function once with a heartbeat event and then deletes itself (ActionAfterCompletion DELETE).
Nothing waits: every heartbeat schedules the next one.

Schedules are named `<command id>-<sequence>`, so a second delivery of the same heartbeat finds its successor
already there (ConflictException) instead of starting a second chain, and all of a backup's schedules are
found by the prefix `<command id>-` when the backup ends.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import opskit_common as common
from asg_backup_config import HEARTBEAT_DETAIL_TYPE, HEARTBEAT_SOURCE, MODULE, Heartbeats
from asg_backup_notify import error_code, error_text
from botocore.exceptions import ClientError

log = common.get_logger(__name__)

# Scheduler's own retry budget for delivering one heartbeat (its maximum).
MAX_RETRY_ATTEMPTS = 185


def name(command_id: str, sequence: int) -> str:
    return f"{command_id}-{sequence}"


def payload(command_id: str, instance_id: str, sequence: int, when: datetime) -> dict[str, Any]:
    """The event a heartbeat schedule sends (parsed by asg_backup_config.parse_heartbeat). Shaped like an
    EventBridge event; `id` (the schedule's name) and `time` only tell a reader of the DLQ what it was."""
    return {
        "version": "0",
        "id": name(command_id, sequence),
        "source": HEARTBEAT_SOURCE,
        "detail-type": HEARTBEAT_DETAIL_TYPE,
        "time": _utc_seconds(when).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "detail": {"command-id": command_id, "instance-id": instance_id, "sequence": sequence},
    }


def at_expression(when: datetime) -> str:
    """Scheduler's one-time expression, in UTC (ScheduleExpressionTimezone), whole seconds rounded up."""
    return f"at({_utc_seconds(when):%Y-%m-%dT%H:%M:%S})"


def _utc_seconds(when: datetime) -> datetime:
    utc = when.astimezone(UTC)
    return utc.replace(microsecond=0) + (timedelta(seconds=1) if utc.microsecond else timedelta())


def create(hb: Heartbeats, command_id: str, instance_id: str, sequence: int, when: datetime) -> bool:
    """Create heartbeat `sequence` at `when`; False when it exists already (a redelivered heartbeat)."""
    target: dict[str, Any] = {
        "Arn": hb.function_arn,
        "RoleArn": hb.role_arn,
        "Input": json.dumps(payload(command_id, instance_id, sequence, when), sort_keys=True),
        # A heartbeat later than the interval still comes before the hook expires; one later than that is
        # dropped (to the dead-letter queue) rather than delivered into a lifecycle action that has ended.
        "RetryPolicy": {"MaximumEventAgeInSeconds": hb.interval_seconds, "MaximumRetryAttempts": MAX_RETRY_ATTEMPTS},
    }
    if hb.dead_letter_arn:
        target["DeadLetterConfig"] = {"Arn": hb.dead_letter_arn}
    try:
        common.client("scheduler").create_schedule(
            Name=name(command_id, sequence),
            GroupName=hb.schedule_group,
            Description=f"opskit {MODULE}: heartbeat {sequence} of the backup of {instance_id} ({command_id})",
            ScheduleExpression=at_expression(when),
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE",
            State="ENABLED",
            Target=target,
        )
    except ClientError as exc:
        if error_code(exc) == "ConflictException":
            return False
        raise
    return True


def pending(hb: Heartbeats, command_id: str) -> list[str]:
    """Names of the backup's heartbeat schedules that have not fired yet."""
    names: list[str] = []
    paginator = common.client("scheduler").get_paginator("list_schedules")
    for page in paginator.paginate(GroupName=hb.schedule_group, NamePrefix=f"{command_id}-"):
        names += [str(s["Name"]) for s in page.get("Schedules", []) if str(s.get("Name", "")).startswith(command_id)]
    return names


def stop(hb: Heartbeats, command_id: str) -> list[str]:
    """Delete the backup's pending heartbeats once it has ended. Best effort: a heartbeat left behind finds
    the lifecycle action completed when it fires and schedules no successor."""
    deleted: list[str] = []
    try:
        for found in pending(hb, command_id):
            try:
                common.client("scheduler").delete_schedule(Name=found, GroupName=hb.schedule_group)
                deleted.append(found)
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
    except ClientError as exc:
        log.warning("could not delete pending heartbeats", extra={"command_id": command_id, "error": error_text(exc)})
    return deleted
