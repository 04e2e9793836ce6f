"""The environment of the instance-protect function, checked once at cold start (Config.from_env).

Every value follows the rule modules/instance-protect applies at plan time (validation blocks and a
precondition), so a deployable configuration always starts and a hand-edited environment fails at once
with ConfigError, before any AWS call."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

import opskit_common as common

# A tag value holds at most 256 characters; 20 ten-digit timestamps and their separators fit easily.
MAX_RESTARTS_LIMIT = 20
WINDOW_SECONDS_RANGE = (60, 604_800)
# The module's own topic (modules/instance-protect): a standard topic, so no .fifo suffix.
TOPIC_ARN_PATTERN = common.arn_pattern("sns", r"[A-Za-z0-9_-]{1,256}")
TAG_KEY_RULE = "1-128 characters, no leading or trailing blanks, outside the reserved aws: prefix"


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    value = common.env_str(env, name, default)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise common.ConfigError(f"environment variable {name}={common.clip(value)!r} is not valid Unicode") from None
    return value


def _padded(text: str) -> bool:
    """Starts or ends with a blank as Terraform's trimspace sees one (Go's unicode.IsSpace)."""
    return any(c in "\t\n\v\f\r \x85" or unicodedata.category(c) in ("Zs", "Zl", "Zp") for c in text[:1] + text[-1:])


def _tag_key(key: str, what: str) -> str:
    """The same rule as the module's validation blocks (protect_tag.key, schedule_tag_key, hold_tag_key)."""
    if not 1 <= len(key) <= 128 or _padded(key) or key.lower().startswith("aws:"):
        raise common.ConfigError(f"{what} {common.clip(key)!r} is not a tag key ({TAG_KEY_RULE})")
    return key


def _whole_number(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = int(common.env_match(env, name, re.compile(r"[0-9]{1,7}")))
    if not low <= value <= high:
        raise common.ConfigError(f"environment variable {name}={value} must be a whole number from {low} to {high}")
    return value


@dataclass(frozen=True)
class Config:
    protect_key: str
    protect_value: str
    schedule_tag_key: str
    stopped_by_tag_key: str
    restarts_tag_key: str
    hold_tag_key: str
    max_restarts: int
    window_seconds: int
    topic_arn: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Every value checked before any AWS call, with the rules modules/instance-protect applies at plan
        time, so a deployable configuration always passes and a hand-edited environment fails at once."""
        spec = _text(env, "PROTECT_TAG", "Protected=true")
        protect_key, sep, protect_value = spec.partition("=")
        if not sep:
            raise common.ConfigError(f"environment variable PROTECT_TAG={common.clip(spec)!r} must look like Key=Value")
        _tag_key(protect_key, "PROTECT_TAG key")
        if len(protect_value) > 256 or _padded(protect_value):
            raise common.ConfigError(
                f"PROTECT_TAG value {common.clip(protect_value)!r} must be at most 256 characters without "
                "leading or trailing blanks"
            )
        keys = {
            name: _tag_key(_text(env, name, default), f"environment variable {name}")
            for name, default in (
                ("SCHEDULE_TAG_KEY", "Schedule"),
                ("STOPPED_BY_TAG_KEY", "opskit:stopped-by"),
                ("RESTARTS_TAG_KEY", "opskit:protect-restarts"),
                ("HOLD_TAG_KEY", "opskit:hold"),
            )
        }
        if len({protect_key, *keys.values()}) != len(keys) + 1:
            raise common.ConfigError(
                "the tag keys of PROTECT_TAG, SCHEDULE_TAG_KEY, STOPPED_BY_TAG_KEY, RESTARTS_TAG_KEY and "
                f"HOLD_TAG_KEY must all differ, got {common.clip([protect_key, *keys.values()])}"
            )
        topic_arn = _text(env, "TOPIC_ARN", "")
        if topic_arn:
            common.env_match(env, "TOPIC_ARN", TOPIC_ARN_PATTERN)
        return cls(
            protect_key=protect_key,
            protect_value=protect_value,
            schedule_tag_key=keys["SCHEDULE_TAG_KEY"],
            stopped_by_tag_key=keys["STOPPED_BY_TAG_KEY"],
            restarts_tag_key=keys["RESTARTS_TAG_KEY"],
            hold_tag_key=keys["HOLD_TAG_KEY"],
            max_restarts=_whole_number(env, "MAX_RESTARTS", 3, 1, MAX_RESTARTS_LIMIT),
            window_seconds=_whole_number(env, "WINDOW_SECONDS", 3600, *WINDOW_SECONDS_RANGE),
            topic_arn=topic_arn or None,
        )
