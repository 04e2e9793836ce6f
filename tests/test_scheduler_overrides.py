"""Issue 13, item 1: overrides that expire (`opskit:override = running|stopped@<ISO-8601>`), on every
scheduled kind (EC2 instance, Auto Scaling group, RDS instance and cluster, ECS service, Redshift cluster),
with frozen time (time-machine) for before and after the end; and the manual form's override_until."""

from __future__ import annotations

import datetime as dt
from types import ModuleType
from typing import Any

import opskit_common
import pytest
import time_machine
from botocore.exceptions import ClientError
from test_scheduler_helpers import (
    MARKER,
    OVERRIDE,
    asg,
    asg_state,
    client,
    db_cluster,
    db_cluster_state,
    db_instance,
    db_instance_state,
    ecs_service,
    ecs_state,
    instance,
    launch,
    record_calls,
    redshift_cluster,
    redshift_state,
    scheduled,
)
from test_scheduler_helpers import world as world  # the fixture

UNTIL = "2026-12-05T18:00:00Z"
BEFORE = dt.datetime(2026, 12, 5, 17, 59, 59, tzinfo=dt.UTC)
AT_THE_END = dt.datetime(2026, 12, 5, 18, 0, 0, tzinfo=dt.UTC)  # now == until: expired
NOW = dt.datetime(2026, 12, 1, 9, 0, 0, tzinfo=dt.UTC)


def frozen(moment: dt.datetime) -> Any:
    return time_machine.travel(moment, tick=False)


def fleet(override: str | None) -> dict[str, Any]:
    """One resource of every kind carrying `override` (None: no override tag), and one without, all running."""
    tags = {"Schedule": "office-hours", **({OVERRIDE: override} if override is not None else {})}
    plain = {"Schedule": "office-hours"}
    (held,) = launch(tags)
    (free,) = launch(plain)
    asg("held-asg", (1, 2, 1), tags)
    asg("free-asg", (1, 2, 1), plain)
    db_instance("held-db", tags)
    db_instance("free-db", plain)
    db_cluster("held-aurora", "aurora-mysql", tags)
    ecs_service("held-svc", 2, tags)
    ecs_service("free-svc", 2, plain)
    redshift_cluster("held-wh", tags)
    redshift_cluster("free-wh", plain)
    return {"held": held, "free": free}


HELD = ["asg/held-asg", "rds-db/held-db", "rds-cluster/held-aurora", "ecs/apps/held-svc", "redshift/held-wh"]
FREE = ["asg/free-asg", "rds-db/free-db", "ecs/apps/free-svc", "redshift/free-wh"]


def held_states(ids: dict[str, Any]) -> dict[str, Any]:
    return {
        "ec2": instance(ids["held"])[0],
        "asg": asg_state("held-asg")[0],
        "rds": db_instance_state("held-db")[0],
        "aurora": db_cluster_state("held-aurora")[0],
        "ecs": ecs_state("held-svc")[0],
        "redshift": redshift_state("held-wh")[0],
    }


RUNNING = {
    "ec2": "running",
    "asg": (1, 2, 1),
    "rds": "available",
    "aurora": "available",
    "ecs": 2,
    "redshift": "available",
}


def test_an_active_override_keeps_every_kind_as_it_is_and_names_its_end(world: ModuleType) -> None:
    with frozen(NOW):
        ids = fleet(f"running@{UNTIL}")
    with frozen(BEFORE):
        result = world.handler(scheduled("stop"))

    reasons = {s["id"]: s["reason"] for s in result["skipped"]}
    for label in [ids["held"], *HELD]:
        assert reasons[label] == f"override {OVERRIDE}=running@{UNTIL} keeps it running until {UNTIL}", label
    assert sorted(result["succeeded"]) == sorted([ids["free"], *FREE]) and result["failed"] == []
    assert held_states(ids) == RUNNING
    assert instance(ids["held"])[1][OVERRIDE] == f"running@{UNTIL}"  # an active override stays
    assert "overrides_cleared" not in result


def test_once_expired_the_next_run_removes_the_tag_and_acts_as_usual(world: ModuleType) -> None:
    with frozen(NOW):
        ids = fleet(f"running@{UNTIL}")
    with frozen(AT_THE_END):
        result = world.handler(scheduled("stop"))

    assert sorted(result["succeeded"]) == sorted([ids["held"], ids["free"], *HELD, *FREE])
    assert sorted(result["overrides_cleared"]) == sorted([ids["held"], *HELD])
    assert result["skipped"] == [] and result["failed"] == []
    assert held_states(ids) == {
        "ec2": "stopped", "asg": (0, 0, 0), "rds": "stopped", "aurora": "stopped", "ecs": 0, "redshift": "paused",
    }  # fmt: skip
    assert OVERRIDE not in instance(ids["held"])[1]
    assert OVERRIDE not in asg_state("held-asg")[1] and OVERRIDE not in db_instance_state("held-db")[1]
    assert OVERRIDE not in db_cluster_state("held-aurora")[2] and OVERRIDE not in ecs_state("held-svc")[1]
    assert OVERRIDE not in redshift_state("held-wh")[1]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("running", "expected running@<ISO-8601 time>"),
        (f"paused@{UNTIL}", "expected running@<ISO-8601 time>"),
        ("running@tomorrow", "is not an ISO-8601 time"),
        ("stopped@2026-12-05T18:00:00", "has no time zone"),
        ("running@2026-13-01T00:00:00Z", "is not an ISO-8601 time"),
    ],
)
def test_a_malformed_override_leaves_the_resource_alone_and_fails_the_run(
    world: ModuleType, value: str, why: str
) -> None:
    with frozen(NOW):
        ids = fleet(value)
        with pytest.raises(opskit_common.PartialFailure, match="6 failed") as raised:
            world.handler(scheduled("stop"))

    result = raised.value.result
    errors = {f["id"]: f["error"] for f in result["failed"]}
    assert sorted(errors) == sorted([ids["held"], *HELD])
    assert all(e.startswith(f"malformed {OVERRIDE} tag {value!r} (") and why in e for e in errors.values()), errors
    assert sorted(result["succeeded"]) == sorted([ids["free"], *FREE])  # the healthy part is finished
    assert held_states(ids) == RUNNING


def test_an_override_is_reported_whatever_the_state_and_both_states_are_honoured(world: ModuleType) -> None:
    """A start: the running instance held `running@` is reported (not only instances the run would start),
    and a stopped one held `stopped@` stays stopped."""
    (running,) = launch({"Schedule": "office-hours", OVERRIDE: f"running@{UNTIL}"})
    (stopped,) = launch({"Schedule": "office-hours", OVERRIDE: f"stopped@{UNTIL}"})
    (plain,) = launch({"Schedule": "office-hours"})
    client("ec2").stop_instances(InstanceIds=[stopped, plain])
    with frozen(BEFORE):
        result = world.handler(scheduled("start", ["ec2"]))
    assert result["succeeded"] == [plain]
    assert {s["id"]: s["reason"].split(" keeps it ")[1] for s in result["skipped"]} == {
        running: f"running until {UNTIL}",
        stopped: f"stopped until {UNTIL}",
    }
    assert instance(stopped)[0] == "stopped"


def test_an_expired_override_is_kept_in_a_dry_run(world: ModuleType) -> None:
    (held,) = launch({"Schedule": "office-hours", OVERRIDE: f"running@{UNTIL}"})
    with frozen(AT_THE_END):
        result = world.handler(scheduled("stop", ["ec2"], dry_run=True))
    assert result["planned"] == [held] and "overrides_cleared" not in result
    assert instance(held) == ("running", {"Schedule": "office-hours", OVERRIDE: f"running@{UNTIL}"})


def test_an_expired_override_that_cannot_be_removed_fails_and_is_not_acted_on(world: ModuleType) -> None:
    (held,) = launch({"Schedule": "office-hours", OVERRIDE: f"running@{UNTIL}"})
    (free,) = launch({"Schedule": "office-hours"})

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if params["Tags"] == [{"Key": OVERRIDE}]:
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DeleteTags")

    world.common.client("ec2").meta.events.register("before-parameter-build.ec2.DeleteTags", refuse)
    with frozen(AT_THE_END), pytest.raises(opskit_common.PartialFailure) as raised:
        world.handler(scheduled("stop", ["ec2"]))
    result = raised.value.result
    assert result["failed"] == [
        {"id": held, "error": f"could not remove the expired {OVERRIDE} tag: UnauthorizedOperation: no"}
    ]
    assert result["succeeded"] == [free] and instance(held)[0] == "running"


# --- manual override_until -------------------------------------------------------------------------


def test_manual_override_keeps_instances_running_until_it_expires(world: ModuleType) -> None:
    """`make invoke ACTION=start IDS=... UNTIL=...`: the listed instances are tagged running@<until> (the one
    already running too) and started; the 19:00 stop leaves them alone; the first stop after the end
    removes the tag and stops them."""
    stopped, running = launch({"Schedule": "office-hours"}, count=2)
    (untagged,) = launch()
    client("ec2").stop_instances(InstanceIds=[stopped])
    event = {
        "action": "start",
        "instance_ids": [stopped, running, untagged],
        "override_until": "2026-12-05T19:00:00+01:00",
    }

    with frozen(NOW), pytest.raises(opskit_common.PartialFailure) as raised:
        world.handler(event)
    result = raised.value.result
    assert result["override"] == {"key": OVERRIDE, "value": f"running@{UNTIL}"}  # normalised to UTC
    assert result["succeeded"] == [stopped]
    assert result["skipped"] == [{"id": running, "reason": "already running"}]
    assert [f["id"] for f in result["failed"]] == [untagged]
    assert instance(stopped) == ("running", {"Schedule": "office-hours", OVERRIDE: f"running@{UNTIL}"})
    assert instance(running)[1][OVERRIDE] == f"running@{UNTIL}" and OVERRIDE not in instance(untagged)[1]

    with frozen(BEFORE):
        evening = world.handler(scheduled("stop", ["ec2"]))
    assert evening["succeeded"] == [] and {s["id"] for s in evening["skipped"]} == {stopped, running}

    with frozen(AT_THE_END):
        later = world.handler(scheduled("stop", ["ec2"]))
    assert sorted(later["succeeded"]) == sorted([stopped, running])
    assert sorted(later["overrides_cleared"]) == sorted([stopped, running])
    assert instance(stopped) == ("stopped", {"Schedule": "office-hours", MARKER: "scheduler:office-hours"})


def test_manual_stop_override_keeps_an_instance_stopped_through_the_morning_start(world: ModuleType) -> None:
    (iid,) = launch({"Schedule": "office-hours"})
    with frozen(NOW):
        result = world.handler({"action": "stop", "instance_ids": [iid], "override_until": UNTIL})
    assert result["succeeded"] == [iid]
    assert instance(iid) == (
        "stopped",
        {"Schedule": "office-hours", OVERRIDE: f"stopped@{UNTIL}", MARKER: "scheduler:manual"},
    )
    with frozen(BEFORE):
        morning = world.handler(scheduled("start", ["ec2"]))
    assert morning["succeeded"] == [] and morning["skipped"][0]["id"] == iid and instance(iid)[0] == "stopped"


def test_a_manual_start_that_fails_takes_its_override_back(world: ModuleType) -> None:
    good, bad = launch({"Schedule": "office-hours"}, count=2)
    client("ec2").stop_instances(InstanceIds=[good, bad])

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if bad in params["InstanceIds"]:
            raise ClientError({"Error": {"Code": "InsufficientInstanceCapacity", "Message": "none"}}, "StartInstances")

    world.common.client("ec2").meta.events.register("before-parameter-build.ec2.StartInstances", refuse)
    with frozen(NOW), pytest.raises(opskit_common.PartialFailure):
        world.handler({"action": "start", "instance_ids": [good, bad], "override_until": UNTIL})
    assert instance(good)[1][OVERRIDE] == f"running@{UNTIL}"
    assert OVERRIDE not in instance(bad)[1]  # it did not reach the state the override keeps


@pytest.mark.parametrize(
    ("until", "message"),
    [
        ("2026-12-01T08:59:59Z", "is not in the future"),
        ("2026-12-01T09:00:00Z", "is not in the future"),
        ("2027-03-01T09:00:01Z", "more than 90 days ahead"),
        ("2026-12-05T18:00:00", "has no time zone"),
        ("next friday", "is not an ISO-8601 time"),
        (1796500000, "must be a string"),
        ("9999-12-31T23:59:59-01:00", "is not an ISO-8601 time"),
    ],
)
def test_a_bad_override_until_is_refused_before_any_call(world: ModuleType, until: Any, message: str) -> None:
    (iid,) = launch({"Schedule": "office-hours"})
    calls = record_calls()
    with frozen(NOW), pytest.raises(opskit_common.InputError, match=message):
        world.handler({"action": "stop", "instance_ids": [iid], "override_until": until})
    assert calls == [] and instance(iid) == ("running", {"Schedule": "office-hours"})


def test_override_until_is_only_for_the_manual_form(world: ModuleType) -> None:
    calls = record_calls()
    with frozen(NOW), pytest.raises(opskit_common.InputError, match="only accepted with instance_ids"):
        world.handler(scheduled("stop", override_until=UNTIL))
    assert calls == []


def test_ninety_days_ahead_is_the_last_accepted_end(world: ModuleType) -> None:
    (iid,) = launch({"Schedule": "office-hours"})
    with frozen(NOW):
        result = world.handler({"action": "stop", "instance_ids": [iid], "override_until": "2027-03-01T09:00:00Z"})
    assert result["override"]["value"] == "stopped@2027-03-01T09:00:00Z"
