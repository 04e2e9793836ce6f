"""restart_guard confirms every alarm at its source before it claims a restart (moto CloudWatch alarms).

With alarm_topic_arns (or Lambda alarm actions) anyone who may publish to the topic can describe an ALARM
that never happened. The guard reads the alarm with cloudwatch:DescribeAlarms: it must exist in this account
and region, be in ALARM now and watch exactly the InstanceId the event names; and, with ALLOWED_ALARM_NAMES,
be on the allow-list. Otherwise it refuses with a reason: no claim, no execution."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from fuzz import recorded_calls
from test_restart_guard import ALARM_NAME, FIXTURE_INSTANCE, TABLE, executions, moto_guard, put_alarm, run_instance

SNS = "restart_guard/sns-alarm.json"
NOT_FOUND = f"alarm {ALARM_NAME!r} is not a metric alarm of this account and region"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    yield from moto_guard(monkeypatch)


def published(load_event: Callable[[str], Any], instance_id: str, name: str = ALARM_NAME) -> dict[str, Any]:
    """An SNS alarm notification (the fixture) for the instance: what anyone allowed to publish can send."""
    raw = json.dumps(load_event(SNS)).replace(FIXTURE_INSTANCE, instance_id).replace(ALARM_NAME, name)
    return json.loads(raw)


def refused(aws: dict[str, Any], guard: ModuleType, event: dict[str, Any], instance_id: str) -> str:
    result = guard.handler(event, None)
    assert result["decision"] == "skipped"
    assert result["instance_id"] == instance_id
    assert executions(aws) == []
    assert "Item" not in aws["ddb"].get_item(TableName=TABLE, Key={"instance_id": {"S": instance_id}})
    return str(result["reason"])


def test_alarm_that_does_not_exist_is_refused(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any]
) -> None:
    iid = run_instance(aws["ec2"])
    assert refused(aws, load_handler("restart_guard"), published(load_event, iid), iid) == NOT_FOUND


def test_alarm_of_another_region_is_refused(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any]
) -> None:
    """Same name, same instance id, in ALARM, but in us-east-1: this region has no such alarm."""
    iid = run_instance(aws["ec2"])
    elsewhere = boto3.client("cloudwatch", region_name="us-east-1")
    elsewhere.put_metric_alarm(
        AlarmName=ALARM_NAME,
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=80,
        ComparisonOperator="GreaterThanThreshold",
        Dimensions=[{"Name": "InstanceId", "Value": iid}],
    )
    elsewhere.set_alarm_state(AlarmName=ALARM_NAME, StateValue="ALARM", StateReason="test")
    assert refused(aws, load_handler("restart_guard"), published(load_event, iid), iid) == NOT_FOUND


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_alarm_that_is_not_in_alarm_now_is_refused(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any], state: str
) -> None:
    iid = run_instance(aws["ec2"])
    put_alarm(iid, state=state)
    reason = refused(aws, load_handler("restart_guard"), published(load_event, iid), iid)
    assert reason == f"alarm {ALARM_NAME!r} is {state} now, not ALARM"


def test_alarm_on_another_instance_is_refused(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any]
) -> None:
    """A real alarm in ALARM, but the event names a different instance than the one the alarm watches."""
    watched, victim = run_instance(aws["ec2"]), run_instance(aws["ec2"])
    put_alarm(watched)
    reason = refused(aws, load_handler("restart_guard"), published(load_event, victim), victim)
    assert reason == f"alarm {ALARM_NAME!r} watches InstanceId ['{watched}'], not {victim}"


def test_metric_math_alarm_over_two_instances_is_refused(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any]
) -> None:
    """The event claims a plain metric alarm; the real alarm is metric math over two instances."""
    first, second = run_instance(aws["ec2"]), run_instance(aws["ec2"])
    put_alarm(first, Metrics=[_expression("MAX([m1, m2])"), _cpu("m1", first), _cpu("m2", second)])
    reason = refused(aws, load_handler("restart_guard"), published(load_event, first), first)
    assert reason == f"alarm {ALARM_NAME!r} watches InstanceId {sorted([first, second])}, not {first}"


def test_alarm_defined_by_metrics_on_the_one_instance_is_confirmed(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any]
) -> None:
    """Alarms may give their metric as Metrics[] (MetricStat) instead of Dimensions: the same instance counts."""
    iid = run_instance(aws["ec2"])
    put_alarm(iid, Metrics=[_cpu("m1", iid, return_data=True)])
    assert load_handler("restart_guard").handler(published(load_event, iid), None)["decision"] == "started"


def test_alarm_is_confirmed_before_the_instance_is_claimed(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any]
) -> None:
    iid = run_instance(aws["ec2"])
    put_alarm(iid)
    with recorded_calls() as calls:
        result = load_handler("restart_guard").handler(published(load_event, iid), None)
    assert result["decision"] == "started"
    assert calls.index("cloudwatch:DescribeAlarms") < calls.index("dynamodb:TransactWriteItems")
    assert calls.index("cloudwatch:DescribeAlarms") < calls.index("stepfunctions:StartExecution")


def test_allow_list_refuses_other_alarms_without_any_aws_call(
    aws: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    load_event: Callable[[str], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    iid = run_instance(aws["ec2"])
    put_alarm(iid)
    put_alarm(iid, name="ops-web-cpu")
    monkeypatch.setenv("ALLOWED_ALARM_NAMES", json.dumps(["opskit-restart-web-2-cpu", "ops-web-cpu"]))
    guard = load_handler("restart_guard")
    with recorded_calls() as calls:
        result = guard.handler(published(load_event, iid), None)
    assert result["reason"] == f"alarm {ALARM_NAME!r} is not one of the allowed alarms"
    assert calls == []
    assert executions(aws) == []
    assert guard.handler(published(load_event, iid, name="ops-web-cpu"), None)["decision"] == "started"


def test_without_allow_list_any_confirmed_alarm_is_accepted(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any]
) -> None:
    iid = run_instance(aws["ec2"])
    put_alarm(iid, name="someone-elses-cpu-alarm")
    event = published(load_event, iid, name="someone-elses-cpu-alarm")
    assert load_handler("restart_guard").handler(event, None)["decision"] == "started"


def _cpu(metric_id: str, instance_id: str, return_data: bool = False) -> dict[str, Any]:
    return {
        "Id": metric_id,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/EC2",
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
            },
            "Period": 60,
            "Stat": "Average",
        },
        "ReturnData": return_data,
    }


def _expression(expression: str) -> dict[str, Any]:
    return {"Id": "e1", "Expression": expression, "ReturnData": True}
