"""asg-backup: back up an instance's data before its Auto Scaling group terminates it.

Two EventBridge events drive the function; no state is kept between them:

1. `EC2 Instance-terminate Lifecycle Action` (the instance waits in Terminating:Wait). An instance that is not
   an online Linux SSM managed node gets its hook completed with UNMANAGED_RESULT at once; otherwise the
   backup document (the version Terraform created) is sent with Run Command and the function returns. The
   command's parameters carry the group, hook, token and object key, so the second event is resolved from
   the command alone.
2. `EC2 Command Invocation Status-change Notification` for that document. The command must be this module's
   (same instance, document, bucket, key prefix, configured group and hook), else the event is refused.
   Success is checked against the object in S3 (size, sha256 metadata) before the hook is completed with
   CONTINUE; Failed/TimedOut/Cancelled complete it with FAILURE_RESULT and publish the command's output.

The environment is checked on the cold start, before anything else (ConfigError). Malformed events raise
InputError before any call that changes something (a status event is compared with its command, which takes
the read-only ListCommands). Second deliveries are harmless: a lifecycle action whose command exists is not
sent again, and a hook that is no longer active ("No active Lifecycle Action found") counts as done.
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

# Whole-string patterns: use with fullmatch only.
_INSTANCE_ID = common.id_pattern("i")
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
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
_TIMEOUT = re.compile(r"[0-9]{1,4}")
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
# The document's ObjectKey allowedPattern. <prefix>/<group> may take 900 characters and a group 255, so a
# longer prefix would make some keys (and a prefix of 899 every key) fail the document.
OBJECT_KEY = re.compile(r"[A-Za-z0-9._/-]{1,900}/i-[0-9a-f]{8,17}/[0-9]{8}T[0-9]{6}Z\.tar\.gz")
MAX_PREFIX_CHARS = 900 - 1 - 255


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
    kms_key_id: str

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
        timeout = int(common.env_match(env, "COMMAND_TIMEOUT_SECONDS", _TIMEOUT, "1800"))
        if not 30 <= timeout <= 7200:
            raise common.ConfigError(f"COMMAND_TIMEOUT_SECONDS={timeout} must be at least 30 and at most 7200")
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
            kms_key_id=kms_key_id,
        )


def _json_env(env: Mapping[str, str], name: str, default: str | None = None) -> Any:
    try:
        return common.loads_json(common.env_str(env, name, default), f"environment variable {name}", max_depth=2)
    except common.InputError as exc:
        raise common.ConfigError(str(exc)) from None


def _valid_path(path: Any) -> bool:
    return isinstance(path, str) and bool(_PATH.fullmatch(path)) and ".." not in path


def _valid_group(group: Any) -> bool:
    return isinstance(group, str) and bool(_GROUP.fullmatch(group))


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


def _field(detail: Mapping[str, Any], name: str, pattern: re.Pattern[str], what: str) -> str:
    return common.require_str(detail.get(name), f"{what} detail.{name}", pattern, max_length=255)


def _now() -> datetime:
    return datetime.now(UTC)


def _event_time(event: Mapping[str, Any]) -> datetime:
    """The envelope time, for the object key. It is not worth failing the backup over: the current time then."""
    try:
        return common.parse_time(event.get("time"), "lifecycle event time")
    except common.InputError as exc:
        log.warning("lifecycle event time unusable; the object key uses the current time", extra={"error": str(exc)})
        return _now()


def parse_lifecycle(event: Mapping[str, Any]) -> LifecycleAction:
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
        instance_id=_field(detail, "EC2InstanceId", _INSTANCE_ID, what),
        token=_field(detail, "LifecycleActionToken", _UUID, what),
        time=_event_time(event),
    )


def parse_status(event: Mapping[str, Any]) -> StatusChange:
    what = "command status event"
    detail = common.require_mapping(event.get("detail"), f"{what} detail")
    return StatusChange(
        command_id=_field(detail, "command-id", _UUID, what),
        instance_id=_field(detail, "instance-id", _INSTANCE_ID, what),
        document_name=_field(detail, "document-name", _DOCUMENT, what),
        status=_field(detail, "status", _STATUS, what),
    )


def object_key(prefix: str, group: str, instance_id: str, when: datetime) -> str:
    """<prefix>/<group>/<instance-id>/<UTC timestamp>.tar.gz; the group is made key-safe, the year has 4 digits."""
    stamp = f"{when.year:04d}{when.month:02d}{when.day:02d}T{when.hour:02d}{when.minute:02d}{when.second:02d}Z"
    return f"{_key_base(prefix, group, instance_id)}{stamp}.tar.gz"


def _key_base(prefix: str, group: str, instance_id: str) -> str:
    return f"{prefix}/{_KEY_UNSAFE.sub('-', group)}/{instance_id}/"


# --- entry point -----------------------------------------------------------------------------------


def handler(event: Any, context: Any) -> dict[str, Any]:
    cfg = config()  # a bad environment fails every invocation here, before the event is even read
    event = common.require_mapping(event, "event")
    if _is_test_notification(event):
        log.info("ignoring Auto Scaling test notification", extra={"event_id": common.clip(event.get("id"))})
        return _result("ignored", None, None, reason="test notification")
    source, detail_type = event.get("source"), event.get("detail-type")
    if source == "aws.autoscaling" and detail_type == LIFECYCLE_DETAIL_TYPE:
        return on_lifecycle(cfg, parse_lifecycle(event))
    if source == "aws.ssm" and detail_type == STATUS_DETAIL_TYPE:
        return on_status(cfg, parse_status(event))
    raise common.InputError(
        f"unsupported event source={common.clip(source, 100)!r} detail-type={common.clip(detail_type, 100)!r}: "
        f"expected aws.autoscaling {LIFECYCLE_DETAIL_TYPE!r} or aws.ssm {STATUS_DETAIL_TYPE!r}"
    )


# --- lifecycle action ------------------------------------------------------------------------------


def on_lifecycle(cfg: Config, action: LifecycleAction) -> dict[str, Any]:
    fields = {"instance_id": action.instance_id, "auto_scaling_group": action.group, "lifecycle_hook": action.hook}
    if action.hook != cfg.hook_name:
        log.warning("lifecycle hook is not this module's; ignoring", extra={**fields, "expected": cfg.hook_name})
        return _result("ignored", action.instance_id, None, reason=f"hook {action.hook} is not {cfg.hook_name}")
    if action.group not in cfg.groups:
        log.warning("group is not backed up by this module; ignoring", extra=fields)
        return _result("ignored", action.instance_id, None, reason=f"group {action.group} is not configured")

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
            DocumentVersion=cfg.document_version,
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
        return f"not managed by SSM (ping status {common.clip(info.get('PingStatus'), 40)})"
    if info.get("PlatformType") != "Linux":
        return f"platform {common.clip(info.get('PlatformType'), 40)} is not supported (Linux only)"
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
    command = commands[0]
    parameters = command.get("Parameters") or {}
    group, hook, token, bucket, key = (
        _parameter(parameters, name)
        for name in ("AutoScalingGroupName", "LifecycleHookName", "LifecycleActionToken", "Bucket", "ObjectKey")
    )
    if not (group or hook or token):
        log.info("command was not sent for a lifecycle action (manual run); ignoring", extra=fields)
        return _result("ignored", change.instance_id, change.command_id, reason="not a lifecycle backup")
    _check_command(cfg, change, command, group=group, hook=hook, token=token, bucket=bucket, key=key)

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


def _parameter(parameters: Mapping[str, Any], name: str) -> str:
    value = parameters.get(name)
    return value[0] if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str) else ""


def _check_command(cfg: Config, change: StatusChange, command: Mapping[str, Any], **values: str) -> None:
    """Refuse a status event whose command this module did not send for this instance: it would otherwise
    complete another group's lifecycle action or report an object outside the backups."""
    problems = []
    if command.get("InstanceIds") != [change.instance_id]:
        problems.append(f"it targets {common.clip(command.get('InstanceIds'), 100)}, not {change.instance_id}")
    if command.get("DocumentName") != cfg.document_name:
        problems.append(f"its document is {common.clip(command.get('DocumentName'), 140)!r}")
    if values["group"] not in cfg.groups:
        problems.append(f"group {common.clip(values['group'], 100)!r} is not configured")
    if values["hook"] != cfg.hook_name:
        problems.append(f"hook {common.clip(values['hook'], 100)!r} is not {cfg.hook_name!r}")
    if not _UUID.fullmatch(values["token"]):
        problems.append(f"lifecycle token {common.clip(values['token'], 60)!r} is not valid")
    if values["bucket"] != cfg.bucket:
        problems.append(f"bucket {common.clip(values['bucket'], 70)!r} is not {cfg.bucket!r}")
    expected = _key_base(cfg.prefix, values["group"], change.instance_id)
    if not (values["key"].startswith(expected) and OBJECT_KEY.fullmatch(values["key"])):
        problems.append(f"key {common.clip(values['key'], 100)!r} is not under {common.clip(expected, 100)!r}")
    if problems:
        raise common.InputError(
            f"command {change.command_id} is not a backup this module sent for {change.instance_id}: "
            + "; ".join(problems)
        )


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
        "stdout": str(invocation.get("StandardOutputContent") or ""),
        "stderr": str(invocation.get("StandardErrorContent") or ""),
    }


def _script_result(stdout: str) -> dict[str, Any]:
    """The script's final `OPSKIT_BACKUP_RESULT {...}` line, when the output has it."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            try:
                parsed = common.loads_json(line[len(RESULT_MARKER) :], "script result", max_depth=2)
            except common.InputError:
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
        return (
            f"sha256 mismatch: the instance computed {common.clip(reported, 64)}, "
            f"the object's metadata says {common.clip(sha256, 64)}"
        )
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
    try:
        common.client("autoscaling").complete_lifecycle_action(
            LifecycleHookName=hook,
            AutoScalingGroupName=group,
            LifecycleActionResult=result,
            InstanceId=instance_id,
            LifecycleActionToken=token,
        )
    except ClientError as exc:
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if _error_code(exc) == "ValidationError" and "No active Lifecycle Action found" in message:
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
    return common.clip(f"{error.get('Code', '')}: {error.get('Message', '')}", 300)
