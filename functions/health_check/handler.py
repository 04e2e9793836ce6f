"""Health checks from one Lambda function: every target checked concurrently (http, tcp, dns), one metric set and
one log line per target, reminders while a target stays down, and a monthly uptime report.

Events:
  EventBridge "Scheduled Event" (or any other object, or {"targets": [...]} by hand): check every (or the named)
  target. A target inside a maintenance window, or whose dependency failed in the same run, is reported
  Suppressed=1 and does not count as failed. With HOME_REGION set, Failed/Suppressed also go to the home
  region with the dimension Region (hc_results). With REMIND_MINUTES, a scheduled run also sends the reminders
  that are due (hc_alarms).
  EventBridge "CloudWatch Alarm State Change" (ALARM -> OK of a target alarm): the recovery notice with the
  total downtime.
  {"action": "sla-report", "month": "YYYY-MM" (optional)}: the monthly uptime report (hc_sla).

Configuration: hc_config (environment, checked at cold start). When an unsuppressed target failed, the run
raises PartialFailure after every target was checked and reported, so the function's Errors metric reflects a
failed run; across regions a failed target is a result, not an error (the home region's alarm decides), and
only the function's own problems (publishing, notifying) raise.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import functools
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import hc_alarms
import hc_sla
import opskit_common as common
from hc_config import Config
from hc_fields import (
    CREDENTIAL_HEADER,
    HEADER_NAME,
    MAX_CERT_DAYS,
    MAX_LATENCY_MS,
    MAX_TIMEOUT_SECONDS,
    TARGET_NAME,
    parse_url,
    printable,
    redact_url,
)
from hc_http import check_http
from hc_net import check_dns, check_tcp
from hc_results import Result, apply_dependencies, publish, report
from hc_secrets import SecretHeadersError, load_secrets, read_secret_headers
from hc_targets import TARGET_FIELDS, Target, parse_target
from hc_windows import active_window

__all__ = [
    "CREDENTIAL_HEADER",
    "HEADER_NAME",
    "MAX_CERT_DAYS",
    "MAX_LATENCY_MS",
    "MAX_TIMEOUT_SECONDS",
    "TARGET_FIELDS",
    "TARGET_NAME",
    "Config",
    "Result",
    "SecretHeadersError",
    "Target",
    "check",
    "handler",
    "parse_target",
    "parse_url",
    "read_secret_headers",
    "redact_url",
    "report",
]

LOG = common.get_logger(__name__)
MESSAGE_LIMIT = 1500  # characters of the names and reasons listed in the PartialFailure message
DEADLINE_RESERVE_SECONDS = 2.0
REPORT_ACTION = "sla-report"
ALARM_CHANGE = "CloudWatch Alarm State Change"
SCHEDULED = "Scheduled Event"


@functools.cache
def config() -> Config:
    return Config.from_env(os.environ)


def check(target: Target, cfg: Config, secret: dict[str, str] | SecretHeadersError | None = None) -> Result:
    """Check one target of any kind; never raises (every problem becomes a failure reason)."""
    if target.kind == "tcp":
        return check_tcp(target, cfg)
    if target.kind == "dns":
        return check_dns(target, cfg)
    return check_http(target, cfg, secret)


@dataclass(frozen=True)
class Request:
    action: str  # checks | report | recovery
    targets: tuple[Target, ...] = ()
    run_time: dt.datetime | None = None  # a scheduled run's own time: reminders are due relative to it
    month: hc_sla.Month | None = None
    recovery: hc_alarms.Recovery | None = None


def select_targets(event: Any, cfg: Config) -> tuple[Target, ...]:
    """All targets, or the subset named by {"targets": [...]} in a manual invocation."""
    if not isinstance(event, Mapping) or "targets" not in event:
        return cfg.targets
    names = event["targets"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise common.InputError(f'"targets" must be a non-empty list of target names, got {common.clip(names)}')
    known = {t.name for t in cfg.targets}
    unknown = [n for n in names if n not in known]
    if unknown:
        configured = common.clip(", ".join(sorted(known)))
        raise common.InputError(f"unknown target(s) {printable(', '.join(unknown))}; configured: {configured}")
    return tuple(t for t in cfg.targets if t.name in names)


def parse_event(event: Any, cfg: Config, now: dt.datetime) -> Request:
    """What this invocation asks for; InputError (before any AWS call) when it is malformed."""
    if isinstance(event, Mapping) and event.get("action") is not None:
        if event["action"] != REPORT_ACTION:
            raise common.InputError(f'"action" must be "{REPORT_ACTION}", got {common.clip(event["action"], 60)}')
        if cfg.report_bucket is None:
            raise common.InputError("this function writes no uptime report (no REPORT_BUCKET configured)")
        return Request("report", month=hc_sla.parse_month(event, now))
    if isinstance(event, Mapping) and event.get("detail-type") == ALARM_CHANGE:
        if cfg.alarm_prefix is None or cfg.topic_arn is None:
            raise common.InputError("this function sends no recovery notices (no ALARM_PREFIX/TOPIC_ARN configured)")
        return Request("recovery", recovery=hc_alarms.parse_recovery(event, cfg))
    targets = select_targets(event, cfg)
    run_time = None
    if isinstance(event, Mapping) and event.get("detail-type") == SCHEDULED and "targets" not in event:
        run_time = common.parse_time(event.get("time"), "time")
    return Request("checks", targets=targets, run_time=run_time)


def run_checks(
    targets: tuple[Target, ...], cfg: Config, deadline: float | None = None, now: dt.datetime | None = None
) -> list[Result]:
    """Check every target concurrently, then suppress and report each; results in configuration order.

    `deadline` (time.monotonic()) is when the run must stop waiting: targets still running then are reported
    as timed out, so their metrics are written before Lambda ends the invocation (which would write none)."""
    now = now or dt.datetime.now(dt.UTC)
    secrets = load_secrets(targets)
    by_name: dict[str, Result] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(cfg.max_workers, len(targets)))
    futures = [
        pool.submit(check, t, cfg, secrets.get(t.headers_secret_arn) if t.headers_secret_arn else None) for t in targets
    ]
    wait = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        for future in concurrent.futures.as_completed(futures, timeout=wait):
            result = future.result()
            by_name[result.name] = result
    except concurrent.futures.TimeoutError:
        for target in targets:
            if target.name not in by_name:
                result = Result(name=target.name, url=target.address)
                result.failures.append(
                    ("timeout", "check still running when the function had to report (raise the function timeout)")
                )
                by_name[target.name] = result
    finally:
        # Never wait for a check that overran: its thread ends with its own socket timeouts.
        pool.shutdown(wait=False, cancel_futures=True)
    results = [by_name[t.name] for t in targets]
    for target, result in zip(targets, results, strict=True):
        result.suppressed = active_window(target.maintenance, now) if target.maintenance else None
    apply_dependencies(results, {t.name: t.depends_on for t in targets})
    for result in results:
        report(result, cfg.namespace)
    return results


def run_deadline(context: Any) -> float | None:
    """When to stop waiting for checks: the invocation's remaining time minus a reserve for reporting
    (2 s, or a fifth of a shorter remaining time). None outside Lambda (no context)."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return None
    remaining = remaining_ms() / 1000
    return time.monotonic() + remaining - min(DEADLINE_RESERVE_SECONDS, remaining / 5)


def _problem(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return common.clip(code or type(exc).__name__)


def run_report(cfg: Config, month: hc_sla.Month, now: dt.datetime) -> dict[str, Any]:
    period = hc_sla.query_period(cfg, month, now)
    outcome: dict[str, Any] = {"report": month.label, "period_seconds": period}
    try:
        values = hc_sla.fetch(cfg, month, period)
    except Exception as exc:  # nothing to report without the metrics
        raise common.PartialFailure(
            f"uptime report {month.label}: reading the metrics failed: {_problem(exc)}", outcome
        ) from None
    computed = hc_sla.compute(cfg, values, month, period)
    notes = hc_sla.add_reasons(cfg, computed["incidents"], period)
    problems = []
    location = None
    try:
        location = hc_sla.write(cfg, month, hc_sla.render(cfg, month, period, computed))
    except Exception as exc:  # the summary still goes out, saying the files are missing
        problems.append(f"writing to s3://{cfg.report_bucket} failed: {_problem(exc)}")
    if cfg.topic_arn is not None:
        try:
            hc_alarms.publish(cfg, *hc_sla.summary(cfg, month, computed, location))
        except Exception as exc:
            problems.append(f"the summary was not sent: {_problem(exc)}")
    outcome.update(
        location=location,
        targets=[asdict(u) for u in computed["uptimes"]],
        incidents=len(computed["incidents"]),
        notes=notes,
    )
    LOG.info("uptime report %s written", month.label, extra={"location": location, "problems": problems})
    if problems:
        raise common.PartialFailure(f"uptime report {month.label}: {'; '.join(problems)}", outcome)
    return outcome


def handler(event: Any, context: Any) -> dict[str, Any]:
    deadline = run_deadline(context)
    cfg = config()
    now = dt.datetime.now(dt.UTC)
    request = parse_event(event, cfg, now)
    if request.action == "report" and request.month is not None:
        return run_report(cfg, request.month, now)
    if request.action == "recovery":
        if request.recovery is None:
            return {"ignored": "not an alarm of a configured target"}
        try:
            hc_alarms.send_recovery(cfg, request.recovery)
        except Exception as exc:
            raise common.PartialFailure(
                f"recovery notice not sent: {_problem(exc)}", {"target": request.recovery.target}
            ) from None
        return {"recovered": request.recovery.target, "down_seconds": request.recovery.down_for}

    results = run_checks(request.targets, cfg, deadline, now)
    problems: list[str] = []
    if cfg.home_region is not None:
        problem = publish(results, cfg.namespace, cfg.home_region, cfg.region, now)
        problems += [problem] if problem else []
    reminded: list[str] = []
    if request.run_time is not None and cfg.remind_minutes:
        reminded, trouble = hc_alarms.send_reminders(cfg, [t.name for t in cfg.targets], request.run_time)
        problems += trouble
    failed = [r for r in results if r.counts_as_failed]
    outcome: dict[str, Any] = {
        "results": [r.public() for r in results],
        "failed": len(failed),
        "suppressed": sum(1 for r in results if r.suppressed is not None),
    }
    if reminded:
        outcome["reminders"] = reminded
    if problems:
        outcome["problems"] = problems
    LOG.info("health check run finished", extra={"checked": len(results), "failed": len(failed)})
    messages = []
    if failed and not cfg.multi_region:
        names = common.clip(", ".join(f"{r.name} ({r.reason})" for r in failed), MESSAGE_LIMIT)
        messages.append(f"{len(failed)} of {len(results)} health checks failed: {names}")
    messages += [common.clip(p, 300) for p in problems[:5]]
    if messages:
        raise common.PartialFailure("; ".join(messages), outcome)
    return outcome
