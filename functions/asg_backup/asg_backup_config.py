"""asg-backup: the configuration (read once, at cold start) and the three events, parsed without AWS calls."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import opskit_common as common

MODULE = "asg-backup"
METRIC_NAMESPACE = "opskit"
LIFECYCLE_DETAIL_TYPE = "EC2 Instance-terminate Lifecycle Action"
STATUS_DETAIL_TYPE = "EC2 Command Invocation Status-change Notification"
# What the heartbeat schedules send (asg_backup_schedules.payload): an event of this module's own.
HEARTBEAT_SOURCE = "opskit.asg-backup"
HEARTBEAT_DETAIL_TYPE = "Backup Heartbeat"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
TEST_NOTIFICATION = "autoscaling:TEST_NOTIFICATION"
RESULTS = ("CONTINUE", "ABANDON")
TERMINAL_STATUSES = ("Success", "Failed", "TimedOut", "Cancelled")
# Seconds Run Command may wait to deliver the command (the instance was just seen online, so this is generous).
DELIVERY_TIMEOUT_SECONDS = 300
# Auto Scaling keeps an instance in a wait state for at most 48 hours (and 100 heartbeat timeouts).
MAX_WAIT_SECONDS = 172_800
MAX_COMMAND_TIMEOUT_SECONDS = MAX_WAIT_SECONDS - DELIVERY_TIMEOUT_SECONDS
# Heartbeats come every heartbeat_timeout / 2, so at least every 300 s: never more than 577 in 48 hours.
MIN_HEARTBEAT_TIMEOUT_SECONDS = 600
MAX_HEARTBEAT_SEQUENCE = 1000
RESULT_MARKER = "OPSKIT_BACKUP_RESULT "
EXCERPT_CHARS = 2000

# Whole-string patterns: use with fullmatch only.
INSTANCE_ID = common.id_pattern("i")
UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_HOOK = re.compile(r"[A-Za-z0-9_/-]{1,255}")
_GROUP = re.compile(r"[!-9;-~]{1,255}")  # ASCII 33-126 without ':', the Auto Scaling group name rule
_STATUS = re.compile(r"[A-Za-z]{1,32}")
_DOCUMENT = re.compile(r"[A-Za-z0-9_.-]{3,128}")
_DOCUMENT_VERSION = re.compile(r"[1-9][0-9]{0,9}")
_PATH = re.compile(r"/[A-Za-z0-9._@+/-]{0,1023}")
_PREFIX = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_TOPIC_ARN = common.arn_pattern("sns", r"[A-Za-z0-9_-]{1,256}")
_KMS_KEY_ARN = common.arn_pattern("kms", r"key/[A-Za-z0-9-]{1,128}")
_FUNCTION_ARN = common.arn_pattern("lambda", r"function:[A-Za-z0-9_-]{1,64}")
_QUEUE_ARN = common.arn_pattern("sqs", r"[A-Za-z0-9_-]{1,80}")
_ROLE_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")
_SCHEDULE_GROUP = re.compile(r"[0-9A-Za-z_.-]{1,64}")
_SECONDS = re.compile(r"[0-9]{1,6}")
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
# The document's ObjectKey allowedPattern. <prefix>/<group> may take 900 characters and a group 255, so a
# longer prefix would make some keys (and a prefix of 899 every key) fail the document.
OBJECT_KEY = re.compile(r"[A-Za-z0-9._/-]{1,900}/i-[0-9a-f]{8,17}/[0-9]{8}T[0-9]{6}Z\.tar\.gz")
MAX_PREFIX_CHARS = 900 - 1 - 255


@dataclass(frozen=True)
class Heartbeats:
    """Where and how the heartbeat schedules are created (MAX_BACKUP_SECONDS set)."""

    max_backup_seconds: int
    interval_seconds: int
    schedule_group: str
    role_arn: str
    function_arn: str
    dead_letter_arn: str


@dataclass(frozen=True)
class Config:
    document_name: str
    document_version: str
    bucket: str
    prefix: str
    backup_paths: tuple[str, ...]
    groups: frozenset[str]
    topic_arn: str
    hook_name: str
    unmanaged_result: str
    failure_result: str
    command_timeout_seconds: int
    heartbeat_timeout_seconds: int
    kms_key_id: str
    heartbeats: Heartbeats | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        prefix = common.env_str(env, "PREFIX", "asg-backup").strip("/")
        if not _PREFIX.fullmatch(prefix) or len(prefix) > MAX_PREFIX_CHARS:
            raise common.ConfigError(
                f"PREFIX={common.clip(prefix)!r} must be at most {MAX_PREFIX_CHARS} characters of path segments "
                "of letters, digits, '.', '_', '-' (longer prefixes break the document's object key pattern)"
            )
        paths = _json_env(env, "BACKUP_PATHS", '["/var/log"]')
        if not isinstance(paths, list) or not paths or not all(_valid_path(p) for p in paths):
            raise common.ConfigError(
                "BACKUP_PATHS must be a non-empty JSON list of absolute paths of letters, digits and . _ @ + / - "
                f"(no spaces, globs or '..'), got {common.clip(paths)}"
            )
        groups = _json_env(env, "AUTOSCALING_GROUP_NAMES")
        if not isinstance(groups, list) or not groups or not all(_valid_group(g) for g in groups):
            raise common.ConfigError(
                "AUTOSCALING_GROUP_NAMES must be a non-empty JSON list of Auto Scaling group names "
                f"(1-255 printable ASCII characters, no spaces or ':'), got {common.clip(groups)}"
            )
        results = {}
        for name in ("UNMANAGED_RESULT", "FAILURE_RESULT"):
            results[name] = common.env_str(env, name, "CONTINUE")
            if results[name] not in RESULTS:
                raise common.ConfigError(f"{name}={common.clip(results[name])!r} must be CONTINUE or ABANDON")
        timeout = _seconds(env, "COMMAND_TIMEOUT_SECONDS", "1800", 30, MAX_COMMAND_TIMEOUT_SECONDS)
        heartbeat_timeout = _seconds(env, "HEARTBEAT_TIMEOUT_SECONDS", "3600", 30, 7200)
        kms_key_id = env.get("SSE_KMS_KEY_ID", "")
        if kms_key_id and not _KMS_KEY_ARN.fullmatch(kms_key_id):
            raise common.ConfigError(f"SSE_KMS_KEY_ID={common.clip(kms_key_id)!r} is not a KMS key ARN")
        return cls(
            document_name=common.env_match(env, "DOCUMENT_NAME", _DOCUMENT),
            document_version=common.env_match(env, "DOCUMENT_VERSION", _DOCUMENT_VERSION),
            bucket=common.env_match(env, "BUCKET", _BUCKET),
            prefix=prefix,
            backup_paths=tuple(paths),
            groups=frozenset(groups),
            topic_arn=common.env_match(env, "TOPIC_ARN", _TOPIC_ARN),
            hook_name=common.env_match(env, "HOOK_NAME", _HOOK),
            unmanaged_result=results["UNMANAGED_RESULT"],
            failure_result=results["FAILURE_RESULT"],
            command_timeout_seconds=timeout,
            heartbeat_timeout_seconds=heartbeat_timeout,
            kms_key_id=kms_key_id,
            heartbeats=_heartbeats(env, timeout, heartbeat_timeout),
        )


def _heartbeats(env: Mapping[str, str], command_timeout: int, heartbeat_timeout: int) -> Heartbeats | None:
    """The plan-time rules of modules/asg-backup (preconditions on the hook), checked again here."""
    budget = command_timeout + DELIVERY_TIMEOUT_SECONDS
    if not env.get("MAX_BACKUP_SECONDS"):
        if budget >= heartbeat_timeout:
            raise common.ConfigError(
                f"COMMAND_TIMEOUT_SECONDS={command_timeout} plus {DELIVERY_TIMEOUT_SECONDS} s delivery must be less "
                f"than HEARTBEAT_TIMEOUT_SECONDS={heartbeat_timeout} when MAX_BACKUP_SECONDS is not set (no heartbeats)"
            )
        return None
    longest = _seconds(env, "MAX_BACKUP_SECONDS", None, 60, MAX_WAIT_SECONDS)
    if heartbeat_timeout < MIN_HEARTBEAT_TIMEOUT_SECONDS:
        raise common.ConfigError(
            f"HEARTBEAT_TIMEOUT_SECONDS={heartbeat_timeout} must be at least {MIN_HEARTBEAT_TIMEOUT_SECONDS} "
            "with heartbeats (one every half timeout leaves the other half for the schedule's delays)"
        )
    if longest > 100 * heartbeat_timeout:
        raise common.ConfigError(
            f"MAX_BACKUP_SECONDS={longest} exceeds 100 x HEARTBEAT_TIMEOUT_SECONDS, Auto Scaling's global timeout"
        )
    if budget > longest:
        raise common.ConfigError(
            f"COMMAND_TIMEOUT_SECONDS={command_timeout} plus {DELIVERY_TIMEOUT_SECONDS} s delivery must not exceed "
            f"MAX_BACKUP_SECONDS={longest}"
        )
    dead_letter_arn = env.get("HEARTBEAT_DLQ_ARN", "")
    if dead_letter_arn and not _QUEUE_ARN.fullmatch(dead_letter_arn):
        raise common.ConfigError(f"HEARTBEAT_DLQ_ARN={common.clip(dead_letter_arn)!r} is not an SQS queue ARN")
    return Heartbeats(
        max_backup_seconds=longest,
        interval_seconds=heartbeat_timeout // 2,
        schedule_group=common.env_match(env, "HEARTBEAT_SCHEDULE_GROUP", _SCHEDULE_GROUP),
        role_arn=common.env_match(env, "HEARTBEAT_ROLE_ARN", _ROLE_ARN),
        function_arn=common.env_match(env, "FUNCTION_ARN", _FUNCTION_ARN),
        dead_letter_arn=dead_letter_arn,
    )


def _seconds(env: Mapping[str, str], name: str, default: str | None, low: int, high: int) -> int:
    value = int(common.env_match(env, name, _SECONDS, default))
    if not low <= value <= high:
        raise common.ConfigError(f"{name}={value} must be at least {low} and at most {high}")
    return value


def _json_env(env: Mapping[str, str], name: str, default: str | None = None) -> Any:
    try:
        return common.loads_json(common.env_str(env, name, default), f"environment variable {name}", max_depth=2)
    except common.InputError as exc:
        raise common.ConfigError(str(exc)) from None


def _valid_path(path: Any) -> bool:
    return isinstance(path, str) and bool(_PATH.fullmatch(path)) and ".." not in path


def _valid_group(group: Any) -> bool:
    return isinstance(group, str) and bool(_GROUP.fullmatch(group))


# --- events (no AWS calls) -------------------------------------------------------------------------


@dataclass(frozen=True)
class LifecycleAction:
    group: str
    hook: str
    instance_id: str
    token: str
    time: datetime


@dataclass(frozen=True)
class StatusChange:
    command_id: str
    instance_id: str
    document_name: str
    status: str


@dataclass(frozen=True)
class Heartbeat:
    command_id: str
    instance_id: str
    sequence: int


def is_test_notification(event: Mapping[str, Any]) -> bool:
    detail = event.get("detail")
    candidates = [event.get("Event"), event.get("LifecycleTransition")]
    if isinstance(detail, Mapping):
        candidates += [detail.get("Event"), detail.get("LifecycleTransition")]
    return TEST_NOTIFICATION in candidates


def _field(detail: Mapping[str, Any], name: str, pattern: re.Pattern[str], what: str) -> str:
    return common.require_str(detail.get(name), f"{what} detail.{name}", pattern, max_length=255)


def parse_lifecycle(event: Mapping[str, Any], now: datetime | None = None) -> LifecycleAction:
    what = "lifecycle event"
    detail = common.require_mapping(event.get("detail"), f"{what} detail")
    transition = common.require_str(detail.get("LifecycleTransition"), f"{what} detail.LifecycleTransition")
    if transition != TERMINATING:
        raise common.InputError(
            f"{what} detail.LifecycleTransition={common.clip(transition)!r}, expected {TERMINATING}"
        )
    return LifecycleAction(
        group=_field(detail, "AutoScalingGroupName", _GROUP, what),
        hook=_field(detail, "LifecycleHookName", _HOOK, what),
        instance_id=_field(detail, "EC2InstanceId", INSTANCE_ID, what),
        token=_field(detail, "LifecycleActionToken", UUID, what),
        time=_event_time(event, now or datetime.now(UTC)),
    )


def _event_time(event: Mapping[str, Any], now: datetime) -> datetime:
    """The envelope time, for the object key. It is not worth failing the backup over: `now` then."""
    try:
        return common.parse_time(event.get("time"), "lifecycle event time")
    except common.InputError as exc:
        common.get_logger(__name__).warning(
            "lifecycle event time unusable; the object key uses the current time", extra={"error": str(exc)}
        )
        return now


def parse_status(event: Mapping[str, Any]) -> StatusChange:
    what = "command status event"
    detail = common.require_mapping(event.get("detail"), f"{what} detail")
    return StatusChange(
        command_id=_field(detail, "command-id", UUID, what),
        instance_id=_field(detail, "instance-id", INSTANCE_ID, what),
        document_name=_field(detail, "document-name", _DOCUMENT, what),
        status=_field(detail, "status", _STATUS, what),
    )


def parse_heartbeat(event: Mapping[str, Any]) -> Heartbeat:
    what = "heartbeat event"
    detail = common.require_mapping(event.get("detail"), f"{what} detail")
    sequence = detail.get("sequence")
    if type(sequence) is not int or not 1 <= sequence <= MAX_HEARTBEAT_SEQUENCE:
        raise common.InputError(
            f"{what} detail.sequence must be a whole number from 1 to {MAX_HEARTBEAT_SEQUENCE}, "
            f"got {common.clip(sequence, 60)}"
        )
    return Heartbeat(
        command_id=_field(detail, "command-id", UUID, what),
        instance_id=_field(detail, "instance-id", INSTANCE_ID, what),
        sequence=sequence,
    )


def object_key(prefix: str, group: str, instance_id: str, when: datetime) -> str:
    """<prefix>/<group>/<instance-id>/<UTC timestamp>.tar.gz; the group is made key-safe, the year has 4 digits."""
    stamp = f"{when.year:04d}{when.month:02d}{when.day:02d}T{when.hour:02d}{when.minute:02d}{when.second:02d}Z"
    return f"{key_base(prefix, group, instance_id)}{stamp}.tar.gz"


def key_base(prefix: str, group: str, instance_id: str) -> str:
    return f"{prefix}/{_KEY_UNSAFE.sub('-', group)}/{instance_id}/"
