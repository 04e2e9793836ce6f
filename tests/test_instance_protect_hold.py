"""instance_protect handler: the hold tag keeps a protected instance that an operator stopped on purpose
(e.g. to contain an incident) stopped. EC2 and SNS run on moto.

Runbook (modules/instance-protect/README.md): tag it (`opskit:hold`, any value), then stop it."""

from __future__ import annotations

import opskit_common
import pytest
import time_machine
from botocore.stub import Stubber
from test_instance_protect import T0, ec2_calls, launch, notices, state_of, stopped_event, tags_of
from test_instance_protect import aws as aws  # the fixtures, re-exported for pytest
from test_instance_protect import protect as protect

HOLD = "opskit:hold"


def test_held_instance_stays_stopped_and_a_notice_says_so(aws, protect, load_event):
    ec2 = aws["ec2"]
    iid = launch(ec2, {"Protected": "true", "Name": "db-1"})
    ec2.create_tags(Resources=[iid], Tags=[{"Key": HOLD, "Value": "INC-4711 contained"}])  # first the tag,
    ec2.stop_instances(InstanceIds=[iid])  # then the stop
    fn = protect()
    calls = ec2_calls()

    result = fn.handler(stopped_event(load_event, iid), None)

    assert result == {
        "decision": "skipped",
        "reason": "held",
        "instance_id": iid,
        "held": "INC-4711 contained",
        "notified": True,
        "restarts_in_window": 0,
    }
    assert calls == ["DescribeInstances"]  # nothing written, nothing started
    assert state_of(ec2, iid) == "stopped"
    assert "opskit:protect-restarts" not in tags_of(ec2, iid)
    (notice,) = notices(aws)
    assert notice["Subject"] == "opskit instance-protect: db-1 stays stopped (on hold)"
    assert iid in notice["Message"] and "opskit:hold" in notice["Message"] and "INC-4711 contained" in notice["Message"]
    assert "Delete the tag opskit:hold to protect it again" in notice["Message"]


@pytest.mark.parametrize("value", ["", "true", "no"])
def test_any_value_of_the_hold_tag_holds(aws, protect, load_event, value):
    iid = launch(aws["ec2"], {"Protected": "true", HOLD: value})
    aws["ec2"].stop_instances(InstanceIds=[iid])

    result = protect().handler(stopped_event(load_event, iid), None)

    assert (result["decision"], result["reason"], result["held"]) == ("skipped", "held", value)
    assert state_of(aws["ec2"], iid) == "stopped"


def test_hold_tag_key_is_configurable(aws, protect, load_event):
    ec2 = aws["ec2"]
    custom = launch(ec2, {"Protected": "true", "ops:freeze": "yes"})
    default_key = launch(ec2, {"Protected": "true", HOLD: "yes"})
    ec2.stop_instances(InstanceIds=[custom, default_key])
    fn = protect(HOLD_TAG_KEY="ops:freeze")

    assert fn.handler(stopped_event(load_event, custom), None)["reason"] == "held"
    assert fn.handler(stopped_event(load_event, default_key), None)["decision"] == "started"


def test_removing_the_hold_restores_protection(aws, protect, load_event):
    """The full runbook: hold, stop (stays stopped), start by hand while still held (nothing happens to the
    tag), a stop while held (stays stopped), delete the tag, the next unplanned stop is restarted."""
    ec2 = aws["ec2"]
    iid = launch(ec2, {"Protected": "true", "Name": "app-1"})
    fn = protect()

    ec2.create_tags(Resources=[iid], Tags=[{"Key": HOLD, "Value": "investigating"}])
    ec2.stop_instances(InstanceIds=[iid])
    first = fn.handler(stopped_event(load_event, iid), None)
    ec2.start_instances(InstanceIds=[iid])
    running = fn.handler(stopped_event(load_event, iid, "running"), None)
    ec2.stop_instances(InstanceIds=[iid])
    second = fn.handler(stopped_event(load_event, iid), None)
    ec2.delete_tags(Resources=[iid], Tags=[{"Key": HOLD}])
    ec2.start_instances(InstanceIds=[iid])
    ec2.stop_instances(InstanceIds=[iid])
    released = fn.handler(stopped_event(load_event, iid), None)

    assert [first["reason"], running["reason"], second["reason"]] == ["held", "no-stale-marker", "held"]
    assert (released["decision"], released["reason"]) == ("started", "unplanned-stop")
    assert state_of(ec2, iid) == "running"
    subjects = [n["Subject"] for n in notices(aws)]
    assert sorted(subjects) == sorted(
        ["opskit instance-protect: app-1 stays stopped (on hold)"] * 2
        + ["opskit instance-protect: started app-1 again"]
    )


def test_a_planned_opskit_stop_of_a_held_instance_stays_quiet(aws, protect, load_event):
    """The scheduler's nightly stop of a held instance is still `stopped-by-opskit`, without a notice."""
    iid = launch(aws["ec2"], {"Protected": "true", HOLD: "x", "opskit:stopped-by": "scheduler:office-hours"})
    aws["ec2"].stop_instances(InstanceIds=[iid])

    result = protect().handler(stopped_event(load_event, iid), None)

    assert result["reason"] == "stopped-by-opskit"
    assert notices(aws) == []


def test_hold_is_reported_instead_of_the_restart_cap(aws, protect, load_event):
    now = int(T0.timestamp())
    iid = launch(aws["ec2"], {"Protected": "true", HOLD: "x", "opskit:protect-restarts": f"{now - 60}"})
    aws["ec2"].stop_instances(InstanceIds=[iid])

    with time_machine.travel(T0, tick=False):
        result = protect(MAX_RESTARTS="1").handler(stopped_event(load_event, iid), None)

    assert (result["reason"], result["restarts_in_window"]) == ("held", 1)
    assert [n["Subject"] for n in notices(aws)] == [f"opskit instance-protect: {iid} stays stopped (on hold)"]


def test_unprotected_instance_with_a_hold_tag_is_simply_not_protected(aws, protect, load_event):
    iid = launch(aws["ec2"], {HOLD: "x"})
    aws["ec2"].stop_instances(InstanceIds=[iid])

    result = protect().handler(stopped_event(load_event, iid), None)

    assert result["reason"] == "not-protected"
    assert notices(aws) == []


def test_held_spot_instance_is_reported_as_held(aws, protect, load_event):
    """Stubber on ec2 (moto cannot interrupt a Spot Instance); only DescribeInstances is answered, so a
    CreateTags or StartInstances call would fail the test."""
    iid = "i-0a1b2c3d4e5f60718"
    fn = protect()
    instance = {
        "InstanceId": iid,
        "InstanceLifecycle": "spot",
        "State": {"Code": 80, "Name": "stopped"},
        "StateReason": {"Code": "Server.SpotInstanceShutdown", "Message": "Server.SpotInstanceShutdown"},
        "Tags": [{"Key": "Protected", "Value": "true"}, {"Key": HOLD, "Value": "x"}],
    }
    with Stubber(opskit_common.client("ec2")) as stub:
        stub.add_response("describe_instances", {"Reservations": [{"Instances": [instance]}]}, {"InstanceIds": [iid]})
        result = fn.handler(stopped_event(load_event, iid), None)
        stub.assert_no_pending_responses()

    assert result["reason"] == "held"


def test_notice_about_a_held_instance_is_bounded_whatever_its_tags_hold(aws, protect, load_event):
    iid = launch(aws["ec2"], {"Protected": "true", "Name": "n" * 256, HOLD: "h" * 256})
    aws["ec2"].stop_instances(InstanceIds=[iid])

    result = protect().handler(stopped_event(load_event, iid), None)

    (notice,) = notices(aws)
    assert len(notice["Subject"]) < 100
    assert "n" * 101 not in notice["Message"] and "(156 more characters)" in notice["Message"]
    assert result["held"] == "h" * 200 + "... (56 more characters)"
