"""Issue 13, item 2: ECS services, Redshift clusters, DocumentDB and Neptune clusters beside Aurora, and the
order of a run (stop: alarms, ECS, Auto Scaling, EC2, databases; start: the reverse, alarms last). moto for
ECS, Redshift, RDS (DocumentDB through moto's RDS backend: see test_scheduler_helpers.db_cluster)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import opskit_common
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.redshift.models import redshift_backends
from test_scheduler_helpers import (
    REGION,
    SAVED,
    alarm,
    asg,
    client,
    db_cluster,
    db_cluster_state,
    ecs_service,
    ecs_state,
    launch,
    record_calls,
    redshift_cluster,
    redshift_state,
    scheduled,
)
from test_scheduler_helpers import world as world  # the fixture

# --- ECS -------------------------------------------------------------------------------------------


def test_ecs_stop_saves_the_desired_count_and_start_restores_exactly_it(world: ModuleType) -> None:
    ecs_service("web", 3)
    ecs_service("worker", 1, cluster="batch")
    ecs_service("idle", 0)
    ecs_service("other", 2, {"Schedule": "weekends"})
    ecs_service("untagged", 2, {"Team": "x"})

    stopped = world.handler(scheduled("stop", ["ecs"]))
    assert sorted(stopped["succeeded"]) == ["ecs/apps/web", "ecs/batch/worker"]
    assert stopped["skipped"] == [{"id": "ecs/apps/idle", "reason": "already at 0"}]
    assert ecs_state("web") == (0, {"Schedule": "office-hours", SAVED: "desired=3"})
    assert ecs_state("worker", "batch")[0] == 0
    assert ecs_state("other")[0] == 2 and ecs_state("untagged")[0] == 2

    again = world.handler(scheduled("stop", ["ecs"]))  # a repeated stop must not save 0 over 3
    assert {s["id"]: s["reason"] for s in again["skipped"]}["ecs/apps/web"] == f"already at 0 ({SAVED}=desired=3)"
    assert ecs_state("web")[1][SAVED] == "desired=3"

    started = world.handler(scheduled("start", ["ecs"]))
    assert sorted(started["succeeded"]) == ["ecs/apps/web", "ecs/batch/worker"]
    assert {s["id"]: s["reason"] for s in started["skipped"]} == {
        "ecs/apps/idle": "no saved desired count (not stopped by the scheduler)"
    }
    assert ecs_state("web") == (3, {"Schedule": "office-hours"}) and ecs_state("worker", "batch")[0] == 1
    assert ecs_state("idle")[0] == 0


def test_ecs_unreadable_saved_count_fails_and_a_refused_update_fails_alone(world: ModuleType) -> None:
    ecs_service("garbled", 0, {"Schedule": "office-hours", SAVED: "desired=three"})
    ecs_service("refused", 0, {"Schedule": "office-hours", SAVED: "desired=2"})
    ecs_service("fine", 0, {"Schedule": "office-hours", SAVED: "desired=4"})

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if params["service"] == "refused":
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "UpdateService")

    opskit_common.client("ecs").meta.events.register("before-parameter-build.ecs.UpdateService", refuse)
    with pytest.raises(opskit_common.PartialFailure, match="2 failed") as raised:
        world.handler(scheduled("start", ["ecs"]))
    result = raised.value.result
    assert {f["id"]: f["error"] for f in result["failed"]} == {
        "ecs/apps/garbled": f"unreadable {SAVED} tag 'desired=three'",
        "ecs/apps/refused": "AccessDeniedException: no",
    }
    assert result["succeeded"] == ["ecs/apps/fine"] and ecs_state("fine") == (4, {"Schedule": "office-hours"})
    assert ecs_state("refused") == (0, {"Schedule": "office-hours", SAVED: "desired=2"})  # saved for the next start


def test_ecs_services_are_described_ten_at_a_time(world: ModuleType) -> None:
    for n in range(23):
        ecs_service(f"svc-{n:02d}", 1)
    calls = record_calls()
    result = world.handler(scheduled("stop", ["ecs"]))
    assert len(result["succeeded"]) == 23
    assert calls.count("tagging:GetResources") == 1 and calls.count("ecs:DescribeServices") == 3
    assert calls.count("ecs:UpdateService") == 23 and calls.count("ecs:TagResource") == 23


# --- Redshift --------------------------------------------------------------------------------------


def test_redshift_pauses_available_and_resumes_paused_clusters_only(world: ModuleType) -> None:
    redshift_cluster("warehouse")
    redshift_cluster("resizing")
    redshift_cluster("other", {"Schedule": "weekends"})
    redshift_backends[DEFAULT_ACCOUNT_ID][REGION].clusters["resizing"].status = "resizing"

    stopped = world.handler(scheduled("stop", ["redshift"]))
    assert stopped["succeeded"] == ["redshift/warehouse"]
    assert stopped["skipped"] == [{"id": "redshift/resizing", "reason": "status resizing, not available"}]
    assert redshift_state("warehouse")[0] == "paused" and redshift_state("other")[0] == "available"

    started = world.handler(scheduled("start", ["redshift"]))
    assert started["succeeded"] == ["redshift/warehouse"]
    assert started["skipped"] == [{"id": "redshift/resizing", "reason": "status resizing, not paused"}]
    assert redshift_state("warehouse")[0] == "available"


# --- RDS clusters of every engine ------------------------------------------------------------------


def test_aurora_documentdb_and_neptune_clusters_follow_the_cluster_rules(world: ModuleType) -> None:
    db_cluster("orders", "aurora-mysql")
    db_cluster("catalog", "docdb")
    db_cluster("graph", "neptune")
    db_cluster("graph-other", "neptune", {"Schedule": "weekends"})

    stopped = world.handler(scheduled("stop", ["rds"]))
    assert sorted(stopped["succeeded"]) == ["docdb-cluster/catalog", "neptune-cluster/graph", "rds-cluster/orders"]
    assert {i: db_cluster_state(i)[:2] for i in ("orders", "catalog", "graph", "graph-other")} == {
        "orders": ("stopped", "aurora-mysql"),
        "catalog": ("stopped", "docdb"),
        "graph": ("stopped", "neptune"),
        "graph-other": ("available", "neptune"),
    }
    again = world.handler(scheduled("stop", ["rds"]))
    assert {s["id"]: s["reason"] for s in again["skipped"]}["docdb-cluster/catalog"] == "status stopped, not available"

    started = world.handler(scheduled("start", ["rds"]))
    assert sorted(started["succeeded"]) == ["docdb-cluster/catalog", "neptune-cluster/graph", "rds-cluster/orders"]
    assert {db_cluster_state(i)[0] for i in ("orders", "catalog", "graph")} == {"available"}


# --- order -----------------------------------------------------------------------------------------

MUTATING = {
    "monitoring:DisableAlarmActions": "alarms",
    "monitoring:EnableAlarmActions": "alarms",
    "ecs:UpdateService": "ecs",
    "autoscaling:UpdateAutoScalingGroup": "asg",
    "ec2:StopInstances": "ec2",
    "ec2:StartInstances": "ec2",
    "rds:StopDBInstance": "rds",
    "rds:StartDBInstance": "rds",
    "rds:StopDBCluster": "rds",
    "rds:StartDBCluster": "rds",
    "redshift:PauseCluster": "redshift",
    "redshift:ResumeCluster": "redshift",
}


def _order(calls: list[str]) -> list[str]:
    kinds = [MUTATING[c] for c in calls if c in MUTATING]
    return list(dict.fromkeys(kinds))


def test_stop_runs_alarms_ecs_asg_ec2_databases_and_start_the_reverse(world: ModuleType) -> None:
    launch({"Schedule": "office-hours"})
    asg("web", (1, 1, 1))
    ecs_service("api", 2)
    db_cluster("orders", "aurora-mysql")
    redshift_cluster("warehouse")
    alarm("api-5xx")
    event = scheduled("stop", ["redshift", "rds", "ec2", "asg", "ecs", "alarms"])  # listed order is irrelevant

    calls = record_calls()
    stopped = world.handler(event)
    assert _order(calls) == ["alarms", "ecs", "asg", "ec2", "rds", "redshift"]
    assert len(stopped["succeeded"]) == 6

    calls.clear()
    started = world.handler({**event, "action": "start"})
    assert _order(calls) == ["redshift", "rds", "ec2", "asg", "ecs", "alarms"]
    assert len(started["succeeded"]) == 6 and started["failed"] == []


def test_a_failing_kind_does_not_stop_the_others(world: ModuleType) -> None:
    (iid,) = launch({"Schedule": "office-hours"})
    redshift_cluster("warehouse")
    ecs_service("api", 2)

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "UnsupportedOperation", "Message": "not now"}}, "PauseCluster")

    opskit_common.client("redshift").meta.events.register("before-parameter-build.redshift.PauseCluster", refuse)
    with pytest.raises(opskit_common.PartialFailure) as raised:
        world.handler(scheduled("stop", ["ec2", "ecs", "redshift"]))
    result = raised.value.result
    assert result["failed"] == [{"id": "redshift/warehouse", "error": "UnsupportedOperation: not now"}]
    assert sorted(result["succeeded"]) == sorted([iid, "ecs/apps/api"])
    assert client("ec2").describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"] == (
        "stopped"
    )


def test_a_payload_without_resources_keeps_the_original_three_kinds(world: ModuleType) -> None:
    ecs_service("api", 2)
    (iid,) = launch({"Schedule": "office-hours"})
    event = {"action": "stop", "schedule": "office-hours"}
    assert world.handler(event)["succeeded"] == [iid]
    assert ecs_state("api")[0] == 2


def test_a_listing_aws_refuses_fails_its_kind_and_the_others_still_run(world: ModuleType) -> None:
    (iid,) = launch({"Schedule": "office-hours"})
    ecs_service("api", 2)
    redshift_cluster("warehouse")

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if params.get("ResourceTypeFilters") == ["ecs:service"]:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "GetResources")

    opskit_common.client("resourcegroupstaggingapi").meta.events.register(
        "before-parameter-build.tagging.GetResources", refuse
    )
    with pytest.raises(opskit_common.PartialFailure, match="1 failed") as raised:
        world.handler(scheduled("stop", ["ecs", "ec2", "redshift"]))
    result = raised.value.result
    assert result["failed"] == [
        {"id": "ecs", "error": "could not list the ecs resources of the schedule: ThrottlingException: slow down"}
    ]
    assert sorted(result["succeeded"]) == sorted([iid, "redshift/warehouse"]) and ecs_state("api")[0] == 2
