"""Databases: RDS DB instances, and DB clusters of every engine the RDS API manages (Aurora, Multi-AZ,
DocumentDB `docdb`, Neptune `neptune`: the same Stop/StartDBCluster rules), and Redshift clusters
(PauseCluster / ResumeCluster)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import opskit_common as common
from scheduler_base import (
    AWS_ERRORS,
    OVERRIDE_TAG,
    Run,
    Verdict,
    clear_override,
    error_text,
    paginate,
    screen,
)

log = common.get_logger(__name__)

# Result labels of DB clusters by engine: what the cluster is, at a glance.
CLUSTER_LABELS = {"docdb": "docdb-cluster", "neptune": "neptune-cluster"}


def _tags(resource: Mapping[str, Any]) -> dict[str, str]:
    return common.tags_to_dict(resource.get("TagList") or resource.get("Tags"))


def run_rds(run: Run) -> None:
    rds = common.client("rds")
    ready, verb = ("stopped", "start") if run.start else ("available", "stop")
    schedule, key = run.request.schedule, run.cfg.tag_key

    for db in paginate(rds, "describe_db_instances", "DBInstances"):
        tags = _tags(db)
        if tags.get(key) != schedule:
            continue
        ident = db["DBInstanceIdentifier"]
        label = f"rds-db/{ident}"
        if db.get("DBClusterIdentifier"):
            run.outcome.skip(label, f"member of cluster {db['DBClusterIdentifier']}; the cluster is scheduled")
        elif db.get("ReadReplicaSourceDBInstanceIdentifier"):
            run.outcome.skip(label, "read replica; RDS cannot stop or start it alone")
        elif db.get("ReadReplicaDBInstanceIdentifiers"):
            run.outcome.skip(label, "has read replicas; RDS cannot stop it")
        else:
            act = getattr(rds, f"{verb}_db_instance")
            _act(
                run,
                label,
                tags,
                db.get("DBInstanceStatus"),
                ready,
                db.get("DBInstanceArn"),
                functools.partial(act, DBInstanceIdentifier=ident),
            )

    for cluster in paginate(rds, "describe_db_clusters", "DBClusters"):
        tags = _tags(cluster)
        if tags.get(key) != schedule:
            continue
        ident = cluster["DBClusterIdentifier"]
        label = f"{CLUSTER_LABELS.get(str(cluster.get('Engine')), 'rds-cluster')}/{ident}"
        if cluster.get("ReplicationSourceIdentifier"):
            run.outcome.skip(label, "replica cluster; RDS cannot stop or start it alone")
        else:
            act = getattr(rds, f"{verb}_db_cluster")
            _act(
                run,
                label,
                tags,
                cluster.get("Status"),
                ready,
                cluster.get("DBClusterArn"),
                functools.partial(act, DBClusterIdentifier=ident),
            )


def _act(
    run: Run, label: str, tags: Mapping[str, str], status: Any, ready: str, arn: Any, call: Callable[[], Any]
) -> None:
    """Honour the override, then stop/start a database that is `ready` (anything else: skipped with its status)."""
    verdict = screen(run, label, tags)
    if verdict is Verdict.LEAVE:
        return
    if status != ready:
        run.outcome.skip(label, f"status {status}, not {ready}")
        return
    if run.request.dry_run:
        run.outcome.planned.append(label)
        return
    rds = common.client("rds")
    if verdict is Verdict.CLEAR and not clear_override(
        run, label, lambda: rds.remove_tags_from_resource(ResourceName=arn, TagKeys=[OVERRIDE_TAG])
    ):
        return
    _call(run, label, call)


def _call(run: Run, label: str, call: Callable[[], Any]) -> None:
    try:
        call()
    except AWS_ERRORS as exc:
        run.outcome.fail(label, error_text(exc))
        log.error("database call failed", extra={"resource": label, "error": error_text(exc)})
        return
    run.outcome.succeeded.append(label)


# --- Redshift --------------------------------------------------------------------------------------


def run_redshift(run: Run) -> None:
    """Clusters tagged <TAG_KEY>=<schedule> (DescribeClusters filtered by the tag): a stop pauses an
    `available` cluster, a start resumes a `paused` one; any other status is skipped with its name."""
    redshift = common.client("redshift")
    ready, verb = ("paused", "resume_cluster") if run.start else ("available", "pause_cluster")
    account: list[str] = []  # read once, and only when an expired override must be removed

    for cluster in paginate(
        redshift, "describe_clusters", "Clusters", TagKeys=[run.cfg.tag_key], TagValues=[run.request.schedule]
    ):
        tags = _tags(cluster)
        if tags.get(run.cfg.tag_key) != run.request.schedule:
            continue  # the filter matches any combination of the keys and values given
        ident = cluster["ClusterIdentifier"]
        label = f"redshift/{ident}"
        verdict = screen(run, label, tags)
        if verdict is Verdict.LEAVE:
            continue
        status = cluster.get("ClusterStatus")
        if status != ready:
            run.outcome.skip(label, f"status {status}, not {ready}")
            continue
        if run.request.dry_run:
            run.outcome.planned.append(label)
            continue
        if verdict is Verdict.CLEAR:

            def remove(ident: str = ident) -> None:
                if not account:
                    account.append(common.client("sts").get_caller_identity()["Account"])
                meta = redshift.meta
                arn = f"arn:{meta.partition}:redshift:{meta.region_name}:{account[0]}:cluster:{ident}"
                redshift.delete_tags(ResourceName=arn, TagKeys=[OVERRIDE_TAG])

            if not clear_override(run, label, remove):
                continue
        act = getattr(redshift, verb)
        _call(run, label, functools.partial(act, ClusterIdentifier=ident))
