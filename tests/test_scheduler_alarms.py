"""Issue 13, items 3 and 4: CloudWatch alarms muted while their resources are stopped (moto: alarms with
tags, DisableAlarmActions/EnableAlarmActions, the Resource Groups Tagging API), and skip dates every year
(MM-DD, frozen time with time-machine, leap years, the schedule's time zone)."""

from __future__ import annotations

import datetime as dt
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import opskit_common
import pytest
import time_machine
from botocore.exceptions import ClientError
from test_scheduler_helpers import (
    MUTED,
    alarm,
    alarm_state,
    ecs_service,
    launch,
    record_calls,
    scheduled,
)
from test_scheduler_helpers import world as world  # the fixture

PLAIN = {"Schedule": "office-hours"}


def test_alarms_are_muted_before_the_stop_and_enabled_after_a_verified_start(world: ModuleType) -> None:
    launch(PLAIN)
    alarm("cpu-high")
    alarm("disk-full")
    alarm("on-purpose-off", enabled=False)  # disabled by a person: not ours to enable
    alarm("weekend-alarm", {"Schedule": "weekends"})
    alarm("untagged", {"Team": "x"})
    calls = record_calls()

    stopped = world.handler(scheduled("stop", ["ec2", "alarms"]))

    assert calls.index("monitoring:DisableAlarmActions") < calls.index("ec2:StopInstances")
    assert {"alarm/cpu-high", "alarm/disk-full"} <= set(stopped["succeeded"])
    assert stopped["skipped"] == [
        {"id": "alarm/on-purpose-off", "reason": "actions disabled, not by the scheduler: left as they are"}
    ]
    assert alarm_state("cpu-high") == (False, {**PLAIN, MUTED: "scheduler:office-hours"})
    assert alarm_state("weekend-alarm")[0] and alarm_state("untagged")[0]

    calls.clear()
    started = world.handler(scheduled("start", ["ec2", "alarms"]))

    assert calls.index("monitoring:EnableAlarmActions") > calls.index("ec2:StartInstances")
    assert {"alarm/cpu-high", "alarm/disk-full"} <= set(started["succeeded"])
    assert alarm_state("cpu-high") == (True, PLAIN) and alarm_state("disk-full") == (True, PLAIN)
    assert alarm_state("on-purpose-off") == (False, PLAIN)


def test_alarms_stay_muted_when_the_start_failed_and_the_failure_says_so(world: ModuleType) -> None:
    good, bad = launch(PLAIN, count=2)
    alarm("cpu-high")
    world.handler(scheduled("stop", ["ec2", "alarms"]))

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if bad in params["InstanceIds"]:
            raise ClientError({"Error": {"Code": "InsufficientInstanceCapacity", "Message": "none"}}, "StartInstances")

    opskit_common.client("ec2").meta.events.register("before-parameter-build.ec2.StartInstances", refuse)
    with pytest.raises(opskit_common.PartialFailure, match=r"1 failed \(1 alarm\(s\) kept muted") as raised:
        world.handler(scheduled("start", ["ec2", "alarms"]))

    result = raised.value.result
    assert result["succeeded"] == [good]
    assert result["skipped"] == [
        {"id": "alarm/cpu-high", "reason": f"kept muted: the start failed for 1 resource(s): {bad}"}
    ]
    assert alarm_state("cpu-high") == (False, {**PLAIN, MUTED: "scheduler:office-hours"})

    # The next start that succeeds enables them.
    opskit_common.client("ec2").meta.events.unregister("before-parameter-build.ec2.StartInstances", refuse)
    assert "alarm/cpu-high" in world.handler(scheduled("start", ["ec2", "alarms"]))["succeeded"]
    assert alarm_state("cpu-high") == (True, PLAIN)


def test_an_alarm_cloudwatch_refuses_fails_alone_and_loses_its_marker(world: ModuleType) -> None:
    for name in ("a1", "a2", "a3", "a4"):
        alarm(name)

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if "a3" in params["AlarmNames"]:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DisableAlarmActions")

    opskit_common.client("cloudwatch").meta.events.register(
        "before-parameter-build.cloudwatch.DisableAlarmActions", refuse
    )
    with pytest.raises(opskit_common.PartialFailure) as raised:
        world.handler(scheduled("stop", ["alarms"]))
    result = raised.value.result
    assert result["failed"] == [{"id": "alarm/a3", "error": "not muted: AccessDenied: no"}]
    assert sorted(result["succeeded"]) == ["alarm/a1", "alarm/a2", "alarm/a4"]
    assert alarm_state("a3") == (True, PLAIN)  # no marker: a start would not touch it either


def test_alarm_calls_are_batched_where_cloudwatch_allows(world: ModuleType) -> None:
    for n in range(150):
        alarm(f"alarm-{n:03d}")
    calls = record_calls()
    result = world.handler(scheduled("stop", ["alarms"]))
    assert len(result["succeeded"]) == 150
    assert calls.count("tagging:GetResources") == 2  # 100 a page
    assert calls.count("monitoring:DescribeAlarms") == 2 and calls.count("monitoring:DisableAlarmActions") == 2
    assert calls.count("monitoring:TagResource") == 150  # TagResource takes one ARN


def test_a_dry_run_lists_the_alarms_and_mutes_nothing(world: ModuleType) -> None:
    alarm("cpu-high")
    result = world.handler(scheduled("stop", ["alarms"], dry_run=True))
    assert result["planned"] == ["alarm/cpu-high"] and alarm_state("cpu-high") == (True, PLAIN)


# --- skip dates every year -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant_utc", "timezone", "skip_dates", "skipped"),
    [
        ("2026-12-24T10:00:00", "Europe/Berlin", ["12-24"], True),
        ("2031-12-24T10:00:00", "Europe/Berlin", ["12-24"], True),  # every year
        ("2026-12-23T10:00:00", "Europe/Berlin", ["12-24"], False),
        # 23:30 UTC on 24 Dec is already the 25th in Berlin (CET, UTC+1) ...
        ("2026-12-24T23:30:00", "Europe/Berlin", ["12-25"], True),
        ("2026-12-24T23:30:00", "Europe/Berlin", ["12-24"], False),
        ("2026-12-24T23:30:00", "UTC", ["12-24"], True),
        # ... and 10:59 UTC on 31 Dec is still the 31st in Auckland (NZDT, UTC+13), 11:00 is 1 Jan.
        ("2026-12-31T10:59:00", "Pacific/Auckland", ["01-01"], False),
        ("2026-12-31T11:00:00", "Pacific/Auckland", ["01-01"], True),
        # 02-29 matches only in leap years; it never stands in for 28 Feb or 1 Mar.
        ("2028-02-29T12:00:00", "UTC", ["02-29"], True),
        ("2027-02-28T12:00:00", "UTC", ["02-29"], False),
        ("2027-03-01T12:00:00", "UTC", ["02-29"], False),
        # A one-day date still matches only its year.
        ("2027-12-24T10:00:00", "Europe/Berlin", ["2026-12-24"], False),
    ],
)
def test_yearly_skip_dates_in_the_schedule_zone(
    world: ModuleType, instant_utc: str, timezone: str, skip_dates: list[str], skipped: bool
) -> None:
    (iid,) = launch(PLAIN)
    ecs_service("api", 2)
    calls = record_calls()
    instant = dt.datetime.fromisoformat(instant_utc).replace(tzinfo=ZoneInfo("UTC"))

    with time_machine.travel(instant, tick=False):
        result = world.handler(scheduled("stop", ["ec2", "ecs"], timezone=timezone, skip_dates=skip_dates))

    if skipped:
        today = instant.astimezone(ZoneInfo(timezone)).date().isoformat()
        assert result["skip_date"] == today and calls == []
        assert f"({timezone}: {skip_dates[0]} (every year))" in result["message"]
        assert result["succeeded"] == []
    else:
        assert "skip_date" not in result and sorted(result["succeeded"]) == sorted([iid, "ecs/apps/api"])


@pytest.mark.parametrize(
    ("day", "message"),
    [
        ("02-30", "not a calendar date"),
        ("04-31", "not a calendar date"),
        ("13-01", "not a calendar date"),
        ("00-10", "not a calendar date"),
        ("2-29", "is not YYYY-MM-DD"),
        ("12-24\n", "is not YYYY-MM-DD"),
        ("1224", "is not YYYY-MM-DD"),
        ("--12-24", "is not YYYY-MM-DD"),
    ],
)
def test_a_bad_yearly_date_is_refused_before_any_call(world: ModuleType, day: str, message: str) -> None:
    calls = record_calls()
    with pytest.raises(opskit_common.InputError, match=message):
        world.handler(scheduled("stop", skip_dates=["12-25", day]))
    assert calls == []


def test_the_yearly_dates_the_module_accepts_are_the_ones_the_handler_accepts(world: ModuleType) -> None:
    """Every MM-DD of a leap year is accepted (02-29 included), and the days no month has are refused."""
    calendar = [
        (dt.date(2024, 1, 1) + dt.timedelta(days=n)).strftime("%m-%d") for n in range(366)
    ]  # 2024 is a leap year
    assert len(calendar) == 366 and "02-29" in calendar
    cfg = world.config()
    assert world.parse(scheduled("stop", skip_dates=calendar), cfg).skip_dates == frozenset(calendar)
    for impossible in ("02-30", "04-31", "06-31", "09-31", "11-31"):
        with pytest.raises(opskit_common.InputError):
            world.parse(scheduled("stop", skip_dates=[impossible]), cfg)
