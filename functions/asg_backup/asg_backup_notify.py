"""asg-backup: the Auto Scaling side (complete, heartbeat, retention) and the outcome (SNS message, EMF metric)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import opskit_common as common
from asg_backup_config import METRIC_NAMESPACE, MODULE, Config
from botocore.exceptions import ClientError

log = common.get_logger(__name__)

NO_ACTIVE_ACTION = "No active Lifecycle Action found"


@dataclass(frozen=True)
class Action:
    """One lifecycle action: what CompleteLifecycleAction and RecordLifecycleActionHeartbeat take."""

    group: str
    hook: str
    instance_id: str
    token: str


def finish(cfg: Config, action: Action, command_id: str | None, outcome: str, report: dict[str, Any]) -> dict[str, Any]:
    """Complete the hook, then publish and count the outcome (once: not when the hook was already completed).

    With ABANDON the group's instance lifecycle policy is read first: a group that retains instances whose
    terminate hook is abandoned keeps this one (Terminating:Retained), and the notice says so."""
    result = "CONTINUE" if outcome == "BackupSucceeded" else cfg.failure_result
    if outcome == "NotManaged":
        result = cfg.unmanaged_result
    decision = {"BackupSucceeded": "backup_succeeded", "BackupFailed": "backup_failed", "NotManaged": "not_managed"}[
        outcome
    ]
    fields = {"instance_id": action.instance_id, "auto_scaling_group": action.group, "command_id": command_id}
    retained = retains_abandoned_instances(action.group) if result == "ABANDON" else False
    if not complete(action, result):
        log.warning(
            "lifecycle action already completed or timed out; treating as done", extra={**fields, "outcome": outcome}
        )
        return result_of("already_completed", action.instance_id, command_id, outcome=outcome)

    report = {**report, "instance_retained": retained}
    subject = f"opskit {MODULE}: {outcome} {action.instance_id}"
    if retained:
        subject += " (instance retained)"
        report["retention"] = (
            f"The instance was retained, not terminated: group {action.group} keeps instances whose terminate hook "
            f"is abandoned (Terminating:Retained). Its data is still on it; terminate it with "
            f"TerminateInstanceInAutoScalingGroup once the data is safe."
        )
    elif retained is None:
        report["retention"] = f"Whether group {action.group} retains the instance could not be read."
    message = {"module": MODULE, "outcome": outcome, "lifecycle_action_result": result, **report}
    common.client("sns").publish(
        TopicArn=cfg.topic_arn,
        Subject=subject[:100],
        Message=json.dumps(message, default=str, sort_keys=True),
        MessageAttributes={"outcome": {"DataType": "String", "StringValue": outcome}},
    )
    common.emit_metrics(
        METRIC_NAMESPACE,
        {"Module": MODULE, "AutoScalingGroupName": action.group},
        {outcome: (1, "Count")},
        properties={"instance_id": action.instance_id, "command_id": command_id, "key": report.get("key")},
    )
    level = log.info if outcome == "BackupSucceeded" else log.warning
    level("lifecycle action completed", extra={**fields, "outcome": outcome, "result": result, "retained": retained})
    return result_of(
        decision,
        action.instance_id,
        command_id,
        key=report.get("key"),
        reason=report.get("reason"),
        instance_retained=retained or None,
    )


def complete(action: Action, result: str) -> bool:
    """Complete the lifecycle action; False when it is no longer active (completed before, or timed out)."""
    try:
        common.client("autoscaling").complete_lifecycle_action(
            LifecycleHookName=action.hook,
            AutoScalingGroupName=action.group,
            LifecycleActionResult=result,
            InstanceId=action.instance_id,
            LifecycleActionToken=action.token,
        )
    except ClientError as exc:
        if not_active(exc):
            return False
        raise
    return True


def record_heartbeat(action: Action) -> bool:
    """Restart the hook's heartbeat timeout; False when the action is no longer active."""
    try:
        common.client("autoscaling").record_lifecycle_action_heartbeat(
            LifecycleHookName=action.hook,
            AutoScalingGroupName=action.group,
            InstanceId=action.instance_id,
            LifecycleActionToken=action.token,
        )
    except ClientError as exc:
        if not_active(exc):
            return False
        raise
    return True


def retains_abandoned_instances(group: str) -> bool | None:
    """Whether the group's instance lifecycle policy retains instances whose terminate hook is abandoned
    (retention_triggers.terminate_hook_abandon = "retain"); None when the group cannot be read."""
    try:
        groups = common.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    except ClientError as exc:
        log.warning("could not read the group's instance lifecycle policy", extra={"error": error_text(exc)})
        return None
    for found in groups.get("AutoScalingGroups") or []:
        if found.get("AutoScalingGroupName") == group:
            policy = found.get("InstanceLifecyclePolicy") or {}
            triggers = policy.get("RetentionTriggers") or {}
            return bool(triggers.get("TerminateHookAbandon") == "retain")
    return None


def not_active(exc: ClientError) -> bool:
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return error_code(exc) == "ValidationError" and NO_ACTIVE_ACTION in message


def result_of(decision: str, instance_id: str | None, command_id: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "decision": decision,
        "instance_id": instance_id,
        "command_id": command_id,
        **{k: v for k, v in extra.items() if v is not None},
    }


def excerpt(output: Mapping[str, str], limit: int) -> str:
    parts = [f"{name}: {output[name].strip()[-limit:]}" for name in ("stderr", "stdout") if output[name].strip()]
    return "\n".join(parts)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_text(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return common.clip(f"{error.get('Code', '')}: {error.get('Message', '')}", 300)
