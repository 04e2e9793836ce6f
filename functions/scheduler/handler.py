"""Start and stop tagged EC2 instances, Auto Scaling groups, ECS services, RDS databases (instances and
Aurora, DocumentDB and Neptune clusters) and Redshift clusters on named schedules, muting tagged CloudWatch
alarms while they are stopped.

Invoked by EventBridge Scheduler (one schedule per named schedule and action) with
    {"action": "start"|"stop", "schedule": "office-hours", "timezone": "Europe/Berlin",
     "skip_dates": ["2026-12-24", "12-25"], "resources": ["ec2", "asg", "rds"], "dry_run": false}
(`resources` drawn from ec2, asg, rds, ecs, redshift, alarms; a skip date is YYYY-MM-DD or MM-DD for every
year) or by hand, for listed EC2 instances only, optionally keeping them in that state until a time:
    {"action": "start"|"stop", "instance_ids": ["i-0123456789abcdef0"], "override_until": "2026-12-05T18:00:00Z"}

It acts only on resources whose schedule tag (TAG_KEY) names a CONFIGURED schedule: SCHEDULE_NAMES is the
JSON list of schedule names the module declares, and its IAM policy allows nothing else. A scheduled event
for another name is refused; a listed instance tagged with another name is reported as failed.

Order: a stop mutes the alarms first, then ECS -> Auto Scaling -> EC2 -> databases (RDS, DocumentDB, Neptune,
Redshift); a start runs the reverse and enables the alarms last, only when nothing failed.

Overrides: a resource tagged `opskit:override = running|stopped@<ISO-8601 time>` is left alone by scheduled
runs until then (reported in `skipped`); once expired, the next run removes the tag and acts as usual; a
malformed value fails the resource (left alone) and the run.

Contract with instance-protect: before stopping an EC2 instance the function tags it
`opskit:stopped-by = scheduler:<schedule>` (manual runs: `scheduler:manual`) and removes the tag
again after a successful start, or when the stop itself failed.

With TOPIC_ARN set, every run that acted on, failed or skipped something publishes one summary there.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import time
from collections.abc import Callable
from typing import Any

import opskit_common as common
import scheduler_alarms
import scheduler_databases
import scheduler_ec2
import scheduler_scaled
import scheduler_summary
from scheduler_base import (
    AWS_ERRORS,
    MUTED_BY_TAG,
    OVERRIDE_TAG,
    SAVED_SIZE_TAG,
    STOPPED_BY_TAG,
    Outcome,
    Run,
    error_text,
)
from scheduler_request import ACTIONS, KINDS, MANUAL, MAX_INSTANCE_IDS, MAX_OVERRIDE_DAYS, Config, Request, parse
from scheduler_request import INSTANCE_ID as _INSTANCE_ID  # scripts/invoke.py checks ids the same way

__all__ = [
    "ACTIONS", "KINDS", "MANUAL", "MAX_INSTANCE_IDS", "MAX_OVERRIDE_DAYS", "MUTED_BY_TAG", "OVERRIDE_TAG",
    "SAVED_SIZE_TAG", "STOPPED_BY_TAG", "_INSTANCE_ID", "Config", "Request", "config", "handler", "parse",
]  # fmt: skip

log = common.get_logger(__name__)

# EC2 documents no upper bound for StartInstances/StopInstances; CreateTags takes up to 1000 ids.
# 200 keeps each request small while a 10,000-instance fleet needs 50 calls per step.
BATCH_SIZE = 200
PAGE_SIZE = 1000  # DescribeInstances MaxResults (5-1000)

# Injectable for tests: the bounded start verification is the only place this function waits.
sleep: Callable[[float], None] = time.sleep
monotonic: Callable[[], float] = time.monotonic

# What a stop does, in order; a start runs the reverse. Alarms are muted before anything is stopped and
# enabled after everything was started; applications never start before their databases.
STOP_ORDER: tuple[tuple[str, Callable[[Run], None]], ...] = (
    ("ecs", scheduler_scaled.run_ecs),
    ("asg", scheduler_scaled.run_asg),
    ("ec2", scheduler_ec2.run_ec2),
    ("rds", scheduler_databases.run_rds),
    ("redshift", scheduler_databases.run_redshift),
)


@functools.cache
def config() -> Config:
    return Config.from_env(os.environ)


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    cfg = config()
    now = dt.datetime.now(dt.UTC)
    request = parse(event, cfg, now)
    run = Run(cfg, request, now, Outcome(), BATCH_SIZE, PAGE_SIZE, sleep, monotonic)
    base = {"action": request.action, "schedule": request.schedule, "dry_run": request.dry_run}

    skip = None if request.manual else request.skip_date(now)
    if skip is not None:
        today, entry = skip
        every_year = " (every year)" if len(entry) == 5 else ""
        message = (
            f"{today} is a skip date of schedule {request.schedule} ({request.timezone}: {entry}{every_year}); "
            "nothing was done"
        )
        log.info(message, extra={**base, "skip_date": today})
        result: dict[str, Any] = {**base, "succeeded": [], "skipped": [], "failed": [], "skip_date": today}
        result["message"] = message
        return _finish(run, result)

    steps = [(kind, act) for kind, act in STOP_ORDER if kind in request.resources]
    if request.action == "stop":
        if "alarms" in request.resources:
            scheduler_alarms.mute(run)  # before anything is stopped
        for kind, act in steps:
            _step(run, kind, act)
    else:
        for kind, act in reversed(steps):
            _step(run, kind, act)
        if "alarms" in request.resources:
            scheduler_alarms.unmute(run)  # after every start was verified, only when none failed

    outcome = run.outcome
    result = {**base, "succeeded": outcome.succeeded, "skipped": outcome.skipped, "failed": outcome.failed}
    if request.dry_run:
        result["planned"] = outcome.planned
    if outcome.overrides_cleared:
        result["overrides_cleared"] = outcome.overrides_cleared
    if request.override_value is not None:
        result["override"] = {"key": OVERRIDE_TAG, "value": request.override_value}
    return _finish(run, result)


def _step(run: Run, kind: str, act: Callable[[Run], None]) -> None:
    """One kind. Each resource's own calls report their failures; what escapes is the listing itself
    (a describe AWS refused or did not answer): that kind fails as a whole and the next one still runs."""
    try:
        act(run)
    except AWS_ERRORS as exc:
        run.outcome.fail(kind, f"could not list the {kind} resources of the schedule: {error_text(exc)}")
        log.error("listing failed", extra={"kind": kind, "error": error_text(exc)})


def _finish(run: Run, result: dict[str, Any]) -> dict[str, Any]:
    """Metrics, the summary message, the log line; then raise when anything failed."""
    outcome, request = run.outcome, run.request
    scheduler_summary.emit(run)
    if run.cfg.topic_arn is not None:
        try:
            result["notified"] = scheduler_summary.publish(run, result)
        except AWS_ERRORS as exc:
            result["notified"] = False
            outcome.fail("notification", f"the run summary could not be published: {error_text(exc)}")
            log.error("summary not published", extra={"topic": run.cfg.topic_arn, "error": error_text(exc)})
    log.info(
        "scheduler run finished",
        extra={
            "action": request.action,
            "schedule": request.schedule,
            "dry_run": request.dry_run,
            "succeeded": len(outcome.succeeded),
            "skipped": len(outcome.skipped),
            "failed": len(outcome.failed),
            "planned": len(outcome.planned),
        },
    )
    if outcome.failed:
        names = "; ".join(f"{f['id']} ({common.clip(f['error'], 120)})" for f in outcome.failed[:10])
        more = f"; and {len(outcome.failed) - 10} more (see the result)" if len(outcome.failed) > 10 else ""
        muted = f" ({len(outcome.kept_muted)} alarm(s) kept muted until a start succeeds)" if outcome.kept_muted else ""
        message = f"{request.action} {request.schedule}: {len(outcome.failed)} failed{muted}: {names}{more}"
        raise common.PartialFailure(common.clip(message, 1800), result)
    return result
