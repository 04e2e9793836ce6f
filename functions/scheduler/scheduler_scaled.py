"""What is stopped by scaling to zero: Auto Scaling groups (min/max/desired) and ECS services (desired
count). A stop saves the size in `opskit:scheduler-saved-size` and sets zero; a start restores exactly
that size and removes the tag."""

from __future__ import annotations

import re
from typing import Any

import opskit_common as common
from scheduler_base import (
    AWS_ERRORS,
    OVERRIDE_TAG,
    SAVED_SIZE_TAG,
    Run,
    Verdict,
    clear_override,
    error_text,
    screen,
    tagged_resources,
)
from scheduler_request import show

log = common.get_logger(__name__)

DESCRIBE_SERVICES_MAX = 10  # services per DescribeServices call
# arn:<partition>:ecs:<region>:<account>:service/<cluster>/<service> (the long ARN format)
_SERVICE_ARN = re.compile(
    r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:service/([A-Za-z0-9_-]{1,255})/([A-Za-z0-9_-]{1,255})"
)


# --- Auto Scaling groups ---------------------------------------------------------------------------


def _parse_size(value: str) -> tuple[int, int, int] | None:
    match = re.fullmatch(r"min=(\d+),max=(\d+),desired=(\d+)", value or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def run_asg(run: Run) -> None:
    asg = common.client("autoscaling")
    groups: list[dict[str, Any]] = []
    for page in asg.get_paginator("describe_auto_scaling_groups").paginate(
        Filters=[{"Name": f"tag:{run.cfg.tag_key}", "Values": [run.request.schedule]}]
    ):
        groups.extend(page.get("AutoScalingGroups", []))
    for group in groups:
        _asg_group(run, asg, group)


def _asg_group(run: Run, asg: Any, group: dict[str, Any]) -> None:
    outcome = run.outcome
    name = group["AutoScalingGroupName"]
    label = f"asg/{name}"
    tags = common.tags_to_dict(group.get("Tags"))
    verdict = screen(run, label, tags)
    if verdict is Verdict.LEAVE:
        return
    current = (group["MinSize"], group["MaxSize"], group["DesiredCapacity"])
    saved = _parse_size(tags.get(SAVED_SIZE_TAG, ""))
    if run.start:
        if saved is None:
            if SAVED_SIZE_TAG in tags:
                outcome.fail(label, f"unreadable {SAVED_SIZE_TAG} tag {show(tags[SAVED_SIZE_TAG])}")
            else:
                outcome.skip(label, "no saved size (not stopped by the scheduler)")
            return
    elif current == (0, 0, 0):
        outcome.skip(label, "already 0/0/0")
        return
    if run.request.dry_run:
        outcome.planned.append(label)
        return
    if verdict is Verdict.CLEAR and not clear_override(
        run, label, lambda: asg.delete_tags(Tags=[_asg_tag(name, OVERRIDE_TAG, tags[OVERRIDE_TAG])])
    ):
        return
    try:
        if run.start:
            assert saved is not None
            asg.update_auto_scaling_group(
                AutoScalingGroupName=name, MinSize=saved[0], MaxSize=saved[1], DesiredCapacity=saved[2]
            )
            asg.delete_tags(Tags=[_asg_tag(name, SAVED_SIZE_TAG, tags[SAVED_SIZE_TAG])])
        else:
            asg.create_or_update_tags(
                Tags=[_asg_tag(name, SAVED_SIZE_TAG, "min={},max={},desired={}".format(*current))]
            )
            asg.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=0, DesiredCapacity=0)
    except AWS_ERRORS as exc:
        outcome.fail(label, error_text(exc))
        return
    outcome.succeeded.append(label)
    log.info("group resized", extra={"group": name, "action": run.request.action, "saved": saved or current})


def _asg_tag(group: str, key: str, value: str) -> dict[str, Any]:
    return {
        "ResourceId": group,
        "ResourceType": "auto-scaling-group",
        "Key": key,
        "Value": value,
        "PropagateAtLaunch": False,
    }


# --- ECS services ----------------------------------------------------------------------------------


def run_ecs(run: Run) -> None:
    """Services are found through the tagging index (one paginated GetResources), read with DescribeServices
    (10 a call, tags included: the service's own tags decide), and scaled one UpdateService each."""
    ecs = common.client("ecs")
    by_cluster: dict[str, list[str]] = {}
    for arn, _ in tagged_resources(run, "ecs:service"):
        match = _SERVICE_ARN.fullmatch(arn)
        if match is None:
            run.outcome.fail(
                f"ecs/{common.clip(arn, 120)}",
                "not a service ARN of the long format (service/<cluster>/<service>); the cluster is unknown",
            )
            continue
        by_cluster.setdefault(match[1], []).append(arn)
    for cluster, arns in sorted(by_cluster.items()):
        for chunk in common.chunked(sorted(arns), DESCRIBE_SERVICES_MAX):
            try:
                answer = ecs.describe_services(cluster=cluster, services=chunk, include=["TAGS"])
            except AWS_ERRORS as exc:
                for arn in chunk:
                    run.outcome.fail(f"ecs/{cluster}/{arn.rsplit('/', 1)[-1]}", error_text(exc))
                continue
            for service in answer.get("services", []):
                _ecs_service(run, ecs, cluster, service)
            for missing in answer.get("failures", []):
                label = f"ecs/{cluster}/{str(missing.get('arn', '')).rsplit('/', 1)[-1]}"
                run.outcome.skip(label, f"not described ({common.clip(missing.get('reason'), 80)}); deleted?")


def _parse_desired(value: str) -> int | None:
    match = re.fullmatch(r"desired=(\d{1,9})", value or "")
    return int(match[1]) if match else None


def _ecs_service(run: Run, ecs: Any, cluster: str, service: dict[str, Any]) -> None:
    outcome = run.outcome
    name, arn = service["serviceName"], service["serviceArn"]
    label = f"ecs/{cluster}/{name}"
    tags = {t["key"]: t.get("value", "") for t in service.get("tags") or []}
    if tags.get(run.cfg.tag_key) != run.request.schedule:
        return  # the tagging index lags behind a tag change; the service's own tags decide
    verdict = screen(run, label, tags)
    if verdict is Verdict.LEAVE:
        return
    if service.get("status") != "ACTIVE":
        outcome.skip(label, f"status {service.get('status')}")
        return
    desired = int(service.get("desiredCount", 0))
    saved = _parse_desired(tags.get(SAVED_SIZE_TAG, ""))
    if run.start:
        if saved is None:
            if SAVED_SIZE_TAG in tags:
                outcome.fail(label, f"unreadable {SAVED_SIZE_TAG} tag {show(tags[SAVED_SIZE_TAG])}")
            else:
                outcome.skip(label, "no saved desired count (not stopped by the scheduler)")
            return
    elif desired == 0:
        outcome.skip(label, "already at 0" + (f" ({SAVED_SIZE_TAG}=desired={saved})" if saved is not None else ""))
        return
    if run.request.dry_run:
        outcome.planned.append(label)
        return
    if verdict is Verdict.CLEAR and not clear_override(
        run, label, lambda: ecs.untag_resource(resourceArn=arn, tagKeys=[OVERRIDE_TAG])
    ):
        return
    try:
        if run.start:
            ecs.update_service(cluster=cluster, service=name, desiredCount=saved)
            ecs.untag_resource(resourceArn=arn, tagKeys=[SAVED_SIZE_TAG])
        else:
            ecs.tag_resource(resourceArn=arn, tags=[{"key": SAVED_SIZE_TAG, "value": f"desired={desired}"}])
            ecs.update_service(cluster=cluster, service=name, desiredCount=0)
    except AWS_ERRORS as exc:
        outcome.fail(label, error_text(exc))
        return
    outcome.succeeded.append(label)
    log.info("service scaled", extra={"service": label, "action": run.request.action, "desired": saved or desired})
