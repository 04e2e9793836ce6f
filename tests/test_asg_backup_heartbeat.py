"""asg-backup heartbeats: a long backup's lifecycle action kept alive by one-shot EventBridge Scheduler schedules
until max_backup_seconds, then completed with the failure result.

moto serves SSM, S3, SNS and EventBridge Scheduler (create/get/list/delete schedules). Scheduler's side is
played by `fire`: it reads the schedule moto holds, deletes it (ActionAfterCompletion DELETE) and invokes the
handler with the schedule's own Input at the `at()` time (the handler's clock is set to it). moto has no
RecordLifecycleActionHeartbeat, no CompleteLifecycleAction and no instance lifecycle policy: the autoscaling
client goes through botocore's Stubber (test_asg_backup.LifecycleStubber), which checks every call and its
parameters, in order, and fails on any call that was not expected.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import opskit_common as common
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ssm.models import ssm_backends
from test_asg_backup import (
    HOOK,
    INSTANCE,
    KEY,
    REGION,
    TOKEN,
    World,
    backend_invocation,
    complete_params,
    set_env,
    status_event,
    upload_backup,
    world_context,
)

GROUP = "opskit-asg-backup-heartbeats"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:opskit-asg-backup"
ROLE_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/opskit-asg-backup-heartbeat"
DLQ_ARN = f"arn:aws:sqs:{REGION}:{DEFAULT_ACCOUNT_ID}:opskit-asg-backup-dlq"
HEARTBEAT_ENV = {
    "MAX_BACKUP_SECONDS": "7200",
    "HEARTBEAT_TIMEOUT_SECONDS": "3600",
    "HEARTBEAT_SCHEDULE_GROUP": GROUP,
    "HEARTBEAT_ROLE_ARN": ROLE_ARN,
    "FUNCTION_ARN": FUNCTION_ARN,
    "HEARTBEAT_DLQ_ARN": DLQ_ARN,
}
T0 = datetime(2026, 11, 23, 4, 31, 9, tzinfo=UTC)  # when the command was sent
INTERVAL = timedelta(seconds=1800)  # heartbeat_timeout / 2
DEADLINE = T0 + timedelta(seconds=7200)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def handler(load_handler: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch, clock: Clock) -> Any:
    module = load_handler("asg_backup")
    monkeypatch.setattr(module, "_now", clock)
    return module


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    set_env(monkeypatch)
    for name, value in HEARTBEAT_ENV.items():
        monkeypatch.setenv(name, value)
    with world_context(monkeypatch) as w:
        common.client("scheduler").create_schedule_group(Name=GROUP)
        yield w


def heartbeat_params(group: str = "web-asg") -> dict[str, Any]:
    return {
        "LifecycleHookName": HOOK,
        "AutoScalingGroupName": group,
        "InstanceId": INSTANCE,
        "LifecycleActionToken": TOKEN,
    }


def expect_heartbeat(world: World) -> None:
    world.stub.add_response("record_lifecycle_action_heartbeat", {}, heartbeat_params())


def schedules() -> dict[str, dict[str, Any]]:
    """The group's schedules as Scheduler holds them, by name."""
    scheduler = common.client("scheduler")
    names = [s["Name"] for s in scheduler.list_schedules(GroupName=GROUP)["Schedules"]]
    return {name: scheduler.get_schedule(Name=name, GroupName=GROUP) for name in names}


def at(when: datetime) -> str:
    return f"at({when:%Y-%m-%dT%H:%M:%S})"


def fire(handler: Any, clock: Clock, name: str) -> dict[str, Any]:
    """What EventBridge Scheduler does with a one-shot schedule: at its time, invoke the target with its Input
    once and delete the schedule (ActionAfterCompletion DELETE)."""
    schedule = schedules()[name]
    assert schedule["ActionAfterCompletion"] == "DELETE" and schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    clock.now = datetime.strptime(schedule["ScheduleExpression"], "at(%Y-%m-%dT%H:%M:%S)").replace(tzinfo=UTC)
    common.client("scheduler").delete_schedule(Name=name, GroupName=GROUP)
    return handler.handler(json.loads(schedule["Target"]["Input"]), None)


def start(world: World, handler: Any, load_event: Callable[[str], Any], status: str = "InProgress") -> str:
    """The lifecycle event: the command is sent at T0 and runs (`status`); a heartbeat, and heartbeat 1 scheduled."""
    expect_heartbeat(world)
    result = handler.handler(load_event("asg_backup/lifecycle-terminate.json"), None)
    assert result["decision"] == "backup_started", result
    command = ssm_backends[DEFAULT_ACCOUNT_ID][REGION].get_command_by_id(result["command_id"])
    command.requested_date_time = T0.replace(tzinfo=None)
    command.status = status
    return str(result["command_id"])


def messages(world: World) -> list[dict[str, Any]]:
    return world.messages()


# --- the chain -------------------------------------------------------------------------------------


def test_a_started_backup_gets_a_heartbeat_and_a_one_shot_schedule_for_the_next(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    expect_heartbeat(world)
    result = handler.handler(load_event("asg_backup/lifecycle-terminate.json"), None)

    world.stub.assert_no_pending_responses()  # the heartbeat was recorded, with exactly these parameters
    command_id = result["command_id"]
    assert result == {
        "decision": "backup_started",
        "instance_id": INSTANCE,
        "command_id": command_id,
        "key": KEY,
        "next_heartbeat": at(T0 + INTERVAL),
    }
    (schedule,) = schedules().values()
    assert schedule["Name"] == f"{command_id}-1"
    assert schedule["ScheduleExpression"] == at(T0 + INTERVAL) and schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["ActionAfterCompletion"] == "DELETE" and schedule["State"] == "ENABLED"
    target = schedule["Target"]
    assert (target["Arn"], target["RoleArn"], target["DeadLetterConfig"]) == (FUNCTION_ARN, ROLE_ARN, {"Arn": DLQ_ARN})
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 1800, "MaximumRetryAttempts": 185}
    beat = handler.parse_heartbeat(json.loads(target["Input"]))
    assert (beat.command_id, beat.instance_id, beat.sequence) == (command_id, INSTANCE, 1)
    assert messages(world) == []


def test_heartbeats_keep_the_action_alive_until_the_backup_succeeds(
    world: World, handler: Any, load_event: Callable[[str], Any], clock: Clock
) -> None:
    command_id = start(world, handler, load_event)
    for sequence in (1, 2, 3):
        expect_heartbeat(world)
        result = fire(handler, clock, f"{command_id}-{sequence}")
        world.stub.assert_no_pending_responses()
        assert result["decision"] == "heartbeat_recorded" and result["sequence"] == sequence
        following = min(T0 + (sequence + 1) * INTERVAL, DEADLINE)
        assert result["next_heartbeat"] == at(following)
        assert list(schedules()) == [f"{command_id}-{sequence + 1}"]
    assert schedules()[f"{command_id}-4"]["ScheduleExpression"] == at(DEADLINE)  # the last one: the deadline

    backend_invocation(command_id)["StandardOutputContent"] = ""
    ssm_backends[DEFAULT_ACCOUNT_ID][REGION].get_command_by_id(command_id).status = "Success"
    upload_backup(world)
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("CONTINUE"))
    done = handler.handler(status_event(load_event, "Success", command_id), None)

    world.stub.assert_no_pending_responses()
    assert done["decision"] == "backup_succeeded"
    assert schedules() == {}, "the pending heartbeat is deleted once the backup has ended"
    (message,) = messages(world)
    assert message["outcome"] == "BackupSucceeded" and message["instance_retained"] is False


def test_at_max_backup_seconds_the_action_is_completed_with_the_failure_result(
    world: World, handler: Any, load_event: Callable[[str], Any], clock: Clock
) -> None:
    command_id = start(world, handler, load_event)
    for sequence in (1, 2, 3):
        expect_heartbeat(world)
        fire(handler, clock, f"{command_id}-{sequence}")
    backend_invocation(command_id)["StandardOutputContent"] = "archiving /var/lib/db (41 GB)...\n"
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("ABANDON"))

    result = fire(handler, clock, f"{command_id}-4")

    world.stub.assert_no_pending_responses()  # no heartbeat at the deadline: the action is completed instead
    assert clock.now == DEADLINE
    assert result["decision"] == "backup_failed"
    assert schedules() == {}
    (message,) = messages(world)
    assert message["outcome"] == "BackupFailed" and message["lifecycle_action_result"] == "ABANDON"
    assert message["command_status"] == "InProgress"
    assert message["reason"] == (
        "the backup was still InProgress after max_backup_seconds (7200 s since the command was sent)"
    )
    assert message["output_excerpt"] == "stdout: archiving /var/lib/db (41 GB)..."


def test_the_last_heartbeat_comes_at_the_deadline_not_after_it(
    world: World,
    load_handler: Callable[[str], Any],
    load_event: Callable[[str], Any],
    monkeypatch: pytest.MonkeyPatch,
    clock: Clock,
) -> None:
    """max_backup_seconds 6000 is no multiple of the 1800 s interval: the heartbeat at +5400 s schedules the
    next one at +6000 s (not +7200 s, when the action would have outlived its deadline by 20 minutes)."""
    monkeypatch.setenv("MAX_BACKUP_SECONDS", "6000")
    handler = load_handler("asg_backup")
    monkeypatch.setattr(handler, "_now", clock)
    command_id = start(world, handler, load_event)
    for sequence in (1, 2, 3):
        expect_heartbeat(world)
        result = fire(handler, clock, f"{command_id}-{sequence}")
    assert result["next_heartbeat"] == at(T0 + timedelta(seconds=6000))
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("ABANDON"))
    assert fire(handler, clock, f"{command_id}-4")["decision"] == "backup_failed"
    world.stub.assert_no_pending_responses()
    assert clock.now == T0 + timedelta(seconds=6000)


def test_a_heartbeat_that_finds_the_command_finished_concludes_it(
    world: World, handler: Any, load_event: Callable[[str], Any], clock: Clock
) -> None:
    """The Success status event was lost: the next heartbeat completes the action as that event would have."""
    command_id = start(world, handler, load_event, status="Success")
    upload_backup(world)
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("CONTINUE"))

    result = fire(handler, clock, f"{command_id}-1")

    world.stub.assert_no_pending_responses()  # no heartbeat recorded for a finished command
    assert result["decision"] == "backup_succeeded"
    assert schedules() == {}
    assert [m["outcome"] for m in messages(world)] == ["BackupSucceeded"]


def test_a_redelivered_heartbeat_does_not_start_a_second_chain(
    world: World, handler: Any, load_event: Callable[[str], Any], clock: Clock
) -> None:
    command_id = start(world, handler, load_event)
    payload = json.loads(schedules()[f"{command_id}-1"]["Target"]["Input"])
    expect_heartbeat(world)
    expect_heartbeat(world)

    first = fire(handler, clock, f"{command_id}-1")
    again = handler.handler(payload, None)  # Lambda's retry of the same invocation

    world.stub.assert_no_pending_responses()
    assert first["decision"] == again["decision"] == "heartbeat_recorded"
    assert list(schedules()) == [f"{command_id}-2"]


def test_a_heartbeat_for_an_ended_lifecycle_action_ends_the_chain(
    world: World, handler: Any, load_event: Callable[[str], Any], clock: Clock
) -> None:
    command_id = start(world, handler, load_event)
    world.stub.add_client_error(
        "record_lifecycle_action_heartbeat",
        service_error_code="ValidationError",
        service_message=f"No active Lifecycle Action found with instance ID {INSTANCE}",
        http_status_code=400,
        expected_params=heartbeat_params(),
    )

    result = fire(handler, clock, f"{command_id}-1")

    world.stub.assert_no_pending_responses()
    assert result == {
        "decision": "already_completed",
        "instance_id": INSTANCE,
        "command_id": command_id,
        "outcome": "Heartbeat",
    }
    assert schedules() == {} and messages(world) == []


def test_a_lifecycle_action_that_ended_before_its_first_heartbeat_gets_no_schedule(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    world.stub.add_client_error(
        "record_lifecycle_action_heartbeat",
        service_error_code="ValidationError",
        service_message=f"No active Lifecycle Action found with instance ID {INSTANCE}",
        http_status_code=400,
        expected_params=heartbeat_params(),
    )
    result = handler.handler(load_event("asg_backup/lifecycle-terminate.json"), None)
    world.stub.assert_no_pending_responses()
    assert result["decision"] == "backup_started" and "next_heartbeat" not in result
    assert schedules() == {}


def test_heartbeats_that_cannot_be_scheduled_fail_the_invocation_and_its_retry_sets_them_up(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    """CreateSchedule refused (throttled): PartialFailure, so Lambda retries the event; the retry finds the
    command, no pending heartbeat, and sets the heartbeats up without sending a second command."""
    scheduler = common.client("scheduler")
    broken = {"on": True}

    def refuse(**_: Any) -> Any:
        if not broken["on"]:
            return None  # on to moto
        from botocore.awsrequest import AWSResponse

        error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}, "ResponseMetadata": {}}
        return AWSResponse("https://local", 400, {}, None), error

    scheduler.meta.events.register("before-call.scheduler.CreateSchedule", refuse)
    expect_heartbeat(world)
    with pytest.raises(common.PartialFailure, match="its heartbeats could not be set up: ThrottlingException"):
        handler.handler(load_event("asg_backup/lifecycle-terminate.json"), None)
    assert schedules() == {}
    (command,) = world.ssm.list_commands(InstanceId=INSTANCE)["Commands"]
    ssm_backends[DEFAULT_ACCOUNT_ID][REGION].get_command_by_id(command["CommandId"]).status = "InProgress"

    broken["on"] = False
    expect_heartbeat(world)
    retry = handler.handler(load_event("asg_backup/lifecycle-terminate.json"), None)

    world.stub.assert_no_pending_responses()
    assert retry == {
        "decision": "duplicate",
        "instance_id": INSTANCE,
        "command_id": command["CommandId"],
        "heartbeats_resumed": True,
    }
    assert list(schedules()) == [f"{command['CommandId']}-1"]
    assert len(world.ssm.list_commands(InstanceId=INSTANCE)["Commands"]) == 1


def test_a_redelivered_lifecycle_event_leaves_a_pending_heartbeat_alone(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    command_id = start(world, handler, load_event)
    again = handler.handler(load_event("asg_backup/lifecycle-terminate.json"), None)
    world.stub.assert_no_pending_responses()  # and no second heartbeat
    assert again == {"decision": "duplicate", "instance_id": INSTANCE, "command_id": command_id}
    assert list(schedules()) == [f"{command_id}-1"]


def test_a_failed_backup_deletes_its_pending_heartbeat(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    command_id = start(world, handler, load_event)
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("ABANDON"))
    result = handler.handler(status_event(load_event, "Failed", command_id), None)
    assert result["decision"] == "backup_failed"
    assert schedules() == {}
