"""instance_protect handler: the restart cap and failures of StartInstances/Publish.

EC2 and SNS run on moto. moto cannot make StartInstances fail or change an instance's state between two
calls, so those cases use botocore's Stubber on the ec2 client only (SNS stays on moto)."""

from __future__ import annotations

import opskit_common
import pytest
import time_machine
from botocore.stub import Stubber
from test_instance_protect import T0, launch, notices, state_of, stopped_event, tags_of
from test_instance_protect import aws as aws  # the fixtures, re-exported for pytest
from test_instance_protect import protect as protect

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
