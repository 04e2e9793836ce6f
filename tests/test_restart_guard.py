"""restart_guard: every refusal, cooldown, cap, concurrent claims and re-delivery (moto).

Shared by the other tests/test_restart_guard_*.py files: the `aws` fixture (moto table, state machine and a
clock a minute after the fixtures' alarm transition), `run_instance`, `put_alarm` and `alarm_event`.
Event parsing and configuration: test_restart_guard_input.py; the alarm confirmed at its source:
test_restart_guard_source.py; concurrent claims, re-delivery and the fleet budget: test_restart_guard_budget.py;
reasons as metrics: test_restart_guard_metrics.py; mutation tests: test_restart_guard_fuzz.py."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from unittest import mock

import opskit_common
import pytest
import time_machine
from moto import mock_aws
from opskit_tools.loader import load_event as read_fixture

TABLE = "opskit-restart-locks"
AMI = "ami-12c6146b"  # moto accepts any image id (its AMI catalogue is not loaded in tests)
FIXTURE_INSTANCE = "i-0abcd1234ef567890"
ALARM_TIME = datetime(2024, 5, 14, 9, 12, 41, 421000, tzinfo=UTC)

EVENTBRIDGE = read_fixture("restart_guard/eventbridge-alarm.json")  # AWS's documented example shape
ALARM_NAME = "opskit-restart-web-1-cpu"
OPTIONAL_ENV = (
    "MAX_CONCURRENT_RESTARTS",
    "MAX_RESTARTS_PER_HOUR",
    "NOTICE_TOPIC_ARN",
    "COOLDOWN_SECONDS",
    "MAX_RESTARTS",
    "WINDOW_SECONDS",
    "OPT_IN_TAG",
    "DRY_RUN",
    "LOCK_SECONDS",
    "MAX_ALARM_AGE_SECONDS",
    "ALLOWED_ALARM_NAMES",
)


def moto_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto with the guard's table and a state machine, its environment set, and the clock a minute after the
    fixtures' alarm transition (the guard ignores stale alarms). The `aws` fixture of every guard test file."""
    with time_machine.travel(ALARM_TIME + timedelta(minutes=1)), mock_aws():
        opskit_common.reset_clients()
        ddb = opskit_common.client("dynamodb")  # the handler's own cached clients: one per service and test
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "instance_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "instance_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sfn = opskit_common.client("stepfunctions")
        definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
        machine = sfn.create_state_machine(
            name="opskit-restart-workflow",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/opskit-restart-workflow-sfn",
        )["stateMachineArn"]
        monkeypatch.setenv("STATE_MACHINE_ARN", machine)
        monkeypatch.setenv("LOCK_TABLE", TABLE)
        for name in OPTIONAL_ENV:
            monkeypatch.delenv(name, raising=False)
        cloudwatch = opskit_common.client("cloudwatch")
        yield {"ec2": opskit_common.client("ec2"), "ddb": ddb, "sfn": sfn, "machine": machine, "cw": cloudwatch}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    yield from moto_guard(monkeypatch)


def run_instance(ec2: Any, tags: dict[str, str] | None = None, **kwargs: Any) -> str:
    spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}] if tags else []
    return ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, TagSpecifications=spec, **kwargs)["Instances"][0][
        "InstanceId"
    ]


def put_alarm(instance_id: str, name: str = ALARM_NAME, state: str = "ALARM", **metric: Any) -> None:
    """A moto CloudWatch alarm on the instance's CPU (or `metric` as put_metric_alarm arguments), in `state`."""
    cloudwatch = opskit_common.client("cloudwatch")
    if not metric:
        metric = {
            "Namespace": "AWS/EC2",
            "MetricName": "CPUUtilization",
            "Statistic": "Average",
            "Period": 60,
            "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
        }
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        EvaluationPeriods=5,
        DatapointsToAlarm=5,
        Threshold=80,
        ComparisonOperator="GreaterThanThreshold",
        **metric,
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")


def alarm_event(instance_id: str, when: datetime = ALARM_TIME, name: str = ALARM_NAME) -> dict[str, Any]:
    """The documented EventBridge alarm event (fixture), pointed at a moto instance and time; the alarm it
    names exists in moto, in ALARM, on that instance (the guard confirms it at its source)."""
    put_alarm(instance_id, name)
    event = copy.deepcopy(EVENTBRIDGE)
    event["detail"]["alarmName"] = name
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["InstanceId"] = instance_id
    event["detail"]["state"]["timestamp"] = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"
    return event


def executions(aws: dict[str, Any]) -> list[dict[str, Any]]:
    return aws["sfn"].list_executions(stateMachineArn=aws["machine"])["executions"]


# --- refusals --------------------------------------------------------------------------------------


def _refusal(aws: dict[str, Any], load_handler: Callable[[str], ModuleType], instance_id: str) -> dict[str, Any]:
    result = load_handler("restart_guard").handler(alarm_event(instance_id), None)
    assert result["decision"] == "skipped"
    assert executions(aws) == []
    assert "Item" not in aws["ddb"].get_item(TableName=TABLE, Key={"instance_id": {"S": instance_id}})
    return result


def test_missing_instance_is_refused(aws: dict[str, Any], load_handler: Callable[[str], ModuleType]) -> None:
    assert _refusal(aws, load_handler, "i-0123456789abcdef0")["reason"] == "instance not found"


def test_terminated_instance_is_refused(aws: dict[str, Any], load_handler: Callable[[str], ModuleType]) -> None:
    iid = run_instance(aws["ec2"])
    aws["ec2"].terminate_instances(InstanceIds=[iid])
    assert _refusal(aws, load_handler, iid)["reason"] == "instance is terminated, not running"


def test_stopped_instance_is_refused(aws: dict[str, Any], load_handler: Callable[[str], ModuleType]) -> None:
    iid = run_instance(aws["ec2"])
    aws["ec2"].stop_instances(InstanceIds=[iid])
    assert _refusal(aws, load_handler, iid)["reason"] == "instance is stopped, not running"


def test_spot_instance_is_refused(aws: dict[str, Any], load_handler: Callable[[str], ModuleType]) -> None:
    iid = run_instance(aws["ec2"], InstanceMarketOptions={"MarketType": "spot"})
    assert _refusal(aws, load_handler, iid)["reason"].startswith("spot instance")


def test_refusal_is_logged_with_its_reason_and_the_alarm(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], caplog: pytest.LogCaptureFixture
) -> None:
    iid = run_instance(aws["ec2"], InstanceMarketOptions={"MarketType": "spot"})
    with caplog.at_level("INFO"):
        result = _refusal(aws, load_handler, iid)
    (record,) = [r for r in caplog.records if getattr(r, "decision", None)]
    assert record.decision == "skipped"
    assert record.reason == result["reason"]
    assert record.instance_id == iid
    assert record.alarm_name == "opskit-restart-web-1-cpu"
    assert record.delivered_as == "eventbridge"


def test_instance_store_root_is_refused(aws: dict[str, Any], load_handler: Callable[[str], ModuleType]) -> None:
    """moto always reports an EBS root, so DescribeInstances is wrapped to report instance-store."""
    iid = run_instance(aws["ec2"])
    guard = load_handler("restart_guard")
    real = guard.describe_instance

    def instance_store(instance_id: str) -> dict[str, Any] | None:
        found = real(instance_id)
        assert found is not None and found["RootDeviceType"] == "ebs"
        return {**found, "RootDeviceType": "instance-store"}

    with mock.patch.object(guard, "describe_instance", instance_store):
        result = guard.handler(alarm_event(iid), None)
    assert result["decision"] == "skipped"
    assert result["reason"].startswith("instance-store root device")
    assert result["code"] == "InstanceStore"
    assert executions(aws) == []


def test_auto_scaling_member_is_refused(aws: dict[str, Any], load_handler: Callable[[str], ModuleType]) -> None:
    iid = run_instance(aws["ec2"], tags={"aws:autoscaling:groupName": "web-asg"})
    assert "Auto Scaling group web-asg" in _refusal(aws, load_handler, iid)["reason"]


def test_opt_in_tag_required_and_absent_is_refused_present_is_started(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPT_IN_TAG", "opskit:auto-restart=true")
    untagged = run_instance(aws["ec2"], tags={"opskit:auto-restart": "false"})
    assert _refusal(aws, load_handler, untagged)["reason"] == "opt-in tag opskit:auto-restart=true is absent"
    tagged = run_instance(aws["ec2"], tags={"opskit:auto-restart": "true"})
    assert load_handler("restart_guard").handler(alarm_event(tagged), None)["decision"] == "started"


# --- start, cooldown, cap --------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["eventbridge-alarm.json", "sns-alarm.json", "lambda-action-alarm.json"])
def test_healthy_instance_starts_the_workflow_with_its_id(
    aws: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    load_event: Callable[[str], Any],
    fixture: str,
) -> None:
    iid = run_instance(aws["ec2"])
    put_alarm(iid)
    raw = json.dumps(load_event(f"restart_guard/{fixture}")).replace(FIXTURE_INSTANCE, iid)
    with time_machine.travel(ALARM_TIME, tick=False):
        result = load_handler("restart_guard").handler(json.loads(raw), None)
    name = f"{iid}-20240514T091241421Z"
    assert result == {
        "decision": "started",
        "code": "Started",
        "reason": "restart workflow started",
        "instance_id": iid,
        "execution_arn": f"{aws['machine'].replace(':stateMachine:', ':execution:')}:{name}",
    }
    described = aws["sfn"].describe_execution(executionArn=result["execution_arn"])
    assert json.loads(described["input"])["InstanceId"] == iid
    item = aws["ddb"].get_item(TableName=TABLE, Key={"instance_id": {"S": iid}})["Item"]
    now = int(ALARM_TIME.timestamp())
    assert item["lock_owner"]["S"] == name
    assert item["lock_until"]["N"] == str(now + 3600)
    assert item["restarts"]["L"] == [{"N": str(now)}]
    assert item["expires_at"]["N"] == str(now + 86400 + 1800)


def test_lock_held_by_running_restart_refuses_second_alarm(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COOLDOWN_SECONDS", "0")
    iid = run_instance(aws["ec2"])
    guard = load_handler("restart_guard")
    with time_machine.travel(ALARM_TIME, tick=False):
        assert guard.handler(alarm_event(iid), None)["decision"] == "started"
    with time_machine.travel(ALARM_TIME.timestamp() + 120, tick=False):
        second = guard.handler(alarm_event(iid, datetime.fromtimestamp(ALARM_TIME.timestamp() + 120, UTC)), None)
    assert second["decision"] == "skipped"
    assert second["reason"].endswith("is still in progress")
    assert len(executions(aws)) == 1


def release_lock(aws: dict[str, Any], iid: str) -> None:
    """What the state machine's ReleaseLock step does at the end of a run."""
    aws["ddb"].update_item(
        TableName=TABLE, Key={"instance_id": {"S": iid}}, UpdateExpression="REMOVE lock_owner, lock_until"
    )


def test_cooldown_refuses_until_it_has_elapsed(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COOLDOWN_SECONDS", "600")
    iid = run_instance(aws["ec2"])
    guard = load_handler("restart_guard")
    start = ALARM_TIME.timestamp()
    results = []
    for offset in (0, 599, 600):
        when = datetime.fromtimestamp(start + offset, UTC)
        with time_machine.travel(when, tick=False):
            results.append(guard.handler(alarm_event(iid, when), None))
        release_lock(aws, iid)
    assert [r["decision"] for r in results] == ["started", "skipped", "started"]
    assert results[1]["reason"] == "in cooldown for 1 more seconds"
    assert len(executions(aws)) == 2


def test_cap_refuses_after_max_restarts_in_window_and_recovers_when_they_age_out(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COOLDOWN_SECONDS", "60")
    monkeypatch.setenv("MAX_RESTARTS", "2")
    monkeypatch.setenv("WINDOW_SECONDS", "3600")
    iid = run_instance(aws["ec2"])
    guard = load_handler("restart_guard")
    start = ALARM_TIME.timestamp()
    decisions = {}
    for offset in (0, 100, 200, 3601):
        when = datetime.fromtimestamp(start + offset, UTC)
        with time_machine.travel(when, tick=False):
            decisions[offset] = guard.handler(alarm_event(iid, when), None)
        release_lock(aws, iid)
    assert [d["decision"] for d in decisions.values()] == ["started", "started", "skipped", "started"]
    assert decisions[200]["reason"] == "restart cap reached: 2 restarts in the last 3600 seconds"
    item = aws["ddb"].get_item(TableName=TABLE, Key={"instance_id": {"S": iid}})["Item"]
    # the restart at +0 aged out of the window; +100 and +3601 remain
    assert item["restarts"]["L"] == [{"N": str(int(start) + 100)}, {"N": str(int(start) + 3601)}]


def test_default_cap_is_three_restarts_per_day(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defaults (no COOLDOWN_SECONDS/MAX_RESTARTS/WINDOW_SECONDS): 30 min apart, the fourth within 24 h is refused."""
    iid = run_instance(aws["ec2"])
    guard = load_handler("restart_guard")
    decisions = []
    for offset in (0, 1800, 3600, 5400, 86400 + 1):
        when = datetime.fromtimestamp(ALARM_TIME.timestamp() + offset, UTC)
        with time_machine.travel(when, tick=False):
            decisions.append(guard.handler(alarm_event(iid, when), None)["reason"])
        release_lock(aws, iid)
    assert decisions[3] == "restart cap reached: 3 restarts in the last 86400 seconds"
    assert [d == "restart workflow started" for d in decisions] == [True, True, True, False, True]


def test_expired_lock_of_a_dead_execution_does_not_block_forever(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COOLDOWN_SECONDS", "60")
    monkeypatch.setenv("LOCK_SECONDS", "900")
    iid = run_instance(aws["ec2"])
    guard = load_handler("restart_guard")
    start = ALARM_TIME.timestamp()
    outcomes = []
    for offset in (0, 899, 900):  # never released: the execution died without its ReleaseLock step
        when = datetime.fromtimestamp(start + offset, UTC)
        with time_machine.travel(when, tick=False):
            outcomes.append(guard.handler(alarm_event(iid, when), None)["decision"])
    assert outcomes == ["started", "skipped", "started"]


def test_stale_alarm_is_refused_before_any_aws_call(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delivery retried long after the transition must not restart an instance that may have recovered."""
    monkeypatch.setenv("MAX_ALARM_AGE_SECONDS", "600")
    iid = run_instance(aws["ec2"])
    guard = load_handler("restart_guard")
    event = alarm_event(iid)
    no_aws = mock.patch.object(opskit_common, "client", side_effect=AssertionError("no AWS call expected"))
    with time_machine.travel(ALARM_TIME + timedelta(seconds=601), tick=False), no_aws:
        stale = guard.handler(event, None)
    with time_machine.travel(ALARM_TIME + timedelta(seconds=600), tick=False):
        fresh = guard.handler(alarm_event(iid), None)
    assert stale["decision"] == "skipped"
    assert stale["reason"] == "stale alarm: it entered ALARM 601 seconds ago, more than 600"
    assert stale["instance_id"] == iid
    assert fresh["decision"] == "started"


def test_dry_run_decides_but_neither_claims_nor_starts(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRY_RUN", "true")
    iid = run_instance(aws["ec2"])
    result = load_handler("restart_guard").handler(alarm_event(iid), None)
    assert result["decision"] == "skipped"
    assert result["reason"] == f"dry run: would start {iid}-20240514T091241421Z"
    assert executions(aws) == []
    assert "Item" not in aws["ddb"].get_item(TableName=TABLE, Key={"instance_id": {"S": iid}})
