"""Reminders while a target's alarm stays in ALARM, and the recovery notice with the total downtime.

No store of its own: the alarm is the state. A scheduled run reads the target alarms in ALARM
(DescribeAlarms; since when: StateTransitionedTimestamp, else StateUpdatedTimestamp) and sends reminder n when
n * REMIND_MINUTES have passed since then and the previous scheduled run was before that moment: runs are
RUN_INTERVAL apart (the scheduled event's own time is used, so every reminder is sent exactly once). The
recovery notice comes from the alarm's own state-change event (EventBridge, ALARM -> OK), whose previous state
carries the time the alarm went to ALARM.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import opskit_common as common
from hc_config import Config

LOG = common.get_logger("health_check")
SUBJECT_LIMIT = 99  # SNS subjects: under 100 ASCII characters


def duration(seconds: float) -> str:
    """1 d 2 h 5 min / 2 h 0 min / 7 min (whole minutes, rounded down)."""
    minutes = max(0, int(seconds // 60))
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h {minutes} min"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _subject(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")[:SUBJECT_LIMIT]


def publish(cfg: Config, subject: str, message: str) -> None:
    common.client("sns").publish(TopicArn=cfg.topic_arn, Subject=_subject(subject), Message=message)


def _error(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return common.clip(code or type(exc).__name__)


def _alarms_in_alarm(cfg: Config) -> list[Mapping[str, Any]]:
    alarms: list[Mapping[str, Any]] = []
    paginator = common.client("cloudwatch").get_paginator("describe_alarms")
    for page in paginator.paginate(AlarmNamePrefix=cfg.alarm_prefix, StateValue="ALARM", AlarmTypes=["MetricAlarm"]):
        alarms += [a for a in page.get("MetricAlarms", []) if a.get("StateValue") == "ALARM"]
    return alarms


@dataclass(frozen=True)
class Reminder:
    target: str
    since: dt.datetime
    down_for: float  # seconds
    number: int


def due_reminders(cfg: Config, targets: Iterable[str], run_time: dt.datetime) -> list[Reminder]:
    """The reminders this scheduled run owes (one per target alarm whose n-th reminder time falls into the
    RUN_INTERVAL before run_time)."""
    names = set(targets)
    every = cfg.remind_minutes * 60
    due = []
    for alarm in _alarms_in_alarm(cfg):
        target = str(alarm.get("AlarmName", ""))[len(cfg.alarm_prefix or "") :]
        since = alarm.get("StateTransitionedTimestamp") or alarm.get("StateUpdatedTimestamp")
        if target not in names or not isinstance(since, dt.datetime):
            continue
        since = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
        elapsed = (run_time - since).total_seconds()
        if elapsed >= every and elapsed % every < cfg.run_interval:
            due.append(Reminder(target, since, elapsed, int(elapsed // every)))
    return due


def send_reminders(cfg: Config, targets: Iterable[str], run_time: dt.datetime) -> tuple[list[str], list[str]]:
    """(targets reminded, problems). Problems are reported, never raised here."""
    try:
        due = due_reminders(cfg, targets, run_time)
    except Exception as exc:  # reading the alarms failed: the checks' results still stand
        return [], [f"reading the alarms failed: {_error(exc)}"]
    sent, problems = [], []
    for reminder in due:
        down = duration(reminder.down_for)
        message = (
            f"Health check {reminder.target} is still failing: its alarm {cfg.alarm_prefix}{reminder.target} has "
            f"been in ALARM for {down} (since {_stamp(reminder.since)}). Reminder {reminder.number}; the next one "
            f"follows in {cfg.remind_minutes} min while it stays down."
        )
        try:
            publish(cfg, f"Still down: {reminder.target} ({down})", message)
        except Exception as exc:
            problems.append(f"reminder for {reminder.target} not sent: {_error(exc)}")
            continue
        LOG.warning("reminder sent: %s down for %s", reminder.target, down, extra={"target": reminder.target})
        sent.append(reminder.target)
    return sent, problems


@dataclass(frozen=True)
class Recovery:
    target: str
    down_since: dt.datetime
    up_since: dt.datetime

    @property
    def down_for(self) -> float:
        return (self.up_since - self.down_since).total_seconds()


def parse_recovery(event: Mapping[str, Any], cfg: Config) -> Recovery | None:
    """The ALARM -> OK change of one of this function's target alarms, None for another alarm (InputError when
    the event is malformed)."""
    detail = common.require_mapping(event.get("detail"), "detail")
    name = common.require_str(detail.get("alarmName"), "detail.alarmName", max_length=255)
    state = common.require_mapping(detail.get("state"), "detail.state")
    previous = common.require_mapping(detail.get("previousState"), "detail.previousState")
    if state.get("value") != "OK" or previous.get("value") != "ALARM":
        raise common.InputError(
            f"expected an ALARM -> OK change, got {common.clip(previous.get('value'), 40)} -> "
            f"{common.clip(state.get('value'), 40)}"
        )
    up_since = common.parse_time(state.get("timestamp"), "detail.state.timestamp")
    down_since = common.parse_time(previous.get("timestamp"), "detail.previousState.timestamp")
    if down_since > up_since:
        raise common.InputError("detail.previousState.timestamp is later than detail.state.timestamp")
    prefix = cfg.alarm_prefix or ""
    target = name[len(prefix) :] if prefix and name.startswith(prefix) else None
    if target is None or target not in {t.name for t in cfg.targets}:
        return None
    return Recovery(target, down_since, up_since)


def send_recovery(cfg: Config, recovery: Recovery) -> None:
    down = duration(recovery.down_for)
    message = (
        f"Health check {recovery.target} is passing again: its alarm {cfg.alarm_prefix}{recovery.target} went back "
        f"to OK at {_stamp(recovery.up_since)} after {down} in ALARM (since {_stamp(recovery.down_since)})."
    )
    publish(cfg, f"Recovered: {recovery.target} after {down}", message)
    LOG.info("recovery notice sent: %s was down for %s", recovery.target, down, extra={"target": recovery.target})
