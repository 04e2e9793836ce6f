"""EC2 instances: one paginated DescribeInstances per run, batched CreateTags/StopInstances/StartInstances/
DeleteTags (bisected when EC2 refuses a batch), the `opskit:stopped-by` marker, overrides, and the
bounded start verification (the only place the function waits)."""

from __future__ import annotations

import math
from typing import Any

import opskit_common as common
from botocore.exceptions import ClientError
from scheduler_base import (
    AWS_ERRORS,
    OVERRIDE_TAG,
    STOPPED_BY_TAG,
    Run,
    Verdict,
    bisect,
    error_text,
    screen,
)

log = common.get_logger(__name__)

ASG_NAME_TAG = "aws:autoscaling:groupName"
FILTER_VALUES = 200  # values per DescribeInstances filter
VERIFY_POLL_SECONDS = 5.0
# What a scheduled run reads: every instance of the schedule that is not being terminated, so the overrides
# of instances already in the target state are seen (and reported) too.
LIVE_STATES = ["pending", "running", "stopping", "stopped"]


def describe(run: Run, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ec2 = common.client("ec2")
    found: list[dict[str, Any]] = []
    for page in ec2.get_paginator("describe_instances").paginate(
        Filters=filters, PaginationConfig={"PageSize": run.page_size}
    ):
        for reservation in page.get("Reservations", []):
            found.extend(reservation.get("Instances", []))
    return found


def _actionable(action: str) -> list[str]:
    return ["stopped"] if action == "start" else ["pending", "running"]


def run_ec2(run: Run) -> None:
    selected, eligible = _select_manual(run) if run.request.manual else (_select_scheduled(run), [])
    if run.request.override_value and eligible:
        tagged = _set_overrides(run, eligible)
        selected = [i for i in selected if i["InstanceId"] in tagged]
    ids = [i["InstanceId"] for i in selected]
    if not ids:
        return
    if run.request.dry_run:
        run.outcome.planned.extend(ids)
        log.info("dry run: would %s instances", run.request.action, extra={"instance_ids": ids})
        return
    if run.request.action == "stop":
        hibernate = {i["InstanceId"] for i in selected if (i.get("HibernationOptions") or {}).get("Configured")}
        not_done = _stop(run, ids, hibernate)
    else:
        not_done = _start(run, ids)
    if run.request.override_value and not_done:
        _delete_tag(not_done, OVERRIDE_TAG, run.batch_size)  # an override for a state the instance did not reach


def _select_scheduled(run: Run) -> list[dict[str, Any]]:
    states = _actionable(run.request.action)
    instances = describe(
        run,
        [
            {"Name": f"tag:{run.cfg.tag_key}", "Values": [run.request.schedule]},
            {"Name": "instance-state-name", "Values": LIVE_STATES},
        ],
    )
    selected, expired = [], []
    for inst in instances:
        tags = common.tags_to_dict(inst.get("Tags"))
        if ASG_NAME_TAG in tags:
            continue  # its Auto Scaling group owns it (the group is scheduled as a whole)
        verdict = screen(run, inst["InstanceId"], tags)
        if verdict is Verdict.LEAVE:
            continue
        if verdict is Verdict.CLEAR:
            expired.append(inst["InstanceId"])
        if inst["State"]["Name"] in states:
            selected.append(inst)
    if expired and not run.request.dry_run:
        kept = _clear_overrides(run, expired)
        selected = [i for i in selected if i["InstanceId"] not in kept]
    return selected


def _clear_overrides(run: Run, ids: list[str]) -> set[str]:
    """Batched DeleteTags of expired overrides; returns the ids whose tag could not be removed (failed)."""
    ec2 = common.client("ec2")
    kept: set[str] = set()

    def clear(batch: list[str]) -> None:
        ec2.delete_tags(Resources=batch, Tags=[{"Key": OVERRIDE_TAG}])
        run.outcome.overrides_cleared.extend(batch)

    def failed(instance_id: str, exc: Exception) -> None:
        kept.add(instance_id)
        run.outcome.fail(instance_id, f"could not remove the expired {OVERRIDE_TAG} tag: {error_text(exc)}")

    for batch in common.chunked(ids, run.batch_size):
        bisect(batch, clear, failed)
    return kept


def _select_manual(run: Run) -> tuple[list[dict[str, Any]], list[str]]:
    """(instances to act on, instances a manual override may be written to: listed, of a configured
    schedule, not in an Auto Scaling group, whatever their state)."""
    states = _actionable(run.request.action)
    found: dict[str, dict[str, Any]] = {}
    for chunk in common.chunked(list(run.request.instance_ids), FILTER_VALUES):
        for inst in describe(run, [{"Name": "instance-id", "Values": chunk}]):
            found[inst["InstanceId"]] = inst
    selected, eligible = [], []
    outcome, tag_key = run.outcome, run.cfg.tag_key
    for instance_id in run.request.instance_ids:
        match = found.get(instance_id)
        if match is None:
            outcome.fail(instance_id, "instance not found in this account and region")
            continue
        tags = common.tags_to_dict(match.get("Tags"))
        state = match["State"]["Name"]
        if tag_key not in tags:
            outcome.fail(instance_id, f"not tagged {tag_key}; the function's IAM policy only allows tagged instances")
        elif tags[tag_key] not in run.cfg.schedule_names:
            outcome.fail(
                instance_id,
                f"tagged {tag_key}={common.clip(tags[tag_key], 60)!r}, which names no configured schedule; "
                "the function's IAM policy only allows instances of configured schedules",
            )
        elif ASG_NAME_TAG in tags:
            outcome.skip(instance_id, f"member of Auto Scaling group {tags[ASG_NAME_TAG]}; left to the group")
        elif state not in states:
            eligible.append(instance_id)
            outcome.skip(instance_id, f"already {state}")
        else:
            eligible.append(instance_id)
            selected.append(match)
    return selected, eligible


def _set_overrides(run: Run, ids: list[str]) -> set[str]:
    """Manual override_until: tag every eligible instance (already in the state included) <state>@<until>
    in batched CreateTags before acting. Returns the ids that carry it (a dry run writes nothing)."""
    value = run.request.override_value
    assert value is not None
    if run.request.dry_run:
        return set(ids)
    ec2 = common.client("ec2")
    tagged: set[str] = set()

    def tag(batch: list[str]) -> None:
        ec2.create_tags(Resources=batch, Tags=[{"Key": OVERRIDE_TAG, "Value": value}])
        tagged.update(batch)

    def failed(instance_id: str, exc: Exception) -> None:
        run.outcome.fail(instance_id, f"could not set {OVERRIDE_TAG}={value}: {error_text(exc)}")

    for batch in common.chunked(ids, run.batch_size):
        bisect(batch, tag, failed)
    return tagged


def _stop(run: Run, ids: list[str], hibernate: set[str]) -> list[str]:
    """Mark and stop in batches; returns the ids that were not stopped (their marker is taken back)."""
    ec2 = common.client("ec2")
    marker = [{"Key": STOPPED_BY_TAG, "Value": run.request.marker}]

    def stop(batch: list[str]) -> None:
        ec2.create_tags(Resources=batch, Tags=marker)
        if run.cfg.hibernate and all(i in hibernate for i in batch):
            try:
                ec2.stop_instances(InstanceIds=batch, Hibernate=True)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "UnsupportedHibernationConfiguration":
                    raise
                log.warning("hibernation refused; plain stop", extra={"instance_ids": batch, "error": error_text(exc)})
                ec2.stop_instances(InstanceIds=batch)
        else:
            ec2.stop_instances(InstanceIds=batch)
        run.outcome.succeeded.extend(batch)

    not_stopped: list[str] = []

    def failed(instance_id: str, exc: Exception) -> None:
        run.outcome.fail(instance_id, error_text(exc))
        not_stopped.append(instance_id)
        log.error("stop failed", extra={"instance_id": instance_id, "error": error_text(exc)})

    # Hibernation-capable instances are batched apart so a plain-stop instance never forces a fallback.
    groups = (
        [[i for i in ids if i in hibernate], [i for i in ids if i not in hibernate]] if run.cfg.hibernate else [ids]
    )
    for group in groups:
        for batch in common.chunked(group, run.batch_size):
            bisect(batch, stop, failed)

    _delete_tag(not_stopped, STOPPED_BY_TAG, run.batch_size)  # still running: must not look stopped by us
    return not_stopped


def _delete_tag(ids: list[str], key: str, batch_size: int = 200) -> None:
    """Batched DeleteTags of one of the function's own keys; a refused batch is bisected."""
    ec2 = common.client("ec2")

    def untag(batch: list[str]) -> None:
        ec2.delete_tags(Resources=batch, Tags=[{"Key": key}])

    def untag_failed(instance_id: str, exc: Exception) -> None:
        log.error("could not remove tag", extra={"instance_id": instance_id, "key": key, "error": error_text(exc)})

    for batch in common.chunked(ids, batch_size):
        bisect(batch, untag, untag_failed)


def _start(run: Run, ids: list[str]) -> list[str]:
    """Start in batches, verify, remove the marker of running instances; returns the ids not running."""
    ec2 = common.client("ec2")
    started: list[str] = []
    not_started: list[str] = []

    def start(batch: list[str]) -> None:
        ec2.start_instances(InstanceIds=batch)
        started.extend(batch)

    def failed(instance_id: str, exc: Exception) -> None:
        run.outcome.fail(instance_id, error_text(exc))
        not_started.append(instance_id)
        log.error("start failed", extra={"instance_id": instance_id, "error": error_text(exc)})

    for batch in common.chunked(ids, run.batch_size):
        bisect(batch, start, failed)

    fell_back = _verify_started(run, started)
    for instance_id, reason in fell_back.items():
        run.outcome.fail(instance_id, f"started but fell back to stopped: {reason}")
        log.error("instance fell back to stopped", extra={"instance_id": instance_id, "state_reason": reason})
    running = [i for i in started if i not in fell_back]
    run.outcome.succeeded.extend(running)
    _delete_tag(running, STOPPED_BY_TAG, run.batch_size)
    return not_started + list(fell_back)


def _verify_started(run: Run, ids: list[str]) -> dict[str, str]:
    """Re-read the started instances until none is `pending` or VERIFY_TIMEOUT_SECONDS pass. Returns
    {id: state reason} for those that went back to stopping/stopped, which is how EC2 reports a start
    it could not complete (e.g. an EBS volume under a KMS key the instance cannot use).

    A poll asks only for instances that are not running: for a schedule that is one paginated
    DescribeInstances filtered by the schedule tag and state; for a manual run one per 200 listed ids."""
    timeout_seconds = run.cfg.verify_timeout_seconds
    if not ids or timeout_seconds <= 0:
        return {}
    not_running = {"Name": "instance-state-name", "Values": ["pending", "stopping", "stopped", "shutting-down"]}
    if run.request.manual:
        queries = [[{"Name": "instance-id", "Values": c}, not_running] for c in common.chunked(ids, FILTER_VALUES)]
    else:
        queries = [[{"Name": f"tag:{run.cfg.tag_key}", "Values": [run.request.schedule]}, not_running]]
    started = set(ids)
    deadline = run.monotonic() + timeout_seconds
    polls_left = math.ceil(timeout_seconds / VERIFY_POLL_SECONDS) + 1  # a bound even if the clock stands still
    fell_back: dict[str, str] = {}
    pending = sorted(started)
    while pending and polls_left > 0:
        polls_left -= 1
        run.sleep(min(VERIFY_POLL_SECONDS, max(0.0, deadline - run.monotonic())))
        still: list[str] = []
        try:
            found = [inst for filters in queries for inst in describe(run, filters)]
        except AWS_ERRORS as exc:  # the starts were accepted; an unreadable state is not a failed start
            log.error("could not re-read instance states; verification ended", extra={"error": error_text(exc)})
            break
        for inst in found:
            instance_id = inst["InstanceId"]
            if instance_id not in started or instance_id in fell_back:
                continue
            if inst["State"]["Name"] == "pending":
                still.append(instance_id)
            else:
                reason = inst.get("StateReason") or {}
                fell_back[instance_id] = reason.get("Message") or reason.get("Code") or inst["State"]["Name"]
        pending = still
        if run.monotonic() >= deadline:
            break
    if pending:
        log.warning("instances still pending when verification ended", extra={"instance_ids": pending})
    return fell_back
