"""The guard's configuration: every environment variable Terraform sets (modules/restart-workflow, local
guard_environment), parsed once into a frozen dataclass and checked as a whole at cold start, so a bad value
is a ConfigError before any AWS call (a malformed STATE_MACHINE_ARN used to be found out only after the
DynamoDB claim was written: a restart slot spent and the lock held)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import opskit_common as common
from alarm_event import ALARM_NAME

_STATE_MACHINE_ARN = common.arn_pattern("states", r"stateMachine:[A-Za-z0-9_-]{1,80}")
_TOPIC_ARN = common.arn_pattern("sns", r"[A-Za-z0-9_-]{1,256}")
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_YEAR = 365 * 86400
_DIGITS = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True)
class Config:
    state_machine_arn: str
    lock_table: str
    cooldown_seconds: int
    max_restarts: int
    window_seconds: int
    lock_seconds: int
    max_alarm_age_seconds: int
    opt_in_tag: tuple[str, str] | None
    allowed_alarm_names: frozenset[str] | None  # None: any alarm that passes the checks
    dry_run: bool
    max_concurrent_restarts: int = 2  # fleet-wide budget, claimed with the instance's lock
    max_restarts_per_hour: int = 10
    notice_topic_arn: str | None = None  # over-budget notices; None: logged only

    @property
    def workflow_name(self) -> str:
        """The state machine's name (the module's local.name): the `Workflow` dimension of the metrics."""
        return self.state_machine_arn.rsplit(":", 1)[-1]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Every value is checked here, at cold start: a bad one is a ConfigError before any AWS call (a
        malformed STATE_MACHINE_ARN must not be found out after the lock has been claimed)."""
        state_machine_arn = common.env_match(env, "STATE_MACHINE_ARN", _STATE_MACHINE_ARN)
        region = env.get("AWS_REGION")
        if region and state_machine_arn.split(":")[3] != region:
            raise common.ConfigError(
                f"STATE_MACHINE_ARN={common.clip(state_machine_arn)!r} is not in this function's region {region}"
            )
        return cls(
            state_machine_arn=state_machine_arn,
            lock_table=common.env_match(env, "LOCK_TABLE", _TABLE_NAME),
            cooldown_seconds=_env_int(env, "COOLDOWN_SECONDS", 1800, 0, _YEAR),
            max_restarts=_env_int(env, "MAX_RESTARTS", 3, 1, 100),
            window_seconds=_env_int(env, "WINDOW_SECONDS", 86400, 60, _YEAR),
            lock_seconds=_env_int(env, "LOCK_SECONDS", 3600, 60, 86400),
            max_alarm_age_seconds=_env_int(env, "MAX_ALARM_AGE_SECONDS", 3600, 60, 86400),
            opt_in_tag=_opt_in_tag(env.get("OPT_IN_TAG", "")),
            allowed_alarm_names=_allowed_alarm_names(env.get("ALLOWED_ALARM_NAMES", "")),
            dry_run=_env_bool(env, "DRY_RUN"),
            max_concurrent_restarts=_env_int(env, "MAX_CONCURRENT_RESTARTS", 2, 1, 100),
            max_restarts_per_hour=_env_int(env, "MAX_RESTARTS_PER_HOUR", 10, 1, 1000),
            notice_topic_arn=_notice_topic(env.get("NOTICE_TOPIC_ARN", ""), region),
        )


def _env_int(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    """Unset: the default. Set: digits only (Terraform writes tostring(number)), within [minimum, maximum]."""
    raw = env.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw):
        raise common.ConfigError(f"environment variable {name}={common.clip(raw)!r} is not a whole number")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise common.ConfigError(f"environment variable {name}={value} must be between {minimum} and {maximum}")
    return value


def _notice_topic(raw: str, region: str | None) -> str | None:
    """NOTICE_TOPIC_ARN: the module's topic (over-budget notices page a human), in this region; empty: none."""
    if not raw:
        return None
    if not _TOPIC_ARN.fullmatch(raw):
        raise common.ConfigError(f"environment variable NOTICE_TOPIC_ARN={common.clip(raw)!r} is not an SNS topic ARN")
    if region and raw.split(":")[3] != region:
        raise common.ConfigError(f"NOTICE_TOPIC_ARN={common.clip(raw)!r} is not in this function's region {region}")
    return raw


def _env_bool(env: Mapping[str, str], name: str) -> bool:
    """Unset: false. Set: true or false, as Terraform's tostring(bool) writes it."""
    raw = env.get(name, "false")
    if raw not in ("true", "false"):
        raise common.ConfigError(f"environment variable {name}={common.clip(raw)!r} is not a boolean (true or false)")
    return raw == "true"


def _opt_in_tag(raw: str) -> tuple[str, str] | None:
    """`Key=Value` exactly as Terraform writes it: key 1-128 characters without '=', value up to 256; no
    control characters and no surrounding whitespace (the IAM condition compares the tag exactly)."""
    if not raw:
        return None
    key, _, value = raw.partition("=")
    if (
        "=" not in raw
        or not 1 <= len(key) <= 128
        or len(value) > 256
        or key != key.strip()
        or value != value.strip()
        or _CONTROL.search(raw)
        or not _valid_unicode(raw)
    ):
        raise common.ConfigError(
            f"OPT_IN_TAG={common.clip(raw)!r} must be Key=Value (key 1-128 characters without '=', value up to 256, "
            "no control characters or surrounding whitespace)"
        )
    return key, value


def _allowed_alarm_names(raw: str) -> frozenset[str] | None:
    """ALLOWED_ALARM_NAMES: a JSON list of alarm names, or empty for no allow-list."""
    if not raw.strip():
        return None
    try:
        names = common.loads_json(raw, "environment variable ALLOWED_ALARM_NAMES", max_length=4096)
    except common.InputError as exc:
        raise common.ConfigError(str(exc)) from None
    if not isinstance(names, list) or not names or not all(_is_alarm_name(n) for n in names):
        raise common.ConfigError(
            f"environment variable ALLOWED_ALARM_NAMES={common.clip(raw)!r} must be a JSON list of alarm names "
            "(1-255 characters, no control characters)"
        )
    return frozenset(names)


def _is_alarm_name(value: Any) -> bool:
    return isinstance(value, str) and bool(ALARM_NAME.fullmatch(value)) and _valid_unicode(value)


def _valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
