"""restart_guard input and configuration: the three delivery shapes, malformed events (InputError naming the
field, before any AWS call), refusals decided from the event alone, bounded messages, and the environment
checked at cold start (ConfigError before any AWS call)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from types import ModuleType
from typing import Any
from unittest import mock

import opskit_common
import pytest
import time_machine
from fuzz import mutating, recorded_calls
from test_restart_guard import (
    ALARM_TIME,
    FIXTURE_INSTANCE,
    TABLE,
    alarm_event,
    executions,
    moto_guard,
    run_instance,
)

LAMBDA_ACTION = "restart_guard/lambda-action-alarm.json"
EVENTBRIDGE = "restart_guard/eventbridge-alarm.json"
SNS = "restart_guard/sns-alarm.json"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    yield from moto_guard(monkeypatch)


def no_aws() -> Any:
    return mock.patch.object(opskit_common, "client", side_effect=AssertionError("no AWS call expected"))


def refused_input(guard: ModuleType, event: Any, match: str) -> str:
    with no_aws(), pytest.raises(opskit_common.InputError, match=match) as raised:
        guard.handler(event, None)
    return str(raised.value)


def sns_event(load_event: Callable[[str], Any], **changes: Any) -> dict[str, Any]:
    """The SNS fixture with fields of its JSON Message replaced (or the Message text itself, as `Message=`)."""
    event = load_event(SNS)
    if "Message" in changes:
        event["Records"][0]["Sns"]["Message"] = changes["Message"]
        return event
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    message.update(changes)
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    return event


# --- event shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "shape"), [(EVENTBRIDGE, "eventbridge"), (SNS, "sns"), (LAMBDA_ACTION, "lambda-action")]
)
def test_each_delivery_shape_yields_instance_alarm_and_time(
    load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any], fixture: str, shape: str
) -> None:
    alarm = load_handler("restart_guard").parse_alarm(load_event(fixture))
    assert alarm.shape == shape
    assert alarm.name == "opskit-restart-web-1-cpu"
    assert alarm.state == "ALARM"
    assert alarm.instance_ids == (FIXTURE_INSTANCE,)
    assert alarm.changed_at == ALARM_TIME
    assert not alarm.metric_math


def test_the_same_transition_gets_the_same_execution_name_whichever_way_it_arrives(
    load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any]
) -> None:
    guard = load_handler("restart_guard")
    names = {
        guard.execution_name(FIXTURE_INSTANCE, guard.parse_alarm(load_event(f)).changed_at)
        for f in (EVENTBRIDGE, SNS, LAMBDA_ACTION)
    }
    assert names == {"i-0abcd1234ef567890-20240514T091241421Z"}


def test_execution_name_is_bounded_and_uses_allowed_characters(load_handler: Callable[[str], ModuleType]) -> None:
    name = load_handler("restart_guard").execution_name("i-0abcd1234ef567890" + "x:y/z" * 30, ALARM_TIME)
    assert len(name) == 80
    assert all(c.isalnum() or c in "-_" for c in name)


# --- malformed events: InputError naming the field, before any AWS call ------------------------------

ACTION = {"source": "aws.cloudwatch"}


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "event must be a JSON object"),
        ({"foo": "bar"}, "unrecognised event"),
        ({"Records": []}, "exactly one record"),
        ({"Records": [{"Sns": {"Message": "not json"}}]}, r"Records\[0\]\.Sns\.Message is not valid JSON"),
        ({**ACTION, "alarmData": {"alarmName": "x", "state": {"value": "ALARM"}}}, "state.timestamp must be a string"),
        (
            {**ACTION, "alarmData": {"alarmName": "x", "state": {"value": "ALARM", "timestamp": "yesterday"}}},
            "alarmData.state.timestamp 'yesterday' is not an ISO-8601 time",
        ),
        ({"alarmData": {"alarmName": "x"}}, "source must be 'aws.cloudwatch'"),
        ({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "detail": "x"}, "detail must"),
    ],
)
def test_malformed_events_raise_input_error_before_any_aws_call(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], event: Any, message: str
) -> None:
    refused_input(load_handler("restart_guard"), event, message)


@pytest.mark.parametrize("bad", [3, "metric", [1, 2]])
@pytest.mark.parametrize("key", ["metricStat", "metric"])
@pytest.mark.parametrize(("fixture", "where"), [(EVENTBRIDGE, "detail"), (LAMBDA_ACTION, "alarmData")])
def test_metric_stat_or_metric_of_the_wrong_type_names_the_field(
    aws: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    load_event: Callable[[str], Any],
    fixture: str,
    where: str,
    key: str,
    bad: Any,
) -> None:
    """Used to raise AttributeError ('int' object has no attribute 'get')."""
    event = load_event(fixture)
    metric = event[where]["configuration"]["metrics"][0]
    if key == "metricStat":
        metric["metricStat"] = bad
        field = f"{where}.configuration.metrics[0].metricStat"
    else:
        metric["metricStat"]["metric"] = bad
        field = f"{where}.configuration.metrics[0].metricStat.metric"
    refused_input(load_handler("restart_guard"), event, f"^{re.escape(field)} must be a JSON object")


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_timestamps_outside_the_representable_range_name_the_field(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any], stamp: str
) -> None:
    """Used to raise OverflowError when the offset moved the time out of datetime's range."""
    guard = load_handler("restart_guard")
    event = load_event(EVENTBRIDGE)
    event["detail"]["state"]["timestamp"] = stamp
    refused_input(guard, event, r"^detail\.state\.timestamp .* is not an ISO-8601 time")
    refused_input(guard, sns_event(load_event, StateChangeTime=stamp), r"Message\.StateChangeTime .* is not an ISO")


def test_deeply_nested_sns_message_is_refused(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any]
) -> None:
    """Used to raise RecursionError inside json.loads."""
    deep = sns_event(load_event, Message='{"a":' * 5_000 + "1" + "}" * 5_000)  # 30 KB, past the recursion limit
    message = refused_input(load_handler("restart_guard"), deep, r"^Records\[0\]\.Sns\.Message is nested too deeply")
    assert len(message) < 400


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"source": "custom.fake"}, "source must be 'aws.cloudwatch', got 'custom.fake'"),
        ({"source": None}, "source must be 'aws.cloudwatch'"),
        ({"detail-type": "EC2 Instance State-change Notification"}, "detail-type must be 'CloudWatch Alarm"),
    ],
)
def test_eventbridge_source_and_detail_type_are_checked(
    aws: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    load_event: Callable[[str], Any],
    change: dict[str, Any],
    message: str,
) -> None:
    """An event on the bus that only looks like an alarm (another source, another detail-type) is refused."""
    event = {**load_event(EVENTBRIDGE), **change}
    refused_input(load_handler("restart_guard"), event, message)


def test_alarm_names_longer_than_cloudwatch_allows_are_refused(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any]
) -> None:
    guard = load_handler("restart_guard")
    event = load_event(EVENTBRIDGE)
    event["detail"]["alarmName"] = "a" * 255
    assert guard.parse_alarm(event).name == "a" * 255  # CloudWatch's maximum
    event["detail"]["alarmName"] = "a" * 256
    refused_input(guard, event, r"^detail\.alarmName is longer than 255 characters")
    refused_input(guard, sns_event(load_event, AlarmName="a" * 256), r"Message\.AlarmName is longer than 255")
    refused_input(guard, sns_event(load_event, AlarmName="cpu\n"), r"Message\.AlarmName .* is not valid")


def test_a_dimension_named_twice_is_refused_not_merged(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any]
) -> None:
    """10,000 copies of the InstanceId dimension used to be merged into one instance and restart it."""
    guard = load_handler("restart_guard")
    dimension = {"value": FIXTURE_INSTANCE, "name": "InstanceId"}
    refused_input(guard, sns_event(load_event, Trigger={"Dimensions": [dimension] * 10_000}), "longer than 262144")
    refused_input(guard, sns_event(load_event, Trigger={"Dimensions": [dimension] * 1_000}), "at most 30")
    twice = sns_event(load_event, Trigger={"Dimensions": [dimension, dimension]})
    refused_input(guard, twice, "names InstanceId 2 times")


# --- refusals decided from the event alone -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("eventbridge-ok.json", "alarm state is OK, not ALARM"),
        ("eventbridge-metric-math.json", "no single InstanceId dimension"),
        ("lambda-action-composite.json", "no single InstanceId dimension"),
    ],
)
def test_alarms_that_do_not_name_one_instance_in_alarm_are_refused_without_aws_calls(
    aws: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    load_event: Callable[[str], Any],
    fixture: str,
    reason: str,
) -> None:
    with no_aws():
        result = load_handler("restart_guard").handler(load_event(f"restart_guard/{fixture}"), None)
    assert result["decision"] == "skipped"
    assert reason in result["reason"]


def test_sns_alarm_without_dimensions_is_refused(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any]
) -> None:
    event = load_event(SNS)
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    message["Trigger"]["Dimensions"] = []
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    with no_aws():
        result = load_handler("restart_guard").handler(event, None)
    assert result == {
        "decision": "skipped",
        "code": "NotSingleInstance",
        "reason": "alarm has no single InstanceId dimension (metric math, composite or multi-instance alarm)",
        "instance_id": None,
        "execution_arn": None,
    }


@pytest.mark.parametrize(
    "instance_id",
    ["i-0123456789", "i-0123456789abcdef0\n", "i-0123456789abcdef", "I-0123456789ABCDEF0", "i-0123456789abcdef01"],
)
def test_instance_ids_are_exactly_8_or_17_hex_digits(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any], instance_id: str
) -> None:
    event = load_event(EVENTBRIDGE)
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["InstanceId"] = instance_id
    with no_aws():
        result = load_handler("restart_guard").handler(event, None)
    assert result["decision"] == "skipped"
    assert result["reason"] == f"InstanceId dimension {instance_id!r} is not an EC2 instance id"
    assert result["instance_id"] is None


def test_messages_and_logs_are_bounded(
    aws: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    load_event: Callable[[str], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = load_handler("restart_guard")
    event = load_event(EVENTBRIDGE)
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["InstanceId"] = "x" * 1024
    with caplog.at_level("INFO"), no_aws():
        result = guard.handler(event, None)
    assert result["reason"].startswith("InstanceId dimension 'xxxx")
    assert len(result["reason"]) < 200
    (record,) = [r for r in caplog.records if getattr(r, "decision", None)]
    assert len(record.getMessage()) < 250 and len(record.reason) < 200
    huge = refused_input(guard, {**event, "source": "x" * 100_000}, "source must be")
    assert len(huge) < 300


def test_alarm_time_far_in_the_future_is_refused(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType]
) -> None:
    """A transition time hours ahead is not a real transition (and would never turn stale)."""
    iid = run_instance(aws["ec2"])
    guard = load_handler("restart_guard")
    with time_machine.travel(ALARM_TIME - timedelta(hours=3), tick=False):
        ahead = guard.handler(alarm_event(iid), None)
    with time_machine.travel(ALARM_TIME - timedelta(seconds=300), tick=False):
        skew = guard.handler(alarm_event(iid), None)  # within the allowed clock skew
    assert ahead["decision"] == "skipped"
    assert ahead["reason"] == "alarm time 2024-05-14T09:12:41.421000+00:00 is 10800 seconds in the future"
    assert ahead["code"] == "FutureTime"
    assert skew["decision"] == "started"


# --- configuration, checked at cold start ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("STATE_MACHINE_ARN", "not-an-arn", "STATE_MACHINE_ARN='not-an-arn' is not valid"),
        ("STATE_MACHINE_ARN", "arn:x:stateMachine:y", "is not valid"),
        ("STATE_MACHINE_ARN", "arn:aws:states:eu-central-1:123456789012:stateMachine:m\n", "is not valid"),
        ("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:m", "not in this function's region"),
        ("LOCK_TABLE", "", "LOCK_TABLE='' is not valid"),
        ("LOCK_TABLE", "locks table", "is not valid"),
        ("MAX_RESTARTS", "0", "between 1 and 100"),
        ("MAX_RESTARTS", "101", "between 1 and 100"),
        ("COOLDOWN_SECONDS", "1e3", "is not a whole number"),
        ("COOLDOWN_SECONDS", "1180591620717411303424", "is not a whole number"),
        ("WINDOW_SECONDS", "31536001", "between 60 and 31536000"),
        ("LOCK_SECONDS", "3900.5", "is not a whole number"),
        ("MAX_ALARM_AGE_SECONDS", " 600", "is not a whole number"),
        ("OPT_IN_TAG", "novalue", "must be Key=Value"),
        ("OPT_IN_TAG", "opskit:auto-restart=true\n", "must be Key=Value"),
        ("OPT_IN_TAG", " opskit:auto-restart=true", "must be Key=Value"),
        ("OPT_IN_TAG", "k" * 129 + "=true", "must be Key=Value"),
        ("ALLOWED_ALARM_NAMES", "not json", "ALLOWED_ALARM_NAMES is not valid JSON"),
        ("ALLOWED_ALARM_NAMES", "[]", "must be a JSON list of alarm names"),
        ("ALLOWED_ALARM_NAMES", '["ok", 1]', "must be a JSON list of alarm names"),
        ("ALLOWED_ALARM_NAMES", json.dumps(["a" * 256]), "must be a JSON list of alarm names"),
        ("ALLOWED_ALARM_NAMES", "[" * 100 + "]" * 100, "nested deeper than 32 levels"),
        ("DRY_RUN", "maybe", "not a boolean"),
        ("DRY_RUN", "x" * 100_000, "not a boolean"),
    ],
)
def test_bad_configuration_is_a_config_error_before_any_aws_call(
    aws: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(name, value)
    guard = load_handler("restart_guard")
    with no_aws(), pytest.raises(opskit_common.ConfigError, match=message) as raised:
        guard.handler([], None)  # the environment is checked first, even for a malformed event
    assert len(str(raised.value)) < 500


def test_malformed_state_machine_arn_no_longer_spends_a_restart(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`arn:x:stateMachine:y` used to pass the check: the claim was written, then StartExecution failed,
    leaving the restart counted and the lock held."""
    iid = run_instance(aws["ec2"])
    event = alarm_event(iid)
    monkeypatch.setenv("STATE_MACHINE_ARN", "arn:x:stateMachine:y")
    with pytest.raises(opskit_common.ConfigError):
        load_handler("restart_guard").handler(event, None)
    assert "Item" not in aws["ddb"].get_item(TableName=TABLE, Key={"instance_id": {"S": iid}})
    assert executions(aws) == []


def test_lock_table_that_does_not_exist_is_a_config_error_before_any_write(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a read can tell that a well-formed LOCK_TABLE is missing: that read fails as ConfigError."""
    iid = run_instance(aws["ec2"])
    event = alarm_event(iid)
    monkeypatch.setenv("LOCK_TABLE", "no-such-table")
    with recorded_calls() as calls, pytest.raises(opskit_common.ConfigError, match="LOCK_TABLE='no-such-table'"):
        load_handler("restart_guard").handler(event, None)
    assert "dynamodb:GetItem" in calls
    assert mutating(calls) == []


def test_allow_list_and_settings_are_parsed(load_handler: Callable[[str], ModuleType]) -> None:
    cfg = load_handler("restart_guard").Config.from_env(
        {
            "STATE_MACHINE_ARN": "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:m",
            "LOCK_TABLE": "t.1-2_3",
            "OPT_IN_TAG": "opskit:auto-restart=a = b",
            "ALLOWED_ALARM_NAMES": json.dumps(["b", "a", "a"]),
            "DRY_RUN": "true",
            "COOLDOWN_SECONDS": "0",
        }
    )
    assert cfg.allowed_alarm_names == frozenset({"a", "b"})
    assert cfg.opt_in_tag == ("opskit:auto-restart", "a = b")
    assert (cfg.dry_run, cfg.cooldown_seconds, cfg.lock_table) == (True, 0, "t.1-2_3")
