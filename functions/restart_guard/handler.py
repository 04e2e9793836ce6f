"""Guard in front of the restart workflow: an alarm on one EC2 instance → at most one bounded restart.

Accepts the three shapes a CloudWatch alarm arrives in (EventBridge `CloudWatch Alarm State Change`,
an SNS-wrapped alarm notification, a direct Lambda alarm action), refuses anything that a stop/start
would not heal or that another mechanism owns, enforces a cooldown and a restart cap per instance with
one conditional DynamoDB write, and starts the state machine under a deterministic execution name so
a re-delivered alarm never restarts twice.

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
from datetime import UTC, datetime
from typing import Any

import opskit_common as common
from botocore.exceptions import ClientError

logger = common.get_logger(__name__)

ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
ASG_TAG = "aws:autoscaling:groupName"
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_EXECUTION_NAME_MAX = 80


@dataclass(frozen=True)
class Config:
    state_machine_arn: str
    lock_table: str
    cooldown_seconds: int
    max_restarts: int
    window_seconds: int
    lock_seconds: int
    max_alarm_age_seconds: int
    opt_in_tag: tuple[str, str] | None
    dry_run: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        state_machine_arn = common.env_str(env, "STATE_MACHINE_ARN")
        if not state_machine_arn.startswith("arn:") or ":stateMachine:" not in state_machine_arn:
            raise common.ConfigError(f"STATE_MACHINE_ARN={state_machine_arn!r} is not a state machine ARN")
        lock_table = common.env_str(env, "LOCK_TABLE")
        if not lock_table.strip():
            raise common.ConfigError("environment variable LOCK_TABLE must not be empty")
        opt_in = env.get("OPT_IN_TAG", "").strip()
        return cls(
            state_machine_arn=state_machine_arn,
            lock_table=lock_table,
            cooldown_seconds=common.env_int(env, "COOLDOWN_SECONDS", 1800, minimum=0),
            max_restarts=common.env_int(env, "MAX_RESTARTS", 3, minimum=1),
            window_seconds=common.env_int(env, "WINDOW_SECONDS", 86400, minimum=60),
            lock_seconds=common.env_int(env, "LOCK_SECONDS", 3600, minimum=60),
            max_alarm_age_seconds=common.env_int(env, "MAX_ALARM_AGE_SECONDS", 3600, minimum=60),
            opt_in_tag=common.parse_tag_spec(opt_in, "OPT_IN_TAG") if opt_in else None,
            dry_run=common.env_bool(env, "DRY_RUN", False),
        )


@functools.cache
def config() -> Config:
    return Config.from_env(os.environ)


@dataclass(frozen=True)
class Alarm:
    """What the guard needs from an alarm, whichever way it was delivered."""

    shape: str  # eventbridge | sns | lambda-action
    name: str
    state: str
    changed_at: datetime
    instance_ids: tuple[str, ...]  # InstanceId dimension values of the alarm's metrics
    metric_math: bool  # an expression (or composite rule) decides the state, not one instance's metric


@dataclass(frozen=True)
class Decision:
    decision: str  # started | skipped
    reason: str
    instance_id: str | None
    execution_arn: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reason": self.reason,
            "instance_id": self.instance_id,
            "execution_arn": self.execution_arn,
        }


# --- parse -----------------------------------------------------------------------------------------


def parse_alarm(event: Any) -> Alarm:
    """Normalise the three delivery shapes; anything else is an InputError (no AWS call made)."""
    event = common.require_mapping(event, "event")
    if "Records" in event:
        return _parse_sns(event["Records"])
    if "alarmData" in event:
        return _parse_alarm_data(common.require_mapping(event["alarmData"], "alarmData"), "lambda-action")
    if event.get("detail-type") == ALARM_STATE_CHANGE:
        return _parse_alarm_data(common.require_mapping(event.get("detail"), "detail"), "eventbridge")
    raise common.InputError(
        "unrecognised event: expected an EventBridge 'CloudWatch Alarm State Change' event, "
        "an SNS alarm notification (Records[].Sns) or a Lambda alarm action (alarmData)"
    )


def _parse_alarm_data(data: Mapping[str, Any], shape: str) -> Alarm:
    name = _required_str(data, "alarmName", shape)
    state = common.require_mapping(data.get("state"), f"{shape} state")
    configuration = common.require_mapping(data.get("configuration", {}), f"{shape} configuration")
    metrics = configuration.get("metrics") or []
    if not isinstance(metrics, list):
        raise common.InputError(f"{shape}: configuration.metrics must be a list")
    instance_ids: list[str] = []
    metric_math = "alarmRule" in configuration  # composite alarm
    for metric in metrics:
        metric = common.require_mapping(metric, f"{shape} configuration.metrics[]")
        if "expression" in metric:
            metric_math = True
        dimensions = (((metric.get("metricStat") or {}).get("metric")) or {}).get("dimensions") or {}
        if isinstance(dimensions, Mapping) and isinstance(dimensions.get("InstanceId"), str):
            instance_ids.append(dimensions["InstanceId"])
    return Alarm(
        shape=shape,
        name=name,
        state=_required_str(state, "value", f"{shape} state"),
        changed_at=_parse_time(_required_str(state, "timestamp", f"{shape} state"), f"{shape} state.timestamp"),
        instance_ids=tuple(dict.fromkeys(instance_ids)),
        metric_math=metric_math or len(metrics) > 1,
    )


def _parse_sns(records: Any) -> Alarm:
    if not isinstance(records, list) or len(records) != 1:
        raise common.InputError("an SNS event carries exactly one record (Records must be a one-element list)")
    sns = common.require_mapping(common.require_mapping(records[0], "Records[0]").get("Sns"), "Records[0].Sns")
    try:
        message = json.loads(_required_str(sns, "Message", "Records[0].Sns"))
    except json.JSONDecodeError:
        raise common.InputError("Records[0].Sns.Message is not JSON: not a CloudWatch alarm notification") from None
    message = common.require_mapping(message, "Records[0].Sns.Message")
    name = _required_str(message, "AlarmName", "SNS alarm message")
    trigger = common.require_mapping(message.get("Trigger", {}), "SNS alarm message Trigger")
    dimensions = trigger.get("Dimensions") or []
    if not isinstance(dimensions, list):
        raise common.InputError("SNS alarm message Trigger.Dimensions must be a list of {name, value}")
    instance_ids = [
        d["value"]
        for d in dimensions
        if isinstance(d, Mapping) and d.get("name") == "InstanceId" and isinstance(d.get("value"), str)
    ]
    return Alarm(
        shape="sns",
        name=name,
        state=_required_str(message, "NewStateValue", "SNS alarm message"),
        changed_at=_parse_time(_required_str(message, "StateChangeTime", "SNS alarm message"), "StateChangeTime"),
        instance_ids=tuple(dict.fromkeys(instance_ids)),
        metric_math=bool(trigger.get("Metrics")) or "AlarmRule" in message,
    )


def _required_str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise common.InputError(f"{where}: {key} is missing or not a string")
    return value


def _parse_time(raw: str, where: str) -> datetime:
    """CloudWatch writes `2019-10-02T17:04:40.989+0000`; EventBridge envelopes use `...Z`."""
    text = raw.strip().replace("Z", "+00:00")
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise common.InputError(f"{where} {raw!r} is not an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


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
    if not _INSTANCE_ID.match(alarm.instance_ids[0]):
        return f"InstanceId dimension {alarm.instance_ids[0]!r} is not an EC2 instance id"
    return None


def _refusal_for_age(alarm: Alarm, now: int, cfg: Config) -> str | None:
    """A late delivery (EventBridge or async-invoke retries can arrive hours later) must not restart an
    instance that may have recovered since: only recent transitions act."""
    age = now - int(alarm.changed_at.timestamp())
    if age > cfg.max_alarm_age_seconds:
        return f"stale alarm: it entered {alarm.state} {age} seconds ago, more than {cfg.max_alarm_age_seconds}"
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
    item = (
        common.client("dynamodb")
        .get_item(TableName=table, Key={"instance_id": {"S": instance_id}}, ConsistentRead=True)
        .get("Item", {})
    )
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
        return Decision("skipped", refusal, alarm.instance_ids[0] if len(alarm.instance_ids) == 1 else None)
    instance_id = alarm.instance_ids[0]
    now = int(time.time())
    refusal = _refusal_for_age(alarm, now, cfg)
    if refusal:
        return Decision("skipped", refusal, instance_id)

    refusal = _refusal_for_instance(_describe_instance(instance_id), cfg)
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
    alarm = parse_alarm(event)
    cfg = config()
    decision = decide_and_act(alarm, cfg)
    logger.info(
        "restart %s: %s",
        decision.decision,
        decision.reason,
        extra={
            "decision": decision.decision,
            "reason": decision.reason,
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
        {"reason": decision.reason, "instance_id": decision.instance_id},
    )
    return decision.as_dict()
