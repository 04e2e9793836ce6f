"""A check's result and where it goes: one EMF document and one log line per target (always, in the function's
own region), suppression (maintenance windows, failed dependencies) and, across regions, the per-target
Failed/Suppressed datapoints sent to the home region with the dimensions Target and Region.

Metrics per target (dimension Target): Success (the check passed), Failed (it failed and was not suppressed:
what the alarm watches), Suppressed (only while suppressed: its periods leave the uptime report), LatencyMs,
StatusCode, CertDaysRemaining.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import opskit_common as common
from botocore.config import Config as BotoConfig

LOG = common.get_logger("health_check")
REASON_LIMIT = 300  # characters of one failure reason (logs, results, the PartialFailure message)
DATUMS_PER_CALL = 500  # PutMetricData takes up to 1,000 datums per request
# A probe publishes to another region than its own: common.client() only makes clients of the function's
# region, so this client repeats its settings (botocore standard retries, the opskit user agent).
_CROSS_REGION = BotoConfig(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="opskit")
_clients: dict[str, Any] = {}


@dataclass
class Result:
    name: str
    url: str
    ok: bool = False
    status: int | None = None
    latency_ms: int | None = None
    cert_days: int | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)  # (category, reason)
    suppressed: str | None = None  # why a failure (or the whole check) does not count

    @property
    def reason(self) -> str | None:
        return "; ".join(reason for _, reason in self.failures) or None

    @property
    def category(self) -> str | None:
        return self.failures[0][0] if self.failures else None

    @property
    def counts_as_failed(self) -> bool:
        return not self.ok and self.suppressed is None

    def check_limits(self, max_latency_ms: float | None, min_cert_days: float | None) -> None:
        """Fail on a latency over its maximum and on a certificate that expires too soon (or unreadably)."""
        if max_latency_ms is not None and self.latency_ms is not None and self.latency_ms > max_latency_ms:
            self.failures.append(("latency", f"latency {self.latency_ms} ms over {max_latency_ms:g} ms"))
        if min_cert_days is None:
            return
        if self.cert_days is None:
            self.failures.append(("certificate", "certificate expiry could not be read"))
        elif self.cert_days < min_cert_days:
            reason = f"certificate expires in {self.cert_days} days (minimum {min_cert_days})"
            self.failures.append(("certificate", reason))

    def public(self) -> dict[str, Any]:
        shown = {"name": self.name, "ok": self.ok, "status": self.status, "latency_ms": self.latency_ms}
        shown["reason"] = self.reason
        if self.suppressed is not None:
            shown["suppressed"] = self.suppressed
        return shown


def apply_dependencies(results: list[Result], depends_on: Mapping[str, tuple[str, ...]]) -> None:
    """A failed target whose dependency failed in the same run is suppressed: only the root cause pages."""
    failed = {r.name for r in results if not r.ok}
    for result in results:
        if result.ok or result.suppressed is not None:
            continue
        causes = [d for d in depends_on.get(result.name, ()) if d in failed]
        if causes:
            result.suppressed = f"dependency {', '.join(causes)} failed"


def report(result: Result, namespace: str) -> None:
    """One EMF document and one structured log line for a target."""
    metrics: dict[str, tuple[float, str]] = {
        "Success": (1 if result.ok else 0, "Count"),
        "Failed": (1 if result.counts_as_failed else 0, "Count"),
    }
    if result.suppressed is not None:
        metrics["Suppressed"] = (1, "Count")
    if result.latency_ms is not None:
        metrics["LatencyMs"] = (result.latency_ms, "Milliseconds")
    if result.status is not None:
        metrics["StatusCode"] = (result.status, "None")
    if result.cert_days is not None:
        metrics["CertDaysRemaining"] = (result.cert_days, "None")
    common.emit_metrics(namespace, {"Target": result.name}, metrics, properties={"Url": result.url})
    fields = {
        "target": result.name,
        "url": result.url,
        "ok": result.ok,
        "status": result.status,
        "latency_ms": result.latency_ms,
        "cert_days_remaining": result.cert_days,
        "failure": result.category,
        "reason": result.reason,
        "suppressed": result.suppressed,
    }
    if result.ok:
        LOG.info("health check passed: %s", result.name, extra=fields)
    elif result.suppressed is not None:
        LOG.info(
            "health check failed (suppressed): %s: %s (%s)", result.name, result.reason, result.suppressed, extra=fields
        )
    else:
        LOG.warning("health check failed: %s: %s", result.name, result.reason, extra=fields)


def _client(region: str, own_region: str) -> Any:
    if region == own_region:
        return common.client("cloudwatch")
    if region not in _clients:
        import boto3

        _clients[region] = boto3.client("cloudwatch", region_name=region, config=_CROSS_REGION)
    return _clients[region]


def reset_clients() -> None:
    _clients.clear()


def publish(
    results: Iterable[Result], namespace: str, home_region: str, region: str, timestamp: dt.datetime
) -> str | None:
    """Failed (and Suppressed) per target, dimensions Target and Region, to the home region's CloudWatch.
    Returns None, or what went wrong (the run then raises PartialFailure after everything else was done)."""
    datums: list[dict[str, Any]] = []
    for result in results:
        dimensions = [{"Name": "Target", "Value": result.name}, {"Name": "Region", "Value": region}]
        base = {"Dimensions": dimensions, "Timestamp": timestamp, "Unit": "Count"}
        datums.append({"MetricName": "Failed", "Value": 1 if result.counts_as_failed else 0, **base})
        if result.suppressed is not None:
            datums.append({"MetricName": "Suppressed", "Value": 1, **base})
    try:
        client = _client(home_region, region)
        for chunk in common.chunked(datums, DATUMS_PER_CALL):
            client.put_metric_data(Namespace=namespace, MetricData=chunk)
    except Exception as exc:  # ClientError, endpoint and credential errors: reported, never lost silently
        error = getattr(exc, "response", None)
        code = error.get("Error", {}).get("Code") if isinstance(error, dict) else None
        problem = f"publishing to {home_region} failed: {common.clip(code or type(exc).__name__)}"
        LOG.error("health check results not published: %s", problem, extra={"home_region": home_region})
        return problem
    return None
