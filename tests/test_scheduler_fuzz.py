"""Mutation tests (tests/fuzz.py) for functions/scheduler: every fixture event in tests/events/scheduler/
and the function's environment, mutated hundreds of ways with fixed seeds, under moto with the resources
the fixtures name (the manual fixtures' instance ids included; an ECS service, a Redshift cluster, Aurora,
DocumentDB and Neptune clusters, an alarm and the summary topic for the every-kind fixtures), at a frozen
time before the manual fixture's override_until. No mutant may leak an exception type other than
InputError/ConfigError/PartialFailure, be refused after a mutating AWS call, or produce an error message
of 2,000 characters or more."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import fuzz
import moto.ec2.models.instances as moto_instances
import opskit_common
import pytest
import time_machine
from moto import mock_aws
from test_scheduler_helpers import TOPIC, alarm, db_cluster, ecs_service, redshift_cluster, reset_clients

REGION = "eu-central-1"
EVENTS = Path(__file__).resolve().parent / "events" / "scheduler"
FIXTURES = sorted(p.name for p in EVENTS.glob("*.json"))
MUTATIONS = fuzz.scaled(300)
ENV = {
    "TAG_KEY": "Schedule",
    "SCHEDULE_NAMES": json.dumps(["office-hours", "weekends"]),
    "DRY_RUN": "false",
    "HIBERNATE": "false",
    "VERIFY_TIMEOUT_SECONDS": "0",
    "TOPIC_ARN": TOPIC,
}
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)  # before manual-start-override.json's end, no skip date


def _set_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def world(
    load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    """moto with what the fixtures name: the manual fixtures' two instances (tagged office-hours), an
    Auto Scaling group, an RDS instance, an ECS service, a Redshift cluster, Aurora/DocumentDB/Neptune
    clusters and an alarm tagged office-hours, the summary topic; the handler loaded with ENV."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    _set_env(monkeypatch, ENV)
    with time_machine.travel(NOW, tick=False), mock_aws():
        reset_clients()
        ec2 = boto3.client("ec2", region_name=REGION)
        ids = iter(load_event("scheduler/manual-stop.json")["instance_ids"])
        with monkeypatch.context() as patch:
            patch.setattr(moto_instances, "random_instance_id", lambda: next(ids))
            tags = [{"ResourceType": "instance", "Tags": [{"Key": "Schedule", "Value": "office-hours"}]}]
            ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=2, MaxCount=2, TagSpecifications=tags)
        ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": "ami-0123456789abcdef0"})
        boto3.client("autoscaling", region_name=REGION).create_auto_scaling_group(
            AutoScalingGroupName="web", LaunchTemplate={"LaunchTemplateName": "web"}, MinSize=1, MaxSize=2,
            DesiredCapacity=1, AvailabilityZones=[f"{REGION}a"],
            Tags=[{"Key": "Schedule", "Value": "office-hours", "PropagateAtLaunch": False}],
        )  # fmt: skip
        boto3.client("rds", region_name=REGION).create_db_instance(
            DBInstanceIdentifier="app", DBInstanceClass="db.t3.micro", Engine="postgres", AllocatedStorage=20,
            MasterUsername="admin", MasterUserPassword="secret-password1",
            Tags=[{"Key": "Schedule", "Value": "office-hours"}],
        )  # fmt: skip
        boto3.client("sns", region_name=REGION).create_topic(Name=TOPIC.rsplit(":", 1)[1])
        ecs_service("api", 2)
        redshift_cluster("warehouse")
        for engine in ("aurora-mysql", "docdb", "neptune"):
            db_cluster(f"c-{engine}", engine)
        alarm("api-5xx")
        handler = load_handler("scheduler")
        handler.sleep = lambda seconds: None
        yield handler


def _checked(handler: ModuleType, event: Any, label: str, outcomes: Counter[str]) -> None:
    """fuzz.check one invocation, counting how it ended (so the test also proves both paths ran)."""

    def run() -> None:
        try:
            handler.handler(event, None)
        except opskit_common.PartialFailure:
            outcomes["partial"] += 1
            raise
        except (opskit_common.InputError, opskit_common.ConfigError):
            outcomes["refused"] += 1
            raise
        outcomes["accepted"] += 1

    fuzz.check(run, label)


def test_the_fixtures_are_accepted_as_they_are(world: ModuleType, load_event: Callable[[str], Any]) -> None:
    for name in FIXTURES:
        assert world.handler(load_event(f"scheduler/{name}"), None)["failed"] == [], name
    assert FIXTURES == [
        "every-kind-start.json",
        "every-kind-stop.json",
        "manual-start-override.json",
        "manual-stop.json",
        "office-hours-start.json",
        "office-hours-stop.json",
    ]


@pytest.mark.parametrize("name", FIXTURES)
def test_mutated_events(world: ModuleType, load_event: Callable[[str], Any], name: str) -> None:
    event = load_event(f"scheduler/{name}")
    outcomes: Counter[str] = Counter()
    for label, mutant in fuzz.mutations(event, seed=FIXTURES.index(name) + 11, count=MUTATIONS):
        _checked(world, mutant, f"{name}: {label}", outcomes)
    assert sum(outcomes.values()) == MUTATIONS
    # Every mutation of the manual form (its keys: action, ids, override_until) breaks it; the scheduled
    # form also has harmless ones (a skip date or the dry_run flag removed), which must then run to the end.
    assert outcomes["refused"] >= MUTATIONS // 4, outcomes
    assert outcomes["accepted"] >= (0 if "instance_ids" in event else MUTATIONS // 30), outcomes


def test_mutated_environment(
    world: ModuleType, load_event: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each variable replaced, cut, padded or removed. String values go through the real cold start
    (os.environ, config() cache cleared); other types, which a process environment cannot hold, through
    Config.from_env, the same check."""
    event = load_event("scheduler/office-hours-stop.json")
    outcomes: Counter[str] = Counter()
    for label, mutant in fuzz.mutations(ENV, seed=23, count=MUTATIONS):
        if all(isinstance(v, str) for v in mutant.values()):
            _set_env(monkeypatch, mutant)
            world.config.cache_clear()
            _checked(world, event, f"env {label}", outcomes)
        else:
            fuzz.check(lambda env=mutant: world.Config.from_env(env), f"env {label}")
            with pytest.raises(opskit_common.ConfigError):
                world.Config.from_env(mutant)
            outcomes["refused"] += 1
    assert outcomes["refused"] >= MUTATIONS // 4 and outcomes["accepted"] >= MUTATIONS // 30, outcomes


def test_mutated_schedule_names(
    world: ModuleType, load_event: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SCHEDULE_NAMES list itself mutated (wrong types, huge, deep, surrogates, removed names)."""
    event = load_event("scheduler/office-hours-stop.json")
    outcomes: Counter[str] = Counter()
    count = fuzz.scaled(200)
    for label, mutant in fuzz.mutations(json.loads(ENV["SCHEDULE_NAMES"]), seed=29, count=count):
        monkeypatch.setenv("SCHEDULE_NAMES", json.dumps(mutant))
        world.config.cache_clear()
        _checked(world, event, f"SCHEDULE_NAMES {label}", outcomes)
    assert outcomes["refused"] >= count // 4 and outcomes["accepted"] >= count // 40, outcomes
