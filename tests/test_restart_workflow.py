"""restart.asl.json: the definition Terraform deploys, rendered with opskit_tools.tftemplate, linted with
statelint and executed by moto's Step Functions interpreter against moto EC2, CloudWatch, S3, SSM, DynamoDB
and SNS. This file: the static checks, the shared `aws` fixture and `execute`, and the stop-start step's own
paths (forced stop, capacity, timeouts, retries). The ladder, the evidence and the end of every run:
test_restart_ladder.py. (The alarm pattern and the template variables Terraform passes: test_restart_module.py.)

Waits are rendered as 0 s and poll bounds as 2, so each execution finishes in seconds. Failure injection
patches moto's models (the state machine's aws-sdk calls go through them). A step "heals" when a patched model
method sets the triggering alarm to OK in moto's CloudWatch backend, as a real recovery would.

Adjustments to moto's interpreter, all in the `aws` fixture:
- moto names a failed aws-sdk call `<service>.<service>Exception` in lower case; Step Functions names it
  `Ec2.Ec2Exception`, `Ssm.…`, `CloudWatch.…`, `S3.…` (EC2 has no modelled exceptions, so every EC2 error code,
  throttling included, arrives under `Ec2.Ec2Exception` with EC2's message in the cause). The fixture teaches
  moto AWS's spelling so the Retry/Catch rules are exercised as deployed.
- moto really sleeps for Retry intervals; the fixture records the requested intervals instead of sleeping.
- moto has no ec2:GetConsoleScreenshot: the fixture serves one where a test asks for it (`screenshot`), and
  otherwise answers like EC2 does for an instance type without screenshots (UnsupportedOperation).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import opskit_common
import pytest
from moto import mock_aws
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.instances import Instance
from moto.ec2.responses.general import General
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk
from opskit_tools import tftemplate
from statelint.config import Config as LintConfig
from statelint.linter import Linter

MODULE = Path(__file__).resolve().parents[1] / "modules" / "restart-workflow"
ASL = MODULE / "restart.asl.json"
TABLE = "opskit-restart-workflow-locks"
BUCKET = "opskit-restart-evidence-test"
TAG = "opskit:stopped-by"
AMI = "ami-12c6146b"
ALARM = "opskit-restart-web-1-cpu"
REGION = "eu-central-1"
ACCOUNT = "123456789012"
FLEET_KEY = "opskit:fleet"
SCREENSHOT = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGBwkIBwcHBwgJCgwKCQoLCgcHCg0KCw=="


def ladder(steps: list[str]) -> list[dict[str, str]]:
    """What main.tf's local.ladder makes of var.steps."""
    return [
        {"name": s, "kind": "ssm" if s.startswith("ssm:") else s, "document": s[4:] if s.startswith("ssm:") else ""}
        for s in steps
    ]


def render(steps: list[str] | None = None, **overrides: Any) -> str:
    steps = ["reboot", "stop-start"] if steps is None else steps
    values: dict[str, Any] = {
        "ladder": ladder(steps),
        "step_count": len(steps),
        "poll_interval_seconds": 0,
        "settle_seconds": 0,
        "max_stop_polls": 2,
        "max_start_polls": 2,
        "max_status_polls": 2,
        "max_ssm_polls": 2,
        "execution_timeout_seconds": 120,
        "table_name": TABLE,
        "topic_arn": f"arn:aws:sns:{REGION}:{ACCOUNT}:opskit-restart-workflow",
        "notify_on_success": True,
        "capture_screenshot": True,
        "evidence_bucket": BUCKET,
        "console_url": "https://console.aws.amazon.com",
        "region": REGION,
    }
    values.update(overrides)
    return tftemplate.render_file(ASL, **values)


# --- static ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        {},  # the test rendering
        {"poll_interval_seconds": 15, "settle_seconds": 300, "max_stop_polls": 40, "max_status_polls": 60},  # defaults
        {"notify_on_success": False, "capture_screenshot": False, "steps": ["ssm:opskit-restart-app"]},
    ],
)
def test_rendered_definition_passes_statelint(values: dict[str, Any]) -> None:
    assert Linter.validate(render(**values), LintConfig()) == []


def test_statelint_catches_a_broken_transition() -> None:
    """Guards the lint test above: statelint really checks this definition's transitions."""
    broken = render().replace('"Next": "StopInstance"', '"Next": "NoSuchState"')
    assert any("NoSuchState" in problem for problem in Linter.validate(broken, LintConfig()))


def test_every_call_is_an_sdk_or_optimized_integration_and_there_are_no_lambdas() -> None:
    definition = json.loads(render())
    resources = {s["Resource"] for s in definition["States"].values() if s["Type"] == "Task"}
    assert not any(":lambda:" in r for r in resources)
    allowed = ("arn:aws:states:::aws-sdk:", "arn:aws:states:::dynamodb:", "arn:aws:states:::sns:publish")
    assert all(r.startswith(allowed) for r in resources), resources
    assert {
        "arn:aws:states:::aws-sdk:ec2:getConsoleOutput",
        "arn:aws:states:::aws-sdk:ec2:getConsoleScreenshot",
        "arn:aws:states:::aws-sdk:s3:putObject",
        "arn:aws:states:::aws-sdk:ec2:rebootInstances",
        "arn:aws:states:::aws-sdk:ec2:createTags",
        "arn:aws:states:::aws-sdk:ec2:stopInstances",
        "arn:aws:states:::aws-sdk:ec2:describeInstances",
        "arn:aws:states:::aws-sdk:ec2:startInstances",
        "arn:aws:states:::aws-sdk:ec2:describeInstanceStatus",
        "arn:aws:states:::aws-sdk:ec2:deleteTags",
        "arn:aws:states:::aws-sdk:ssm:sendCommand",
        "arn:aws:states:::aws-sdk:ssm:getCommandInvocation",
        "arn:aws:states:::aws-sdk:cloudwatch:describeAlarms",
        "arn:aws:states:::aws-sdk:cloudwatch:putMetricData",
    } <= resources


def test_every_task_failure_is_caught_and_every_wait_is_a_wait_state() -> None:
    definition = json.loads(render())
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            assert any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])), name
    waits = {name for name, state in definition["States"].items() if state["Type"] == "Wait"}
    assert waits == {"WaitForStopped", "WaitForRunning", "WaitForStatusChecks", "WaitForCommand", "Settle"}


def test_every_ec2_task_retries_the_name_aws_gives_ec2_errors() -> None:
    definition = json.loads(render())
    for name, state in definition["States"].items():
        if state["Type"] == "Task" and ":ec2:" in state["Resource"]:
            (retrier,) = [r for r in state["Retry"] if "Ec2.Ec2Exception" in r["ErrorEquals"]]
            assert retrier["BackoffRate"] >= 2 and 2 <= retrier["MaxAttempts"] <= 5, name


# --- executions under moto -------------------------------------------------------------------------


def set_alarm(state: str) -> None:
    """Moves the triggering alarm in moto's CloudWatch backend (called from inside patched moto models)."""
    cloudwatch_backends[ACCOUNT][REGION].set_alarm_state(ALARM, f"test: {state}", None, state)


@contextmanager
def heals(model: Any, method: str) -> Iterator[None]:
    """The instance recovers when `model.method` runs (e.g. Instance.reboot): the alarm goes back to OK."""
    real = getattr(model, method)

    def healing(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        set_alarm("OK")
        return result

    with mock.patch.object(model, method, healing):
        yield


def _screenshot_unsupported(self: General) -> ActionResult:
    raise EC2ClientError("UnsupportedOperation", "The instance type does not support the console screenshot.")


def _screenshot(self: General) -> ActionResult:
    return ActionResult({"InstanceId": self._get_param("InstanceId"), "ImageData": SCREENSHOT})


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    retry_sleeps: list[float] = []
    names = {"ec2": "Ec2", "ssm": "Ssm", "cloudwatch": "CloudWatch", "s3": "S3"}
    with (
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
        mock.patch.dict(state_task_service_aws_sdk._SERVICE_ERROR_NAMES, names),
        mock.patch.object(retrier_decl, "time", mock.Mock(sleep=retry_sleeps.append)),
        mock.patch.object(General, "get_console_screenshot", _screenshot_unsupported, create=True),
    ):
        opskit_common.reset_clients()
        services = ("ec2", "dynamodb", "sns", "sqs", "stepfunctions", "s3", "cloudwatch", "ssm")
        clients = {name: opskit_common.client(name) for name in services}
        clients["dynamodb"].create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "instance_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "instance_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        clients["s3"].create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        topic = clients["sns"].create_topic(Name="opskit-restart-workflow")["TopicArn"]
        queue = clients["sqs"].create_queue(QueueName="notifications")["QueueUrl"]
        queue_arn = clients["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        clients["sns"].subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )
        instance = clients["ec2"].run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        clients["cloudwatch"].put_metric_alarm(
            AlarmName=ALARM,
            Namespace="AWS/EC2",
            MetricName="CPUUtilization",
            Statistic="Average",
            Period=60,
            EvaluationPeriods=5,
            Threshold=80,
            ComparisonOperator="GreaterThanThreshold",
            Dimensions=[{"Name": "InstanceId", "Value": instance}],
        )
        set_alarm("ALARM")
        yield {**clients, "topic": topic, "queue": queue, "instance": instance, "retry_sleeps": retry_sleeps}


def execute(
    aws: dict[str, Any],
    steps: list[str] | None = None,
    name: str = "run-1",
    definition: str | None = None,
    **render_overrides: Any,
) -> dict[str, Any]:
    """Claim the lock and a fleet slot as the guard would, run the state machine to completion, return what
    it did: status, states entered, calls, notices, instance, lock and fleet items, evidence and metrics."""
    iid = aws["instance"]
    ddb = aws["dynamodb"]
    ddb.put_item(
        TableName=TABLE,
        Item={"instance_id": {"S": iid}, "lock_owner": {"S": name}, "lock_until": {"N": "9999999999"}},
    )
    ddb.put_item(
        TableName=TABLE,
        Item={
            "instance_id": {"S": FLEET_KEY},
            "running": {"M": {name: {"N": "9999999999"}, "other-run": {"N": "9999999999"}}},
            "version": {"N": "7"},
        },
    )
    machine = aws["stepfunctions"].create_state_machine(
        name="opskit-restart-workflow",
        definition=definition or render(steps, topic_arn=aws["topic"], **render_overrides),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/opskit-restart-workflow-sfn",
    )["stateMachineArn"]
    arn = aws["stepfunctions"].start_execution(
        stateMachineArn=machine, name=name, input=json.dumps({"InstanceId": iid, "AlarmName": ALARM})
    )["executionArn"]
    deadline = time.monotonic() + 300  # a hang guard on a shared machine, not a speed assertion
    while (described := aws["stepfunctions"].describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution did not finish"
        time.sleep(0.02)
    events = aws["stepfunctions"].get_execution_history(executionArn=arn, maxResults=1000)["events"]
    messages = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10).get("Messages", [])
    instance = aws["ec2"].describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    objects = aws["s3"].list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {
        "status": described["status"],
        "error": described.get("error"),
        "cause": described.get("cause"),
        "events": events,
        "entered": [e["stateEnteredEventDetails"]["name"] if "stateEnteredEventDetails" in e else None for e in events],
        "calls": [
            json.loads(e["taskScheduledEventDetails"]["parameters"])
            | {"_api": e["taskScheduledEventDetails"]["resource"]}
            for e in events
            if e["type"] == "TaskScheduled"
        ],
        "messages": [json.loads(m["Body"]) for m in messages],
        "state": instance["State"]["Name"],
        "tags": opskit_common.tags_to_dict(instance.get("Tags")),
        "lock": ddb.get_item(TableName=TABLE, Key={"instance_id": {"S": iid}})["Item"],
        "fleet": ddb.get_item(TableName=TABLE, Key={"instance_id": {"S": FLEET_KEY}})["Item"],
        "objects": {o["Key"]: aws["s3"].get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in objects},
        "metrics": [
            (m["MetricName"], {d["Name"]: d["Value"] for d in m["Dimensions"]})
            for m in aws["cloudwatch"].list_metrics(Namespace="opskit")["Metrics"]
        ],
    }


def apis(outcome: dict[str, Any]) -> list[str]:
    return [c["_api"] for c in outcome["calls"]]


# --- the stop-start step ---------------------------------------------------------------------------

STOP_START = ["stop-start"]


def test_stop_start_heals_untags_releases_and_notifies(aws: dict[str, Any]) -> None:
    with heals(Instance, "start"):
        outcome = execute(aws, STOP_START)
    assert outcome["status"] == "SUCCEEDED"
    assert outcome["state"] == "running"
    assert TAG not in outcome["tags"]
    step = apis(outcome)[apis(outcome).index("createTags") :]
    assert step == [
        "createTags",
        "stopInstances",
        "describeInstances",
        "startInstances",
        "describeInstances",
        "deleteTags",
        "describeInstanceStatus",
        "describeAlarms",
        "updateItem",
        "updateItem",
        "putMetricData",
        "publish",
    ]
    assert outcome["calls"][apis(outcome).index("createTags")]["Tags"] == [{"Key": TAG, "Value": "restart-workflow"}]
    assert "Force" not in outcome["calls"][apis(outcome).index("stopInstances")]
    assert "lock_owner" not in outcome["lock"] and "lock_until" not in outcome["lock"]
    assert outcome["lock"]["last_outcome"] == {"S": "healed"}
    (message,) = outcome["messages"]
    assert (message["outcome"], message["healedBy"], message["instance"]) == ("healed", "stop-start", aws["instance"])
    assert message["forcedStop"] is False


def test_success_notification_can_be_turned_off(aws: dict[str, Any]) -> None:
    with heals(Instance, "start"):
        outcome = execute(aws, STOP_START, notify_on_success=False)
    assert outcome["status"] == "SUCCEEDED"
    assert outcome["messages"] == []
    assert "publish" not in apis(outcome)


def test_lock_held_by_someone_else_is_not_released(aws: dict[str, Any]) -> None:
    """Release is conditional on the execution name: a late run cannot free a newer run's lock."""
    original_put = aws["dynamodb"].put_item

    def claimed_by_other(**kwargs: Any) -> Any:
        if kwargs["Item"]["instance_id"]["S"] != FLEET_KEY:
            kwargs["Item"]["lock_owner"] = {"S": "newer-run"}
        return original_put(**kwargs)

    with mock.patch.object(aws["dynamodb"], "put_item", side_effect=claimed_by_other), heals(Instance, "start"):
        outcome = execute(aws, STOP_START)
    assert outcome["status"] == "SUCCEEDED"
    assert outcome["lock"]["lock_owner"] == {"S": "newer-run"}


def _stuck_stopping(self: Instance) -> Any:
    previous = type(self._state)(self._state.name, self._state.code)
    self._state.name, self._state.code = "stopping", 64
    return previous


def test_stuck_stopping_instance_is_forced_once_then_fails_with_notification(aws: dict[str, Any]) -> None:
    """A stop-start that fails part-way ends the ladder (the instance may be stopped): outcome failed."""
    with mock.patch.object(Instance, "stop", _stuck_stopping):
        outcome = execute(aws, ["stop-start", "reboot"])
    assert outcome["status"] == "FAILED"
    assert outcome["error"] == "StopTimeout"
    stops = [c for c in outcome["calls"] if c["_api"] == "stopInstances"]
    assert [s.get("Force", False) for s in stops] == [False, True]
    assert apis(outcome).count("describeInstances") == 4  # 2 polls, forced, 2 polls
    assert "startInstances" not in apis(outcome) and "rebootInstances" not in apis(outcome)
    assert outcome["state"] == "stopping"
    assert outcome["tags"][TAG] == "restart-workflow"  # still ours: instance-protect must not start it
    assert outcome["lock"]["last_outcome"] == {"S": "failed"} and "lock_owner" not in outcome["lock"]
    (message,) = outcome["messages"]
    assert message == {
        "outcome": "failed",
        "instance": aws["instance"],
        "alarm": ALARM,
        "step": "stop-timeout",
        "error": "StopTimeout",
        "cause": "the instance did not reach stopped, not even after a forced stop",
        "notHealedBy": "",
        "evidence": message["evidence"],
        "execution": message["execution"],
    }
    assert message["execution"].endswith(":run-1")
    assert ("Failed", {"Module": "restart-workflow", "Workflow": "opskit-restart-workflow", "Step": "stop-start"}) in (
        outcome["metrics"]
    )
    # main.tf bounds the history at 11 events per poll: measured here on the real definition (the poll that
    # forces the stop writes 20)
    polls = [i for i, name in enumerate(outcome["entered"]) if name == "WaitForStopped"]
    assert sorted(b - a for a, b in itertools.pairwise(polls)) == [11, 11, 20]
    assert "worst_case_history_events = 11 * sum(" in (MODULE / "main.tf").read_text()


def test_failure_without_a_cause_is_still_notified(aws: dict[str, Any]) -> None:
    """The States language lets an error output omit Cause; the failure message must not depend on it.
    The stop-timeout path is rendered without its Cause to produce such an error."""
    definition = json.loads(render(STOP_START, topic_arn=aws["topic"]))
    del definition["States"]["FailedStopTimeoutError"]["Parameters"]["Cause"]
    with mock.patch.object(Instance, "stop", _stuck_stopping):
        outcome = execute(aws, definition=json.dumps(definition))
    assert outcome["status"] == "FAILED"
    assert outcome["error"] == "StopTimeout"
    (message,) = outcome["messages"]
    assert (message["step"], message["error"], message["cause"]) == ("stop-timeout", "StopTimeout", "no cause reported")


def test_forced_stop_that_works_continues_to_a_restart(aws: dict[str, Any]) -> None:
    real_stop = Instance.stop
    calls = itertools.count()

    def stuck_unless_forced(self: Instance) -> Any:
        # moto ignores Force; the second stop call is the forced one
        return real_stop(self) if next(calls) > 0 else _stuck_stopping(self)

    with mock.patch.object(Instance, "stop", stuck_unless_forced), heals(Instance, "start"):
        outcome = execute(aws, STOP_START)
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

    with mock.patch.object(Instance, "stop", throttled_twice), heals(Instance, "start"):
        outcome = execute(aws, STOP_START, capture_screenshot=False)
    assert outcome["status"] == "SUCCEEDED"
    assert outcome["state"] == "running"
    assert apis(outcome).count("stopInstances") == 3
    assert len(aws["retry_sleeps"]) == 2
    assert all(0 <= s <= 2 * 2**i for i, s in enumerate(aws["retry_sleeps"]))  # full jitter under 2 s, 4 s


def test_insufficient_capacity_on_start_is_reported_untagged_and_unlocked(aws: dict[str, Any]) -> None:
    def no_capacity(self: Instance) -> Any:
        raise EC2ClientError(
            "InsufficientInstanceCapacity", "We currently do not have sufficient t3.micro capacity in the zone."
        )

    with mock.patch.object(Instance, "start", no_capacity):
        outcome = execute(aws, STOP_START)
    assert outcome["status"] == "FAILED"
    assert outcome["state"] == "stopped"
    assert TAG not in outcome["tags"]  # after a start attempt the tag goes, so instance-protect may act
    assert "lock_owner" not in outcome["lock"]
    # a capacity shortage is often brief: the start is retried (bounded) before it is reported
    assert apis(outcome).count("startInstances") == 6
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
        outcome = execute(aws, STOP_START)
    assert outcome["status"] == "FAILED"
    assert outcome["error"] == "StartTimeout"
    assert TAG not in outcome["tags"]
    assert outcome["messages"][0]["step"] == "wait-running-timeout"


def test_failing_status_checks_after_stop_start_do_not_heal(aws: dict[str, Any]) -> None:
    """Running but impaired: the step did not heal (the instance is running, so the ladder may go on)."""
    impaired = {"Status": "impaired", "Details": [{"Name": "reachability", "Status": "failed"}]}
    with mock.patch.object(Instance, "instance_status", new=property(lambda self: impaired)):
        outcome = execute(aws, STOP_START)
    assert outcome["status"] == "FAILED"
    assert outcome["error"] == "LadderExhausted"
    assert outcome["cause"] == "no step healed the instance: stop-start: StatusChecksTimeout; "
    assert apis(outcome).count("describeInstanceStatus") == 2
    assert "describeAlarms" not in apis(outcome)  # no settle without ok status checks
    assert outcome["state"] == "running"
    assert TAG not in outcome["tags"]


# --- contract with the guard ---------------------------------------------------------


def test_guard_claim_and_state_machine_release_use_the_same_items(
    aws: dict[str, Any], load_handler: Callable[[str], Any], load_event: Callable[[str], Any], monkeypatch: Any
) -> None:
    """The real guard claims the lock and a fleet slot and starts the real definition; the run releases both."""
    machine = aws["stepfunctions"].create_state_machine(
        name="opskit-restart-workflow",
        definition=render(topic_arn=aws["topic"]),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/opskit-restart-workflow-sfn",
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", machine)
    monkeypatch.setenv("LOCK_TABLE", TABLE)
    guard = load_handler("restart_guard")
    event = load_event("restart_guard/eventbridge-alarm.json")
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["InstanceId"] = aws["instance"]
    event["detail"]["state"]["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())  # a fresh alarm
    with heals(Instance, "reboot"):
        result = guard.handler(event, None)
        assert result["decision"] == "started"
        name = result["execution_arn"].rsplit(":", 1)[-1]
        assert guard.read_claim(TABLE, aws["instance"]).lock_owner == name
        assert name in guard.read_fleet(TABLE).running
        deadline = time.monotonic() + 300
        while aws["stepfunctions"].describe_execution(executionArn=result["execution_arn"])["status"] == "RUNNING":
            assert time.monotonic() < deadline, "execution did not finish"
            time.sleep(0.02)
    claim = guard.read_claim(TABLE, aws["instance"])
    assert claim.lock_owner is None
    assert len(claim.restarts) == 1  # the restart still counts for cooldown and cap
    fleet = guard.read_fleet(TABLE)
    assert fleet.running == {} and len(fleet.starts) == 1  # the slot is free again, the start still counts
    assert fleet.version == 2  # claimed (1), released (+1): a guard that read before the release reads again
