"""instance_protect handler: one test per decision, the restart cap, stale stop markers, malformed events
and failures.

EC2 and SNS run on moto. moto cannot put an instance into the state EC2 leaves after a Spot
interruption (there is no API to interrupt), cannot make StartInstances fail, and cannot change a tag
between two calls of the handler, so those cases use botocore's Stubber on the ec2 client only (SNS
stays on moto)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import opskit_common
import pytest
import time_machine
from botocore.stub import Stubber
from moto import mock_aws

AMI = "ami-12c6146b"
# "Now" for the tests that pin the clock: close to the real time, because moto's SQS expires messages
# older than the queue's retention period by the wall clock it is given.
T0 = datetime.now(UTC).replace(second=0, microsecond=0)


# One boto3 session for the whole file: mock_aws() drops boto3's default session on every start, and
# re-reading the EC2 service model for each test costs more than the tests themselves.
SESSION = boto3.session.Session()
TOPIC_NAME = "opskit-instance-protect-notices"
TOPIC_ARN = f"arn:aws:sns:eu-central-1:123456789012:{TOPIC_NAME}"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto EC2 + the SNS notice topic with an SQS queue subscribed, so published notices can be read."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # moto accepts any AMI id; loading its catalogue is slow
    with mock_aws():
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", SESSION)  # the handler's clients come from it too
        ec2 = SESSION.client("ec2")
        sns = SESSION.client("sns")
        sqs = SESSION.client("sqs")
        assert sns.create_topic(Name=TOPIC_NAME)["TopicArn"] == TOPIC_ARN
        queue_url = sqs.create_queue(QueueName="notices")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=TOPIC_ARN, Protocol="sqs", Endpoint=queue_arn)
        yield {"ec2": ec2, "sqs": sqs, "queue_url": queue_url}


@pytest.fixture
def protect(monkeypatch: pytest.MonkeyPatch, load_handler: Callable[[str], ModuleType]) -> Callable[..., ModuleType]:
    """protect(**env) → a freshly loaded handler with the module's environment (TOPIC_ARN → the test topic)."""

    def make(**env: str) -> ModuleType:
        for key in (
            "PROTECT_TAG",
            "SCHEDULE_TAG_KEY",
            "STOPPED_BY_TAG_KEY",
            "RESTARTS_TAG_KEY",
            "HOLD_TAG_KEY",
            "MAX_RESTARTS",
            "WINDOW_SECONDS",
        ):
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("TOPIC_ARN", TOPIC_ARN)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return load_handler("instance_protect")

    return make


def launch(ec2: Any, tags: dict[str, str], **extra: Any) -> str:
    spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}] if tags else []
    reply = ec2.run_instances(
        ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro", TagSpecifications=spec, **extra
    )
    return reply["Instances"][0]["InstanceId"]


def stopped_event(load_event: Callable[[str], Any], instance_id: str, state: str = "stopped") -> dict[str, Any]:
    """AWS's documented state-change event, for this instance."""
    event = copy.deepcopy(load_event(f"instance_protect/instance-{state}.json"))
    event["detail"]["instance-id"] = instance_id
    event["resources"] = [f"arn:aws:ec2:eu-central-1:123456789012:instance/{instance_id}"]
    return event


def state_of(ec2: Any, instance_id: str) -> str:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]


def tags_of(ec2: Any, instance_id: str) -> dict[str, str]:
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return opskit_common.tags_to_dict(instance.get("Tags"))


def ec2_calls() -> list[str]:
    """The EC2 operations the handler's own client sends from now on (it is cached by opskit_common)."""
    calls: list[str] = []
    opskit_common.client("ec2").meta.events.register(
        "before-call.ec2", lambda model, **_: calls.append(model.name), unique_id="test-ec2-calls"
    )
    return calls


def notices(aws: dict[str, Any]) -> list[dict[str, str]]:
    messages = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


# --- decisions ------------------------------------------------------------------------------------


def test_protected_instance_stopped_by_hand_is_started_and_noticed(aws, protect, load_event):
    iid = launch(aws["ec2"], {"Protected": "true", "Name": "web-1"})
    aws["ec2"].stop_instances(InstanceIds=[iid])
    fn = protect()

    with time_machine.travel(T0, tick=False):
        result = fn.handler(stopped_event(load_event, iid), None)

    assert result["decision"] == "started"
    assert result["reason"] == "unplanned-stop"
    assert result["instance_id"] == iid
    assert result["restarts_in_window"] == 1
    assert state_of(aws["ec2"], iid) in ("pending", "running")
    assert tags_of(aws["ec2"], iid)["opskit:protect-restarts"] == str(int(T0.timestamp()))
    (notice,) = notices(aws)
    assert "started web-1 again" in notice["Subject"]
    assert iid in notice["Message"] and "Client.UserInitiatedShutdown" in notice["Message"]


def test_notice_subject_is_one_line_below_100_characters_for_any_name(aws, protect, load_event):
    """SNS refuses a Subject with line breaks/control characters or of 100+ characters; a Name tag may hold
    both, and a refused notice would turn a successful restart into a failure."""
    name = "Überwachung\nbatch\tjob " + "ä" * 120
    iid = launch(aws["ec2"], {"Protected": "true", "Name": name})
    aws["ec2"].stop_instances(InstanceIds=[iid])

    result = protect().handler(stopped_event(load_event, iid), None)

    assert (result["decision"], result["notified"]) == ("started", True)
    (notice,) = notices(aws)
    subject = notice["Subject"]
    assert len(subject) < 100
    assert subject.startswith("opskit instance-protect: started Überwachung batch job ää")
    assert subject.endswith("...")
    assert not any(c in subject for c in "\n\r\t")


def test_unprotected_instance_stays_stopped(aws, protect, load_event):
    iid = launch(aws["ec2"], {"Name": "scratch"})
    aws["ec2"].stop_instances(InstanceIds=[iid])

    result = protect().handler(stopped_event(load_event, iid), None)

    assert (result["decision"], result["reason"]) == ("skipped", "not-protected")
    assert state_of(aws["ec2"], iid) == "stopped"
    assert "opskit:protect-restarts" not in tags_of(aws["ec2"], iid)
    assert notices(aws) == []


def test_protect_tag_value_must_match_exactly(aws, protect, load_event):
    iid = launch(aws["ec2"], {"Protected": "false"})
    aws["ec2"].stop_instances(InstanceIds=[iid])

    result = protect().handler(stopped_event(load_event, iid), None)

    assert result["reason"] == "not-protected"
    assert state_of(aws["ec2"], iid) == "stopped"


def test_protect_tag_is_configurable(aws, protect, load_event):
    custom = launch(aws["ec2"], {"ops:guard": "on"})
    default = launch(aws["ec2"], {"Protected": "true"})
    aws["ec2"].stop_instances(InstanceIds=[custom, default])
    fn = protect(PROTECT_TAG="ops:guard=on")

    assert fn.handler(stopped_event(load_event, custom), None)["decision"] == "started"
    assert fn.handler(stopped_event(load_event, default), None)["reason"] == "not-protected"
    assert state_of(aws["ec2"], default) == "stopped"


@pytest.mark.parametrize("marker", ["scheduler:office-hours", "scheduler:manual", "restart-workflow"])
def test_instance_stopped_on_purpose_by_opskit_stays_stopped(aws, protect, load_event, marker):
    """The scheduler and the restart workflow tag opskit:stopped-by before they stop an instance."""
    iid = launch(aws["ec2"], {"Protected": "true", "Schedule": "office-hours"})
    aws["ec2"].create_tags(Resources=[iid], Tags=[{"Key": "opskit:stopped-by", "Value": marker}])
    aws["ec2"].stop_instances(InstanceIds=[iid])

    result = protect().handler(stopped_event(load_event, iid), None)

    assert (result["decision"], result["reason"]) == ("skipped", "stopped-by-opskit")
    assert result["stopped_by"] == marker
    assert state_of(aws["ec2"], iid) == "stopped"
    assert notices(aws) == []


def test_spot_interruption_is_left_to_ec2(aws, protect, load_event):
    """Stubber: moto has no way to interrupt a Spot Instance. The stub answers DescribeInstances only,
    so any StartInstances/CreateTags call would fail the test."""
    iid = "i-0a1b2c3d4e5f60718"
    fn = protect()
    ec2 = opskit_common.client("ec2")
    with Stubber(ec2) as stub:
        stub.add_response(
            "describe_instances",
            {
                "Reservations": [
                    {
                        "Instances": [
                            {
                                "InstanceId": iid,
                                "InstanceLifecycle": "spot",
                                "State": {"Code": 80, "Name": "stopped"},
                                "StateReason": {
                                    "Code": "Server.SpotInstanceShutdown",
                                    "Message": "Server.SpotInstanceShutdown: Spot instance shutdown",
                                },
                                "StateTransitionReason": "Service initiated (2026-03-02 09:00:00 GMT)",
                                "Tags": [{"Key": "Protected", "Value": "true"}],
                            }
                        ]
                    }
                ]
            },
            {"InstanceIds": [iid]},
        )
        result = fn.handler(stopped_event(load_event, iid), None)
        stub.assert_no_pending_responses()

    assert (result["decision"], result["reason"]) == ("skipped", "spot-interruption")


def test_spot_instance_stopped_by_hand_is_started(aws, protect, load_event):
    """A persistent Spot request with interruption behaviour 'stop' can be stopped and started by its owner."""
    iid = launch(
        aws["ec2"],
        {"Protected": "true"},
        InstanceMarketOptions={
            "MarketType": "spot",
            "SpotOptions": {"SpotInstanceType": "persistent", "InstanceInterruptionBehavior": "stop"},
        },
    )
    aws["ec2"].stop_instances(InstanceIds=[iid])

    result = protect().handler(stopped_event(load_event, iid), None)

    assert (result["decision"], result["reason"]) == ("started", "unplanned-stop")


def test_terminated_instance_is_not_started(aws, protect, load_event):
    iid = launch(aws["ec2"], {"Protected": "true"})
    aws["ec2"].stop_instances(InstanceIds=[iid])
    aws["ec2"].terminate_instances(InstanceIds=[iid])

    result = protect().handler(stopped_event(load_event, iid), None)

    assert (result["decision"], result["reason"]) == ("skipped", "terminating")
    assert state_of(aws["ec2"], iid) == "terminated"


def test_instance_already_running_again_is_left_alone(aws, protect, load_event):
    """Events can arrive late or twice: describe decides, not the event."""
    iid = launch(aws["ec2"], {"Protected": "true"})
    aws["ec2"].stop_instances(InstanceIds=[iid])
    event = stopped_event(load_event, iid)
    fn = protect()

    first = fn.handler(event, None)
    duplicate = fn.handler(event, None)

    assert first["decision"] == "started"
    assert (duplicate["decision"], duplicate["reason"]) == ("skipped", "not-stopped")
    assert tags_of(aws["ec2"], iid)["opskit:protect-restarts"].count(" ") == 0  # counted once


def test_instance_that_no_longer_exists_is_skipped(aws, protect, load_event):
    result = protect().handler(stopped_event(load_event, "i-0123456789abcdef0"), None)

    assert (result["decision"], result["reason"]) == ("skipped", "instance-not-found")
