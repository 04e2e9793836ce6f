"""Runtime helpers shared by every opskit function.

`scripts/build.py` stages this file next to each function's `handler.py`, so a handler imports it as
`import opskit_common` both in Lambda and in the tests (which put `functions/_shared` on `sys.path`).
Keep it small and dependency-free (boto3/botocore come with the Lambda runtime).
"""

from __future__ import annotations

import functools
import json
import logging
import os
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
    raise ConfigError(f"environment variable {name}={raw!r} is not a boolean (true/false)")


def env_int(env: Mapping[str, str], name: str, default: int, minimum: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"environment variable {name}={value} must be >= {minimum}")
    return value


def env_json(env: Mapping[str, str], name: str, default: Any = None) -> Any:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"environment variable {name} is not valid JSON: {exc}") from None


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
