"""asg-backup handler, event patterns and document parameters.

moto serves EC2/SSM (send_command, list_commands, get_command_invocation), S3 and SNS (delivered to an SQS
queue so the published messages can be read back). moto has no `ssm:DescribeInstanceInformation`, no
`autoscaling:CompleteLifecycleAction` and no instance lifecycle policy in DescribeAutoScalingGroups, so:
  * DescribeInstanceInformation is answered by a narrow `before-call` hook on the ssm client (the rest of
    that client still goes to moto) that records the exact request;
  * the autoscaling client goes through botocore's Stubber (LifecycleStubber), which asserts the exact
    parameters of every call and that nothing else is called on that client. Before an ABANDON completion
    the handler reads the group's retention policy: the stubber queues that DescribeAutoScalingGroups
    answer (`retain`) with each ABANDON completion it is given.
moto's send_command always "succeeds"; the failure paths are driven by the status-change fixtures. The same
narrow hook serves the answers moto cannot give: a SendCommand error, a HeadObject 403, and ListCommands in two
pages (moto does not paginate it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import opskit_common as common
import pytest
import yaml
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ssm.models import ssm_backends
from opskit_tools import eventpattern, tftemplate

REPO = Path(__file__).resolve().parents[1]
MODULE = REPO / "modules" / "asg-backup"
REGION = "eu-central-1"
BUCKET = "opskit-asg-backup-test"
DOCUMENT = "opskit-asg-backup"
HOOK = "opskit-asg-backup"
GROUPS = ["web-asg", "worker-asg"]
INSTANCE = "i-0123456789abcdef0"
ACCOUNT = "123456789012"  # the fixtures' account (moto's default)
TOKEN = "87654321-4321-4321-4321-210987654321"
KEY = f"asg-backup/web-asg/{INSTANCE}/20261123T043107Z.tar.gz"


# --- helpers ---------------------------------------------------------------------------------------


def fake_operation(client: Any, operation: str, respond: Callable[[dict[str, Any]], dict[str, Any]]) -> list:
    """Answer one operation of `client` locally (before moto sees it); returns the list of recorded params.

    `respond(params)` returns the parsed response, or {"Error": {...}, "status": 400} for a service error."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(json.loads(json.dumps(params)))

    def before_call(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        parsed = respond(params)
        status = parsed.pop("status", 200)
        parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": status})
        return AWSResponse("https://local", status, {}, None), parsed

    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"before-parameter-build.{service}.{operation}", record)
    client.meta.events.register(f"before-call.{service}.{operation}", before_call)
    return calls


ONLINE_LINUX = [
    {"InstanceId": INSTANCE, "PingStatus": "Online", "PlatformType": "Linux", "PlatformName": "Amazon Linux"}
]


def sent_messages(queue_url: str) -> list[dict[str, Any]]:
    messages = common.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]


def emf_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def backend_invocation(command_id: str) -> dict[str, Any]:
    command = ssm_backends[DEFAULT_ACCOUNT_ID][REGION].get_command_by_id(command_id)
    return command.invocations[0]


def status_event(load_event: Callable[[str], Any], status: str, command_id: str) -> dict[str, Any]:
    event = load_event(f"asg_backup/command-invocation-{status.lower()}.json")
    event["detail"]["command-id"] = command_id
    return event


def complete_params(result: str, token: str = TOKEN, group: str = "web-asg") -> dict[str, Any]:
    return {
        "LifecycleHookName": HOOK,
        "AutoScalingGroupName": group,
        "LifecycleActionResult": result,
        "InstanceId": INSTANCE,
        "LifecycleActionToken": token,
    }


def record_operation(client: Any, operation: str) -> list[dict[str, Any]]:
    """The parameters of every `operation` call on `client` (the call itself still goes to moto)."""
    calls: list[dict[str, Any]] = []
    service = client.meta.service_model.service_id.hyphenize()

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(json.loads(json.dumps(params)))

    client.meta.events.register(f"before-parameter-build.{service}.{operation}", record)
    return calls


class LifecycleStubber(Stubber):
    """The Stubber of the autoscaling client. Every `complete_lifecycle_action` expected with ABANDON is
    preceded by the DescribeAutoScalingGroups the handler makes to tell whether the group retains the
    instance; the group's answer has the retention trigger `retain` when `self.retain` is True."""

    retain = False

    def group_response(self, group: str) -> dict[str, Any]:
        policy = {"RetentionTriggers": {"TerminateHookAbandon": "retain" if self.retain else "terminate"}}
        return {
            "AutoScalingGroups": [{**GROUP_SHAPE, "AutoScalingGroupName": group, "InstanceLifecyclePolicy": policy}]
        }

    def _expect_retention_lookup(self, method: str, expected_params: dict[str, Any] | None) -> None:
        if method == "complete_lifecycle_action" and (expected_params or {}).get("LifecycleActionResult") == "ABANDON":
            group = expected_params["AutoScalingGroupName"]  # type: ignore[index]
            super().add_response(
                "describe_auto_scaling_groups", self.group_response(group), {"AutoScalingGroupNames": [group]}
            )

    def add_response(self, method: str, service_response: Any, expected_params: Any = None) -> None:
        self._expect_retention_lookup(method, expected_params)
        super().add_response(method, service_response, expected_params)

    def add_client_error(self, method: str, *args: Any, **kwargs: Any) -> None:
        self._expect_retention_lookup(method, kwargs.get("expected_params"))
        super().add_client_error(method, *args, **kwargs)


# The members DescribeAutoScalingGroups always returns (the Stubber validates responses against the model).
GROUP_SHAPE = {
    "MinSize": 0,
    "MaxSize": 3,
    "DesiredCapacity": 2,
    "DefaultCooldown": 300,
    "AvailabilityZones": ["eu-central-1a"],
    "HealthCheckType": "EC2",
    "CreatedTime": "2026-11-01T00:00:00Z",
}


class World:
    """moto, plus local answers for what moto lacks. `stub=True`: CompleteLifecycleAction through a Stubber that
    checks each expected call; `stub=False`: answered with success however often it is called (mutation tests)."""

    def __init__(self, queue_url: str, stub: bool = True):
        self.queue_url = queue_url
        self.ssm = common.client("ssm")
        self.s3 = common.client("s3")
        self.autoscaling = common.client("autoscaling")
        self.stub = LifecycleStubber(self.autoscaling)
        if stub:
            self.stub.activate()
        else:
            self.completions = fake_operation(self.autoscaling, "CompleteLifecycleAction", lambda _: {})
            self.heartbeats = fake_operation(self.autoscaling, "RecordLifecycleActionHeartbeat", lambda _: {})
            # The recorded API parameters name the group (`before-call` sees the serialized request).
            lookups = fake_operation(
                self.autoscaling,
                "DescribeAutoScalingGroups",
                lambda _: self.stub.group_response(lookups[-1]["AutoScalingGroupNames"][0]),
            )
        self.instance_information = ONLINE_LINUX
        self.describe_calls = fake_operation(
            self.ssm, "DescribeInstanceInformation", lambda _: {"InstanceInformationList": self.instance_information}
        )
        self.sends = record_operation(self.ssm, "SendCommand")

    def messages(self) -> list[dict[str, Any]]:
        return sent_messages(self.queue_url)


ENV = {
    "DOCUMENT_NAME": DOCUMENT,
    "DOCUMENT_VERSION": "3",
    "BUCKET": BUCKET,
    "PREFIX": "asg-backup/",
    "BACKUP_PATHS": json.dumps(["/var/log", "/opt/app/data"]),
    "AUTOSCALING_GROUP_NAMES": json.dumps(GROUPS),
    "HOOK_NAME": HOOK,
    "UNMANAGED_RESULT": "CONTINUE",
    "FAILURE_RESULT": "ABANDON",
    "COMMAND_TIMEOUT_SECONDS": "1200",
}


def set_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


@contextlib.contextmanager
def world_context(monkeypatch: pytest.MonkeyPatch, stub: bool = True) -> Iterator[World]:
    """The bucket, the results topic (delivered to a queue) and TOPIC_ARN, under moto."""
    with mock_aws():
        common.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        sns = common.client("sns")
        topic = sns.create_topic(Name="opskit-asg-backup-results")["TopicArn"]
        sqs = common.client("sqs")
        queue_url = sqs.create_queue(QueueName="results")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        monkeypatch.setenv("TOPIC_ARN", topic)
        w = World(queue_url, stub=stub)
        yield w
        w.stub.deactivate()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch)


@pytest.fixture
def world(env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with world_context(monkeypatch) as w:
        yield w


@pytest.fixture
def handler(load_handler: Callable[[str], Any]) -> Any:
    return load_handler("asg_backup")


def start_backup(handler: Any, load_event: Callable[[str], Any]) -> str:
    result = handler.handler(load_event("asg_backup/lifecycle-terminate.json"), None)
    assert result["decision"] == "backup_started"
    return result["command_id"]


def upload_backup(world: World, body: bytes = b"archive-bytes", sha256: str = "ab" * 32) -> None:
    """What the instance's `aws s3 cp` does (the real script is exercised in test_asg_backup_script.py)."""
    world.s3.put_object(Bucket=BUCKET, Key=KEY, Body=body, Metadata={"sha256": sha256, "instance-id": INSTANCE})


# --- patterns --------------------------------------------------------------------------------------


def lifecycle_pattern() -> dict[str, Any]:
    return tftemplate.render_json(
        MODULE / "patterns" / "terminate-lifecycle-action.json",
        accounts=[ACCOUNT],
        autoscaling_group_names=GROUPS,
        hook_names=[HOOK],
    )


def status_pattern() -> dict[str, Any]:
    return tftemplate.render_json(
        MODULE / "patterns" / "command-status.json", accounts=[ACCOUNT], document_names=[DOCUMENT]
    )


def test_lifecycle_pattern_matches_only_this_modules_hook_on_these_groups(load_event: Callable[[str], Any]) -> None:
    pattern = lifecycle_pattern()
    event = load_event("asg_backup/lifecycle-terminate.json")
    assert eventpattern.matches(pattern, event)

    other_group = json.loads(json.dumps(event))
    other_group["detail"]["AutoScalingGroupName"] = "batch-asg"
    other_hook = json.loads(json.dumps(event))
    other_hook["detail"]["LifecycleHookName"] = "drain-connections"
    launching = json.loads(json.dumps(event))
    launching["detail-type"] = "EC2 Instance-launch Lifecycle Action"
    launching["detail"]["LifecycleTransition"] = "autoscaling:EC2_INSTANCE_LAUNCHING"
    other_account = json.loads(json.dumps(event))
    other_account["account"] = "210987654321"
    rejected = (other_group, other_hook, launching, other_account)
    for event in (*rejected, load_event("asg_backup/lifecycle-test-notification.json")):
        assert not eventpattern.matches(pattern, event)


@pytest.mark.parametrize("status", ["Success", "Failed", "TimedOut", "Cancelled"])
def test_status_pattern_matches_terminal_statuses_of_this_document(
    load_event: Callable[[str], Any], status: str
) -> None:
    assert eventpattern.matches(status_pattern(), status_event(load_event, status, "x"))


def test_status_pattern_rejects_intermediate_status_and_other_documents(load_event: Callable[[str], Any]) -> None:
    pattern = status_pattern()
    assert not eventpattern.matches(pattern, load_event("asg_backup/command-invocation-inprogress.json"))
    other = load_event("asg_backup/command-invocation-success.json")
    other["detail"]["document-name"] = "AWS-RunShellScript"
    assert not eventpattern.matches(pattern, other)
    other_account = load_event("asg_backup/command-invocation-success.json")
    other_account["account"] = "210987654321"
    assert not eventpattern.matches(pattern, other_account)


# --- lifecycle action ------------------------------------------------------------------------------


def test_managed_instance_gets_the_backup_command_and_the_hook_stays_open(
    world: World, handler: Any, load_event: Callable[[str], Any], capsys: pytest.CaptureFixture[str]
) -> None:
    result = handler.handler(load_event("asg_backup/lifecycle-terminate.json"), None)

    assert result["decision"] == "backup_started"
    assert result["instance_id"] == INSTANCE
    assert world.describe_calls == [{"Filters": [{"Key": "InstanceIds", "Values": [INSTANCE]}]}]
    (command,) = world.ssm.list_commands(CommandId=result["command_id"])["Commands"]
    assert command["DocumentName"] == DOCUMENT
    (sent,) = world.sends
    assert sent["DocumentVersion"] == "3", "the version Terraform created (DOCUMENT_VERSION), not $DEFAULT"
    assert command["InstanceIds"] == [INSTANCE]
    assert command["Parameters"] == {
        "BackupPaths": ["/var/log /opt/app/data"],
        "Bucket": [BUCKET],
        "ObjectKey": [KEY],
        "AutoScalingGroupName": ["web-asg"],
        "LifecycleHookName": [HOOK],
        "LifecycleActionToken": [TOKEN],
        "executionTimeout": ["1200"],
    }
    world.stub.assert_no_pending_responses()  # and any complete_lifecycle_action call would have raised
    assert world.messages() == []
    assert emf_lines(capsys.readouterr().out) == []


def test_handler_parameters_are_accepted_by_the_document(
    world: World, handler: Any, load_event: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every parameter the handler sends is declared by the document and passes its allowedPattern, and the
    document declares nothing the handler does not send (MetadataEndpoint, unused, was dropped)."""
    monkeypatch.setenv(
        "SSE_KMS_KEY_ID", "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    command_id = start_backup(handler, load_event)  # the config is read on the first call, after setenv
    (command,) = world.ssm.list_commands(CommandId=command_id)["Commands"]
    declared = yaml.safe_load((MODULE / "backup-document.yaml").read_text())["parameters"]
    assert "KmsKeyId" in command["Parameters"]
    for name, (value,) in command["Parameters"].items():
        assert name in declared, name
        assert re.fullmatch(declared[name]["allowedPattern"], value), (name, value)
    assert sorted(declared) == sorted(command["Parameters"])


def handler_module() -> Any:
    from opskit_tools.loader import load_handler

    return load_handler("asg_backup")


def test_redelivered_lifecycle_event_sends_one_command(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    first = start_backup(handler, load_event)
    again = handler.handler(load_event("asg_backup/lifecycle-terminate.json"), None)

    assert again == {"decision": "duplicate", "instance_id": INSTANCE, "command_id": first}
    assert len(world.ssm.list_commands(InstanceId=INSTANCE)["Commands"]) == 1


def test_redelivery_is_recognised_on_a_later_page_of_commands(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    """moto does not paginate ListCommands: two pages are served locally, the matching command on the second."""
    earlier = {"CommandId": "11111111-2222-3333-4444-555555555555", "DocumentName": DOCUMENT, "Parameters": {}}
    match = {
        "CommandId": "e8d3c0e4-71f7-4491-898f-c9b35bee5f3b",
        "DocumentName": DOCUMENT,
        "Parameters": {"LifecycleActionToken": [TOKEN]},
    }
    # `calls` holds the API parameters of each ListCommands call, recorded before the answer is chosen.
    calls = fake_operation(
        world.ssm,
        "ListCommands",
        lambda _: {"Commands": [match]} if calls[-1].get("NextToken") else {"Commands": [earlier], "NextToken": "p2"},
    )

    result = handler.handler(load_event("asg_backup/lifecycle-terminate.json"), None)

    assert result == {"decision": "duplicate", "instance_id": INSTANCE, "command_id": match["CommandId"]}
    assert calls == [{"InstanceId": INSTANCE}, {"InstanceId": INSTANCE, "NextToken": "p2"}]
    assert world.describe_calls == []


@pytest.mark.parametrize(
    ("info", "unmanaged_result", "reason"),
    [
        ([], "CONTINUE", "no backup: not managed by SSM"),
        (
            [{"InstanceId": INSTANCE, "PingStatus": "ConnectionLost", "PlatformType": "Linux"}],
            "ABANDON",
            "no backup: not managed by SSM (ping status ConnectionLost)",
        ),
        (
            [{"InstanceId": INSTANCE, "PingStatus": "Online", "PlatformType": "Windows"}],
            "CONTINUE",
            "no backup: platform Windows is not supported (Linux only)",
        ),
    ],
)
def test_unmanaged_instance_completes_the_hook_at_once(
    world: World,
    load_event: Callable[[str], Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    info: list[dict[str, Any]],
    reason: str,
    unmanaged_result: str,
) -> None:
    monkeypatch.setenv("UNMANAGED_RESULT", unmanaged_result)
    world.instance_information = info
    world.stub.add_response("complete_lifecycle_action", {}, complete_params(unmanaged_result))

    result = handler_module().handler(load_event("asg_backup/lifecycle-terminate.json"), None)

    world.stub.assert_no_pending_responses()
    assert result["decision"] == "not_managed"
    assert result["command_id"] is None
    assert world.ssm.list_commands(InstanceId=INSTANCE)["Commands"] == []
    (message,) = world.messages()
    assert message["outcome"] == "NotManaged"
    assert message["reason"] == reason
    assert message["lifecycle_action_result"] == unmanaged_result
    (metric,) = emf_lines(capsys.readouterr().out)
    assert metric["NotManaged"] == 1
    assert metric["AutoScalingGroupName"] == "web-asg"


def test_command_that_cannot_be_sent_completes_the_hook_with_the_failure_result(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    calls = fake_operation(
        world.ssm,
        "SendCommand",
        lambda _: {
            "Error": {"Code": "InvalidDocument", "Message": "Document opskit-asg-backup does not exist"},
            "status": 400,
        },
    )
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("ABANDON"))

    result = handler.handler(load_event("asg_backup/lifecycle-terminate.json"), None)

    world.stub.assert_no_pending_responses()
    assert len(calls) == 1
    assert result["decision"] == "backup_failed"
    (message,) = world.messages()
    assert message["outcome"] == "BackupFailed"
    assert "InvalidDocument" in message["reason"]


def test_event_for_another_hook_is_ignored(world: World, handler: Any, load_event: Callable[[str], Any]) -> None:
    event = load_event("asg_backup/lifecycle-terminate.json")
    event["detail"]["LifecycleHookName"] = "drain-connections"
    assert handler.handler(event, None)["decision"] == "ignored"
    assert world.describe_calls == []
    assert world.ssm.list_commands()["Commands"] == []


# --- command status --------------------------------------------------------------------------------


def test_success_completes_with_continue_and_reports_size_and_checksum(
    world: World, handler: Any, load_event: Callable[[str], Any], capsys: pytest.CaptureFixture[str]
) -> None:
    command_id = start_backup(handler, load_event)
    upload_backup(world, body=b"x" * 1234, sha256="cd" * 32)
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("CONTINUE"))

    result = handler.handler(status_event(load_event, "Success", command_id), None)

    world.stub.assert_no_pending_responses()
    assert result == {"decision": "backup_succeeded", "instance_id": INSTANCE, "command_id": command_id, "key": KEY}
    (message,) = world.messages()
    assert message["outcome"] == "BackupSucceeded"
    assert (message["bucket"], message["key"], message["bytes"], message["sha256"]) == (BUCKET, KEY, 1234, "cd" * 32)
    assert message["lifecycle_action_result"] == "CONTINUE"
    (metric,) = emf_lines(capsys.readouterr().out)
    assert metric["BackupSucceeded"] == 1
    assert metric["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "BackupSucceeded", "Unit": "Count"}]


def test_success_without_the_object_is_a_failure(world: World, handler: Any, load_event: Callable[[str], Any]) -> None:
    command_id = start_backup(handler, load_event)
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("ABANDON"))

    result = handler.handler(status_event(load_event, "Success", command_id), None)

    world.stub.assert_no_pending_responses()
    assert result["decision"] == "backup_failed"
    (message,) = world.messages()
    assert message["reason"] == f"Run Command reported Success but s3://{BUCKET}/{KEY} does not exist"


def test_success_with_a_checksum_mismatch_is_a_failure(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    command_id = start_backup(handler, load_event)
    upload_backup(world, sha256="cd" * 32)
    backend_invocation(command_id)["StandardOutputContent"] = (
        'OPSKIT_BACKUP_RESULT {"bucket":"b","key":"k","bytes":13,"sha256":"' + "ef" * 32 + '","instance_id":"i"}\n'
    )
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("ABANDON"))

    result = handler.handler(status_event(load_event, "Success", command_id), None)

    assert result["decision"] == "backup_failed"
    (message,) = world.messages()
    assert message["reason"].startswith("sha256 mismatch")


def test_success_that_cannot_be_confirmed_is_a_failure_not_a_retry(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    """HeadObject denied (403, e.g. a bucket policy or a missing s3:ListBucket): reported and completed, not
    raised. Raising would retry into the same denial while the instance waits for the heartbeat to end."""
    command_id = start_backup(handler, load_event)
    fake_operation(world.s3, "HeadObject", lambda _: {"Error": {"Code": "403", "Message": "Forbidden"}, "status": 403})
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("ABANDON"))

    result = handler.handler(status_event(load_event, "Success", command_id), None)

    world.stub.assert_no_pending_responses()
    assert result["decision"] == "backup_failed"
    (message,) = world.messages()
    assert message["outcome"] == "BackupFailed"
    assert message["reason"].startswith(f"Run Command reported Success but s3://{BUCKET}/{KEY} cannot be confirmed")


@pytest.mark.parametrize("status", ["Failed", "TimedOut", "Cancelled"])
def test_failed_command_completes_with_the_failure_result_and_publishes_its_output(
    world: World, handler: Any, load_event: Callable[[str], Any], capsys: pytest.CaptureFixture[str], status: str
) -> None:
    command_id = start_backup(handler, load_event)
    backend_invocation(command_id)["StandardErrorContent"] = "asg-backup: none of the paths exist: /var/log\n"
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("ABANDON"))

    result = handler.handler(status_event(load_event, status, command_id), None)

    world.stub.assert_no_pending_responses()
    assert result["decision"] == "backup_failed"
    (message,) = world.messages()
    assert message["outcome"] == "BackupFailed"
    assert message["command_status"] == status
    assert message["reason"] == f"Run Command finished with status {status}"
    assert message["output_excerpt"] == "stderr: asg-backup: none of the paths exist: /var/log"
    (metric,) = emf_lines(capsys.readouterr().out)
    assert metric["BackupFailed"] == 1


def test_intermediate_status_is_ignored(world: World, handler: Any, load_event: Callable[[str], Any]) -> None:
    command_id = start_backup(handler, load_event)
    result = handler.handler(status_event(load_event, "InProgress", command_id), None)
    assert result == {
        "decision": "ignored",
        "instance_id": INSTANCE,
        "command_id": command_id,
        "reason": "status InProgress",
    }
    assert world.messages() == []


def test_second_delivery_after_completion_is_done_not_raised(
    world: World, handler: Any, load_event: Callable[[str], Any], capsys: pytest.CaptureFixture[str]
) -> None:
    command_id = start_backup(handler, load_event)
    upload_backup(world)
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("CONTINUE"))
    world.stub.add_client_error(
        "complete_lifecycle_action",
        service_error_code="ValidationError",
        service_message=f"No active Lifecycle Action found with instance ID {INSTANCE}",
        http_status_code=400,
        expected_params=complete_params("CONTINUE"),
    )
    event = status_event(load_event, "Success", command_id)

    first = handler.handler(event, None)
    second = handler.handler(event, None)

    world.stub.assert_no_pending_responses()
    assert first["decision"] == "backup_succeeded"
    assert second["decision"] == "already_completed"
    assert len(world.messages()) == 1  # one notification, one metric
    assert len(emf_lines(capsys.readouterr().out)) == 1


def test_unmanaged_instance_whose_hook_already_ended_is_done_not_raised(
    world: World, handler: Any, load_event: Callable[[str], Any], capsys: pytest.CaptureFixture[str]
) -> None:
    world.instance_information = []
    world.stub.add_client_error(
        "complete_lifecycle_action",
        service_error_code="ValidationError",
        service_message=f"No active Lifecycle Action found with instance ID {INSTANCE}",
        http_status_code=400,
        expected_params=complete_params("CONTINUE"),
    )

    result = handler.handler(load_event("asg_backup/lifecycle-terminate.json"), None)

    world.stub.assert_no_pending_responses()
    assert result == {
        "decision": "already_completed",
        "instance_id": INSTANCE,
        "command_id": None,
        "outcome": "NotManaged",
    }
    assert world.messages() == []
    assert emf_lines(capsys.readouterr().out) == []


def test_other_validation_errors_are_raised(world: World, handler: Any, load_event: Callable[[str], Any]) -> None:
    command_id = start_backup(handler, load_event)
    upload_backup(world)
    world.stub.add_client_error(
        "complete_lifecycle_action", service_error_code="ValidationError", service_message="Hook not found"
    )
    with pytest.raises(Exception, match="Hook not found"):
        handler.handler(status_event(load_event, "Success", command_id), None)


def test_manual_run_of_the_document_is_ignored(world: World, handler: Any, load_event: Callable[[str], Any]) -> None:
    command_id = world.ssm.send_command(
        InstanceIds=[INSTANCE], DocumentName=DOCUMENT, Parameters={"Bucket": [BUCKET], "ObjectKey": [KEY]}
    )["Command"]["CommandId"]
    result = handler.handler(status_event(load_event, "Success", command_id), None)
    assert result["decision"] == "ignored"
    assert world.messages() == []


def test_status_of_another_document_is_ignored(world: World, handler: Any, load_event: Callable[[str], Any]) -> None:
    event = status_event(load_event, "Success", "e8d3c0e4-71f7-4491-898f-c9b35bee5f3b")
    event["detail"]["document-name"] = "AWS-RunShellScript"
    assert handler.handler(event, None)["decision"] == "ignored"
    assert world.messages() == []


# --- events that must not reach AWS ----------------------------------------------------------------


@pytest.fixture
def no_aws(env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every client the handler uses, stubbed with no responses: any AWS call raises."""
    monkeypatch.setenv("TOPIC_ARN", "arn:aws:sns:eu-central-1:123456789012:t")
    stubs = [Stubber(common.client(name)) for name in ("ssm", "autoscaling", "sns", "s3")]
    for stub in stubs:
        stub.activate()
    yield
    for stub in stubs:
        stub.assert_no_pending_responses()
        stub.deactivate()


def test_test_notifications_are_ignored(no_aws: None, handler: Any, load_event: Callable[[str], Any]) -> None:
    raw = load_event("asg_backup/lifecycle-test-notification.json")
    wrapped = load_event("asg_backup/lifecycle-terminate.json")
    wrapped["detail"]["LifecycleTransition"] = "autoscaling:TEST_NOTIFICATION"
    for event in (raw, wrapped):
        assert handler.handler(event, None) == {
            "decision": "ignored",
            "instance_id": None,
            "command_id": None,
            "reason": "test notification",
        }


def _mutate(path: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def apply(event: dict[str, Any]) -> dict[str, Any]:
        *parents, last = path.split(".")
        node = event
        for part in parents:
            node = node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
        return event

    return apply


_DELETE = object()


@pytest.mark.parametrize(
    ("fixture", "change", "message"),
    [
        ("lifecycle-terminate", _mutate("detail.EC2InstanceId", "not-an-instance"), "EC2InstanceId"),
        ("lifecycle-terminate", _mutate("detail.LifecycleActionToken", _DELETE), "LifecycleActionToken"),
        ("lifecycle-terminate", _mutate("detail", "oops"), "detail must be a JSON object"),
        (
            "lifecycle-terminate",
            _mutate("detail.LifecycleTransition", "autoscaling:EC2_INSTANCE_LAUNCHING"),
            "EC2_INSTANCE_TERMINATING",
        ),
        ("lifecycle-terminate", _mutate("source", "aws.ec2"), "unsupported event"),
        ("command-invocation-success", _mutate("detail.command-id", "42"), "command-id"),
        ("command-invocation-success", _mutate("detail.status", _DELETE), "status"),
    ],
)
def test_malformed_events_fail_before_any_aws_call(
    no_aws: None, handler: Any, load_event: Callable[[str], Any], fixture: str, change: Callable, message: str
) -> None:
    event = change(load_event(f"asg_backup/{fixture}.json"))
    with pytest.raises(common.InputError, match=message):
        handler.handler(event, None)


def test_non_object_event_is_rejected(no_aws: None, handler: Any) -> None:
    with pytest.raises(common.InputError, match="event must be a JSON object"):
        handler.handler(["not", "an", "event"], None)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("UNMANAGED_RESULT", "RETRY", "UNMANAGED_RESULT='RETRY' must be CONTINUE or ABANDON"),
        ("BACKUP_PATHS", '["var/log"]', "BACKUP_PATHS must be"),
        ("BACKUP_PATHS", '["/var/log /etc"]', "BACKUP_PATHS must be"),
        ("BACKUP_PATHS", '["/var/log/../../etc"]', "BACKUP_PATHS must be"),
        ("BACKUP_PATHS", "[]", "BACKUP_PATHS must be"),
        # Without heartbeats the command must end within the hook's heartbeat timeout (3600 s by default).
        ("COMMAND_TIMEOUT_SECONDS", "9000", "must be less than HEARTBEAT_TIMEOUT_SECONDS=3600"),
        ("COMMAND_TIMEOUT_SECONDS", "172501", "at most 172500"),
        ("PREFIX", "a b", "PREFIX="),
        ("BUCKET", "My_Bucket", "BUCKET='My_Bucket' is not valid"),
        ("TOPIC_ARN", "opskit-asg-backup-results", "TOPIC_ARN='opskit-asg-backup-results' is not valid"),
        ("HOOK_NAME", "my hook", "HOOK_NAME='my hook' is not valid"),
        ("SSE_KMS_KEY_ID", "key id with spaces", "SSE_KMS_KEY_ID='key id with spaces' is not a KMS key"),
    ],
)
def test_bad_configuration_is_named(
    env: None, monkeypatch: pytest.MonkeyPatch, handler: Any, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv("TOPIC_ARN", "arn:aws:sns:eu-central-1:123456789012:t")
    monkeypatch.setenv(name, value)
    with pytest.raises(common.ConfigError, match=re.escape(message)):
        handler.Config.from_env(dict(os.environ))


def test_object_keys_are_unique_per_instance_and_time_and_key_safe(handler: Any) -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 11, 23, 4, 31, 7, tzinfo=UTC)
    assert handler.object_key("backups", "web asg:blue", INSTANCE, when) == (
        f"backups/web-asg-blue/{INSTANCE}/20261123T043107Z.tar.gz"
    )
    keys = {
        handler.object_key("backups", "wéb-äsg", INSTANCE, when),
        handler.object_key("backups", "wéb-äsg", INSTANCE, when.replace(second=8)),
        handler.object_key("backups", "wéb-äsg", "i-0fedcba9876543210", when),
    }
    assert len(keys) == 3
    declared = yaml.safe_load((MODULE / "backup-document.yaml").read_text())["parameters"]["ObjectKey"]
    for key in keys:
        assert key.isascii() and re.fullmatch(declared["allowedPattern"], key), key


def test_the_key_timestamp_is_utc_whatever_the_event_offset(handler: Any, load_event: Callable[[str], Any]) -> None:
    event = load_event("asg_backup/lifecycle-terminate.json")
    event["time"] = "2026-11-23T06:31:07+02:00"
    action = handler.parse_lifecycle(event)
    assert handler.object_key("p", action.group, action.instance_id, action.time).endswith("/20261123T043107Z.tar.gz")


def test_terraform_and_handler_agree_on_the_delivery_allowance(handler: Any) -> None:
    """The heartbeat precondition in main.tf budgets the same delivery timeout the handler sends."""
    main_tf = (MODULE / "main.tf").read_text(encoding="utf-8")
    (budget,) = re.findall(r"delivery_timeout_seconds\s*=\s*(\d+)", main_tf)
    assert int(budget) == handler.DELIVERY_TIMEOUT_SECONDS
