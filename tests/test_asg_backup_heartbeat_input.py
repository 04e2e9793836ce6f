"""asg-backup heartbeat events that are refused or ignored: malformed ones before any AWS call, one naming
another instance of its command before any change, and any heartbeat while heartbeats are off.

The same world as test_asg_backup_heartbeat.py: moto for SSM, S3, SNS and EventBridge Scheduler; the
autoscaling client through botocore's Stubber (moto has no RecordLifecycleActionHeartbeat), which fails on
any call that was not expected. `fuzz.recorded_calls` records every AWS call the handler makes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import opskit_common as common
import pytest
from fuzz import recorded_calls
from test_asg_backup import INSTANCE, World
from test_asg_backup_heartbeat import clock as clock  # the fixtures, re-exported for pytest
from test_asg_backup_heartbeat import handler as handler
from test_asg_backup_heartbeat import schedules, start
from test_asg_backup_heartbeat import world as world

# --- refused or ignored heartbeats -----------------------------------------------------------------


def heartbeat_event(load_event: Callable[[str], Any], **detail: Any) -> dict[str, Any]:
    event = load_event("asg_backup/backup-heartbeat.json")
    event["detail"].update(detail)
    return event


def test_the_fixture_is_what_a_schedule_sends(handler: Any, load_event: Callable[[str], Any]) -> None:
    import asg_backup_schedules as schedules_module

    event = load_event("asg_backup/backup-heartbeat.json")
    detail = event["detail"]
    sent = datetime(2026, 11, 23, 5, 31, 8, 250_000, tzinfo=UTC)  # rounded up to the whole second
    assert event == schedules_module.payload(detail["command-id"], detail["instance-id"], detail["sequence"], sent)


def test_a_heartbeat_for_another_instance_of_the_command_is_refused_before_any_change(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    command_id = start(world, handler, load_event)
    event = heartbeat_event(load_event, **{"command-id": command_id, "instance-id": "i-0fedcba9876543210"})
    with pytest.raises(common.InputError, match=re.escape(f"targets ['{INSTANCE}'], not i-0fedcba9876543210")):
        handler.handler(event, None)
    world.stub.assert_no_pending_responses()
    assert list(schedules()) == [f"{command_id}-1"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sequence": 0}, "detail.sequence must be a whole number from 1 to 1000"),
        ({"sequence": 1001}, "from 1 to 1000"),
        ({"sequence": "2"}, "from 1 to 1000"),
        ({"sequence": True}, "from 1 to 1000"),
        ({"sequence": 2.0}, "from 1 to 1000"),
        ({"command-id": "e8d3c0e4-71f7-4491-898f-c9b35bee5f3b\n"}, "command-id"),
        ({"instance-id": "i-0123456789abcdef"}, "instance-id"),
    ],
)
def test_malformed_heartbeats_are_refused_before_any_aws_call(
    world: World, handler: Any, load_event: Callable[[str], Any], change: dict[str, Any], message: str
) -> None:
    with recorded_calls() as calls, pytest.raises(common.InputError, match=re.escape(message)):
        handler.handler(heartbeat_event(load_event, **change), None)
    assert calls == []


def test_heartbeats_are_ignored_when_max_backup_seconds_is_not_set(
    world: World, load_handler: Callable[[str], Any], load_event: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A schedule left from before heartbeats were turned off: ignored, nothing called."""
    monkeypatch.delenv("MAX_BACKUP_SECONDS")
    handler = load_handler("asg_backup")
    with recorded_calls() as calls:
        result = handler.handler(load_event("asg_backup/backup-heartbeat.json"), None)
    assert result["decision"] == "ignored" and result["reason"] == "heartbeats are off"
    assert calls == []


def test_a_heartbeat_for_a_command_that_does_not_exist_is_ignored(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    result = handler.handler(load_event("asg_backup/backup-heartbeat.json"), None)
    assert result["decision"] == "ignored" and result["reason"] == "command not found"
    world.stub.assert_no_pending_responses()
