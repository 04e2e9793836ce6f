"""The three shapes a CloudWatch alarm reaches the guard in, parsed into one `Alarm` without any AWS call.

- EventBridge `CloudWatch Alarm State Change` (source `aws.cloudwatch`): `detail.alarmName`, `detail.state`,
  `detail.configuration.metrics[].metricStat.metric.dimensions` (a map);
- an SNS alarm notification: `Records[0].Sns.Message` is JSON text with `AlarmName`, `NewStateValue`,
  `StateChangeTime` and `Trigger.Dimensions` (a list of {name, value});
- a Lambda alarm action (source `aws.cloudwatch`): `alarmData`, shaped like EventBridge's `detail`.

Everything here is untrusted: every field is type-checked and bounded with opskit_common's helpers, and
anything malformed raises `common.InputError` naming the field (never AttributeError, OverflowError,
RecursionError, ...). Whether a well-formed alarm may restart anything is decided later, in the handler.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import opskit_common as common

SOURCE = "aws.cloudwatch"
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
# CloudWatch alarm names: 1-255 characters, no ASCII control characters.
ALARM_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,255}")
MAX_ALARM_NAME = 255
_STATE = re.compile(r"[A-Z_]{1,32}")  # ALARM | OK | INSUFFICIENT_DATA
MAX_DIMENSIONS = 30  # CloudWatch's limit per metric
MAX_METRICS = 100  # generous: alarm metric math uses far fewer
INSTANCE_ID = "InstanceId"


@dataclass(frozen=True)
class Alarm:
    """What the guard needs from an alarm, whichever way it was delivered."""

    shape: str  # eventbridge | sns | lambda-action
    name: str
    state: str
    changed_at: datetime
    instance_ids: tuple[str, ...]  # every InstanceId dimension value, one per metric that has one
    metric_math: bool  # an expression, several metrics or a composite rule decides the state


def parse_alarm(event: Any) -> Alarm:
    """Normalise the three delivery shapes; anything else is an InputError (no AWS call made)."""
    event = common.require_mapping(event, "event")
    if "Records" in event:
        return _parse_sns(event["Records"])
    if "alarmData" in event:
        _require_constant(event.get("source"), "source", SOURCE)
        return _parse_alarm_data(common.require_mapping(event["alarmData"], "alarmData"), "lambda-action")
    if any(key in event for key in ("detail-type", "detail", "source")):
        _require_constant(event.get("source"), "source", SOURCE)
        _require_constant(event.get("detail-type"), "detail-type", ALARM_STATE_CHANGE)
        return _parse_alarm_data(common.require_mapping(event.get("detail"), "detail"), "eventbridge")
    raise common.InputError(
        "unrecognised event: expected an EventBridge 'CloudWatch Alarm State Change' event, "
        "an SNS alarm notification (Records[].Sns) or a Lambda alarm action (alarmData)"
    )


def alarm_name(value: Any, what: str) -> str:
    """A CloudWatch alarm name: 1-255 characters without control characters."""
    return common.require_str(value, what, pattern=ALARM_NAME, max_length=MAX_ALARM_NAME)


def _require_constant(value: Any, what: str, expected: str) -> None:
    if value != expected:
        raise common.InputError(f"{what} must be {expected!r}, got {common.clip(value, 80)!r}")


def _parse_alarm_data(data: Mapping[str, Any], shape: str) -> Alarm:
    where = "detail" if shape == "eventbridge" else "alarmData"
    name = alarm_name(data.get("alarmName"), f"{where}.alarmName")
    state = common.require_mapping(data.get("state"), f"{where}.state")
    configuration = data.get("configuration")
    configuration = {} if configuration is None else common.require_mapping(configuration, f"{where}.configuration")
    metrics = configuration.get("metrics")
    metrics = [] if metrics is None else metrics
    if not isinstance(metrics, list) or len(metrics) > MAX_METRICS:
        raise common.InputError(f"{where}.configuration.metrics must be a list of at most {MAX_METRICS} metrics")
    instance_ids: list[str] = []
    metric_math = "alarmRule" in configuration or len(metrics) > 1  # composite alarm, or several metrics
    for index, metric in enumerate(metrics):
        field = f"{where}.configuration.metrics[{index}]"
        metric = common.require_mapping(metric, field)
        metric_math = metric_math or "expression" in metric
        dimensions = _nested_mapping(metric, ("metricStat", "metric", "dimensions"), field)
        if len(dimensions) > MAX_DIMENSIONS:
            raise common.InputError(f"{field}.metricStat.metric.dimensions has more than {MAX_DIMENSIONS} dimensions")
        if INSTANCE_ID in dimensions:
            instance_ids.append(
                common.require_str(dimensions[INSTANCE_ID], f"{field}.metricStat.metric.dimensions.InstanceId")
            )
    return Alarm(
        shape=shape,
        name=name,
        state=common.require_str(state.get("value"), f"{where}.state.value", pattern=_STATE),
        changed_at=common.parse_time(state.get("timestamp"), f"{where}.state.timestamp"),
        instance_ids=tuple(instance_ids),
        metric_math=metric_math,
    )


def _nested_mapping(value: Mapping[str, Any], keys: tuple[str, ...], field: str) -> Mapping[str, Any]:
    """value[k1][k2]...: each level absent/null means empty, present means it must be a JSON object."""
    for key in keys:
        field = f"{field}.{key}"
        child = value.get(key)
        if child is None:
            return {}
        value = common.require_mapping(child, field)
    return value


def _parse_sns(records: Any) -> Alarm:
    if not isinstance(records, list) or len(records) != 1:
        raise common.InputError("an SNS event carries exactly one record (Records must be a one-element list)")
    sns = common.require_mapping(common.require_mapping(records[0], "Records[0]").get("Sns"), "Records[0].Sns")
    message = common.require_mapping(
        common.loads_json(sns.get("Message"), "Records[0].Sns.Message"), "Records[0].Sns.Message"
    )
    name = alarm_name(message.get("AlarmName"), "Records[0].Sns.Message.AlarmName")
    trigger = message.get("Trigger")
    trigger = {} if trigger is None else common.require_mapping(trigger, "Records[0].Sns.Message.Trigger")
    dimensions = trigger.get("Dimensions")
    dimensions = [] if dimensions is None else dimensions
    if not isinstance(dimensions, list) or len(dimensions) > MAX_DIMENSIONS:
        raise common.InputError(
            f"Records[0].Sns.Message.Trigger.Dimensions must be a list of at most {MAX_DIMENSIONS} {{name, value}}"
        )
    instance_ids: list[str] = []
    for index, dimension in enumerate(dimensions):
        field = f"Records[0].Sns.Message.Trigger.Dimensions[{index}]"
        dimension = common.require_mapping(dimension, field)
        if dimension.get("name") == INSTANCE_ID:
            instance_ids.append(common.require_str(dimension.get("value"), f"{field}.value"))
    if len(instance_ids) > 1:  # one metric cannot carry a dimension twice
        raise common.InputError(
            f"Records[0].Sns.Message.Trigger.Dimensions names InstanceId {len(instance_ids)} times (at most once)"
        )
    return Alarm(
        shape="sns",
        name=name,
        state=common.require_str(message.get("NewStateValue"), "Records[0].Sns.Message.NewStateValue", pattern=_STATE),
        changed_at=common.parse_time(message.get("StateChangeTime"), "Records[0].Sns.Message.StateChangeTime"),
        instance_ids=tuple(instance_ids),
        metric_math=bool(trigger.get("Metrics")) or "AlarmRule" in message,
    )
