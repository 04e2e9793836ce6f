"""Start a protected EC2 instance again when it stops unexpectedly; forget stale stop markers.

EventBridge delivers this account's `EC2 Instance State-change Notification` events with `state: stopped`
or `running` (modules/instance-protect/patterns/instance-state.json). The event names the instance but
carries no tags, so the handler describes the instance and decides. On `stopped`:

  skipped  instance-not-found   the instance no longer exists
  skipped  not-protected        it does not carry the protect tag (PROTECT_TAG, default Protected=true)
  skipped  terminating          it is shutting down or terminated
  skipped  not-stopped          it is no longer stopped (someone or something already started it)
  skipped  stopped-by-opskit    the opskit scheduler or restart workflow stopped it on purpose: they tag
                                `opskit:stopped-by` before they stop an instance
  skipped  held                 an operator put it on hold (HOLD_TAG_KEY, default `opskit:hold`, any
                                value) before stopping it; a notice says so
  skipped  spot-interruption    EC2 stopped a Spot Instance (EC2 restarts it when capacity returns)
  skipped  restart-cap-reached  it was already restarted MAX_RESTARTS times within WINDOW_SECONDS; a
                                notice goes to TOPIC_ARN and the instance stays stopped
  started  unplanned-stop       anything else: it is started again and a notice is published

On `running` (a marker describes only the stop that followed it, so it is obsolete once the instance runs
again, e.g. after a person started a scheduler-stopped instance by hand):
  skipped  instance-not-found    the instance no longer exists
  skipped  not-protected         it does not carry the protect tag (no further AWS call)
  skipped  not-running           it is no longer running: a marker it carries belongs to a stop under way
  skipped  no-stale-marker       running and unmarked: nothing to do
  skipped  cleared-stale-marker  running and still marked: the `opskit:stopped-by` tag was deleted

Any other state (the rule does not send them): skipped, state-not-handled, without an AWS call.
When the action fails (CreateTags/StartInstances, DeleteTags) the decision becomes `failed` with reason
`start-failed` or `marker-clear-failed`, and the error is raised after the decision was recorded.
Every decision writes one log line and one EMF metric named by its reason (instance_protect_metrics:
Started, Cap, Held, Spot, NotOptedIn, ...).
Restart history lives in a tag on the instance itself (`opskit:protect-restarts`, the epoch seconds of
recent restarts), written before the start so that a failed start still counts against the cap.
"""

from __future__ import annotations

import functools
import os
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import instance_protect_metrics as metrics
import opskit_common as common
from botocore.exceptions import ClientError
from instance_protect_config import Config

LOG = common.get_logger(__name__)

SOURCE = "aws.ec2"
DETAIL_TYPE = "EC2 Instance State-change Notification"
EC2_STATES = ("pending", "running", "stopping", "stopped", "shutting-down", "terminated")
INSTANCE_ID = common.id_pattern("i")
SPOT_STOP_CODES = {"Server.SpotInstanceShutdown", "Server.SpotInstanceTermination"}
# SNS refuses a Subject with line breaks or control characters, or of 100 characters or more.
MAX_SUBJECT_CHARS = 99


@functools.cache
def config() -> Config:
    return Config.from_env(os.environ)


@dataclass(frozen=True)
class StateChange:
    instance_id: str
    state: str
    time: str | None


def shown(value: Any) -> str:
    """A value of the event for an error message: quoted when text, at most common.CLIP characters."""
    return repr(common.clip(value)) if isinstance(value, str) else common.clip(value)


def parse_event(event: Any) -> StateChange:
    """Validate the EventBridge envelope; raise InputError naming what is wrong."""
    envelope = common.require_mapping(event, "event")
    source, detail_type = envelope.get("source"), envelope.get("detail-type")
    if source != SOURCE or detail_type != DETAIL_TYPE:
        raise common.InputError(
            f"expected an {SOURCE!r} {DETAIL_TYPE!r} event, got source={shown(source)} detail-type={shown(detail_type)}"
        )
    detail = common.require_mapping(envelope.get("detail"), "event.detail")
    instance_id = detail.get("instance-id")
    if not isinstance(instance_id, str) or not INSTANCE_ID.fullmatch(instance_id):
        raise common.InputError(
            f"event.detail.instance-id must be an instance id like i-0123456789abcdef0, got {shown(instance_id)}"
        )
    state = detail.get("state")
    if not isinstance(state, str) or state not in EC2_STATES:
        raise common.InputError(f"event.detail.state must be one of {list(EC2_STATES)}, got {shown(state)}")
    event_time = envelope.get("time")
    if event_time is not None:  # only logged, but a malformed envelope is refused as a whole
        event_time = common.parse_time(event_time, "event.time").isoformat()
    return StateChange(instance_id=instance_id, state=state, time=event_time)


def describe(instance_id: str) -> dict[str, Any] | None:
    try:
        reservations = common.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "InvalidInstanceID.NotFound":
            return None
        raise
    instances = [i for r in reservations for i in r.get("Instances", [])]
    return instances[0] if instances else None


def recent_restarts(raw: str | None, now: int, window: int) -> list[int]:
    """Epoch seconds of restarts within the window, from the history tag (unparsable parts are dropped)."""
    stamps = []
    for part in (raw or "").split():
        if part.isdigit() and now - window < int(part) <= now:
            stamps.append(int(part))
    return sorted(stamps)


def decide(cfg: Config, instance: Mapping[str, Any], now: int) -> tuple[str, str, list[int]]:
    """Pure decision on a described instance: (decision, reason, restart history within the window)."""
    tags = common.tags_to_dict(instance.get("Tags"))
    state = instance.get("State", {}).get("Name")
    history = recent_restarts(tags.get(cfg.restarts_tag_key), now, cfg.window_seconds)
    if tags.get(cfg.protect_key) != cfg.protect_value:
        return "skipped", "not-protected", history
    if state in ("shutting-down", "terminated"):
        return "skipped", "terminating", history
    if state != "stopped":
        return "skipped", "not-stopped", history
    if cfg.stopped_by_tag_key in tags:
        return "skipped", "stopped-by-opskit", history
    if cfg.hold_tag_key in tags:
        return "skipped", "held", history
    if instance.get("InstanceLifecycle") == "spot" and instance.get("StateReason", {}).get("Code") in SPOT_STOP_CODES:
        return "skipped", "spot-interruption", history
    if len(history) >= cfg.max_restarts:
        return "skipped", "restart-cap-reached", history
    return "started", "unplanned-stop", history


def clear_stale_marker(cfg: Config, instance_id: str, result: dict[str, Any]) -> None:
    """On a running event: delete `opskit:stopped-by` from a protected instance that runs again.

    Only when DescribeInstances says `running` now: a late running event for an instance that an opskit
    tool has since marked and stopped (state stopping/stopped) must leave that fresh marker alone. The
    delete names the value that was read, so a marker rewritten in the meantime is kept."""
    instance = describe(instance_id)
    if instance is None:
        result["reason"] = "instance-not-found"
        return
    tags = common.tags_to_dict(instance.get("Tags"))
    state = instance.get("State", {}).get("Name")
    marker = tags.get(cfg.stopped_by_tag_key)
    if tags.get(cfg.protect_key) != cfg.protect_value:
        result["reason"] = "not-protected"
    elif state != "running":
        result["reason"] = "not-running"
    elif marker is None:
        result["reason"] = "no-stale-marker"
    else:
        result["stale_marker"] = common.clip(marker)
        try:
            common.client("ec2").delete_tags(
                Resources=[instance_id], Tags=[{"Key": cfg.stopped_by_tag_key, "Value": marker}]
            )
        except ClientError:
            result.update(decision="failed", reason="marker-clear-failed")
            raise
        result["reason"] = "cleared-stale-marker"


def sns_subject(text: str) -> str:
    """A Subject SNS accepts: control characters and line/paragraph separators (a Name tag may hold any
    character) become spaces, and the text is cut below 100 characters."""
    cleaned = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= MAX_SUBJECT_CHARS else cleaned[: MAX_SUBJECT_CHARS - 3] + "..."


def notify(cfg: Config, subject: str, lines: list[str]) -> bool:
    if cfg.topic_arn is None:
        return False
    common.client("sns").publish(TopicArn=cfg.topic_arn, Subject=sns_subject(subject), Message="\n".join(lines))
    return True


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Decide, act, then record the decision: one log line and one metric named by its reason. A decision
    whose action fails is recorded too (StartFailed, MarkerClearFailed, or Started/Held/Cap when only the
    notice failed) before the error is raised; an error before any decision (a malformed event, a failed
    DescribeInstances) records nothing and shows in the function's Errors metric."""
    cfg = config()
    change = parse_event(event)
    result: dict[str, Any] = {"decision": "skipped", "reason": "", "instance_id": change.instance_id}
    details: dict[str, Any] = {}
    try:
        if change.state == "running":
            clear_stale_marker(cfg, change.instance_id, result)
        elif change.state == "stopped":
            on_stopped(cfg, change, result, details)
        else:
            result["reason"] = "state-not-handled"
    except Exception:
        if result["reason"]:
            finish(result, change, details)
        raise
    return finish(result, change, details)


def on_stopped(cfg: Config, change: StateChange, result: dict[str, Any], details: dict[str, Any]) -> None:
    """A stopped event: describe the instance, decide, and start it or notify; `result` holds the decision
    as soon as it is known, `details` the facts logged with it."""
    instance = describe(change.instance_id)
    if instance is None:
        result["reason"] = "instance-not-found"
        return

    now = int(time.time())
    decision, reason, history = decide(cfg, instance, now)
    tags = common.tags_to_dict(instance.get("Tags"))
    name = common.clip(tags.get("Name", change.instance_id), 100)
    facts = {
        "state_reason": instance.get("StateReason", {}).get("Code"),
        "state_transition_reason": instance.get("StateTransitionReason"),
        "stopped_by": tags.get(cfg.stopped_by_tag_key),
        "schedule": tags.get(cfg.schedule_tag_key),
    }
    facts = {key: common.clip(value) if isinstance(value, str) else value for key, value in facts.items()}
    details.update(facts, instance_name=name)
    result.update(decision=decision, reason=reason, restarts_in_window=len(history))
    if cfg.stopped_by_tag_key in tags:
        result["stopped_by"] = common.clip(tags[cfg.stopped_by_tag_key])
    window = f"{cfg.max_restarts} restarts per {cfg.window_seconds}s"
    last_stop = f"Last stop: {facts['state_reason']} / {facts['state_transition_reason']}."

    if reason == "held":
        result["held"] = common.clip(tags[cfg.hold_tag_key])
        result["notified"] = notify(
            cfg,
            f"opskit instance-protect: {name} stays stopped (on hold)",
            [
                f"Protected instance {change.instance_id} ({name}) stopped and was NOT started: it carries the hold "
                f"tag {cfg.hold_tag_key} (value {result['held']!r}).",
                last_stop,
                f"Delete the tag {cfg.hold_tag_key} to protect it again; start it by hand when it should run.",
            ],
        )
    elif reason == "restart-cap-reached":
        result["notified"] = notify(
            cfg,
            f"opskit instance-protect: {name} stays stopped (restart cap reached)",
            [
                f"Protected instance {change.instance_id} ({name}) stopped again and was NOT started: it was already "
                f"restarted {len(history)} times within the window ({window}).",
                last_stop,
                "Investigate it, then start it by hand. Protection resumes once the window has passed, or at once "
                f"after deleting the tag {cfg.restarts_tag_key} from the instance.",
            ],
        )
    elif decision == "started":
        result["restarts_in_window"] = len(history) + 1
        try:
            result.update(start(cfg, change.instance_id, name, [*history, now], facts, window))
        except ClientError:  # tagging or starting failed (a PartialFailure means it started)
            result.update(decision="failed", reason="start-failed")
            del result["restarts_in_window"]  # unknown: the history tag may or may not have been written
            raise
        if result["decision"] != "started":  # someone else changed its state first: not counted
            result["restarts_in_window"] = len(history)


def start(
    cfg: Config, instance_id: str, name: str, history: list[int], facts: Mapping[str, Any], window: str
) -> dict[str, Any]:
    """Record the restart (before starting, so a failed start still counts), start, then notify."""
    ec2 = common.client("ec2")
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": cfg.restarts_tag_key, "Value": " ".join(map(str, history))}])
    try:
        ec2.start_instances(InstanceIds=[instance_id])
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "IncorrectInstanceState":
            return {"decision": "skipped", "reason": "not-stopped"}
        try:
            notify(
                cfg,
                f"opskit instance-protect: could not start {name}",
                [
                    f"Protected instance {instance_id} ({name}) stopped unexpectedly and starting it failed: "
                    f"{common.clip(str(exc))}."
                ],
            )
        except ClientError:
            LOG.exception("notice about the failed start could not be published", extra={"instance_id": instance_id})
        raise
    try:
        notified = notify(
            cfg,
            f"opskit instance-protect: started {name} again",
            [
                f"Protected instance {instance_id} ({name}) stopped unexpectedly and was started again.",
                f"Stop reason: {facts['state_reason']} / {facts['state_transition_reason']}.",
                f"Restart {len(history)} of at most {window}.",
            ],
        )
    except ClientError as exc:
        raise common.PartialFailure(
            f"{instance_id} was started again but the notice could not be published: {common.clip(str(exc))}",
            {"decision": "started", "reason": "unplanned-stop", "instance_id": instance_id, "notified": False},
        ) from exc
    return {"notified": notified}


def finish(result: dict[str, Any], change: StateChange, details: Mapping[str, Any]) -> dict[str, Any]:
    """Log the decision and write its metric (instance_protect_metrics)."""
    level = LOG.error if result["decision"] == "failed" else LOG.info
    level(
        "instance %s %s: %s",
        result["instance_id"],
        result["decision"],
        result["reason"],
        extra={**result, **details, "event_time": change.time},
    )
    metrics.emit(change.state, result, details.get("instance_name"))
    return result
