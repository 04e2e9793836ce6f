"""functions/scheduler on moto: selection, batching, bisection, ASG and RDS, skip dates, hibernation,
dry run, bad input, start verification and the opskit:stopped-by marker."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import opskit_common
import pytest
import time_machine
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.ec2.models.instances import StateReason

REGION = "eu-central-1"
MARKER = "opskit:stopped-by"
SAVED = "opskit:scheduler-saved-size"
SCHEDULES = ["office-hours", "weekends"]  # the configured schedules (SCHEDULE_NAMES)


_inspect: dict[str, Any] = {}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # building moto's image catalogue takes ~0.4 s
    with mock_aws():
        _inspect.clear()
        yield


@pytest.fixture
def sched(aws: None, load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The handler with a fake clock: sleep() advances monotonic() instead of waiting."""
    for key in ("TAG_KEY", "DRY_RUN", "HIBERNATE", "VERIFY_TIMEOUT_SECONDS"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SCHEDULE_NAMES", json.dumps(SCHEDULES))  # what modules/scheduler passes
    module = load_handler("scheduler")
    clock = {"now": 0.0}
    module.monotonic = lambda: clock["now"]
    module.sleep = lambda seconds: clock.__setitem__("now", clock["now"] + seconds)
    return module


def ec2() -> Any:
    """The test's own client (its calls are not counted); hooks go on opskit_common.client(...)."""
    return client("ec2")


def client(service: str) -> Any:
    if service not in _inspect:
        _inspect[service] = boto3.client(service, region_name=REGION)
    return _inspect[service]


def ami() -> str:
    return "ami-0123456789abcdef0"  # moto does not validate image ids by default


def launch(count: int = 1, tags: dict[str, str] | None = None, reservations: int = 1, **extra: Any) -> list[str]:
    """`reservations` separate RunInstances calls (moto pages DescribeInstances by reservation)."""
    spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}]
    ids: list[str] = []
    image = ami()
    for _ in range(reservations):
        kwargs: dict[str, Any] = {"ImageId": image, "MinCount": count, "MaxCount": count, **extra}
        if tags:
            kwargs["TagSpecifications"] = spec
        ids += [i["InstanceId"] for i in ec2().run_instances(**kwargs)["Instances"]]
    return ids


def states(ids: list[str]) -> dict[str, str]:
    pages = ec2().get_paginator("describe_instances").paginate(InstanceIds=ids)
    return {i["InstanceId"]: i["State"]["Name"] for p in pages for r in p["Reservations"] for i in r["Instances"]}


def tags_of(instance_id: str) -> dict[str, str]:
    reservation = ec2().describe_instances(InstanceIds=[instance_id])["Reservations"][0]
    return opskit_common.tags_to_dict(reservation["Instances"][0].get("Tags"))


def scheduled(action: str, schedule: str = "office-hours", **extra: Any) -> dict[str, Any]:
    event = {
        "action": action,
        "schedule": schedule,
        "timezone": "Europe/Berlin",
        "skip_dates": [],
        "resources": ["ec2", "asg", "rds"],
        "dry_run": False,
    }
    return {**event, **extra}


def count_calls(*services: str) -> Counter[str]:
    """Count every API call the handler's cached clients make (botocore before-call hook)."""
    calls: Counter[str] = Counter()
    for service in services:
        opskit_common.client(service).meta.events.register(
            "before-call.*.*", lambda model, **_: calls.update([model.name])
        )
    return calls


def fail_for(operation: str, bad: set[str], code: str = "UnauthorizedOperation") -> list[list[str]]:
    """Make `operation` fail for any request that includes one of `bad` (moto never fails on its own).
    Returns the InstanceIds of every attempted request."""
    attempts: list[list[str]] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        ids = list(params.get("InstanceIds") or params.get("Resources") or [])
        attempts.append(ids)
        if bad & set(ids):
            raise ClientError({"Error": {"Code": code, "Message": f"injected for {sorted(bad & set(ids))}"}}, operation)

    opskit_common.client("ec2").meta.events.register(f"before-parameter-build.ec2.{operation}", hook)
    return attempts


# --- EC2 -------------------------------------------------------------------------------------------


def test_stop_then_start_over_several_pages_in_batched_calls(
    sched: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sched, "PAGE_SIZE", 5)
    monkeypatch.setattr(sched, "BATCH_SIZE", 4)
    ours = launch(1, {"Schedule": "office-hours"}, reservations=12)
    other = launch(1, {"Schedule": "weekends"}) + launch(1)
    calls = count_calls("ec2", "autoscaling", "rds")

    result = sched.handler(scheduled("stop"))

    assert sorted(result["succeeded"]) == sorted(ours)
    assert result["failed"] == [] and result["dry_run"] is False
    assert set(states(ours).values()) == {"stopped"}
    assert set(states(other).values()) == {"running"}
    assert calls["DescribeInstances"] == 3  # 12 reservations at 5 per page
    assert calls["StopInstances"] == 3 and calls["CreateTags"] == 3  # 12 ids in batches of 4
    assert all(tags_of(i)[MARKER] == "scheduler:office-hours" for i in ours)

    calls.clear()
    result = sched.handler(scheduled("start"))
    assert sorted(result["succeeded"]) == sorted(ours)
    assert set(states(ours).values()) == {"running"}
    assert calls["StartInstances"] == 3 and calls["DeleteTags"] == 3
    assert not any(MARKER in tags_of(i) for i in ours)


def test_instances_inside_an_asg_are_left_to_the_group(sched: ModuleType) -> None:
    alone = launch(1, {"Schedule": "office-hours"})
    member = launch(1, {"Schedule": "office-hours", "aws:autoscaling:groupName": "web"})

    result = sched.handler(scheduled("stop", resources=["ec2"]))

    assert result["succeeded"] == alone
    assert states(member)[member[0]] == "running"


def test_bisection_isolates_one_failing_instance(sched: ModuleType) -> None:
    ids = launch(1, {"Schedule": "office-hours"}, reservations=16)
    bad = ids[5]
    attempts = fail_for("StopInstances", {bad})

    with pytest.raises(opskit_common.PartialFailure) as raised:
        sched.handler(scheduled("stop", resources=["ec2"]))

    result = raised.value.result
    assert bad in str(raised.value)
    assert result["failed"] == [{"id": bad, "error": f"UnauthorizedOperation: injected for ['{bad}']"}]
    assert sorted(result["succeeded"]) == sorted(set(ids) - {bad})
    current = states(ids)
    assert current.pop(bad) == "running" and set(current.values()) == {"stopped"}
    assert MARKER not in tags_of(bad)  # the marker is taken back from the instance that did not stop
    assert tags_of(ids[0])[MARKER] == "scheduler:office-hours"
    # 16 ids: the whole batch, then halves down to the single id: 1 + 2*log2(16) requests
    assert len(attempts) == 9


def test_a_batch_ec2_does_not_answer_fails_alone_and_loses_its_marker(
    sched: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No answer at all (connection error, client retries exhausted) is not bisected: that batch fails,
    the next batches still run, and the instances that kept running get their marker taken back."""
    monkeypatch.setattr(sched, "BATCH_SIZE", 4)
    ids = launch(1, {"Schedule": "office-hours"}, reservations=8)
    attempts: list[list[str]] = []

    def no_answer_first_time(params: dict[str, Any], **_: Any) -> None:
        attempts.append(list(params["InstanceIds"]))
        if len(attempts) == 1:
            raise EndpointConnectionError(endpoint_url=f"https://ec2.{REGION}.amazonaws.com/")

    opskit_common.client("ec2").meta.events.register("before-parameter-build.ec2.StopInstances", no_answer_first_time)

    with pytest.raises(opskit_common.PartialFailure) as raised:
        sched.handler(scheduled("stop", resources=["ec2"]))

    result = raised.value.result
    lost = attempts[0]
    assert len(attempts) == 2  # one call per batch: the unanswered batch was not split
    assert sorted(f["id"] for f in result["failed"]) == sorted(lost)
    assert all(f["error"].startswith("EndpointConnectionError: ") for f in result["failed"])
    assert sorted(result["succeeded"]) == sorted(set(ids) - set(lost))
    current = states(ids)
    assert {current[i] for i in lost} == {"running"} and {current[i] for i in result["succeeded"]} == {"stopped"}
    assert not any(MARKER in tags_of(i) for i in lost)
    assert all(tags_of(i)[MARKER] == "scheduler:office-hours" for i in result["succeeded"])


def test_unreadable_states_after_a_start_end_the_verification_not_the_run(sched: ModuleType) -> None:
    ids = launch(1, {"Schedule": "office-hours"}, reservations=2)
    ec2().stop_instances(InstanceIds=ids)
    ec2().create_tags(Resources=ids, Tags=[{"Key": MARKER, "Value": "scheduler:office-hours"}])
    started = {"done": False}

    def no_answer_after_the_start(**_: Any) -> None:
        if started["done"]:
            raise EndpointConnectionError(endpoint_url=f"https://ec2.{REGION}.amazonaws.com/")

    client = opskit_common.client("ec2")
    client.meta.events.register("after-call.ec2.StartInstances", lambda **_: started.__setitem__("done", True))
    client.meta.events.register("before-parameter-build.ec2.DescribeInstances", no_answer_after_the_start)

    result = sched.handler(scheduled("start", resources=["ec2"]))

    assert started["done"] and result["failed"] == []
    assert sorted(result["succeeded"]) == sorted(ids)
    assert set(states(ids).values()) == {"running"} and not any(MARKER in tags_of(i) for i in ids)


@pytest.mark.parametrize("manual", [False, True], ids=["scheduled", "manual"])
def test_start_reports_instances_that_fell_back_to_stopped(sched: ModuleType, manual: bool) -> None:
    """EC2 accepts the start, then the instance returns to `stopped` (e.g. its EBS volume's KMS key is
    unusable). The injected sleep plays EC2's part between the start call and the verification read."""
    ids = launch(1, {"Schedule": "office-hours"}, reservations=3)
    ec2().stop_instances(InstanceIds=ids)
    ec2().create_tags(Resources=ids, Tags=[{"Key": MARKER, "Value": "scheduler:office-hours"}])
    broken = ids[1]
    sleeps: list[float] = []
    advance = sched.sleep

    def ec2_fails_the_start(seconds: float) -> None:
        sleeps.append(seconds)
        advance(seconds)
        instance = ec2_backends[DEFAULT_ACCOUNT_ID][REGION].get_instance(broken)
        instance.stop()
        instance.state_reason = StateReason("Client.InternalError: Client error on launch", "Client.InternalError")

    sched.sleep = ec2_fails_the_start

    with pytest.raises(opskit_common.PartialFailure) as raised:
        sched.handler({"action": "start", "instance_ids": ids} if manual else scheduled("start", resources=["ec2"]))

    result = raised.value.result
    assert result["failed"] == [
        {"id": broken, "error": "started but fell back to stopped: Client.InternalError: Client error on launch"}
    ]
    assert sorted(result["succeeded"]) == sorted(set(ids) - {broken})
    assert sleeps == [5.0]  # one poll was enough: nothing stayed pending
    assert MARKER in tags_of(broken) and MARKER not in tags_of(ids[0])


def test_verification_is_bounded_by_the_timeout(sched: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERIFY_TIMEOUT_SECONDS", "12")
    sched.config.cache_clear()
    ids = launch(1, {"Schedule": "office-hours"})
    ec2().stop_instances(InstanceIds=ids)
    sleeps: list[float] = []
    advance = sched.sleep

    def record(seconds: float) -> None:
        sleeps.append(seconds)
        advance(seconds)

    sched.sleep = record
    backend = ec2_backends[DEFAULT_ACCOUNT_ID][REGION]
    opskit_common.client("ec2").meta.events.register(
        "after-call.ec2.StartInstances", lambda **_: backend.get_instance(ids[0])._state.__setattr__("name", "pending")
    )
    calls = count_calls("ec2")

    result = sched.handler(scheduled("start", resources=["ec2"]))

    assert sleeps == [5.0, 5.0, 2.0]  # polls stop at the 12 s deadline while the instance is still pending
    assert calls["DescribeInstances"] == 1 + 3
    assert result["succeeded"] == ids


def test_hibernate_falls_back_to_plain_stop(sched: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIBERNATE", "true")
    sched.config.cache_clear()
    capable = launch(2, {"Schedule": "office-hours"}, HibernationOptions={"Configured": True})
    plain = launch(1, {"Schedule": "office-hours"})
    requests: list[tuple[list[str], bool]] = []

    def refuse_hibernation(params: dict[str, Any], **_: Any) -> None:
        requests.append((list(params["InstanceIds"]), bool(params.get("Hibernate"))))
        if params.get("Hibernate"):
            raise ClientError(
                {"Error": {"Code": "UnsupportedHibernationConfiguration", "Message": "not ready"}}, "StopInstances"
            )

    opskit_common.client("ec2").meta.events.register("before-parameter-build.ec2.StopInstances", refuse_hibernation)

    result = sched.handler(scheduled("stop", resources=["ec2"]))

    assert sorted(result["succeeded"]) == sorted(capable + plain)
    assert set(states(capable + plain).values()) == {"stopped"}
    assert requests == [(capable, True), (capable, False), (plain, False)]


def test_dry_run_acts_on_nothing(sched: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = launch(2, {"Schedule": "office-hours"})
    make_asg("web", 1, 2, 1)
    calls = count_calls("ec2", "autoscaling", "rds")

    result = sched.handler(scheduled("stop", dry_run=True))

    assert result["dry_run"] is True and result["succeeded"] == []
    assert sorted(result["planned"]) == sorted([*ids, "asg/web"])
    assert set(calls) <= {"DescribeInstances", "DescribeAutoScalingGroups", "DescribeDBInstances", "DescribeDBClusters"}
    assert set(states(ids).values()) == {"running"}

    monkeypatch.setenv("DRY_RUN", "true")  # the environment switch forces dry run for every event
    sched.config.cache_clear()
    assert sched.handler(scheduled("stop"))["dry_run"] is True
    assert set(states(ids).values()) == {"running"}


# --- manual form -----------------------------------------------------------------------------------


def test_manual_stop_only_touches_listed_instances_of_configured_schedules(
    sched: ModuleType, load_event: Callable[[str], Any]
) -> None:
    """Tagging an instance Schedule=<anything> does not enrol it: its tag must name a configured schedule
    (the IAM policy allows nothing else, and the function does not even try)."""
    tagged = launch(1, {"Schedule": "office-hours"})
    rogue = launch(1, {"Schedule": "anything"})
    untagged = launch(1)
    unlisted = launch(1, {"Schedule": "office-hours"})
    already = launch(1, {"Schedule": "weekends"})
    ec2().stop_instances(InstanceIds=already)
    event = load_event("scheduler/manual-stop.json")
    event["instance_ids"] = [*tagged, *rogue, *untagged, *already, "i-0123456789abcdef0"]
    calls: list[dict[str, Any]] = []
    for operation in ("CreateTags", "StopInstances"):
        opskit_common.client("ec2").meta.events.register(
            f"before-parameter-build.ec2.{operation}", lambda params, **_: calls.append(dict(params))
        )

    with pytest.raises(opskit_common.PartialFailure) as raised:
        sched.handler(event)

    result = raised.value.result
    assert result["schedule"] == "manual" and result["succeeded"] == tagged
    assert result["skipped"] == [{"id": already[0], "reason": "already stopped"}]
    assert result["failed"] == [
        {
            "id": rogue[0],
            "error": "tagged Schedule='anything', which names no configured schedule; "
            "the function's IAM policy only allows instances of configured schedules",
        },
        {"id": untagged[0], "error": "not tagged Schedule; the function's IAM policy only allows tagged instances"},
        {"id": "i-0123456789abcdef0", "error": "instance not found in this account and region"},
    ]
    assert all(c.get("Resources", c.get("InstanceIds")) == tagged for c in calls) and len(calls) == 2
    assert tags_of(tagged[0])[MARKER] == "scheduler:manual"
    assert MARKER not in tags_of(rogue[0])
    assert states(rogue + untagged + unlisted) == {rogue[0]: "running", untagged[0]: "running", unlisted[0]: "running"}


# --- Auto Scaling groups ---------------------------------------------------------------------------


def make_asg(name: str, minimum: int, maximum: int, desired: int, schedule: str = "office-hours") -> None:
    ec2().create_launch_template(LaunchTemplateName=f"{name}-lt", LaunchTemplateData={"ImageId": ami()})
    client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": f"{name}-lt"},
        MinSize=minimum,
        MaxSize=maximum,
        DesiredCapacity=desired,
        AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": "Schedule", "Value": schedule, "PropagateAtLaunch": True}],
    )


def asg_state(name: str) -> tuple[tuple[int, int, int], dict[str, str]]:
    group = client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    g = group["AutoScalingGroups"][0]
    return (g["MinSize"], g["MaxSize"], g["DesiredCapacity"]), opskit_common.tags_to_dict(g["Tags"])


def test_asg_size_is_saved_on_stop_and_restored_exactly_on_start(sched: ModuleType) -> None:
    make_asg("web", 2, 4, 3)
    make_asg("batch", 1, 1, 1, schedule="weekends")
    members = [i["InstanceId"] for r in ec2().describe_instances()["Reservations"] for i in r["Instances"]]

    stopped = sched.handler(scheduled("stop"))
    assert stopped["succeeded"] == ["asg/web"]
    assert not set(members) & set(stopped["succeeded"])  # the group's instances are the group's business
    size, tags = asg_state("web")
    assert size == (0, 0, 0) and tags[SAVED] == "min=2,max=4,desired=3"
    assert asg_state("batch")[0] == (1, 1, 1)

    again = sched.handler(scheduled("stop"))  # a repeated stop must not overwrite the saved size with zeros
    assert again["skipped"] == [{"id": "asg/web", "reason": "already 0/0/0"}]
    assert asg_state("web")[1][SAVED] == "min=2,max=4,desired=3"

    started = sched.handler(scheduled("start"))
    assert started["succeeded"] == ["asg/web"]
    size, tags = asg_state("web")
    assert size == (2, 4, 3) and SAVED not in tags


def test_asg_without_saved_size_is_skipped_on_start(sched: ModuleType) -> None:
    make_asg("web", 1, 2, 1)
    result = sched.handler(scheduled("start"))
    assert result["skipped"] == [{"id": "asg/web", "reason": "no saved size (not stopped by the scheduler)"}]
    assert asg_state("web")[0] == (1, 2, 1)


# --- RDS -------------------------------------------------------------------------------------------


def test_rds_instance_and_aurora_cluster_skip_members_and_replicas(sched: ModuleType) -> None:
    rds = client("rds")
    tag = [{"Key": "Schedule", "Value": "office-hours"}]
    common = {"DBInstanceClass": "db.t3.micro", "MasterUsername": "admin", "MasterUserPassword": "secret-password1"}
    rds.create_db_instance(DBInstanceIdentifier="app", Engine="postgres", AllocatedStorage=20, Tags=tag, **common)
    rds.create_db_instance(DBInstanceIdentifier="src", Engine="mysql", AllocatedStorage=20, Tags=tag, **common)
    rds.create_db_instance_read_replica(DBInstanceIdentifier="src-replica", SourceDBInstanceIdentifier="src", Tags=tag)
    rds.create_db_instance(DBInstanceIdentifier="other", Engine="postgres", AllocatedStorage=20, **common)
    rds.create_db_cluster(
        DBClusterIdentifier="aurora",
        Engine="aurora-postgresql",
        MasterUsername="admin",
        MasterUserPassword="secret-password1",
        Tags=tag,
    )
    rds.create_db_instance(
        DBInstanceIdentifier="aurora-1", DBInstanceClass="db.r6g.large", Engine="aurora-postgresql",
        DBClusterIdentifier="aurora", Tags=tag,
    )  # fmt: skip

    result = sched.handler(scheduled("stop"))

    assert sorted(result["succeeded"]) == ["rds-cluster/aurora", "rds-db/app"]
    assert {s["id"]: s["reason"] for s in result["skipped"]} == {
        "rds-db/src": "has read replicas; RDS cannot stop it",
        "rds-db/src-replica": "read replica; RDS cannot stop or start it alone",
        "rds-db/aurora-1": "member of cluster aurora; the cluster is scheduled",
    }
    assert rds.describe_db_instances(DBInstanceIdentifier="app")["DBInstances"][0]["DBInstanceStatus"] == "stopped"
    assert rds.describe_db_instances(DBInstanceIdentifier="other")["DBInstances"][0]["DBInstanceStatus"] == "available"
    assert rds.describe_db_clusters(DBClusterIdentifier="aurora")["DBClusters"][0]["Status"] == "stopped"

    started = sched.handler(scheduled("start"))
    assert sorted(started["succeeded"]) == ["rds-cluster/aurora", "rds-db/app"]
    assert rds.describe_db_instances(DBInstanceIdentifier="app")["DBInstances"][0]["DBInstanceStatus"] == "available"


def test_a_failing_group_or_database_fails_alone(sched: ModuleType) -> None:
    """RDS refuses one database (ClientError) and Auto Scaling does not answer for one group
    (BotoCoreError): both are reported, everything else is still acted on, and the run raises."""
    make_asg("web", 2, 4, 3)
    make_asg("api", 1, 2, 1)
    rds = client("rds")
    for ident in ("app", "reports"):
        rds.create_db_instance(
            DBInstanceIdentifier=ident, DBInstanceClass="db.t3.micro", Engine="postgres", AllocatedStorage=20,
            MasterUsername="admin", MasterUserPassword="secret-password1",
            Tags=[{"Key": "Schedule", "Value": "office-hours"}],
        )  # fmt: skip

    def refuse_app(params: dict[str, Any], **_: Any) -> None:
        if params["DBInstanceIdentifier"] == "app":
            raise ClientError(
                {"Error": {"Code": "InvalidDBInstanceState", "Message": "storage-optimization"}}, "StopDBInstance"
            )

    def no_answer_for_web(params: dict[str, Any], **_: Any) -> None:
        if params["AutoScalingGroupName"] == "web":
            raise EndpointConnectionError(endpoint_url=f"https://autoscaling.{REGION}.amazonaws.com/")

    opskit_common.client("rds").meta.events.register("before-parameter-build.rds.StopDBInstance", refuse_app)
    opskit_common.client("autoscaling").meta.events.register(
        "before-parameter-build.autoscaling.UpdateAutoScalingGroup", no_answer_for_web
    )

    with pytest.raises(opskit_common.PartialFailure, match="2 failed") as raised:
        sched.handler(scheduled("stop"))

    result = raised.value.result
    assert {f["id"]: f["error"].split(":")[0] for f in result["failed"]} == {
        "asg/web": "EndpointConnectionError",
        "rds-db/app": "InvalidDBInstanceState",
    }
    assert sorted(result["succeeded"]) == ["asg/api", "rds-db/reports"]
    assert asg_state("api")[0] == (0, 0, 0) and asg_state("web")[0] == (2, 4, 3)
    assert rds.describe_db_instances(DBInstanceIdentifier="reports")["DBInstances"][0]["DBInstanceStatus"] == "stopped"


# --- skip dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant_utc", "timezone", "skip_date", "skipped"),
    [
        # 11:30 UTC on 24 Dec is 00:30 on 25 Dec in Auckland (NZDT, UTC+13) ...
        ("2026-12-24T11:30:00", "Pacific/Auckland", "2026-12-25", True),
        ("2026-12-24T11:30:00", "UTC", "2026-12-25", False),
        # ... and 10:59 UTC is still 23:59 on the 24th there.
        ("2026-12-24T10:59:00", "Pacific/Auckland", "2026-12-25", False),
        # Auckland moves to NZDT on 27 Sep 2026 at 02:00: 12:30 UTC on the 26th is 00:30 NZST on the 27th.
        ("2026-09-26T12:30:00", "Pacific/Auckland", "2026-09-27", True),
        ("2026-09-26T11:30:00", "Pacific/Auckland", "2026-09-27", False),
        # Berlin leaves CEST on 25 Oct 2026: 22:30 UTC on the 24th is already 00:30 CEST on the 25th.
        ("2026-10-24T22:30:00", "Europe/Berlin", "2026-10-25", True),
        ("2026-10-24T21:59:00", "Europe/Berlin", "2026-10-25", False),
        ("2026-10-25T22:59:00", "Europe/Berlin", "2026-10-25", True),  # 23:59 CET, the 25-hour day's end
    ],
)
def test_skip_dates_are_evaluated_in_the_schedule_zone(
    sched: ModuleType, instant_utc: str, timezone: str, skip_date: str, skipped: bool
) -> None:
    ids = launch(1, {"Schedule": "office-hours"})
    instant = dt.datetime.fromisoformat(instant_utc).replace(tzinfo=ZoneInfo("UTC"))
    calls = count_calls("ec2", "autoscaling", "rds")

    with time_machine.travel(instant, tick=False):
        result = sched.handler(scheduled("stop", timezone=timezone, skip_dates=[skip_date]))

    if skipped:
        assert result["skip_date"] == skip_date and skip_date in result["message"]
        assert result["succeeded"] == [] and sum(calls.values()) == 0
        assert states(ids)[ids[0]] == "running"
    else:
        assert "skip_date" not in result and result["succeeded"] == ids


# --- input validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"action": "reboot", "schedule": "office-hours"}, "action must be 'start' or 'stop'"),
        ({"action": "stop"}, "needs a schedule name or a list of instance_ids"),
        ({"action": "stop", "instance_ids": ["i-123"]}, "malformed instance ids"),
        ({"action": "stop", "instance_ids": []}, "non-empty list"),
        ({"action": "stop", "instance_ids": ["i-0123456789abcdef0"], "schedule": "x"}, "not both"),
        ({"action": "start", "schedule": "office-hours", "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"action": "start", "schedule": "office-hours", "skip_dates": ["24.12.2026"]}, "is not YYYY-MM-DD"),
        ({"action": "start", "schedule": "office-hours", "skip_dates": ["2026-02-30"]}, "not a calendar date"),
        ({"action": "start", "schedule": "office-hours", "resources": ["lambda"]}, "resources must be"),
        ({"action": "start", "schedule": "office-hours", "dry_run": "yes"}, "dry_run must be true or false"),
        ({"action": "start", "schedule": "bad name"}, "schedule must be"),
        ([], "event must be a JSON object"),
    ],
)
def test_bad_input_is_rejected_before_any_aws_call(sched: ModuleType, event: Any, message: str) -> None:
    calls = count_calls("ec2", "autoscaling", "rds")
    with pytest.raises(opskit_common.InputError, match=message):
        sched.handler(event)
    assert sum(calls.values()) == 0


def test_metrics_line_per_run(sched: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    launch(2, {"Schedule": "office-hours"})
    sched.handler(scheduled("stop"))
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    emf = [x for x in lines if "_aws" in x]
    assert len(emf) == 1
    assert emf[0]["Schedule"] == "office-hours" and emf[0]["Action"] == "stop"
    assert (emf[0]["Succeeded"], emf[0]["Failed"], emf[0]["Skipped"]) == (2, 0, 0)
