"""Guard in front of the restart workflow: an alarm on one EC2 instance → at most one bounded remediation.

Accepts the three shapes a CloudWatch alarm arrives in (EventBridge `CloudWatch Alarm State Change`,
an SNS-wrapped alarm notification, a direct Lambda alarm action; parsed in alarm_event.py), confirms the
alarm at its source (cloudwatch:DescribeAlarms: it exists in this account and region, is in ALARM now and
watches exactly the instance the event names), refuses anything that a restart would not heal or that
another mechanism owns (guard_checks.py), enforces a cooldown and a restart cap per instance and a
fleet-wide budget (concurrent runs, runs per hour) with one DynamoDB transaction (guard_lock.py), and
starts the state machine under a deterministic execution name so a re-delivered alarm never restarts
twice. Every environment value is checked at cold start (ConfigError before any AWS call).

Every decision emits one CloudWatch metric (EMF) named by its reason code (REASONS), so the module's
dashboard answers "why wasn't it restarted?". A refusal over budget also publishes a notice with
outcome "over-budget" to the module's topic, which pages a human.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import opskit_common as common
from alarm_event import ALARM_STATE_CHANGE, Alarm, parse_alarm
from botocore.exceptions import ClientError
from guard_checks import (
    INSTANCE_ID_PATTERN,
    describe_instance,
    refusal_at_source,
    refusal_for_age,
    refusal_for_alarm,
    refusal_for_instance,
    refusal_for_name,
)
from guard_config import Config
from guard_lock import Claim, Fleet, read_claim, read_fleet, refusal_for_budget, refusal_for_claim, write_claim

__all__ = ["ALARM_STATE_CHANGE", "REASONS", "Alarm", "Claim", "Config", "Decision", "Fleet", "handler", "parse_alarm"]

logger = common.get_logger(__name__)

# Reason codes: every decision is exactly one of these, and each is a metric (namespace opskit, dimensions
# Module and Workflow) on the module's dashboard (modules/restart-workflow/dashboard.tf lists them).
REASONS = (
    "Started",  # the workflow runs
    "OverBudget",  # fleet-wide budget exhausted (concurrent runs or runs per hour); a notice pages a human
    "Cooldown",  # this instance was restarted less than cooldown_seconds ago
    "Cap",  # max_restarts within window_seconds reached for this instance
    "InProgress",  # a workflow for this instance is still running
    "AlreadyHandled",  # this alarm transition was handled before (re-delivery, second route)
    "Contended",  # another claim changed the instance's item (or, repeatedly, the fleet's) at the same moment
    "NotOptedIn",  # the instance lacks the opt-in tag
    "Spot",  # spot instance: a stop/start is not a safe remedy
    "AsgMember",  # its Auto Scaling group replaces it
    "InstanceStore",  # a stop would lose the root volume
    "NotRunning",  # not running (stopped, stopping, terminated, ...)
    "NotFound",  # no such instance
    "Stale",  # the alarm changed state longer ago than max_alarm_age_seconds
    "FutureTime",  # the alarm's time is in the future: not a real transition
    "NotConfirmed",  # CloudWatch does not confirm the alarm (missing, not in ALARM, another instance)
    "NotAllowed",  # not on allowed_alarm_names
    "NotInAlarm",  # the event describes a transition to OK or INSUFFICIENT_DATA
    "NotSingleInstance",  # metric math, composite or multi-instance alarm, or no instance id
    "DryRun",  # dry_run: decided, nothing claimed or started
)
MODULE = "restart-workflow"
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_EXECUTION_NAME_MAX = 80
FLEET_ATTEMPTS = 5  # a claim whose fleet item changed under it reads again, at most this often


@functools.cache
def config() -> Config:
    return Config.from_env(os.environ)


@dataclass(frozen=True)
class Decision:
    decision: str  # started | skipped
    code: str  # one of REASONS
    reason: str
    instance_id: str | None
    execution_arn: str | None = None
    notice: dict[str, Any] | None = None  # the over-budget notice to publish

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "code": self.code,
            "reason": common.clip(self.reason),
            "instance_id": self.instance_id,
            "execution_arn": self.execution_arn,
        }


def execution_name(instance_id: str, changed_at: datetime) -> str:
    """Deterministic: the same alarm transition, however delivered, always maps to the same name."""
    stamp = changed_at.strftime("%Y%m%dT%H%M%S") + f"{changed_at.microsecond // 1000:03d}Z"
    return _NAME_UNSAFE.sub("-", f"{instance_id}-{stamp}")[:_EXECUTION_NAME_MAX]


# --- act: the execution ----------------------------------------------------------------------------


def _execution_arn(state_machine_arn: str, name: str) -> str:
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


def _execution_exists(arn: str) -> bool:
    try:
        common.client("stepfunctions").describe_execution(executionArn=arn)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return False
        raise
    return True


def _start(cfg: Config, name: str, instance_id: str, alarm: Alarm) -> Decision:
    arn = _execution_arn(cfg.state_machine_arn, name)
    already = Decision("skipped", "AlreadyHandled", "already handled: execution exists", instance_id, arn)
    if _execution_exists(arn):
        return already
    payload = {
        "InstanceId": instance_id,
        "AlarmName": alarm.name,
        "AlarmTime": alarm.changed_at.isoformat(),
        "DeliveredAs": alarm.shape,
    }
    try:
        arn = common.client("stepfunctions").start_execution(
            stateMachineArn=cfg.state_machine_arn, name=name, input=json.dumps(payload)
        )["executionArn"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ExecutionAlreadyExists":
            return already
        raise
    return Decision("started", "Started", "restart workflow started", instance_id, arn)


def _over_budget(reason: str, instance_id: str, alarm: Alarm, fleet: Fleet, now: int, cfg: Config) -> Decision:
    notice = {
        "outcome": "over-budget",
        "instance": instance_id,
        "alarm": alarm.name,
        "reason": common.clip(reason, 600),
        "running": sorted(fleet.active(now))[:20],
        "startedLastHour": len(fleet.recent(now)),
        "maxConcurrentRestarts": cfg.max_concurrent_restarts,
        "maxRestartsPerHour": cfg.max_restarts_per_hour,
    }
    if cfg.dry_run:
        return Decision("skipped", "OverBudget", f"dry run: {reason}", instance_id)
    return Decision("skipped", "OverBudget", reason, instance_id, notice=notice)


def _publish(topic_arn: str, notice: dict[str, Any]) -> None:
    common.client("sns").publish(
        TopicArn=topic_arn,
        Subject=f"opskit restart refused (over budget): {notice['instance']}",
        Message=json.dumps(notice),
    )


# --- decide and act --------------------------------------------------------------------------------


def _skipped(refusal: tuple[str, str], instance_id: str | None) -> Decision:
    code, reason = refusal
    return Decision("skipped", code, reason, instance_id)


def decide_and_act(alarm: Alarm, cfg: Config) -> Decision:
    refusal = refusal_for_alarm(alarm)
    if refusal:
        single = len(alarm.instance_ids) == 1 and INSTANCE_ID_PATTERN.fullmatch(alarm.instance_ids[0])
        return _skipped(refusal, alarm.instance_ids[0] if single else None)
    instance_id = alarm.instance_ids[0]
    now = int(time.time())
    refusal = refusal_for_age(alarm, now, cfg) or refusal_for_name(alarm, cfg)
    if refusal:
        return _skipped(refusal, instance_id)

    refusal = refusal_at_source(alarm, instance_id) or refusal_for_instance(describe_instance(instance_id), cfg)
    if refusal:
        return _skipped(refusal, instance_id)

    name = execution_name(instance_id, alarm.changed_at)
    for _ in range(FLEET_ATTEMPTS):
        claim = read_claim(cfg.lock_table, instance_id)
        if name in (claim.lock_owner, claim.last_execution):
            # This alarm transition was claimed before (re-delivery, or a retry after a crash between the
            # claim and StartExecution): never claim again, only make sure its execution exists.
            if cfg.dry_run:
                return Decision("skipped", "DryRun", f"dry run: {name} was already claimed", instance_id)
            return _start(cfg, name, instance_id, alarm)
        refusal = refusal_for_claim(claim, now, cfg)
        if refusal:
            return _skipped(refusal, instance_id)
        fleet = read_fleet(cfg.lock_table)
        refusal = refusal_for_budget(fleet, now, cfg)
        if refusal:
            return _over_budget(refusal[1], instance_id, alarm, fleet, now, cfg)
        if cfg.dry_run:
            return Decision("skipped", "DryRun", f"dry run: would start {name}", instance_id)
        written = write_claim(cfg.lock_table, instance_id, claim, fleet, name, alarm.name, now, cfg)
        if written == "claimed":
            return _start(cfg, name, instance_id, alarm)
        if written == "instance":
            return Decision(
                "skipped", "Contended", "another alarm claimed this instance at the same moment", instance_id
            )
        # "fleet": another claim (or a finished run) changed the fleet's budget since it was read: decide again.
    return Decision(
        "skipped",
        "Contended",
        f"the fleet budget changed under {FLEET_ATTEMPTS} consecutive claims; the alarm was not acted on",
        instance_id,
    )


def handler(event: Any, context: Any) -> dict[str, Any]:
    cfg = config()  # cold start: a bad environment fails every invocation before anything else
    alarm = parse_alarm(event)
    decision = decide_and_act(alarm, cfg)
    result = decision.as_dict()
    logger.info(
        "restart %s (%s): %s",
        decision.decision,
        decision.code,
        result["reason"],
        extra={
            "decision": decision.decision,
            "code": decision.code,
            "reason": result["reason"],
            "instance_id": decision.instance_id,
            "alarm_name": alarm.name,
            "delivered_as": alarm.shape,
            "execution_arn": decision.execution_arn,
            "dry_run": cfg.dry_run,
        },
    )
    common.emit_metrics(
        "opskit",
        {"Module": MODULE, "Workflow": cfg.workflow_name},
        {decision.code: (1, "Count")},  # one metric per decision, named by its reason
        {"decision": decision.decision, "reason": result["reason"], "instance_id": decision.instance_id},
    )
    if decision.notice is not None and cfg.notice_topic_arn is not None:
        try:
            _publish(cfg.notice_topic_arn, decision.notice)
        except ClientError as exc:
            # The refusal stands; the page did not go out: fail the invocation so it is retried and, in
            # the end, lands in the dead-letter queue and the function's Errors alarm.
            raise common.PartialFailure(
                f"refused over budget, but the notice to {cfg.notice_topic_arn} failed: "
                f"{common.clip(exc.response['Error'].get('Code'), 80)}",
                {**result, "notice": decision.notice},
            ) from None
    return result
