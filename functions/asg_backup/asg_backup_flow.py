"""asg-backup: what each event does. A terminate lifecycle action starts the backup (and its heartbeats); the
command's final status, or a heartbeat that finds it, concludes it; a heartbeat keeps a running backup's
lifecycle action alive until max_backup_seconds, and then concludes it with the failure result."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import asg_backup_commands as commands
import asg_backup_schedules as schedules
import opskit_common as common
from asg_backup_config import (
    EXCERPT_CHARS,
    MAX_HEARTBEAT_SEQUENCE,
    TERMINAL_STATUSES,
    Config,
    Heartbeat,
    LifecycleAction,
    StatusChange,
    object_key,
)
from asg_backup_notify import Action, error_text, excerpt, finish, record_heartbeat, result_of
from botocore.exceptions import ClientError

log = common.get_logger(__name__)

# Scheduler invokes within a minute of the `at()` time: a heartbeat this close to the deadline is the last.
SCHEDULE_PRECISION = timedelta(seconds=60)


# --- lifecycle action ------------------------------------------------------------------------------


def on_lifecycle(cfg: Config, event: LifecycleAction, now: datetime) -> dict[str, Any]:
    fields = {"instance_id": event.instance_id, "auto_scaling_group": event.group, "lifecycle_hook": event.hook}
    if event.hook != cfg.hook_name:
        log.warning("lifecycle hook is not this module's; ignoring", extra={**fields, "expected": cfg.hook_name})
        return result_of("ignored", event.instance_id, None, reason=f"hook {event.hook} is not {cfg.hook_name}")
    if event.group not in cfg.groups:
        log.warning("group is not backed up by this module; ignoring", extra=fields)
        return result_of("ignored", event.instance_id, None, reason=f"group {event.group} is not configured")
    action = Action(group=event.group, hook=event.hook, instance_id=event.instance_id, token=event.token)

    existing = commands.existing_command(cfg, action)
    if existing is not None:
        command_id = str(existing.get("CommandId"))
        log.info("backup command already sent for this lifecycle action", extra={**fields, "command_id": command_id})
        resumed = _resume_heartbeats(cfg, existing, action, now)
        return result_of("duplicate", action.instance_id, command_id, heartbeats_resumed=resumed or None)

    unmanaged_reason = commands.unmanaged_reason(action.instance_id)
    if unmanaged_reason is not None:
        report = {**fields, "bucket": cfg.bucket, "key": None, "reason": f"no backup: {unmanaged_reason}"}
        return finish(cfg, action, None, "NotManaged", report)

    key = object_key(cfg.prefix, action.group, action.instance_id, event.time)
    try:
        command = commands.send(cfg, action, key)
    except ClientError as exc:
        # Nothing will report back for a command that was never sent: finish now rather than hold scale-in.
        log.error("send_command failed", extra={**fields, "error": error_text(exc)})
        report = {
            **fields,
            "bucket": cfg.bucket,
            "key": key,
            "reason": f"could not send the backup command: {error_text(exc)}",
        }
        return finish(cfg, action, None, "BackupFailed", report)

    command_id = str(command["CommandId"])
    log.info("backup command sent", extra={**fields, "command_id": command_id, "bucket": cfg.bucket, "key": key})
    started = result_of("backup_started", action.instance_id, command_id, key=key)
    if cfg.heartbeats is None:
        return started
    backup = commands.Backup(command_id, action, cfg.bucket, key, "Pending", commands.requested_time(command, now))
    try:
        following = _keep_alive(cfg, backup, 1, now)
    except ClientError as exc:
        # The backup runs; without heartbeats it must end within heartbeat_timeout. The retry of this event
        # finds the command and sets the heartbeats up again (_resume_heartbeats).
        raise common.PartialFailure(
            f"backup command {command_id} sent for {action.instance_id}, but its heartbeats could not be set up: "
            f"{error_text(exc)}",
            started,
        ) from None
    if following is None:
        log.warning("lifecycle action ended before its first heartbeat; none scheduled", extra=fields)
    else:
        started["next_heartbeat"] = following
    return started


def _resume_heartbeats(cfg: Config, command: Mapping[str, Any], action: Action, now: datetime) -> bool:
    """On a second delivery of the lifecycle event: a running backup without a pending heartbeat gets one
    (the first delivery sent the command but could not schedule its heartbeats)."""
    if cfg.heartbeats is None or str(command.get("Status")) in TERMINAL_STATUSES:
        return False
    try:
        backup = commands.resolve(cfg, command, action.instance_id, now)
    except common.InputError as exc:
        log.warning("existing command is not this configuration's backup", extra={"error": str(exc)})
        return False
    if backup is None or schedules.pending(cfg.heartbeats, backup.command_id):
        return False
    return _keep_alive(cfg, backup, 1, now) is not None


def _keep_alive(cfg: Config, backup: commands.Backup, sequence: int, now: datetime) -> str | None:
    """Record a heartbeat now and schedule heartbeat `sequence`, at most heartbeat_timeout / 2 from now and
    never after the deadline. The `at()` expression, or None when the lifecycle action has ended."""
    assert cfg.heartbeats is not None
    if not record_heartbeat(backup.action):
        return None
    when = min(now + timedelta(seconds=cfg.heartbeats.interval_seconds), _deadline(cfg, backup))
    if not schedules.create(cfg.heartbeats, backup.command_id, backup.action.instance_id, sequence, when):
        log.info("heartbeat already scheduled (second delivery)", extra={"command_id": backup.command_id})
    return schedules.at_expression(when)


def _deadline(cfg: Config, backup: commands.Backup) -> datetime:
    assert cfg.heartbeats is not None
    return backup.requested + timedelta(seconds=cfg.heartbeats.max_backup_seconds)


# --- command status --------------------------------------------------------------------------------


def on_status(cfg: Config, change: StatusChange, now: datetime) -> dict[str, Any]:
    fields = {"instance_id": change.instance_id, "command_id": change.command_id, "status": change.status}
    if change.document_name != cfg.document_name:
        log.info("status change for another document; ignoring", extra={**fields, "document": change.document_name})
        return result_of("ignored", change.instance_id, change.command_id, reason="other document")
    if change.status not in TERMINAL_STATUSES:
        log.info("intermediate command status; ignoring", extra=fields)
        return result_of("ignored", change.instance_id, change.command_id, reason=f"status {change.status}")

    backup, ignored = _backup(cfg, change.command_id, change.instance_id, now)
    if backup is None:
        return ignored
    return conclude(cfg, backup, change.status)


def _backup(
    cfg: Config, command_id: str, instance_id: str, now: datetime
) -> tuple[commands.Backup | None, dict[str, Any]]:
    """The backup named by an event, or the `ignored` result when there is none."""
    command = commands.list_command(command_id)
    if command is None:
        log.warning("command not found; cannot resolve its lifecycle action", extra={"command_id": command_id})
        return None, result_of("ignored", instance_id, command_id, reason="command not found")
    backup = commands.resolve(cfg, command, instance_id, now)
    if backup is None:
        log.info("command was not sent for a lifecycle action (manual run); ignoring", extra={"command_id": command_id})
        return None, result_of("ignored", instance_id, command_id, reason="not a lifecycle backup")
    return backup, {}


def conclude(cfg: Config, backup: commands.Backup, status: str, reason: str | None = None) -> dict[str, Any]:
    """Complete the lifecycle action for the command's final `status` (or, with `reason`, for a backup that
    ran out of time), publish the outcome and delete the backup's pending heartbeats."""
    report: dict[str, Any] = {**backup.report(), "command_status": status}
    output = commands.command_output(backup.command_id, backup.action.instance_id)
    outcome = "BackupFailed"
    if reason is None and status == "Success":
        reason = commands.verify_object(backup.bucket, backup.key, output, report)
        outcome = "BackupSucceeded" if reason is None else outcome
    if outcome == "BackupFailed":
        report["reason"] = reason or f"Run Command finished with status {status}"
        report["output_excerpt"] = excerpt(output, EXCERPT_CHARS)
    result = finish(cfg, backup.action, backup.command_id, outcome, report)
    if cfg.heartbeats is not None:
        deleted = schedules.stop(cfg.heartbeats, backup.command_id)
        if deleted:
            log.info("pending heartbeats deleted", extra={"command_id": backup.command_id, "schedules": deleted})
    return result


# --- heartbeat -------------------------------------------------------------------------------------


def on_heartbeat(cfg: Config, beat: Heartbeat, now: datetime) -> dict[str, Any]:
    fields = {"instance_id": beat.instance_id, "command_id": beat.command_id, "sequence": beat.sequence}
    if cfg.heartbeats is None:
        log.warning("heartbeat arrived but heartbeats are off (MAX_BACKUP_SECONDS unset); ignoring", extra=fields)
        return result_of("ignored", beat.instance_id, beat.command_id, reason="heartbeats are off")
    backup, ignored = _backup(cfg, beat.command_id, beat.instance_id, now)
    if backup is None:
        return ignored

    if backup.status in TERMINAL_STATUSES:
        # The final status event was lost or is still on its way: conclude now (a second conclusion finds the
        # lifecycle action completed and publishes nothing).
        log.info("heartbeat found the command finished; concluding", extra={**fields, "status": backup.status})
        return conclude(cfg, backup, backup.status)

    deadline = _deadline(cfg, backup)
    if now + SCHEDULE_PRECISION >= deadline:
        reason = (
            f"the backup was still {backup.status or 'running'} after max_backup_seconds "
            f"({cfg.heartbeats.max_backup_seconds} s since the command was sent)"
        )
        log.warning("backup ran out of time; completing with the failure result", extra=fields)
        return conclude(cfg, backup, backup.status, reason=reason)

    if beat.sequence >= MAX_HEARTBEAT_SEQUENCE:
        raise common.InputError(f"heartbeat {beat.sequence} is the last one a backup may have; none is scheduled")
    following = _keep_alive(cfg, backup, beat.sequence + 1, now)
    if following is None:
        log.warning("lifecycle action no longer active; heartbeats end", extra=fields)
        schedules.stop(cfg.heartbeats, backup.command_id)
        return result_of("already_completed", beat.instance_id, beat.command_id, outcome="Heartbeat")
    log.info("lifecycle heartbeat recorded", extra={**fields, "next": following, "deadline": deadline.isoformat()})
    return result_of(
        "heartbeat_recorded",
        beat.instance_id,
        beat.command_id,
        sequence=beat.sequence,
        next_heartbeat=following,
        deadline=deadline.isoformat(),
    )
