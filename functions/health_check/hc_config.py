"""The function's configuration: a frozen Config built once from the environment (ConfigError at cold start,
before any request or AWS call).

  TARGETS             JSON list of target objects (hc_targets); when absent, the blueprint's `site`/`expected`.
  METRIC_NAMESPACE    namespace of the metrics (default opskit/HealthCheck).
  MAX_WORKERS, CONNECT_RETRIES, MAX_BODY_BYTES   concurrency, connection retries, body bytes read.
  HOME_REGION         agreement across regions: publish Failed/Suppressed with a Region dimension to this
                      region (a probe's home, or the home itself). Unset: one region, EMF only.
  REGIONS, MIN_FAILED_REGIONS   home only: every region that reports (home first), and k of "k of N".
  ALARM_PREFIX, TOPIC_ARN       the per-target alarms are ALARM_PREFIX + target name; reminders, recovery
                      notices and the report summary go to TOPIC_ARN.
  REMIND_MINUTES      a reminder every N minutes while a target's alarm is in ALARM (0: no reminders).
  RUN_INTERVAL        seconds between scheduled runs (which run sends a due reminder).
  REPORT_BUCKET, REPORT_PERIOD, SLA_OBJECTIVE   the monthly uptime report: bucket, metric period, objective %.
  AWS_LAMBDA_LOG_GROUP_NAME (set by Lambda)    where the report looks up failure reasons.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import opskit_common as common
from hc_fields import TARGET_NAME, printable
from hc_targets import Target, check_targets, parse_target

DEFAULT_NAMESPACE = "opskit/HealthCheck"
NAMESPACE = re.compile(r"[A-Za-z0-9 ._/#:-]{1,255}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
ALARM_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,180}")
TOPIC_ARN = common.arn_pattern("sns", r"[A-Za-z0-9_-]{1,256}")
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
LOG_GROUP = re.compile(r"[A-Za-z0-9_./#-]{1,512}")
OBJECTIVE = re.compile(r"(100(\.0{1,4})?|[0-9]{1,2}(\.[0-9]{1,4})?)")
MAX_REGIONS = 10  # a CloudWatch alarm reads at most 10 metrics: one per region


def env_count(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    """A whole number from the environment within [minimum, maximum], the default when unset or empty
    (ConfigError with a clipped value otherwise)."""
    value = int(common.env_match({name: env.get(name) or str(default)}, name, re.compile(r"[0-9]{1,9}")))
    if not minimum <= value <= maximum:
        raise common.ConfigError(f"environment variable {name}={value} must be between {minimum} and {maximum}")
    return value


def _optional(env: Mapping[str, str], name: str, pattern: re.Pattern[str]) -> str | None:
    value = env.get(name) or None
    if value is not None and not pattern.fullmatch(value):
        raise common.ConfigError(f"environment variable {name}={printable(value)!r} is not valid")
    return value


def _legacy_targets(env: Mapping[str, str]) -> list[dict[str, Any]]:
    """The original blueprint's single-site variables `site` and `expected` as one target."""
    site = env.get("site")
    if not site:
        raise common.ConfigError("TARGETS is not set (nor the single-site variables site/expected)")
    try:
        host = urlsplit(site).hostname or ""
    except ValueError:
        host = ""
    name = host if TARGET_NAME.fullmatch(host) else "site"
    return [{"name": name, "url": site, "expected_text": env.get("expected") or None}]


@dataclass(frozen=True)
class Config:
    targets: tuple[Target, ...]
    namespace: str
    max_workers: int
    connect_retries: int
    max_body_bytes: int
    region: str = "eu-central-1"  # this function's region (the Region dimension)
    home_region: str | None = None
    regions: tuple[str, ...] = ()
    min_failed_regions: int = 1
    alarm_prefix: str | None = None
    topic_arn: str | None = None
    remind_minutes: int = 0
    run_interval: int = 300
    report_bucket: str | None = None
    report_period: int = 300
    sla_objective: float = 99.9
    log_group: str | None = None

    @property
    def multi_region(self) -> bool:
        return self.home_region is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        raw = env.get("TARGETS")
        if raw is None or raw.strip() == "":
            raw_targets: Any = _legacy_targets(env)
        else:
            try:
                raw_targets = common.loads_json(raw, "environment variable TARGETS")
            except common.InputError as exc:
                raise common.ConfigError(str(exc)) from None
        if not isinstance(raw_targets, list) or not raw_targets:
            raise common.ConfigError("TARGETS must be a non-empty JSON list of target objects")
        targets = tuple(parse_target(item, f"TARGETS[{i}]") for i, item in enumerate(raw_targets))
        check_targets(targets)
        namespace = env.get("METRIC_NAMESPACE") or DEFAULT_NAMESPACE
        if not NAMESPACE.fullmatch(namespace) or namespace.startswith("AWS/"):
            raise common.ConfigError(
                f"environment variable METRIC_NAMESPACE={printable(namespace)!r} must be 1-255 letters, digits, "
                "spaces or . _ / # : - and must not start with AWS/"
            )
        home_region = _optional(env, "HOME_REGION", REGION)
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "eu-central-1"
        if home_region is not None and not REGION.fullmatch(region):
            raise common.ConfigError(f"environment variable AWS_REGION={printable(region)!r} is not a region")
        regions = tuple((env.get("REGIONS") or "").split(",")) if env.get("REGIONS") else ()
        if regions and (
            home_region != region
            or regions[0] != region
            or len(regions) > MAX_REGIONS
            or len(set(regions)) != len(regions)
            or not all(REGION.fullmatch(r) for r in regions)
        ):
            raise common.ConfigError(
                f"environment variable REGIONS={printable(env.get('REGIONS') or '')!r} must list up to "
                f"{MAX_REGIONS} distinct regions, this home region ({printable(region)}) first, with HOME_REGION "
                "set to it"
            )
        alarm_prefix = _optional(env, "ALARM_PREFIX", ALARM_PREFIX)
        topic_arn = _optional(env, "TOPIC_ARN", TOPIC_ARN)
        remind = env_count(env, "REMIND_MINUTES", 0, 0, 10080)
        if remind and (alarm_prefix is None or topic_arn is None):
            raise common.ConfigError("REMIND_MINUTES needs ALARM_PREFIX and TOPIC_ARN (the alarms and their topic)")
        objective = _optional(env, "SLA_OBJECTIVE", OBJECTIVE)
        period = env_count(env, "REPORT_PERIOD", 300, 60, 86400)
        if period % 60:
            raise common.ConfigError(f"environment variable REPORT_PERIOD={period} must be a multiple of 60")
        return cls(
            targets=targets,
            namespace=namespace,
            max_workers=env_count(env, "MAX_WORKERS", 32, 1, 128),
            connect_retries=env_count(env, "CONNECT_RETRIES", 1, 0, 3),
            max_body_bytes=env_count(env, "MAX_BODY_BYTES", 2 * 1024 * 1024, 1024, 64 * 1024 * 1024),
            region=region,
            home_region=home_region,
            regions=regions or ((region,) if home_region == region else ()),
            min_failed_regions=env_count(env, "MIN_FAILED_REGIONS", 1, 1, max(1, len(regions))),
            alarm_prefix=alarm_prefix,
            topic_arn=topic_arn,
            remind_minutes=remind,
            run_interval=env_count(env, "RUN_INTERVAL", 300, 60, 86400),
            report_bucket=_optional(env, "REPORT_BUCKET", BUCKET),
            report_period=period,
            sla_objective=99.9 if objective is None else float(objective),
            log_group=_optional(env, "AWS_LAMBDA_LOG_GROUP_NAME", LOG_GROUP),
        )
