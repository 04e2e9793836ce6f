"""The guard's checks before any claim: what the alarm says (state, one instance, age, allow-list), the alarm
read back from CloudWatch, and the instance itself. Each refusal is (reason code, reason): the code is the
name of the metric the guard emits for the decision (see handler.REASONS), the reason is logged and returned."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import opskit_common as common
from alarm_event import INSTANCE_ID, Alarm
from botocore.exceptions import ClientError
from guard_config import Config

ASG_TAG = "aws:autoscaling:groupName"
FUTURE_SKEW_SECONDS = 300  # an alarm time further ahead than this is not a real transition
INSTANCE_ID_PATTERN = common.id_pattern("i")

Refusal = tuple[str, str]  # (reason code, reason)


def refusal_for_alarm(alarm: Alarm) -> Refusal | None:
    if alarm.state != "ALARM":
        return "NotInAlarm", f"alarm state is {alarm.state}, not ALARM"
    if alarm.metric_math or len(alarm.instance_ids) != 1:
        return (
            "NotSingleInstance",
            "alarm has no single InstanceId dimension (metric math, composite or multi-instance alarm)",
        )
    if not INSTANCE_ID_PATTERN.fullmatch(alarm.instance_ids[0]):
        return (
            "NotSingleInstance",
            f"InstanceId dimension {common.clip(alarm.instance_ids[0], 80)!r} is not an EC2 instance id",
        )
    return None


def refusal_for_age(alarm: Alarm, now: int, cfg: Config) -> Refusal | None:
    """A late delivery (EventBridge or async-invoke retries can arrive hours later) must not restart an
    instance that may have recovered since: only recent transitions act. A time far ahead is not real."""
    age = now - int(alarm.changed_at.timestamp())
    if age > cfg.max_alarm_age_seconds:
        return (
            "Stale",
            f"stale alarm: it entered {alarm.state} {age} seconds ago, more than {cfg.max_alarm_age_seconds}",
        )
    if age < -FUTURE_SKEW_SECONDS:
        return "FutureTime", f"alarm time {alarm.changed_at.isoformat()} is {-age} seconds in the future"
    return None


def refusal_for_name(alarm: Alarm, cfg: Config) -> Refusal | None:
    if cfg.allowed_alarm_names is not None and alarm.name not in cfg.allowed_alarm_names:
        return "NotAllowed", f"alarm {common.clip(alarm.name, 80)!r} is not one of the allowed alarms"
    return None


def refusal_at_source(alarm: Alarm, instance_id: str) -> Refusal | None:
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
        return "NotConfirmed", f"alarm {name!r} is not a metric alarm of this account and region"
    described = found[0]
    if described.get("StateValue") != "ALARM":
        return "NotConfirmed", f"alarm {name!r} is {described.get('StateValue')} now, not ALARM"
    dimensions = list(described.get("Dimensions") or [])
    for metric in described.get("Metrics") or []:
        dimensions += ((metric.get("MetricStat") or {}).get("Metric") or {}).get("Dimensions") or []
    watched = sorted({d.get("Value") for d in dimensions if d.get("Name") == INSTANCE_ID})
    if watched != [instance_id]:
        return "NotConfirmed", f"alarm {name!r} watches InstanceId {common.clip(watched, 120)}, not {instance_id}"
    return None


def refusal_for_instance(instance: Mapping[str, Any] | None, cfg: Config) -> Refusal | None:
    if instance is None:
        return "NotFound", "instance not found"
    state = instance.get("State", {}).get("Name")
    if state != "running":
        return "NotRunning", f"instance is {state}, not running"
    if instance.get("InstanceLifecycle") == "spot":
        return "Spot", "spot instance: a stop/start is not a safe remedy"
    if instance.get("RootDeviceType") == "instance-store":
        return "InstanceStore", "instance-store root device: a stop would lose the root volume"
    tags = common.tags_to_dict(instance.get("Tags"))
    if ASG_TAG in tags:
        return "AsgMember", f"member of Auto Scaling group {tags[ASG_TAG]}: the group replaces unhealthy instances"
    if cfg.opt_in_tag is not None:
        key, value = cfg.opt_in_tag
        if tags.get(key) != value:
            return "NotOptedIn", f"opt-in tag {key}={value} is absent"
    return None


def describe_instance(instance_id: str) -> Mapping[str, Any] | None:
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
