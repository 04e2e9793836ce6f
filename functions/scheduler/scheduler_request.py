"""The scheduler's inputs, checked as a whole before any AWS call: the environment (Config, at cold start;
a bad value is a ConfigError) and the event (Request; a bad value is an InputError naming the field and
showing at most a bounded part of the value)."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import opskit_common as common

MANUAL = "manual"
ACTIONS = ("start", "stop")
KINDS = ("ec2", "asg", "rds", "ecs", "redshift", "alarms")
DEFAULT_KINDS = ("ec2", "asg", "rds")  # a payload without `resources` (the module's default list)
OVERRIDE_STATES = {"start": "running", "stop": "stopped"}  # the state a manual override keeps
MAX_SCHEDULES = 50  # modules/scheduler's limit (its IAM policy lists every name)
MAX_INSTANCE_IDS = 1000  # per manual run (CreateTags takes up to 1000 ids)
MAX_VERIFY_TIMEOUT_SECONDS = 300
MAX_OVERRIDE_DAYS = 90

# Whole-string patterns: use them with `fullmatch` only (`re.match(...$)` accepts a trailing newline).
INSTANCE_ID = common.id_pattern("i")  # i- and exactly 8 or 17 lower-case hex digits
_SCHEDULE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")  # the keys modules/scheduler accepts
_DATE = re.compile(r"(?:[0-9]{4}-)?[0-9]{2}-[0-9]{2}")  # YYYY-MM-DD, or MM-DD for every year
_ZONE = re.compile(r"UTC|[A-Z][A-Za-z_-]{1,30}(?:/[A-Za-z0-9_+-]{1,30}){1,2}")  # as modules/scheduler validates
_TAG_KEY = re.compile(r"[A-Za-z0-9 _.:/=+@-]{1,127}")
_BOOL = re.compile(r"(?i)true|false|1|0|yes|no|on|off")
_SECONDS = re.compile(r"[0-9]{1,3}")
_TOPIC_ARN = common.arn_pattern("sns", r"[A-Za-z0-9_-]{1,256}")
_ENV_NAMES = ("TAG_KEY", "SCHEDULE_NAMES", "DRY_RUN", "HIBERNATE", "VERIFY_TIMEOUT_SECONDS", "TOPIC_ARN")


def show(value: Any, limit: int = 100) -> str:
    """A bounded repr of untrusted input for error messages and logs."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int past the str-conversion limit, a self-containing list
        text = f"<{type(value).__name__}>"
    return common.clip(text, limit)


def iso(moment: dt.datetime) -> str:
    """An aware time as the UTC text the override tag carries: 2026-12-05T18:00:00Z."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Config:
    tag_key: str
    schedule_names: frozenset[str]
    dry_run: bool
    hibernate: bool
    verify_timeout_seconds: int
    topic_arn: str | None = None  # TOPIC_ARN: one summary per run goes there (unset or empty: none)

    @classmethod
    def from_env(cls, env: Mapping[str, Any]) -> Config:
        """Check every variable before any AWS call; ConfigError names the variable and shows at most a
        bounded part of its value."""
        for name in _ENV_NAMES:
            if name in env and not isinstance(env[name], str):
                raise common.ConfigError(
                    f"environment variable {name} must be a string, got {type(env[name]).__name__}"
                )
        tag_key = common.env_match(env, "TAG_KEY", _TAG_KEY, "Schedule")
        if tag_key.lower().startswith("aws:"):
            raise common.ConfigError(f"TAG_KEY={tag_key!r} is in the reserved aws: namespace")
        seconds = int(common.env_match(env, "VERIFY_TIMEOUT_SECONDS", _SECONDS, "30"))
        if seconds > MAX_VERIFY_TIMEOUT_SECONDS:
            raise common.ConfigError(f"VERIFY_TIMEOUT_SECONDS={seconds} must be at most {MAX_VERIFY_TIMEOUT_SECONDS}")
        topic_arn = env.get("TOPIC_ARN") or None
        if topic_arn is not None:
            common.env_match(env, "TOPIC_ARN", _TOPIC_ARN)
        return cls(
            tag_key=tag_key,
            schedule_names=_schedule_names(env),
            dry_run=common.env_bool({"DRY_RUN": common.env_match(env, "DRY_RUN", _BOOL, "false")}, "DRY_RUN"),
            hibernate=common.env_bool({"HIBERNATE": common.env_match(env, "HIBERNATE", _BOOL, "false")}, "HIBERNATE"),
            verify_timeout_seconds=seconds,
            topic_arn=topic_arn,
        )


def _schedule_names(env: Mapping[str, Any]) -> frozenset[str]:
    """SCHEDULE_NAMES: the JSON list of configured schedule names (required; `[]` when none is configured)."""
    raw = common.env_str(env, "SCHEDULE_NAMES")
    try:
        names = common.loads_json(raw, "environment variable SCHEDULE_NAMES", max_length=8192)
    except common.InputError as exc:
        raise common.ConfigError(str(exc)) from None
    if (
        not isinstance(names, list)
        or len(names) > MAX_SCHEDULES
        or not all(isinstance(n, str) and _SCHEDULE_NAME.fullmatch(n) and n != MANUAL for n in names)
    ):
        raise common.ConfigError(
            f"environment variable SCHEDULE_NAMES must be a JSON list of at most {MAX_SCHEDULES} schedule names "
            f"(1-32 letters, digits, '.', '_' or '-', not {MANUAL!r}), got {show(raw)}"
        )
    return frozenset(names)


@dataclass(frozen=True)
class Request:
    action: str
    schedule: str  # the schedule name, or "manual"
    instance_ids: tuple[str, ...]  # manual form only
    timezone: str
    skip_dates: frozenset[str]  # YYYY-MM-DD and MM-DD (every year)
    resources: tuple[str, ...]
    dry_run: bool
    override_until: dt.datetime | None = None  # manual form only: tag opskit:override=<state>@<this>

    @property
    def manual(self) -> bool:
        return self.schedule == MANUAL and bool(self.instance_ids)

    @property
    def marker(self) -> str:
        return f"scheduler:{self.schedule}"

    @property
    def override_value(self) -> str | None:
        """The opskit:override value a manual run with override_until writes."""
        if self.override_until is None:
            return None
        return f"{OVERRIDE_STATES[self.action]}@{iso(self.override_until)}"

    def skip_date(self, now: dt.datetime) -> tuple[str, str] | None:
        """(today in the schedule's zone, the skip_dates entry it matches), or None. An MM-DD entry matches
        every year; 02-29 therefore only in leap years."""
        today = now.astimezone(zoneinfo.ZoneInfo(self.timezone)).date()
        for entry in (today.isoformat(), today.strftime("%m-%d")):
            if entry in self.skip_dates:
                return today.isoformat(), entry
        return None


def parse(event: Any, cfg: Config, now: dt.datetime | None = None) -> Request:
    """The event, checked as a whole before any AWS call."""
    now = now or dt.datetime.now(dt.UTC)
    event = common.require_mapping(event, "event")
    action = event.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise common.InputError(f"action must be 'start' or 'stop', got {show(action)}")
    dry_run = event.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise common.InputError(f"dry_run must be true or false, got {show(dry_run)}")
    dry_run = dry_run or cfg.dry_run

    if "instance_ids" in event:
        if "schedule" in event:
            raise common.InputError("give either schedule or instance_ids, not both")
        ids = event["instance_ids"]
        if not isinstance(ids, list) or not ids or len(ids) > MAX_INSTANCE_IDS:
            raise common.InputError(
                f"instance_ids must be a non-empty list of at most {MAX_INSTANCE_IDS} EC2 instance ids, got {show(ids)}"
            )
        bad = [i for i in ids if not isinstance(i, str) or not INSTANCE_ID.fullmatch(i)]
        if bad:
            raise common.InputError(
                f"malformed instance ids (expected i- and exactly 8 or 17 lower-case hex digits): "
                f"{len(bad)} of {len(ids)}, e.g. {show(bad[:3])}"
            )
        until = _override_until(event["override_until"], now) if "override_until" in event else None
        return Request(action, MANUAL, tuple(dict.fromkeys(ids)), "UTC", frozenset(), ("ec2",), dry_run, until)

    if "override_until" in event:
        raise common.InputError("override_until is only accepted with instance_ids (the manual form)")
    schedule = event.get("schedule")
    if schedule is None:
        raise common.InputError("the event needs a schedule name or a list of instance_ids")
    if not isinstance(schedule, str) or schedule not in cfg.schedule_names:
        configured = ", ".join(sorted(cfg.schedule_names)) or "none"
        raise common.InputError(
            f"schedule must be one of the configured schedules ({common.clip(configured)}), got {show(schedule)}"
        )

    timezone = event.get("timezone", "UTC")
    if not isinstance(timezone, str) or not _ZONE.fullmatch(timezone):
        raise common.InputError(f"timezone must be UTC or an IANA name such as Europe/Berlin, got {show(timezone)}")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise common.InputError(f"unknown time zone {timezone!r} (expected an IANA name like Europe/Berlin)") from None

    resources = event.get("resources", list(DEFAULT_KINDS))
    if (
        not isinstance(resources, list)
        or not resources
        or not all(isinstance(r, str) and r in KINDS for r in resources)
    ):
        raise common.InputError(f"resources must be a non-empty list drawn from {list(KINDS)}, got {show(resources)}")

    skip_dates = _skip_dates(event.get("skip_dates", []))
    return Request(action, schedule, (), timezone, skip_dates, tuple(dict.fromkeys(resources)), dry_run)


def _skip_dates(value: Any) -> frozenset[str]:
    if not isinstance(value, list):
        raise common.InputError(f"skip_dates must be a list of YYYY-MM-DD or MM-DD dates, got {show(value)}")
    for day in value:
        if not isinstance(day, str) or not _DATE.fullmatch(day):
            raise common.InputError(f"skip date {show(day)} is not YYYY-MM-DD (one day) or MM-DD (every year)")
        try:
            # MM-DD is checked against a leap year: 02-29 is a valid yearly date (it matches in leap years).
            dt.date.fromisoformat(day if len(day) == 10 else f"2024-{day}")
        except ValueError:
            raise common.InputError(f"skip date {day!r} is not a calendar date") from None
    return frozenset(value)


def _override_until(value: Any, now: dt.datetime) -> dt.datetime:
    """An ISO-8601 time with Z or an offset, after now and at most MAX_OVERRIDE_DAYS ahead (whole seconds)."""
    until = common.parse_time(value, "override_until").replace(microsecond=0)
    if until <= now:
        raise common.InputError(f"override_until {iso(until)} is not in the future (now {iso(now)})")
    if until > now + dt.timedelta(days=MAX_OVERRIDE_DAYS):
        raise common.InputError(
            f"override_until {iso(until)} is more than {MAX_OVERRIDE_DAYS} days ahead (at most "
            f"{iso(now + dt.timedelta(days=MAX_OVERRIDE_DAYS))})"
        )
    return until
