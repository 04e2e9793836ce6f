"""asg-backup: back up an instance's data before its Auto Scaling group terminates it.

Three events drive the function; no state is kept between them:

1. `EC2 Instance-terminate Lifecycle Action` (the instance waits in Terminating:Wait). An instance that is not
   an online Linux SSM managed node gets its hook completed with UNMANAGED_RESULT at once; otherwise the
   backup document (the version Terraform created) is sent with Run Command. The command's parameters carry
   the group, hook, token and object key, so the later events are resolved from the command alone. With
   MAX_BACKUP_SECONDS set, a lifecycle heartbeat is recorded and the first heartbeat schedule created.
2. `EC2 Command Invocation Status-change Notification` for that document. The command must be this module's
   (same instance, document, bucket, key prefix, configured group and hook), else the event is refused.
   Success is checked against the object in S3 (size, sha256 metadata) before the hook is completed with
   CONTINUE; Failed/TimedOut/Cancelled complete it with FAILURE_RESULT and publish the command's output.
3. `Backup Heartbeat` (source opskit.asg-backup), sent by a one-shot EventBridge Scheduler schedule every
   heartbeat_timeout / 2 while the command runs: records a lifecycle heartbeat and schedules the next one.
   At MAX_BACKUP_SECONDS after the command was sent the hook is completed with FAILURE_RESULT instead; a
   command found finished is concluded as its status event would have (that event may have been lost).

With ABANDON, a group whose instance lifecycle policy retains abandoned instances keeps the instance, and
the notice says so. The environment is checked on the cold start, before anything else (ConfigError).
Malformed events raise InputError before any call that changes something. Second deliveries are harmless:
a lifecycle action whose command exists is not sent again, a heartbeat's successor that exists is not
created again, and a hook that is no longer active ("No active Lifecycle Action found") counts as done.
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime
from typing import Any

import asg_backup_flow as flow
import opskit_common as common
from asg_backup_config import (
    DELIVERY_TIMEOUT_SECONDS,
    HEARTBEAT_DETAIL_TYPE,
    HEARTBEAT_SOURCE,
    LIFECYCLE_DETAIL_TYPE,
    MAX_PREFIX_CHARS,
    OBJECT_KEY,
    RESULTS,
    STATUS_DETAIL_TYPE,
    Config,
    is_test_notification,
    object_key,
    parse_heartbeat,
    parse_lifecycle,
    parse_status,
)
from asg_backup_notify import result_of

__all__ = ["DELIVERY_TIMEOUT_SECONDS", "MAX_PREFIX_CHARS", "OBJECT_KEY", "RESULTS", "Config", "object_key"]

log = common.get_logger(__name__)


@functools.cache
def config() -> Config:
    return Config.from_env(os.environ)


def _now() -> datetime:
    return datetime.now(UTC)


def handler(event: Any, context: Any) -> dict[str, Any]:
    cfg = config()  # a bad environment fails every invocation here, before the event is even read
    event = common.require_mapping(event, "event")
    now = _now()
    if is_test_notification(event):
        log.info("ignoring Auto Scaling test notification", extra={"event_id": common.clip(event.get("id"))})
        return result_of("ignored", None, None, reason="test notification")
    source, detail_type = event.get("source"), event.get("detail-type")
    if source == "aws.autoscaling" and detail_type == LIFECYCLE_DETAIL_TYPE:
        return flow.on_lifecycle(cfg, parse_lifecycle(event, now), now)
    if source == "aws.ssm" and detail_type == STATUS_DETAIL_TYPE:
        return flow.on_status(cfg, parse_status(event), now)
    if source == HEARTBEAT_SOURCE and detail_type == HEARTBEAT_DETAIL_TYPE:
        return flow.on_heartbeat(cfg, parse_heartbeat(event), now)
    raise common.InputError(
        f"unsupported event source={common.clip(source, 100)!r} detail-type={common.clip(detail_type, 100)!r}: "
        f"expected aws.autoscaling {LIFECYCLE_DETAIL_TYPE!r}, aws.ssm {STATUS_DETAIL_TYPE!r} "
        f"or {HEARTBEAT_SOURCE} {HEARTBEAT_DETAIL_TYPE!r}"
    )
