"""restart.asl.json under moto: the stop-start step (tag, stop, forced once on timeout, start, running, untag,
status checks) and its failures, which end the ladder because the instance may be left stopped. Fixture,
`execute` and `heals`: test_restart_workflow.py."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.instances import Instance
from test_restart_workflow import ALARM, FLEET_KEY, MODULE, TAG, apis, execute, heals, moto_workflow, render


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    yield from moto_workflow()


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
