"""Runtime helpers shared by every opskit function.

`scripts/build.py` stages this file next to each function's `handler.py`, so a handler imports it as
`import opskit_common` both in Lambda and in the tests (which put `functions/_shared` on `sys.path`).
Keep it small and dependency-free (boto3/botocore come with the Lambda runtime).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import boto3
from botocore.config import Config

T = TypeVar("T")

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    user_agent_extra="opskit",
)


class InputError(ValueError):
    """The event or invocation payload is malformed; raised before any AWS call."""


class ConfigError(ValueError):
    """The function's environment is misconfigured; raised before any AWS call."""


class PartialFailure(RuntimeError):
    """Some items failed after the healthy ones were processed. `result` carries the full outcome."""

    def __init__(self, message: str, result: Mapping[str, Any]):
        super().__init__(message)
        self.result = dict(result)


@functools.cache
def client(service: str) -> Any:
    """A boto3 client with botocore's standard retry mode, created once per service and process."""
    return boto3.client(service, config=_CLIENT_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests create fresh ones per mocked account)."""
    client.cache_clear()


# --- environment -----------------------------------------------------------------------------------

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name, default)
    if value is None:
        raise ConfigError(f"environment variable {name} is required")
    return value


def env_bool(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"environment variable {name}={clip(raw)!r} is not a boolean (true/false)")


def env_int(env: Mapping[str, str], name: str, default: int, minimum: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={clip(raw)!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"environment variable {name}={value} must be >= {minimum}")
    return value


def env_json(env: Mapping[str, str], name: str, default: Any = None) -> Any:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"environment variable {name} is not valid JSON: {clip(str(exc))}") from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ConfigError(f"environment variable {name} is nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def parse_tag_spec(spec: str, what: str = "tag") -> tuple[str, str]:
    """Parse `Key=Value` (value may be empty, key may not)."""
    key, sep, value = spec.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{what} {spec!r} must look like Key=Value")
    return key.strip(), value.strip()


# --- logging and metrics ---------------------------------------------------------------------------


class _JsonFormatter(logging.Formatter):
    """Local stand-in for the Lambda runtime's JSON log format (used outside Lambda only)."""

    _RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        payload.update({k: v for k, v in vars(record).items() if k not in self._RESERVED})
        if record.exc_info:
            payload["stackTrace"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def get_logger(name: str) -> logging.Logger:
    """A stdlib logger. In Lambda the runtime formats records as JSON (logging_config.log_format =
    JSON) and sets the level; elsewhere a JSON stderr handler is installed once."""
    root = logging.getLogger()
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_JsonFormatter())
        root.addHandler(handler)
        root.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
    return logging.getLogger(name)


def emit_metrics(
    namespace: str,
    dimensions: Mapping[str, str],
    metrics: Mapping[str, tuple[float, str]],
    properties: Mapping[str, Any] | None = None,
    stream: Any = None,
) -> dict[str, Any]:
    """Print one CloudWatch Embedded Metric Format line and return it.

    `metrics` maps a metric name to (value, unit), e.g. {"Succeeded": (3, "Count")}."""
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
                }
            ],
        },
        **dict(properties or {}),
        **dict(dimensions),
        **{name: value for name, (value, _) in metrics.items()},
    }
    print(json.dumps(document, default=str), file=stream or sys.stdout, flush=True)
    return document


# --- small utilities -------------------------------------------------------------------------------


def chunked(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def tags_to_dict(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """[{"Key": k, "Value": v}, ...] → {k: v} (EC2, ASG and RDS all use this shape)."""
    return {t["Key"]: t.get("Value", "") for t in tags or ()}


def require_mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


# --- checking untrusted input ------------------------------------------------------------------------
# Every check below raises InputError (or ConfigError, for the environment) naming the field, and
# repeats at most CLIP characters of the offending value, so a 100 KB input never lands in a log line.

CLIP = 200
MAX_JSON_DEPTH = 32
# AWS resource ids: a prefix and exactly 8 or 17 lower-case hex digits (i-0123456789abcdef0).
_HEX_ID = "(?:[0-9a-f]{8}|[0-9a-f]{17})"


def clip(value: Any, limit: int = CLIP) -> str:
    """`value` as text, cut to `limit` characters with the count of what was left out."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def id_pattern(*prefixes: str) -> re.Pattern[str]:
    """A pattern for AWS ids with one of these prefixes; use it with `.fullmatch` only."""
    return re.compile(f"(?:{'|'.join(map(re.escape, prefixes))})-{_HEX_ID}")


def require_str(value: Any, what: str, pattern: re.Pattern[str] | None = None, max_length: int = 1024) -> str:
    """A string that is valid UTF-8 (no lone surrogates), at most `max_length` characters and, when a
    pattern is given, matches it as a whole (`fullmatch`: a trailing newline does not pass)."""
    if not isinstance(value, str):
        raise InputError(f"{what} must be a string, got {type(value).__name__}: {clip(value)}")
    if len(value) > max_length:
        raise InputError(f"{what} is longer than {max_length} characters: {clip(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{what} is not valid Unicode text: {clip(value)!r}") from None
    if pattern is not None and not pattern.fullmatch(value):
        raise InputError(f"{what} {clip(value)!r} is not valid (expected {pattern.pattern})")
    return value


def parse_time(value: Any, what: str) -> dt.datetime:
    """An ISO-8601 time with `Z` or an offset, as an aware UTC datetime. Naive times, impossible dates and
    times that leave the representable range (0001-01-01T00:00:00+01:00) raise InputError."""
    text = require_str(value, what, max_length=64).strip()
    try:
        parsed = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        if parsed.tzinfo is None:
            raise InputError(f"{what} {clip(text)!r} has no time zone (use Z or an offset)")
        return parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{what} {clip(text)!r} is not an ISO-8601 time: {exc}") from None


def json_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of a decoded JSON value, counted without recursion; stops counting past `limit`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth > limit:
                return depth
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def loads_json(text: Any, what: str, max_depth: int = MAX_JSON_DEPTH, max_length: int = 262_144) -> Any:
    """json.loads for untrusted text: malformed, over-long or over-deep documents raise InputError."""
    raw = require_str(text, what, max_length=max_length)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        reason = "is nested too deeply" if isinstance(exc, RecursionError) else f"is not valid JSON ({exc})"
        raise InputError(f"{what} {reason}: {clip(raw)}") from None
    if json_depth(value, max_depth) > max_depth:
        raise InputError(f"{what} is nested deeper than {max_depth} levels")
    return value


def env_match(env: Mapping[str, str], name: str, pattern: re.Pattern[str], default: str | None = None) -> str:
    """An environment value that must match `pattern` as a whole; ConfigError otherwise."""
    value = env_str(env, name, default)
    if not pattern.fullmatch(value):
        raise ConfigError(f"environment variable {name}={clip(value)!r} is not valid (expected {pattern.pattern})")
    return value


def arn_pattern(service: str, resource: str = ".+") -> re.Pattern[str]:
    """A whole-ARN pattern for one service: arn:<partition>:<service>:<region>:<account>:<resource>."""
    return re.compile(rf"arn:aws(?:-[a-z]+)*:{re.escape(service)}:[a-z]{{2}}(?:-[a-z]+)+-[0-9]:[0-9]{{12}}:{resource}")
