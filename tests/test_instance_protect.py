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


# --- stale stop markers (running events) ---------------------------------------------------------

MARKER = "opskit:stopped-by"


def test_marker_left_by_a_hand_start_is_cleared_so_a_later_crash_is_restarted(aws, protect, load_event):
    """The bug: scheduler stops (marker) -> a person starts it by hand (marker stays) -> it crashes ->
    the crash was skipped as stopped-by-opskit. The running event now removes the obsolete marker."""
    ec2 = aws["ec2"]
    iid = launch(ec2, {"Protected": "true", "Schedule": "office-hours", "Name": "batch-1"})
    ec2.create_tags(Resources=[iid], Tags=[{"Key": MARKER, "Value": "scheduler:office-hours"}])
    ec2.stop_instances(InstanceIds=[iid])
    fn = protect()
    assert fn.handler(stopped_event(load_event, iid), None)["reason"] == "stopped-by-opskit"

    ec2.start_instances(InstanceIds=[iid])  # by hand: the scheduler does not know
    cleared = fn.handler(stopped_event(load_event, iid, "running"), None)

    assert cleared == {
        "decision": "skipped",
        "reason": "cleared-stale-marker",
        "instance_id": iid,
        "stale_marker": "scheduler:office-hours",
    }
    assert tags_of(ec2, iid) == {"Protected": "true", "Schedule": "office-hours", "Name": "batch-1"}

    ec2.stop_instances(InstanceIds=[iid])  # the unplanned stop
    crash = fn.handler(stopped_event(load_event, iid), None)

    assert (crash["decision"], crash["reason"]) == ("started", "unplanned-stop")
    assert state_of(ec2, iid) == "running"
    assert [n["Subject"] for n in notices(aws)] == ["opskit instance-protect: started batch-1 again"]


def test_real_scheduler_stop_is_respected_and_its_own_start_leaves_nothing_to_clear(
    aws, protect, load_event, load_handler, monkeypatch
):
    """The contract with the scheduler's real handler (manual form), not a hand-made marker."""
    ec2 = aws["ec2"]
    iid = launch(ec2, {"Protected": "true", "Schedule": "office-hours"})
    fn = protect()
    monkeypatch.setenv("TAG_KEY", "Schedule")
    monkeypatch.setenv("VERIFY_TIMEOUT_SECONDS", "0")  # its start check polls; moto starts at once
    scheduler = load_handler("scheduler")

    assert scheduler.handler({"action": "stop", "instance_ids": [iid]}, None)["succeeded"] == [iid]
    stopped = fn.handler(stopped_event(load_event, iid), None)
    assert scheduler.handler({"action": "start", "instance_ids": [iid]}, None)["succeeded"] == [iid]
    running = fn.handler(stopped_event(load_event, iid, "running"), None)

    assert (stopped["reason"], stopped["stopped_by"]) == ("stopped-by-opskit", "scheduler:manual")
    assert running["reason"] == "no-stale-marker"
    assert MARKER not in tags_of(ec2, iid)
    assert notices(aws) == []


def test_running_protected_instance_without_marker_needs_no_change(aws, protect, load_event):
    iid = launch(aws["ec2"], {"Protected": "true"})
    fn = protect()
    calls = ec2_calls()

    result = fn.handler(stopped_event(load_event, iid, "running"), None)

    assert (result["decision"], result["reason"]) == ("skipped", "no-stale-marker")
    assert calls == ["DescribeInstances"]


def test_running_unprotected_instance_costs_one_describe_and_keeps_its_marker(aws, protect, load_event):
    """Every running event in the region is delivered; for an unprotected instance nothing is written."""
    iid = launch(aws["ec2"], {"Schedule": "office-hours", MARKER: "scheduler:office-hours"})
    fn = protect()
    calls = ec2_calls()

    result = fn.handler(stopped_event(load_event, iid, "running"), None)

    assert (result["decision"], result["reason"]) == ("skipped", "not-protected")
    assert calls == ["DescribeInstances"]
    assert tags_of(aws["ec2"], iid)[MARKER] == "scheduler:office-hours"


def test_late_running_event_keeps_the_marker_of_a_newer_planned_stop(aws, protect, load_event):
    """Started by hand, then the scheduler marks and stops it before the running event is processed:
    the instance is no longer running, so the marker is current and the stop stays respected."""
    ec2 = aws["ec2"]
    iid = launch(ec2, {"Protected": "true", "Schedule": "office-hours"})
    ec2.create_tags(Resources=[iid], Tags=[{"Key": MARKER, "Value": "scheduler:office-hours"}])
    ec2.stop_instances(InstanceIds=[iid])
    fn = protect()

    result = fn.handler(stopped_event(load_event, iid, "running"), None)
    after = fn.handler(stopped_event(load_event, iid), None)

    assert (result["decision"], result["reason"]) == ("skipped", "not-running")
    assert tags_of(ec2, iid)[MARKER] == "scheduler:office-hours"
    assert (after["decision"], after["reason"]) == ("skipped", "stopped-by-opskit")
    assert state_of(ec2, iid) == "stopped"


def test_scheduler_start_that_already_removed_its_marker_is_a_no_op(aws, protect, load_event):
    """Scheduler start: StartInstances, then its own DeleteTags, and the running event may come after."""
    ec2 = aws["ec2"]
    iid = launch(ec2, {"Protected": "true", "Schedule": "office-hours", MARKER: "scheduler:office-hours"})
    ec2.stop_instances(InstanceIds=[iid])
    ec2.start_instances(InstanceIds=[iid])
    ec2.delete_tags(Resources=[iid], Tags=[{"Key": MARKER}])
    fn = protect()
    calls = ec2_calls()

    result = fn.handler(stopped_event(load_event, iid, "running"), None)

    assert result["reason"] == "no-stale-marker"
    assert "DeleteTags" not in calls


def test_restart_workflow_cycle_marker_removed_by_either_side(aws, protect, load_event):
    """tag -> stop -> stopped event (skip) -> start -> running event (marker removed here) -> the
    workflow's own deleteTags of the now absent key still succeeds and changes nothing."""
    ec2 = aws["ec2"]
    iid = launch(ec2, {"Protected": "true", "Name": "app-1"})
    fn = protect()

    ec2.create_tags(Resources=[iid], Tags=[{"Key": MARKER, "Value": "restart-workflow"}])
    ec2.stop_instances(InstanceIds=[iid])
    stopped = fn.handler(stopped_event(load_event, iid), None)
    ec2.start_instances(InstanceIds=[iid])
    running = fn.handler(stopped_event(load_event, iid, "running"), None)
    ec2.delete_tags(Resources=[iid], Tags=[{"Key": MARKER}])  # RemoveStoppedBy

    assert (stopped["reason"], running["reason"]) == ("stopped-by-opskit", "cleared-stale-marker")
    assert tags_of(ec2, iid) == {"Protected": "true", "Name": "app-1"}
    assert "opskit:protect-restarts" not in tags_of(ec2, iid)  # no restart was counted
    assert notices(aws) == []


def test_marker_delete_names_the_key_and_the_value_that_was_read(aws, protect, load_event):
    """Stubber on ec2: the exact DeleteTags request. With the value given, EC2 deletes the tag only if it
    still has that value, so a marker another tool rewrote in between is left alone."""
    iid = "i-0a1b2c3d4e5f60718"
    fn = protect(STOPPED_BY_TAG_KEY="ops:stopped-by")
    instance = {
        "InstanceId": iid,
        "State": {"Code": 16, "Name": "running"},
        "Tags": [{"Key": "Protected", "Value": "true"}, {"Key": "ops:stopped-by", "Value": "scheduler:manual"}],
    }
    ec2 = opskit_common.client("ec2")
    with Stubber(ec2) as stub:
        stub.add_response("describe_instances", {"Reservations": [{"Instances": [instance]}]}, {"InstanceIds": [iid]})
        stub.add_response(
            "delete_tags", {}, {"Resources": [iid], "Tags": [{"Key": "ops:stopped-by", "Value": "scheduler:manual"}]}
        )
        result = fn.handler(stopped_event(load_event, iid, "running"), None)
        stub.assert_no_pending_responses()

    assert (result["reason"], result["stale_marker"]) == ("cleared-stale-marker", "scheduler:manual")


def test_running_event_for_a_vanished_instance_is_skipped(aws, protect, load_event):
    result = protect().handler(stopped_event(load_event, "i-0123456789abcdef0", "running"), None)

    assert (result["decision"], result["reason"]) == ("skipped", "instance-not-found")


# --- restart cap ----------------------------------------------------------------------------------


def test_restart_cap_stops_a_crash_loop_and_notifies_then_resets_after_the_window(aws, protect, load_event):
    iid = launch(aws["ec2"], {"Protected": "true", "Name": "flaky"})
    fn = protect(MAX_RESTARTS="2", WINDOW_SECONDS="600")
    event = stopped_event(load_event, iid)
    decisions = []

    for minute in (0, 2, 4):
        aws["ec2"].stop_instances(InstanceIds=[iid])
        with time_machine.travel(T0.timestamp() + minute * 60, tick=False):
            result = fn.handler(event, None)
        decisions.append((result["decision"], result["reason"], result["restarts_in_window"]))

    assert decisions == [
        ("started", "unplanned-stop", 1),
        ("started", "unplanned-stop", 2),
        ("skipped", "restart-cap-reached", 2),
    ]
    assert state_of(aws["ec2"], iid) == "stopped"
    subjects = [n["Subject"] for n in notices(aws)]
    assert sum("restart cap reached" in s for s in subjects) == 1
    assert sum("started flaky again" in s for s in subjects) == 2

    # 11 minutes after the first restart only the second one (at minute 2) is still inside the window.
    with time_machine.travel(T0.timestamp() + 11 * 60, tick=False):
        result = fn.handler(event, None)
    assert (result["decision"], result["restarts_in_window"]) == ("started", 2)
    history = tags_of(aws["ec2"], iid)["opskit:protect-restarts"].split()
    assert history == [str(int(T0.timestamp()) + 120), str(int(T0.timestamp()) + 660)]


def test_restart_history_drops_expired_and_unreadable_entries(aws, protect, load_event):
    now = int(T0.timestamp())
    iid = launch(aws["ec2"], {"Protected": "true", "opskit:protect-restarts": f"junk {now - 7200} {now - 60}"})
    aws["ec2"].stop_instances(InstanceIds=[iid])

    with time_machine.travel(T0, tick=False):
        result = protect(MAX_RESTARTS="2").handler(stopped_event(load_event, iid), None)

    assert (result["decision"], result["restarts_in_window"]) == ("started", 2)
    assert tags_of(aws["ec2"], iid)["opskit:protect-restarts"] == f"{now - 60} {now}"


def test_cap_without_topic_still_stops_trying(aws, protect, load_event, monkeypatch):
    now = int(T0.timestamp())
    iid = launch(aws["ec2"], {"Protected": "true", "opskit:protect-restarts": f"{now - 30}"})
    aws["ec2"].stop_instances(InstanceIds=[iid])
    fn = protect(MAX_RESTARTS="1")
    monkeypatch.setenv("TOPIC_ARN", "")
    fn.config.cache_clear()

    with time_machine.travel(T0, tick=False):
        result = fn.handler(stopped_event(load_event, iid), None)

    assert (result["reason"], result["notified"]) == ("restart-cap-reached", False)
    assert state_of(aws["ec2"], iid) == "stopped"


# --- malformed input and configuration -------------------------------------------------------------


def _no_aws(service: str, **kwargs: Any) -> Any:
    raise AssertionError(f"no AWS call expected, but a {service} client was requested")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: "not an event", "event must be a JSON object"),
        (lambda e: {**e, "source": "aws.autoscaling"}, "source='aws.autoscaling'"),
        (lambda e: {**e, "detail-type": "EC2 Spot Instance Interruption Warning"}, "detail-type="),
        (lambda e: {k: v for k, v in e.items() if k != "detail"}, "event.detail must be a JSON object"),
        (lambda e: {**e, "detail": {"state": "stopped"}}, "instance-id must be an instance id"),
        (lambda e: {**e, "detail": {"instance-id": "i-XYZ", "state": "stopped"}}, "'i-XYZ'"),
        (lambda e: {**e, "detail": {"instance-id": "i-0123456789ab", "state": "running"}}, "'i-0123456789ab'"),
        (lambda e: {**e, "detail": {"instance-id": "i-0123456789abcdef0", "state": "paused"}}, "'paused'"),
    ],
)
def test_malformed_events_fail_clearly_before_any_aws_call(protect, load_event, monkeypatch, mutate, message):
    fn = protect()
    monkeypatch.setattr(boto3, "client", _no_aws)
    event = mutate(stopped_event(load_event, "i-0123456789abcdef0"))

    with pytest.raises(opskit_common.InputError, match=message):
        fn.handler(event, None)


@pytest.mark.parametrize("state", ["pending", "stopping", "shutting-down", "terminated"])
def test_other_state_changes_are_ignored_without_aws_calls(protect, load_event, monkeypatch, state):
    fn = protect()
    monkeypatch.setattr(boto3, "client", _no_aws)

    result = fn.handler(stopped_event(load_event, "i-0123456789abcdef0", state), None)

    assert (result["decision"], result["reason"]) == ("skipped", "state-not-handled")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PROTECT_TAG": "Protected"}, "PROTECT_TAG"),
        ({"MAX_RESTARTS": "0"}, "MAX_RESTARTS=0 must be >= 1"),
        ({"MAX_RESTARTS": "21"}, "MAX_RESTARTS=21 must be <= 20"),
        ({"WINDOW_SECONDS": "10"}, "WINDOW_SECONDS=10 must be >= 60"),
        ({"STOPPED_BY_TAG_KEY": " "}, "STOPPED_BY_TAG_KEY must not be empty"),
    ],
)
def test_misconfiguration_is_reported_before_any_aws_call(protect, load_event, monkeypatch, env, message):
    fn = protect(**env)
    monkeypatch.setattr(boto3, "client", _no_aws)

    with pytest.raises(opskit_common.ConfigError, match=message):
        fn.handler(stopped_event(load_event, "i-0123456789abcdef0"), None)


# --- failures -------------------------------------------------------------------------------------


def test_failed_start_is_noticed_counted_and_raised(aws, protect, load_event):
    """Stubber on ec2 (moto cannot make StartInstances fail); SNS is moto. The restart is recorded
    before the start, so a failing instance still runs into the cap."""
    iid = "i-0a1b2c3d4e5f60718"
    fn = protect()
    ec2 = opskit_common.client("ec2")
    instance = {
        "InstanceId": iid,
        "State": {"Code": 80, "Name": "stopped"},
        "StateReason": {"Code": "Client.InstanceInitiatedShutdown", "Message": "shutdown -h"},
        "Tags": [{"Key": "Protected", "Value": "true"}],
    }
    with time_machine.travel(T0, tick=False), Stubber(ec2) as stub:
        stub.add_response("describe_instances", {"Reservations": [{"Instances": [instance]}]}, {"InstanceIds": [iid]})
        stub.add_response(
            "create_tags",
            {},
            {"Resources": [iid], "Tags": [{"Key": "opskit:protect-restarts", "Value": str(int(T0.timestamp()))}]},
        )
        stub.add_client_error("start_instances", "InsufficientInstanceCapacity", "no capacity", 500)
        with pytest.raises(fn.ClientError, match="InsufficientInstanceCapacity"):
            fn.handler(stopped_event(load_event, iid), None)
        stub.assert_no_pending_responses()

    (notice,) = notices(aws)
    assert "could not start" in notice["Subject"]


def test_instance_started_by_someone_else_between_describe_and_start_is_skipped(aws, protect, load_event):
    """Stubber on ec2 (moto starts instances in any state): StartInstances answers IncorrectInstanceState."""
    iid = "i-0a1b2c3d4e5f60718"
    fn = protect()
    ec2 = opskit_common.client("ec2")
    instance = {
        "InstanceId": iid,
        "State": {"Code": 80, "Name": "stopped"},
        "Tags": [{"Key": "Protected", "Value": "true"}],
    }
    with Stubber(ec2) as stub:
        stub.add_response("describe_instances", {"Reservations": [{"Instances": [instance]}]}, {"InstanceIds": [iid]})
        stub.add_response("create_tags", {})
        stub.add_client_error(
            "start_instances", "IncorrectInstanceState", "The instance is not in a state from which it can be started."
        )
        result = fn.handler(stopped_event(load_event, iid), None)
        stub.assert_no_pending_responses()

    assert (result["decision"], result["reason"]) == ("skipped", "not-stopped")
    assert notices(aws) == []


def test_unpublished_notice_after_a_start_is_a_partial_failure(aws, protect, load_event):
    iid = launch(aws["ec2"], {"Protected": "true"})
    aws["ec2"].stop_instances(InstanceIds=[iid])
    fn = protect(TOPIC_ARN="arn:aws:sns:eu-central-1:123456789012:does-not-exist")

    with pytest.raises(opskit_common.PartialFailure, match="started again but the notice") as failure:
        fn.handler(stopped_event(load_event, iid), None)

    assert failure.value.result["decision"] == "started"
    assert state_of(aws["ec2"], iid) in ("pending", "running")
