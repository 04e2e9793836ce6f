"""asg-backup: the Run Command side. Sending the backup, finding it again from its command id (the group,
hook, token, bucket and key travel as its parameters), refusing commands this module did not send, and
confirming the object in S3."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import opskit_common as common
from asg_backup_config import (
    DELIVERY_TIMEOUT_SECONDS,
    MODULE,
    OBJECT_KEY,
    RESULT_MARKER,
    UUID,
    Config,
    key_base,
)
from asg_backup_notify import Action, error_code, error_text
from botocore.exceptions import ClientError

log = common.get_logger(__name__)


@dataclass(frozen=True)
class Backup:
    """A backup command this module sent, resolved from ListCommands."""

    command_id: str
    action: Action
    bucket: str
    key: str
    status: str
    requested: datetime

    def report(self) -> dict[str, Any]:
        return {
            "instance_id": self.action.instance_id,
            "auto_scaling_group": self.action.group,
            "lifecycle_hook": self.action.hook,
            "command_id": self.command_id,
            "bucket": self.bucket,
            "key": self.key,
        }


def send(cfg: Config, action: Action, key: str) -> Mapping[str, Any]:
    """SendCommand of the document version Terraform created; the command as SSM returns it."""
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
    response = common.client("ssm").send_command(
        InstanceIds=[action.instance_id],
        DocumentName=cfg.document_name,
        DocumentVersion=cfg.document_version,
        TimeoutSeconds=DELIVERY_TIMEOUT_SECONDS,
        Comment=f"opskit {MODULE} {action.instance_id}",
        Parameters=parameters,
    )
    return dict(response["Command"])


def existing_command(cfg: Config, action: Action) -> Mapping[str, Any] | None:
    """The command already sent for this lifecycle action (same token), if any: makes redelivery harmless."""
    paginator = common.client("ssm").get_paginator("list_commands")
    for page in paginator.paginate(InstanceId=action.instance_id):
        for command in page.get("Commands", []):
            parameters = command.get("Parameters") or {}
            if command.get("DocumentName") == cfg.document_name and parameters.get("LifecycleActionToken") == [
                action.token
            ]:
                return dict(command)
    return None


def unmanaged_reason(instance_id: str) -> str | None:
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


def list_command(command_id: str) -> Mapping[str, Any] | None:
    try:
        commands = common.client("ssm").list_commands(CommandId=command_id).get("Commands", [])
    except ClientError as exc:
        if error_code(exc) == "InvalidCommandId":
            return None
        raise
    return dict(commands[0]) if commands else None


def resolve(cfg: Config, command: Mapping[str, Any], instance_id: str, now: datetime) -> Backup | None:
    """The backup behind `command`; None for a run of the document by hand (no lifecycle parameters).
    A command that carries them but that this module did not send for `instance_id` raises InputError."""
    parameters = command.get("Parameters") or {}
    group, hook, token, bucket, key = (
        _parameter(parameters, name)
        for name in ("AutoScalingGroupName", "LifecycleHookName", "LifecycleActionToken", "Bucket", "ObjectKey")
    )
    if not (group or hook or token):
        return None
    command_id = str(command.get("CommandId"))
    problems = []
    if command.get("InstanceIds") != [instance_id]:
        problems.append(f"it targets {common.clip(command.get('InstanceIds'), 100)}, not {instance_id}")
    if command.get("DocumentName") != cfg.document_name:
        problems.append(f"its document is {common.clip(command.get('DocumentName'), 140)!r}")
    if group not in cfg.groups:
        problems.append(f"group {common.clip(group, 100)!r} is not configured")
    if hook != cfg.hook_name:
        problems.append(f"hook {common.clip(hook, 100)!r} is not {cfg.hook_name!r}")
    if not UUID.fullmatch(token):
        problems.append(f"lifecycle token {common.clip(token, 60)!r} is not valid")
    if bucket != cfg.bucket:
        problems.append(f"bucket {common.clip(bucket, 70)!r} is not {cfg.bucket!r}")
    expected = key_base(cfg.prefix, group, instance_id)
    if not (key.startswith(expected) and OBJECT_KEY.fullmatch(key)):
        problems.append(f"key {common.clip(key, 100)!r} is not under {common.clip(expected, 100)!r}")
    if problems:
        raise common.InputError(
            f"command {common.clip(command_id, 60)} is not a backup this module sent for {instance_id}: "
            + "; ".join(problems)
        )
    return Backup(
        command_id=command_id,
        action=Action(group=group, hook=hook, instance_id=instance_id, token=token),
        bucket=bucket,
        key=key,
        status=str(command.get("Status") or ""),
        requested=requested_time(command, now),
    )


def requested_time(command: Mapping[str, Any], now: datetime) -> datetime:
    """When the command was sent (the start of max_backup_seconds); `now` if SSM does not say."""
    value = command.get("RequestedDateTime")
    if not isinstance(value, datetime):
        return now
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _parameter(parameters: Mapping[str, Any], name: str) -> str:
    value = parameters.get(name)
    return value[0] if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str) else ""


def command_output(command_id: str, instance_id: str) -> dict[str, str]:
    try:
        invocation = common.client("ssm").get_command_invocation(CommandId=command_id, InstanceId=instance_id)
    except ClientError as exc:
        log.warning("command output unavailable", extra={"command_id": command_id, "error": error_text(exc)})
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


def verify_object(bucket: str, key: str, output: dict[str, str], report: dict[str, Any]) -> str | None:
    """Fill size/sha256 into the report from the object itself; a reason string when the backup is not there."""
    try:
        head = common.client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = error_code(exc)
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
