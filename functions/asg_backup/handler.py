"""asg-backup: back up an instance's data before its Auto Scaling group terminates it.

Two EventBridge events drive the function; no state is kept between them:

1. `EC2 Instance-terminate Lifecycle Action` (the instance waits in Terminating:Wait). An instance that is not
   an online Linux SSM managed node gets its hook completed with UNMANAGED_RESULT at once; otherwise the
   backup document is sent with Run Command and the function returns (no polling). The command's parameters
   carry the group, hook, token and object key, so the second event can be resolved from the command alone.
2. `EC2 Command Invocation Status-change Notification` for that document. Success is checked against the
   object in S3 (size, sha256 metadata) before the hook is completed with CONTINUE; Failed/TimedOut/Cancelled
   complete it with FAILURE_RESULT and publish the command's output. Intermediate statuses are ignored.

Second deliveries are harmless: a lifecycle action whose command already exists is not sent again, and a hook
that is no longer active ("No active Lifecycle Action found") counts as done.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import opskit_common as common
from botocore.exceptions import ClientError

log = common.get_logger(__name__)

MODULE = "asg-backup"
METRIC_NAMESPACE = "opskit"
LIFECYCLE_DETAIL_TYPE = "EC2 Instance-terminate Lifecycle Action"
STATUS_DETAIL_TYPE = "EC2 Command Invocation Status-change Notification"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
TEST_NOTIFICATION = "autoscaling:TEST_NOTIFICATION"
RESULTS = ("CONTINUE", "ABANDON")
TERMINAL_STATUSES = ("Success", "Failed", "TimedOut", "Cancelled")
# Seconds Run Command may wait to deliver the command (the instance was just seen online, so this is generous).
DELIVERY_TIMEOUT_SECONDS = 300
RESULT_MARKER = "OPSKIT_BACKUP_RESULT "
EXCERPT_CHARS = 2000

_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
_TOKEN = re.compile(r"^[0-9a-fA-F-]{36}$")
_HOOK = re.compile(r"^[A-Za-z0-9_/-]{1,255}$")
_COMMAND_ID = re.compile(r"^[0-9a-fA-F-]{36}$")
_PATH = re.compile(r"^/[A-Za-z0-9._@+/-]*$")
_PREFIX = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
_DOCUMENT = re.compile(r"^[A-Za-z0-9_.-]{3,128}$")
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$")
_KMS_KEY = re.compile(r"^([A-Za-z0-9:/_.-]{1,2048})?$")


@dataclass(frozen=True)
class Config:
    document_name: str
    bucket: str
    prefix: str
    backup_paths: tuple[str, ...]
    topic_arn: str
    hook_name: str
    unmanaged_result: str
    failure_result: str
    command_timeout_seconds: int
    kms_key_id: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        document_name = common.env_str(env, "DOCUMENT_NAME")
        if not _DOCUMENT.match(document_name):
            raise common.ConfigError(f"DOCUMENT_NAME={document_name!r} is not a valid SSM document name")
        prefix = common.env_str(env, "PREFIX", "asg-backup").strip("/")
        if not _PREFIX.match(prefix):
            raise common.ConfigError(f"PREFIX={prefix!r} must be path segments of letters, digits, '.', '_', '-'")
        paths = common.env_json(env, "BACKUP_PATHS", ["/var/log"])
        if not isinstance(paths, list) or not paths or not all(_valid_path(p) for p in paths):
            raise common.ConfigError(
                "BACKUP_PATHS must be a non-empty JSON list of absolute paths of letters, digits and . _ @ + / - "
                f"(no spaces, globs or '..'), got {paths!r}"
            )
        results = {}
        for name in ("UNMANAGED_RESULT", "FAILURE_RESULT"):
            value = common.env_str(env, name, "CONTINUE").strip().upper()
            if value not in RESULTS:
                raise common.ConfigError(f"{name}={value!r} must be CONTINUE or ABANDON")
            results[name] = value
        timeout = common.env_int(env, "COMMAND_TIMEOUT_SECONDS", 1800, minimum=30)
        if timeout > 7200:
            raise common.ConfigError(f"COMMAND_TIMEOUT_SECONDS={timeout} must be at most 7200")
        # The same rules the document's allowedPattern (and SNS, Auto Scaling) apply, checked before any AWS call.
        checked = {}
        for name, pattern, what in (
            ("BUCKET", _BUCKET, "an S3 bucket name"),
            ("TOPIC_ARN", _TOPIC_ARN, "an SNS topic ARN"),
            ("HOOK_NAME", _HOOK, "a lifecycle hook name (letters, digits, '-', '_', '/')"),
        ):
            value = common.env_str(env, name).strip()
            if not pattern.match(value):
                raise common.ConfigError(f"{name}={value!r} is not {what}")
            checked[name] = value
        kms_key_id = env.get("SSE_KMS_KEY_ID", "").strip()
        if not _KMS_KEY.match(kms_key_id):
            raise common.ConfigError(f"SSE_KMS_KEY_ID={kms_key_id!r} is not a KMS key ARN, id or alias")
        return cls(
            document_name=document_name,
            bucket=checked["BUCKET"],
            prefix=prefix,
            backup_paths=tuple(paths),
            topic_arn=checked["TOPIC_ARN"],
            hook_name=checked["HOOK_NAME"],
            unmanaged_result=results["UNMANAGED_RESULT"],
            failure_result=results["FAILURE_RESULT"],
            command_timeout_seconds=timeout,
            kms_key_id=kms_key_id,
        )


def _valid_path(path: Any) -> bool:
    return isinstance(path, str) and bool(_PATH.match(path)) and ".." not in path


@functools.cache
def config() -> Config:
    return Config.from_env(os.environ)


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


# --- parsing (no AWS calls) ------------------------------------------------------------------------


def _is_test_notification(event: Mapping[str, Any]) -> bool:
    detail = event.get("detail")
    candidates = [event.get("Event"), event.get("LifecycleTransition")]
    if isinstance(detail, Mapping):
        candidates += [detail.get("Event"), detail.get("LifecycleTransition")]
    return TEST_NOTIFICATION in candidates


def _text(detail: Mapping[str, Any], field: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
    value = detail.get(field)
    if not isinstance(value, str) or not value:
        raise common.InputError(f"{what}detail.{field} must be a non-empty string, got {value!r}")
    if pattern is not None and not pattern.match(value):
        raise common.InputError(f"{what}detail.{field}={value!r} does not look like {pattern.pattern}")
    return value


def parse_lifecycle(event: Mapping[str, Any]) -> LifecycleAction:
    detail = common.require_mapping(event.get("detail"), "lifecycle event detail")
    transition = detail.get("LifecycleTransition")
    if transition != TERMINATING:
        raise common.InputError(f"lifecycle event detail.LifecycleTransition={transition!r}, expected {TERMINATING}")
    group = _text(detail, "AutoScalingGroupName", what="lifecycle event ")
    if len(group) > 255:
        raise common.InputError("lifecycle event detail.AutoScalingGroupName is longer than 255 characters")
    raw_time = event.get("time")
    try:
        when = datetime.fromisoformat(str(raw_time).replace("Z", "+00:00"))
    except ValueError:
        raise common.InputError(f"lifecycle event time={raw_time!r} is not an ISO 8601 timestamp") from None
    if when.tzinfo is None:
        raise common.InputError(f"lifecycle event time={raw_time!r} has no time zone")
    return LifecycleAction(
        group=group,
        hook=_text(detail, "LifecycleHookName", _HOOK, "lifecycle event "),
        instance_id=_text(detail, "EC2InstanceId", _INSTANCE_ID, "lifecycle event "),
        token=_text(detail, "LifecycleActionToken", _TOKEN, "lifecycle event "),
        time=when.astimezone(UTC),
    )


def parse_status(event: Mapping[str, Any]) -> StatusChange:
    detail = common.require_mapping(event.get("detail"), "command status event detail")
    return StatusChange(
        command_id=_text(detail, "command-id", _COMMAND_ID, "command status event "),
        instance_id=_text(detail, "instance-id", _INSTANCE_ID, "command status event "),
        document_name=_text(detail, "document-name", what="command status event "),
        status=_text(detail, "status", what="command status event "),
    )


def object_key(prefix: str, group: str, instance_id: str, when: datetime) -> str:
    """<prefix>/<group>/<instance-id>/<UTC timestamp>.tar.gz; the group is made key-safe."""
    return f"{prefix}/{_KEY_UNSAFE.sub('-', group)}/{instance_id}/{when.strftime('%Y%m%dT%H%M%SZ')}.tar.gz"


# --- entry point -----------------------------------------------------------------------------------


def handler(event: Any, context: Any) -> dict[str, Any]:
    event = common.require_mapping(event, "event")
    if _is_test_notification(event):
        log.info("ignoring Auto Scaling test notification", extra={"event_id": event.get("id")})
        return _result("ignored", None, None, reason="test notification")
    source, detail_type = event.get("source"), event.get("detail-type")
    if source == "aws.autoscaling" and detail_type == LIFECYCLE_DETAIL_TYPE:
        action = parse_lifecycle(event)
        return on_lifecycle(config(), action)
    if source == "aws.ssm" and detail_type == STATUS_DETAIL_TYPE:
        change = parse_status(event)
        return on_status(config(), change)
    raise common.InputError(
        f"unsupported event source={source!r} detail-type={detail_type!r}: expected aws.autoscaling "
        f"{LIFECYCLE_DETAIL_TYPE!r} or aws.ssm {STATUS_DETAIL_TYPE!r}"
    )


# --- lifecycle action ------------------------------------------------------------------------------


def on_lifecycle(cfg: Config, action: LifecycleAction) -> dict[str, Any]:
    fields = {"instance_id": action.instance_id, "auto_scaling_group": action.group, "lifecycle_hook": action.hook}
    if action.hook != cfg.hook_name:
        log.warning("lifecycle hook is not this module's; ignoring", extra={**fields, "expected": cfg.hook_name})
        return _result("ignored", action.instance_id, None, reason=f"hook {action.hook} is not {cfg.hook_name}")

    existing = _existing_command(cfg, action)
    if existing is not None:
        log.info("backup command already sent for this lifecycle action", extra={**fields, "command_id": existing})
        return _result("duplicate", action.instance_id, existing)

    unmanaged_reason = _unmanaged_reason(action.instance_id)
    if unmanaged_reason is not None:
        report = {**fields, "bucket": cfg.bucket, "key": None, "reason": f"no backup: {unmanaged_reason}"}
        return _finish(cfg, action.group, action.hook, action.instance_id, action.token, None, "NotManaged", report)

    key = object_key(cfg.prefix, action.group, action.instance_id, action.time)
    parameters = {
        "BackupPaths": [" ".join(cfg.backup_paths)],
        "Bucket": [cfg.bucket],
        "ObjectKey": [key],
        "AutoScalingGroupName": [action.group],
        "LifecycleHookName": [action.hook],
        "LifecycleActionToken": [action.token],
        "executionTimeout": [str(cfg.command_timeout_seconds)],
    }
    if cfg.kms_key_id:
        parameters["KmsKeyId"] = [cfg.kms_key_id]
    try:
        response = common.client("ssm").send_command(
            InstanceIds=[action.instance_id],
            DocumentName=cfg.document_name,
            DocumentVersion="$DEFAULT",
            TimeoutSeconds=DELIVERY_TIMEOUT_SECONDS,
            Comment=f"opskit {MODULE} {action.instance_id}",
            Parameters=parameters,
        )
    except ClientError as exc:
        # Nothing will report back for a command that was never sent: finish now rather than hold scale-in.
        reason = f"could not send the backup command: {_error_text(exc)}"
        log.error("send_command failed", extra={**fields, "error": _error_text(exc)})
        report = {**fields, "bucket": cfg.bucket, "key": key, "reason": reason}
        return _finish(cfg, action.group, action.hook, action.instance_id, action.token, None, "BackupFailed", report)

    command_id = response["Command"]["CommandId"]
    log.info("backup command sent", extra={**fields, "command_id": command_id, "bucket": cfg.bucket, "key": key})
    return _result("backup_started", action.instance_id, command_id, key=key)


def _existing_command(cfg: Config, action: LifecycleAction) -> str | None:
    """The command already sent for this lifecycle action (same token), if any: makes redelivery harmless."""
    paginator = common.client("ssm").get_paginator("list_commands")
    for page in paginator.paginate(InstanceId=action.instance_id):
        for command in page.get("Commands", []):
            parameters = command.get("Parameters") or {}
            if command.get("DocumentName") == cfg.document_name and parameters.get("LifecycleActionToken") == [
                action.token
            ]:
                return str(command["CommandId"])
    return None


def _unmanaged_reason(instance_id: str) -> str | None:
    """None when the instance is an online Linux SSM managed node; otherwise why it is not."""
    response = common.client("ssm").describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
    )
    infos = response.get("InstanceInformationList", [])
    if not infos:
        return "not managed by SSM"
    info = infos[0]
    if info.get("PingStatus") != "Online":
        return f"not managed by SSM (ping status {info.get('PingStatus')})"
    if info.get("PlatformType") != "Linux":
        return f"platform {info.get('PlatformType')} is not supported (Linux only)"
    return None


# --- command status --------------------------------------------------------------------------------


def on_status(cfg: Config, change: StatusChange) -> dict[str, Any]:
    fields = {"instance_id": change.instance_id, "command_id": change.command_id, "status": change.status}
    if change.document_name != cfg.document_name:
        log.info("status change for another document; ignoring", extra={**fields, "document": change.document_name})
        return _result("ignored", change.instance_id, change.command_id, reason="other document")
    if change.status not in TERMINAL_STATUSES:
        log.info("intermediate command status; ignoring", extra=fields)
        return _result("ignored", change.instance_id, change.command_id, reason=f"status {change.status}")

    commands = _list_command(change.command_id)
    if not commands:
        log.warning("command not found; cannot resolve its lifecycle action", extra=fields)
        return _result("ignored", change.instance_id, change.command_id, reason="command not found")
    parameters = commands[0].get("Parameters") or {}
    group, hook, token, bucket, key = (
        (parameters.get(name) or [""])[0]
        for name in ("AutoScalingGroupName", "LifecycleHookName", "LifecycleActionToken", "Bucket", "ObjectKey")
    )
    if not (group and hook and bucket and key):
        log.info("command was not sent for a lifecycle action (manual run); ignoring", extra=fields)
        return _result("ignored", change.instance_id, change.command_id, reason="not a lifecycle backup")

    report: dict[str, Any] = {
        "instance_id": change.instance_id,
        "auto_scaling_group": group,
        "lifecycle_hook": hook,
        "command_id": change.command_id,
        "command_status": change.status,
        "bucket": bucket,
        "key": key,
    }
    output = _command_output(change)
    if change.status == "Success":
        problem = _verify_object(bucket, key, output, report)
        if problem is None:
            return _finish(cfg, group, hook, change.instance_id, token, change.command_id, "BackupSucceeded", report)
        report["reason"] = problem
    else:
        report["reason"] = f"Run Command finished with status {change.status}"
    report["output_excerpt"] = _excerpt(output)
    return _finish(cfg, group, hook, change.instance_id, token, change.command_id, "BackupFailed", report)


def _list_command(command_id: str) -> list[dict[str, Any]]:
    try:
        return list(common.client("ssm").list_commands(CommandId=command_id).get("Commands", []))
    except ClientError as exc:
        if _error_code(exc) == "InvalidCommandId":
            return []
        raise


def _command_output(change: StatusChange) -> dict[str, str]:
    try:
        invocation = common.client("ssm").get_command_invocation(
            CommandId=change.command_id, InstanceId=change.instance_id
        )
    except ClientError as exc:
        log.warning("command output unavailable", extra={"command_id": change.command_id, "error": _error_text(exc)})
        return {"stdout": "", "stderr": ""}
    return {
        "stdout": invocation.get("StandardOutputContent") or "",
        "stderr": invocation.get("StandardErrorContent") or "",
    }


def _script_result(stdout: str) -> dict[str, Any]:
    """The script's final `OPSKIT_BACKUP_RESULT {...}` line, when the output has it."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            try:
                parsed = json.loads(line[len(RESULT_MARKER) :])
            except json.JSONDecodeError:
                return {}
            return parsed if isinstance(parsed, dict) else {}
    return {}


def _verify_object(bucket: str, key: str, output: dict[str, str], report: dict[str, Any]) -> str | None:
    """Fill size/sha256 into the report from the object itself; a reason string when the backup is not there."""
    try:
        head = common.client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = _error_code(exc)
        if code in ("404", "NoSuchKey", "NotFound"):
            return f"Run Command reported Success but s3://{bucket}/{key} does not exist"
        if code in ("403", "AccessDenied", "Forbidden"):
            # Not transient: retrying would only hold the instance until the heartbeat ends.
            return (
                f"Run Command reported Success but s3://{bucket}/{key} cannot be confirmed: HeadObject was denied "
                "(the object is missing, or the function may not read it)"
            )
        raise
    sha256 = (head.get("Metadata") or {}).get("sha256")
    report.update(bytes=head.get("ContentLength"), sha256=sha256, version_id=head.get("VersionId"))
    reported = _script_result(output["stdout"]).get("sha256")
    if reported and sha256 and reported != sha256:
        return f"sha256 mismatch: the instance computed {reported}, the object's metadata says {sha256}"
    return None


# --- completion, notification ----------------------------------------------------------------------


def _finish(
    cfg: Config,
    group: str,
    hook: str,
    instance_id: str,
    token: str,
    command_id: str | None,
    outcome: str,
    report: dict[str, Any],
) -> dict[str, Any]:
    """Complete the hook, then publish and count the outcome (once: not when the hook was already completed)."""
    result = "CONTINUE" if outcome == "BackupSucceeded" else cfg.failure_result
    if outcome == "NotManaged":
        result = cfg.unmanaged_result
    decision = {"BackupSucceeded": "backup_succeeded", "BackupFailed": "backup_failed", "NotManaged": "not_managed"}[
        outcome
    ]
    fields = {"instance_id": instance_id, "auto_scaling_group": group, "command_id": command_id}
    if not _complete(group, hook, instance_id, token, result):
        log.warning(
            "lifecycle action already completed or timed out; treating as done", extra={**fields, "outcome": outcome}
        )
        return _result("already_completed", instance_id, command_id, outcome=outcome)

    message = {"module": MODULE, "outcome": outcome, "lifecycle_action_result": result, **report}
    common.client("sns").publish(
        TopicArn=cfg.topic_arn,
        Subject=f"opskit {MODULE}: {outcome} {instance_id}"[:100],
        Message=json.dumps(message, default=str, sort_keys=True),
        MessageAttributes={"outcome": {"DataType": "String", "StringValue": outcome}},
    )
    common.emit_metrics(
        METRIC_NAMESPACE,
        {"Module": MODULE, "AutoScalingGroupName": group},
        {outcome: (1, "Count")},
        properties={"instance_id": instance_id, "command_id": command_id, "key": report.get("key")},
    )
    level = log.info if outcome == "BackupSucceeded" else log.warning
    level("lifecycle action completed", extra={**fields, "outcome": outcome, "result": result})
    return _result(decision, instance_id, command_id, key=report.get("key"), reason=report.get("reason"))


def _complete(group: str, hook: str, instance_id: str, token: str, result: str) -> bool:
    """Complete the lifecycle action; False when it is no longer active (completed before, or timed out)."""
    arguments = {
        "LifecycleHookName": hook,
        "AutoScalingGroupName": group,
        "LifecycleActionResult": result,
        "InstanceId": instance_id,
    }
    if token:
        arguments["LifecycleActionToken"] = token
    try:
        common.client("autoscaling").complete_lifecycle_action(**arguments)
    except ClientError as exc:
        if _error_code(exc) == "ValidationError" and "No active Lifecycle Action found" in _error_text(exc):
            return False
        raise
    return True


def _result(decision: str, instance_id: str | None, command_id: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "decision": decision,
        "instance_id": instance_id,
        "command_id": command_id,
        **{k: v for k, v in extra.items() if v is not None},
    }


def _excerpt(output: Mapping[str, str]) -> str:
    parts = [
        f"{name}: {output[name].strip()[-EXCERPT_CHARS:]}" for name in ("stderr", "stdout") if output[name].strip()
    ]
    return "\n".join(parts)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _error_text(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', '')}: {error.get('Message', '')}"
