"""instance_protect handler on `running` events: stop markers that outlived their stop are removed, current
ones are kept. EC2 and SNS run on moto; the exact DeleteTags request is checked with botocore's Stubber on the
ec2 client (moto cannot show whether a delete named the value)."""

from __future__ import annotations

import opskit_common
from botocore.stub import Stubber
from test_instance_protect import aws as aws  # the fixtures, re-exported for pytest
from test_instance_protect import ec2_calls, launch, notices, state_of, stopped_event, tags_of
from test_instance_protect import protect as protect

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
    monkeypatch.setenv("SCHEDULE_NAMES", '["office-hours"]')
    monkeypatch.setenv("VERIFY_TIMEOUT_SECONDS", "0")  # its start check polls; moto starts at once
    scheduler = load_handler("scheduler")
    with monkeypatch.context() as own_environment:  # the scheduler's own configuration: no summary topic
        own_environment.delenv("TOPIC_ARN")
        scheduler.config()

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
