"""restart.asl.json: the definition Terraform deploys, rendered with opskit_tools.tftemplate, linted with
statelint and executed by moto's Step Functions interpreter against moto EC2, CloudWatch, S3, SSM, DynamoDB
and SNS. This file: the static checks, the shared `aws` fixture and `execute`, and the contract with the
guard. The stop-start step's own paths (forced stop, capacity, timeouts, retries): test_restart_stop_start.py;
the ladder, the evidence and the end of every run: test_restart_ladder.py. (The alarm pattern and the template
variables Terraform passes: test_restart_module.py.)

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


def moto_workflow() -> Iterator[dict[str, Any]]:
    """moto with the module's table, evidence bucket, topic (subscribed by a queue), one running instance and
    its alarm in ALARM. The `aws` fixture of every workflow test file."""
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


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    yield from moto_workflow()


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
    buckets = [b["Name"] for b in aws["s3"].list_buckets()["Buckets"]]
    objects = aws["s3"].list_objects_v2(Bucket=BUCKET).get("Contents", []) if BUCKET in buckets else []
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
