"""Guard in front of the restart workflow: an alarm on one EC2 instance → at most one bounded restart.

Accepts the three shapes a CloudWatch alarm arrives in (EventBridge `CloudWatch Alarm State Change`,
an SNS-wrapped alarm notification, a direct Lambda alarm action; parsed in alarm_event.py), confirms the
alarm at its source (cloudwatch:DescribeAlarms: it exists in this account and region, is in ALARM now and
watches exactly the instance the event names), refuses anything that a stop/start would not heal or that
another mechanism owns, enforces a cooldown and a restart cap per instance with one conditional DynamoDB
write, and starts the state machine under a deterministic execution name so a re-delivered alarm never
restarts twice. Every environment value is checked at cold start (ConfigError before any AWS call).

Lock item (one per instance, key `instance_id`):
  restarts        list of epoch seconds of restarts claimed within the window (failed ones count too)
  lock_owner      execution name holding the instance; removed by the state machine when it ends
  lock_until      epoch seconds after which a lock left by a dead execution is ignored
  last_execution  execution name of the latest claim (re-delivery of that alarm is "already handled")
  version         optimistic-concurrency counter the conditional write checks
  expires_at      DynamoDB TTL
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import opskit_common as common
from alarm_event import ALARM_STATE_CHANGE, INSTANCE_ID, Alarm, parse_alarm
from botocore.exceptions import ClientError
from guard_config import Config

__all__ = ["ALARM_STATE_CHANGE", "Alarm", "Config", "Decision", "handler", "parse_alarm"]

logger = common.get_logger(__name__)

ASG_TAG = "aws:autoscaling:groupName"
_INSTANCE_ID = common.id_pattern("i")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_EXECUTION_NAME_MAX = 80
FUTURE_SKEW_SECONDS = 300  # an alarm time further ahead than this is not a real transition


@functools.cache
def config() -> Config:
    return Config.from_env(os.environ)


@dataclass(frozen=True)
class Decision:
    decision: str  # started | skipped
    reason: str
    instance_id: str | None
    execution_arn: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reason": common.clip(self.reason),
            "instance_id": self.instance_id,
            "execution_arn": self.execution_arn,
        }


def execution_name(instance_id: str, changed_at: datetime) -> str:
    """Deterministic: the same alarm transition, however delivered, always maps to the same name."""
    stamp = changed_at.strftime("%Y%m%dT%H%M%S") + f"{changed_at.microsecond // 1000:03d}Z"
    return _NAME_UNSAFE.sub("-", f"{instance_id}-{stamp}")[:_EXECUTION_NAME_MAX]


# --- decide ----------------------------------------------------------------------------------------


def _refusal_for_alarm(alarm: Alarm) -> str | None:
    if alarm.state != "ALARM":
        return f"alarm state is {alarm.state}, not ALARM"
    if alarm.metric_math or len(alarm.instance_ids) != 1:
        return "alarm has no single InstanceId dimension (metric math, composite or multi-instance alarm)"
    if not _INSTANCE_ID.fullmatch(alarm.instance_ids[0]):
        return f"InstanceId dimension {common.clip(alarm.instance_ids[0], 80)!r} is not an EC2 instance id"
    return None


def _refusal_for_age(alarm: Alarm, now: int, cfg: Config) -> str | None:
    """A late delivery (EventBridge or async-invoke retries can arrive hours later) must not restart an
    instance that may have recovered since: only recent transitions act. A time far ahead is not real."""
    age = now - int(alarm.changed_at.timestamp())
    if age > cfg.max_alarm_age_seconds:
        return f"stale alarm: it entered {alarm.state} {age} seconds ago, more than {cfg.max_alarm_age_seconds}"
    if age < -FUTURE_SKEW_SECONDS:
        return f"alarm time {alarm.changed_at.isoformat()} is {-age} seconds in the future"
    return None


def _refusal_for_name(alarm: Alarm, cfg: Config) -> str | None:
    if cfg.allowed_alarm_names is not None and alarm.name not in cfg.allowed_alarm_names:
        return f"alarm {common.clip(alarm.name, 80)!r} is not one of the allowed alarms"
    return None


def _refusal_at_source(alarm: Alarm, instance_id: str) -> str | None:
    """Anyone who may publish to an alarm topic (or invoke the guard) can describe an ALARM that never
    happened: the alarm itself must exist in this account and region, be in ALARM now and watch exactly
    this instance (Dimensions of a metric alarm, or the metrics of a metric-math alarm)."""
    name = common.clip(alarm.name, 80)
    found = [
        a
        for a in common.client("cloudwatch")
        .describe_alarms(AlarmNames=[alarm.name], AlarmTypes=["MetricAlarm"])
        .get("MetricAlarms", [])
        if a.get("AlarmName") == alarm.name
    ]
    if not found:
        return f"alarm {name!r} is not a metric alarm of this account and region"
    described = found[0]
    if described.get("StateValue") != "ALARM":
        return f"alarm {name!r} is {described.get('StateValue')} now, not ALARM"
    dimensions = list(described.get("Dimensions") or [])
    for metric in described.get("Metrics") or []:
        dimensions += ((metric.get("MetricStat") or {}).get("Metric") or {}).get("Dimensions") or []
    watched = sorted({d.get("Value") for d in dimensions if d.get("Name") == INSTANCE_ID})
    if watched != [instance_id]:
        return f"alarm {name!r} watches InstanceId {common.clip(watched, 120)}, not {instance_id}"
    return None


def _refusal_for_instance(instance: Mapping[str, Any] | None, cfg: Config) -> str | None:
    if instance is None:
        return "instance not found"
    state = instance.get("State", {}).get("Name")
    if state != "running":
        return f"instance is {state}, not running"
    if instance.get("InstanceLifecycle") == "spot":
        return "spot instance: a stop/start is not a safe remedy"
    if instance.get("RootDeviceType") == "instance-store":
        return "instance-store root device: a stop would lose the root volume"
    tags = common.tags_to_dict(instance.get("Tags"))
    if ASG_TAG in tags:
        return f"member of Auto Scaling group {tags[ASG_TAG]}: the group replaces unhealthy instances"
    if cfg.opt_in_tag is not None:
        key, value = cfg.opt_in_tag
        if tags.get(key) != value:
            return f"opt-in tag {key}={value} is absent"
    return None


def _describe_instance(instance_id: str) -> Mapping[str, Any] | None:
    try:
        reservations = common.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
            return None
        raise
    for reservation in reservations:
        for instance in reservation.get("Instances", []):
            if instance.get("InstanceId") == instance_id:
                return instance
    return None


# --- act: the lock ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    restarts: tuple[int, ...]
    lock_owner: str | None
    lock_until: int
    last_execution: str | None
    version: int


def read_claim(table: str, instance_id: str) -> Claim:
    try:
        item = (
            common.client("dynamodb")
            .get_item(TableName=table, Key={"instance_id": {"S": instance_id}}, ConsistentRead=True)
            .get("Item", {})
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":  # before any claim is written
            raise common.ConfigError(f"LOCK_TABLE={common.clip(table)!r} does not exist") from None
        raise
    return Claim(
        restarts=tuple(int(v["N"]) for v in item.get("restarts", {}).get("L", [])),
        lock_owner=item.get("lock_owner", {}).get("S"),
        lock_until=int(item.get("lock_until", {}).get("N", "0")),
        last_execution=item.get("last_execution", {}).get("S"),
        version=int(item.get("version", {}).get("N", "0")),
    )


def _refusal_for_claim(claim: Claim, now: int, cfg: Config) -> str | None:
    if claim.lock_owner and claim.lock_until > now:
        return f"restart {claim.lock_owner} is still in progress"
    recent = [t for t in claim.restarts if t > now - cfg.window_seconds]
    if recent and now - max(recent) < cfg.cooldown_seconds:
        return f"in cooldown for {cfg.cooldown_seconds - (now - max(recent))} more seconds"
    if len(recent) >= cfg.max_restarts:
        return f"restart cap reached: {len(recent)} restarts in the last {cfg.window_seconds} seconds"
    return None


def write_claim(table: str, instance_id: str, claim: Claim, name: str, alarm: str, now: int, cfg: Config) -> bool:
    """One conditional write: succeeds only if nobody changed the item since `claim` was read."""
    recent = [t for t in claim.restarts if t > now - cfg.window_seconds] + [now]
    values: dict[str, Any] = {
        ":restarts": {"L": [{"N": str(t)} for t in recent]},
        ":owner": {"S": name},
        ":until": {"N": str(now + cfg.lock_seconds)},
        ":alarm": {"S": alarm},
        ":next": {"N": str(claim.version + 1)},
        # TTL only after the item stops mattering: past the window, the cooldown and the lock.
        ":expires": {"N": str(now + max(cfg.window_seconds + cfg.cooldown_seconds, cfg.lock_seconds))},
    }
    if claim.version:
        condition = "#version = :version"
        values[":version"] = {"N": str(claim.version)}
    else:
        condition = "attribute_not_exists(#version)"
    try:
        common.client("dynamodb").update_item(
            TableName=table,
            Key={"instance_id": {"S": instance_id}},
            UpdateExpression=(
                "SET #restarts = :restarts, lock_owner = :owner, lock_until = :until, last_execution = :owner, "
                "last_alarm = :alarm, #version = :next, expires_at = :expires"
            ),
            ConditionExpression=condition,
            ExpressionAttributeNames={"#restarts": "restarts", "#version": "version"},
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


# --- act: the execution ----------------------------------------------------------------------------


def _execution_arn(state_machine_arn: str, name: str) -> str:
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


def _execution_exists(arn: str) -> bool:
    try:
        common.client("stepfunctions").describe_execution(executionArn=arn)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return False
        raise
    return True


def _start(cfg: Config, name: str, instance_id: str, alarm: Alarm) -> Decision:
    arn = _execution_arn(cfg.state_machine_arn, name)
    if _execution_exists(arn):
        return Decision("skipped", "already handled: execution exists", instance_id, arn)
    payload = {
        "InstanceId": instance_id,
        "AlarmName": alarm.name,
        "AlarmTime": alarm.changed_at.isoformat(),
        "DeliveredAs": alarm.shape,
    }
    try:
        arn = common.client("stepfunctions").start_execution(
            stateMachineArn=cfg.state_machine_arn, name=name, input=json.dumps(payload)
        )["executionArn"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ExecutionAlreadyExists":
            return Decision("skipped", "already handled: execution exists", instance_id, arn)
        raise
    return Decision("started", "restart workflow started", instance_id, arn)


# --- entry point -----------------------------------------------------------------------------------


def decide_and_act(alarm: Alarm, cfg: Config) -> Decision:
    refusal = _refusal_for_alarm(alarm)
    if refusal:
        single = len(alarm.instance_ids) == 1 and _INSTANCE_ID.fullmatch(alarm.instance_ids[0])
        return Decision("skipped", refusal, alarm.instance_ids[0] if single else None)
    instance_id = alarm.instance_ids[0]
    now = int(time.time())
    refusal = _refusal_for_age(alarm, now, cfg) or _refusal_for_name(alarm, cfg)
    if refusal:
        return Decision("skipped", refusal, instance_id)

    refusal = _refusal_at_source(alarm, instance_id) or _refusal_for_instance(_describe_instance(instance_id), cfg)
    if refusal:
        return Decision("skipped", refusal, instance_id)

    name = execution_name(instance_id, alarm.changed_at)
    claim = read_claim(cfg.lock_table, instance_id)
    if name in (claim.lock_owner, claim.last_execution):
        # This alarm transition was claimed before (re-delivery, or a retry after a crash between the
        # claim and StartExecution): never claim again, only make sure its execution exists.
        if cfg.dry_run:
            return Decision("skipped", f"dry run: {name} was already claimed", instance_id)
        return _start(cfg, name, instance_id, alarm)
    refusal = _refusal_for_claim(claim, now, cfg)
    if refusal:
        return Decision("skipped", refusal, instance_id)
    if cfg.dry_run:
        return Decision("skipped", f"dry run: would start {name}", instance_id)
    if not write_claim(cfg.lock_table, instance_id, claim, name, alarm.name, now, cfg):
        return Decision("skipped", "another alarm claimed this instance at the same moment", instance_id)
    return _start(cfg, name, instance_id, alarm)


def handler(event: Any, context: Any) -> dict[str, Any]:
    cfg = config()  # cold start: a bad environment fails every invocation before anything else
    alarm = parse_alarm(event)
    decision = decide_and_act(alarm, cfg)
    result = decision.as_dict()
    logger.info(
        "restart %s: %s",
        decision.decision,
        result["reason"],
        extra={
            "decision": decision.decision,
            "reason": result["reason"],
            "instance_id": decision.instance_id,
            "alarm_name": alarm.name,
            "delivered_as": alarm.shape,
            "execution_arn": decision.execution_arn,
            "dry_run": cfg.dry_run,
        },
    )
    common.emit_metrics(
        "opskit",
        {"Module": "restart-workflow"},
        {"RestartStarted" if decision.decision == "started" else "RestartSkipped": (1, "Count")},
        {"reason": result["reason"], "instance_id": decision.instance_id},
    )
    return result
