"""restart.asl.json: the definition Terraform deploys, rendered with opskit_tools.tftemplate, linted with
statelint and executed by moto's Step Functions interpreter against moto EC2, DynamoDB and SNS. (The alarm
pattern and the template variables Terraform passes: test_restart_module.py.)

Waits are rendered as 0 s and poll bounds as 2, so each execution finishes in well under a second.
Failure injection patches moto's EC2 instance model (the state machine's aws-sdk calls go through it).

Two adjustments to moto's interpreter, both in the `aws` fixture:
- moto names a failed aws-sdk EC2 call `ec2.ec2Exception`; Step Functions names it `Ec2.Ec2Exception` (EC2 has
  no modelled exceptions, so every EC2 error code, throttling included, arrives under that one name with EC2's
  message in the cause). The fixture teaches moto AWS's spelling so the Retry/Catch rules are exercised as
  deployed.
- moto really sleeps for Retry intervals; the fixture records the requested intervals instead of sleeping.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import opskit_common
import pytest
from moto import mock_aws
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.instances import Instance
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk
from opskit_tools import tftemplate
from statelint.config import Config as LintConfig
from statelint.linter import Linter

MODULE = Path(__file__).resolve().parents[1] / "modules" / "restart-workflow"
ASL = MODULE / "restart.asl.json"
TABLE = "opskit-restart-workflow-locks"
TAG = "opskit:stopped-by"
AMI = "ami-12c6146b"


def render(**overrides: Any) -> str:
    values: dict[str, Any] = {
        "poll_interval_seconds": 0,
        "max_stop_polls": 2,
        "max_start_polls": 2,
        "max_status_polls": 2,
        "execution_timeout_seconds": 120,
        "table_name": TABLE,
        "topic_arn": "arn:aws:sns:eu-central-1:123456789012:opskit-restart-workflow",
        "notify_on_success": True,
    }
    values.update(overrides)
    return tftemplate.render_file(ASL, **values)


# --- static ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        {},  # the test rendering
        {"poll_interval_seconds": 15, "max_stop_polls": 20, "max_start_polls": 20, "max_status_polls": 40},  # defaults
        {"notify_on_success": False},
    ],
)
def test_rendered_definition_passes_statelint(values: dict[str, Any]) -> None:
    assert Linter.validate(render(**values), LintConfig()) == []


def test_statelint_catches_a_broken_transition() -> None:
    """Guards the lint test above: statelint really checks this definition's transitions."""
    broken = render().replace('"Next": "StopInstance"', '"Next": "NoSuchState"')
    assert any("NoSuchState" in problem for problem in Linter.validate(broken, LintConfig()))


def test_every_ec2_call_is_an_aws_sdk_integration_and_there_are_no_lambdas() -> None:
    definition = json.loads(render())
    resources = {s["Resource"] for s in definition["States"].values() if s["Type"] == "Task"}
    assert not any(":lambda:" in r for r in resources)
    assert {
        "arn:aws:states:::aws-sdk:ec2:createTags",
        "arn:aws:states:::aws-sdk:ec2:stopInstances",
        "arn:aws:states:::aws-sdk:ec2:describeInstances",
        "arn:aws:states:::aws-sdk:ec2:startInstances",
        "arn:aws:states:::aws-sdk:ec2:describeInstanceStatus",
        "arn:aws:states:::aws-sdk:ec2:deleteTags",
    } <= resources


def test_every_task_failure_is_caught() -> None:
    definition = json.loads(render())
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            assert any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])), name


# --- executions under moto -------------------------------------------------------------------------


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    retry_sleeps: list[float] = []
    with (
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
        mock.patch.dict(state_task_service_aws_sdk._SERVICE_ERROR_NAMES, {"ec2": "Ec2"}),
        mock.patch.object(retrier_decl, "time", mock.Mock(sleep=retry_sleeps.append)),
    ):
        opskit_common.reset_clients()
        clients = {name: opskit_common.client(name) for name in ("ec2", "dynamodb", "sns", "sqs", "stepfunctions")}
        clients["dynamodb"].create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "instance_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "instance_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        topic = clients["sns"].create_topic(Name="opskit-restart-workflow")["TopicArn"]
        queue = clients["sqs"].create_queue(QueueName="notifications")["QueueUrl"]
        queue_arn = clients["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        clients["sns"].subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )
        instance = clients["ec2"].run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        yield {**clients, "topic": topic, "queue": queue, "instance": instance, "retry_sleeps": retry_sleeps}


def execute(
    aws: dict[str, Any], name: str = "run-1", definition: str | None = None, **render_overrides: Any
) -> dict[str, Any]:
    """Claim the lock as the guard would, run the state machine to completion, return the outcome."""
    iid = aws["instance"]
    aws["dynamodb"].put_item(
        TableName=TABLE,
        Item={"instance_id": {"S": iid}, "lock_owner": {"S": name}, "lock_until": {"N": "9999999999"}},
    )
    machine = aws["stepfunctions"].create_state_machine(
        name="opskit-restart-workflow",
        definition=definition or render(topic_arn=aws["topic"], **render_overrides),
        roleArn="arn:aws:iam::123456789012:role/opskit-restart-workflow-sfn",
    )["stateMachineArn"]
    arn = aws["stepfunctions"].start_execution(
        stateMachineArn=machine,
        name=name,
        input=json.dumps({"InstanceId": iid, "AlarmName": "opskit-restart-web-1-cpu"}),
    )["executionArn"]
    deadline = time.monotonic() + 30  # a hang guard, not a speed assertion
    while (described := aws["stepfunctions"].describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution did not finish"
        time.sleep(0.02)
    events = aws["stepfunctions"].get_execution_history(executionArn=arn)["events"]
    messages = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10).get("Messages", [])
    instance = aws["ec2"].describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    return {
        "status": described["status"],
        "entered": [e["stateEnteredEventDetails"]["name"] if "stateEnteredEventDetails" in e else None for e in events],
        "error": described.get("error"),
        "calls": [
            json.loads(e["taskScheduledEventDetails"]["parameters"])
            | {"_api": e["taskScheduledEventDetails"]["resource"]}
            for e in events
            if e["type"] == "TaskScheduled"
        ],
        "messages": [json.loads(m["Body"]) for m in messages],
        "state": instance["State"]["Name"],
        "tags": opskit_common.tags_to_dict(instance.get("Tags")),
        "lock": aws["dynamodb"].get_item(TableName=TABLE, Key={"instance_id": {"S": iid}})["Item"],
    }


def test_happy_path_restarts_untags_releases_and_notifies(aws: dict[str, Any]) -> None:
    outcome = execute(aws)
    assert outcome["status"] == "SUCCEEDED"
    assert outcome["state"] == "running"
    assert TAG not in outcome["tags"]
    assert [c["_api"] for c in outcome["calls"]] == [
        "createTags",
        "stopInstances",
        "describeInstances",
        "startInstances",
        "describeInstances",
        "deleteTags",
        "describeInstanceStatus",
        "updateItem",
        "publish",
    ]
    assert outcome["calls"][0]["Tags"] == [{"Key": TAG, "Value": "restart-workflow"}]  # tagged before the stop
    assert "Force" not in outcome["calls"][1]
    assert "lock_owner" not in outcome["lock"] and "lock_until" not in outcome["lock"]
    assert outcome["lock"]["last_outcome"] == {"S": "SUCCEEDED"}
    (message,) = outcome["messages"]
    assert message["outcome"] == "SUCCEEDED"
    assert message["instance"] == aws["instance"]
    assert message["forcedStop"] is False


def test_success_notification_can_be_turned_off(aws: dict[str, Any]) -> None:
    outcome = execute(aws, notify_on_success=False)
    assert outcome["status"] == "SUCCEEDED"
    assert outcome["messages"] == []
    assert "publish" not in [c["_api"] for c in outcome["calls"]]


def test_lock_held_by_someone_else_is_not_released(aws: dict[str, Any]) -> None:
    """Release is conditional on the execution name: a late run cannot free a newer run's lock."""
    iid = aws["instance"]
    original_put = aws["dynamodb"].put_item

    def claimed_by_other(**kwargs: Any) -> Any:
        kwargs["Item"]["lock_owner"] = {"S": "newer-run"}
        return original_put(**kwargs)

    with mock.patch.object(aws["dynamodb"], "put_item", side_effect=claimed_by_other):
        outcome = execute(aws)
    assert outcome["status"] == "SUCCEEDED"
    assert outcome["lock"]["lock_owner"] == {"S": "newer-run"}
    assert outcome["lock"]["instance_id"] == {"S": iid}


def _stuck_stopping(self: Instance) -> Any:
    previous = type(self._state)(self._state.name, self._state.code)
    self._state.name, self._state.code = "stopping", 64
    return previous


def test_stuck_stopping_instance_is_forced_once_then_fails_with_notification(aws: dict[str, Any]) -> None:
    with mock.patch.object(Instance, "stop", _stuck_stopping):
        outcome = execute(aws)
    assert outcome["status"] == "FAILED"
    assert outcome["error"] == "StopTimeout"
    stops = [c for c in outcome["calls"] if c["_api"] == "stopInstances"]
    assert [s.get("Force", False) for s in stops] == [False, True]
    assert [c["_api"] for c in outcome["calls"]].count("describeInstances") == 4  # 2 polls, forced, 2 polls
    assert "startInstances" not in [c["_api"] for c in outcome["calls"]]
    assert outcome["state"] == "stopping"
    assert outcome["tags"][TAG] == "restart-workflow"  # still ours: instance-protect must not start it
    assert outcome["lock"]["last_outcome"] == {"S": "FAILED"} and "lock_owner" not in outcome["lock"]
    (message,) = outcome["messages"]
    assert message == {
        "outcome": "FAILED",
        "instance": aws["instance"],
        "alarm": "opskit-restart-web-1-cpu",
        "step": "stop-timeout",
        "error": "StopTimeout",
        "cause": "the instance did not reach stopped, not even after a forced stop",
        "execution": message["execution"],
    }
    assert message["execution"].endswith(":run-1")
    # main.tf refuses settings whose longest run could pass Step Functions' 25,000-event history limit, counting
    # 11 events per poll: measured here on the real definition (the poll that forces the stop writes 20)
    polls = [i for i, name in enumerate(outcome["entered"]) if name == "WaitForStopped"]
    assert sorted(b - a for a, b in itertools.pairwise(polls)) == [11, 11, 20]
    assert "worst_case_history_events = 11 * (2 * local.max_stop_polls" in (MODULE / "main.tf").read_text()


def test_failure_without_a_cause_is_still_notified(aws: dict[str, Any]) -> None:
    """The States language lets an error output omit Cause; the failure message must not depend on it.
    The stop-timeout path is rendered without its Cause to produce such an error."""
    definition = json.loads(render(topic_arn=aws["topic"]))
    del definition["States"]["FailedStopTimeoutError"]["Parameters"]["Cause"]
    with mock.patch.object(Instance, "stop", _stuck_stopping):
        outcome = execute(aws, definition=json.dumps(definition))
    assert outcome["status"] == "FAILED"
    assert outcome["error"] == "StopTimeout"
    (message,) = outcome["messages"]
    assert (message["step"], message["error"], message["cause"]) == ("stop-timeout", "StopTimeout", "no cause reported")


def test_forced_stop_that_works_continues_to_a_restart(aws: dict[str, Any]) -> None:
    real_stop = Instance.stop

    def stuck_unless_forced(self: Instance) -> Any:
        # moto ignores Force; the second stop call is the forced one
        stuck_unless_forced.calls += 1  # type: ignore[attr-defined]
        return real_stop(self) if stuck_unless_forced.calls > 1 else _stuck_stopping(self)  # type: ignore[attr-defined]

    stuck_unless_forced.calls = 0  # type: ignore[attr-defined]
    with mock.patch.object(Instance, "stop", stuck_unless_forced):
        outcome = execute(aws)
    assert outcome["status"] == "SUCCEEDED"
    assert outcome["state"] == "running"
    assert outcome["messages"][0]["forcedStop"] is True


def test_throttled_ec2_calls_are_retried_with_backoff(aws: dict[str, Any]) -> None:
    """EC2 throttling reaches Step Functions as Ec2.Ec2Exception ("Request limit exceeded." in the cause)."""
    real_stop = Instance.stop
    throttled = iter([True, True])

    def throttled_twice(self: Instance) -> Any:
        if next(throttled, False):
            raise EC2ClientError("RequestLimitExceeded", "Request limit exceeded.")
        return real_stop(self)

    with mock.patch.object(Instance, "stop", throttled_twice):
        outcome = execute(aws)
    assert outcome["status"] == "SUCCEEDED"
    assert outcome["state"] == "running"
    assert [c["_api"] for c in outcome["calls"]].count("stopInstances") == 3
    assert len(aws["retry_sleeps"]) == 2
    assert all(0 <= s <= 2 * 2**i for i, s in enumerate(aws["retry_sleeps"]))  # full jitter under 2 s, 4 s


def test_every_ec2_task_retries_the_name_aws_gives_ec2_errors() -> None:
    definition = json.loads(render())
    for name, state in definition["States"].items():
        if state["Type"] == "Task" and ":ec2:" in state["Resource"]:
            (retrier,) = [r for r in state["Retry"] if "Ec2.Ec2Exception" in r["ErrorEquals"]]
            assert retrier["BackoffRate"] >= 2 and 2 <= retrier["MaxAttempts"] <= 5, name


def test_insufficient_capacity_on_start_is_reported_untagged_and_unlocked(aws: dict[str, Any]) -> None:
    def no_capacity(self: Instance) -> Any:
        raise EC2ClientError(
            "InsufficientInstanceCapacity", "We currently do not have sufficient t3.micro capacity in the zone."
        )

    with mock.patch.object(Instance, "start", no_capacity):
        outcome = execute(aws)
    assert outcome["status"] == "FAILED"
    assert outcome["state"] == "stopped"
    assert TAG not in outcome["tags"]  # after a start attempt the tag goes, so instance-protect may act
    assert "lock_owner" not in outcome["lock"]
    # a capacity shortage is often brief: the start is retried (bounded) before it is reported
    assert [c["_api"] for c in outcome["calls"]].count("startInstances") == 6
    (message,) = outcome["messages"]
    assert message["step"] == "start-capacity"
    assert message["error"] == "Ec2.Ec2Exception"
    # EC2's message is in the cause; the Choice also matches the documented-style Ec2.InsufficientInstanceCapacity*
    assert "sufficient t3.micro capacity" in message["cause"]


def test_instance_that_never_reaches_running_times_out(aws: dict[str, Any]) -> None:
    def stays_pending(self: Instance) -> Any:
        previous = type(self._state)(self._state.name, self._state.code)
        self._state.name, self._state.code = "pending", 0
        return previous

    with mock.patch.object(Instance, "start", stays_pending):
        outcome = execute(aws)
    assert outcome["status"] == "FAILED"
    assert outcome["error"] == "StartTimeout"
    assert TAG not in outcome["tags"]
    assert outcome["messages"][0]["step"] == "wait-running-timeout"


def test_failing_status_checks_time_out_after_the_bound(aws: dict[str, Any]) -> None:
    impaired = {"Status": "impaired", "Details": [{"Name": "reachability", "Status": "failed"}]}
    with mock.patch.object(Instance, "instance_status", new=property(lambda self: impaired)):
        outcome = execute(aws)
    assert outcome["status"] == "FAILED"
    assert outcome["error"] == "StatusChecksTimeout"
    assert [c["_api"] for c in outcome["calls"]].count("describeInstanceStatus") == 2
    assert outcome["state"] == "running"
    assert TAG not in outcome["tags"]


# --- contract with the guard ---------------------------------------------------------


def test_guard_claim_and_state_machine_release_use_the_same_lock_item(
    aws: dict[str, Any], load_handler: Callable[[str], Any], load_event: Callable[[str], Any], monkeypatch: Any
) -> None:
    """The real guard claims the lock and starts the real definition; the run releases that claim."""
    machine = aws["stepfunctions"].create_state_machine(
        name="opskit-restart-workflow",
        definition=render(topic_arn=aws["topic"]),
        roleArn="arn:aws:iam::123456789012:role/opskit-restart-workflow-sfn",
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", machine)
    monkeypatch.setenv("LOCK_TABLE", TABLE)
    guard = load_handler("restart_guard")
    cloudwatch = opskit_common.client("cloudwatch")  # the guard confirms the alarm at its source
    cloudwatch.put_metric_alarm(
        AlarmName="opskit-restart-web-1-cpu",
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=5,
        Threshold=80,
        ComparisonOperator="GreaterThanThreshold",
        Dimensions=[{"Name": "InstanceId", "Value": aws["instance"]}],
    )
    cloudwatch.set_alarm_state(AlarmName="opskit-restart-web-1-cpu", StateValue="ALARM", StateReason="test")
    event = load_event("restart_guard/eventbridge-alarm.json")
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["InstanceId"] = aws["instance"]
    event["detail"]["state"]["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())  # a fresh alarm
    result = guard.handler(event, None)
    assert result["decision"] == "started"
    assert guard.read_claim(TABLE, aws["instance"]).lock_owner == result["execution_arn"].rsplit(":", 1)[-1]
    deadline = time.monotonic() + 30
    while aws["stepfunctions"].describe_execution(executionArn=result["execution_arn"])["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution did not finish"
        time.sleep(0.02)
    claim = guard.read_claim(TABLE, aws["instance"])
    assert claim.lock_owner is None
    assert len(claim.restarts) == 1  # the restart still counts for cooldown and cap
