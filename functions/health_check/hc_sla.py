"""The monthly uptime report: last month's uptime per target from the metrics (GetMetricData: Failed and
Suppressed per period, per region when several report), the incidents with the failure reason from the
function's own log where it has one, CSV and JSON to the report bucket and a short summary to the topic.

A period (REPORT_PERIOD seconds) is, per target:
  suppressed  a region reported Suppressed=1 and the regions failing or silent with it reach MIN_FAILED_REGIONS
  down        at least one region reported Failed=1 and, with the silent regions, MIN_FAILED_REGIONS failed
              (the alarm's rule, except that silence alone is "no data" here, not downtime)
  no data     no region reported
  up          otherwise.
Uptime = up / (up + down): suppressed periods and periods without data leave the count.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import opskit_common as common
from hc_alarms import duration
from hc_config import Config

LOG = common.get_logger("health_check")
MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
QUERIES_PER_CALL = 500
MAX_REASON_LOOKUPS = 40
RETENTION_DAYS = 455  # CloudWatch keeps hourly data 15 months
PREFIX = "sla"


@dataclass(frozen=True)
class Month:
    label: str  # YYYY-MM
    start: dt.datetime
    end: dt.datetime  # exclusive


def _month(year: int, month: int) -> Month:
    start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=dt.UTC)
    return Month(f"{year:04d}-{month:02d}", start, end)


def parse_month(event: Mapping[str, Any], now: dt.datetime) -> Month:
    """The month to report: event["month"] (YYYY-MM, complete and within CloudWatch's retention) or, by default,
    the month before `now` (UTC). InputError otherwise."""
    if event.get("month") is None:
        first = now.astimezone(dt.UTC).replace(day=1)
        previous = first - dt.timedelta(days=1)
        return _month(previous.year, previous.month)
    text = common.require_str(event["month"], "month", MONTH, max_length=7)
    month = _month(int(text[:4]), int(text[5:]))
    if month.end > now:
        raise common.InputError(f"month {text} is not over yet")
    if now - month.start > dt.timedelta(days=RETENTION_DAYS):
        raise common.InputError(f"month {text} is older than CloudWatch keeps metrics ({RETENTION_DAYS} days)")
    return month


def query_period(cfg: Config, month: Month, now: dt.datetime) -> int:
    """REPORT_PERIOD, coarsened where CloudWatch only keeps 5-minute (after 15 days) or hourly (after 63 days)
    data."""
    age = now - month.start
    unit = 3600 if age > dt.timedelta(days=63) else 300 if age > dt.timedelta(days=15) else 60
    return -(-cfg.report_period // unit) * unit


@dataclass
class Uptime:
    target: str
    uptime_percent: float | None
    up_minutes: int
    down_minutes: int
    suppressed_minutes: int
    no_data_minutes: int
    incidents: int
    objective_met: bool | None


@dataclass
class Incident:
    target: str
    start: str
    end: str
    duration_minutes: int
    reason: str | None = None


def _queries(cfg: Config, period: int) -> list[tuple[str, dict[str, Any]]]:
    regions: list[str | None] = list(cfg.regions) if cfg.regions else [None]
    queries = []
    for t, target in enumerate(cfg.targets):
        for r, region in enumerate(regions):
            dimensions = [{"Name": "Target", "Value": target.name}]
            if region is not None:
                dimensions.append({"Name": "Region", "Value": region})
            for metric in ("Failed", "Suppressed"):
                query_id = f"{metric[0].lower()}{t}_{r}"
                stat = {"Metric": {"Namespace": cfg.namespace, "MetricName": metric, "Dimensions": dimensions}}
                queries.append(
                    (query_id, {"Id": query_id, "MetricStat": {**stat, "Period": period, "Stat": "Maximum"}})
                )
    return queries


def fetch(cfg: Config, month: Month, period: int) -> dict[str, dict[int, float]]:
    """{query id: {period index: value}} for every target, region and metric of the month."""
    values: dict[str, dict[int, float]] = {}
    queries = _queries(cfg, period)
    paginator = common.client("cloudwatch").get_paginator("get_metric_data")
    for chunk in common.chunked(queries, QUERIES_PER_CALL):
        pages = paginator.paginate(
            MetricDataQueries=[q for _, q in chunk],
            StartTime=month.start,
            EndTime=month.end,
            ScanBy="TimestampAscending",
        )
        for page in pages:
            for result in page.get("MetricDataResults", []):
                series = values.setdefault(str(result.get("Id")), {})
                for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                    index = int((stamp - month.start).total_seconds() // period)
                    series[index] = max(series.get(index, value), value)
    return values


def _state(cfg: Config, values: Mapping[str, Mapping[int, float]], t: int, index: int) -> str:
    regions = len(cfg.regions) or 1
    failed = silent = suppressed = 0
    for r in range(regions):
        f = values.get(f"f{t}_{r}", {}).get(index)
        s = values.get(f"s{t}_{r}", {}).get(index)
        if s is not None and s >= 1:
            suppressed += 1
        elif f is None:
            silent += 1
        elif f >= 1:
            failed += 1
    if silent == regions:
        return "no data"
    if failed and failed + silent >= cfg.min_failed_regions:
        return "down"
    if suppressed and suppressed + failed + silent >= cfg.min_failed_regions:
        return "suppressed"
    return "up"


def compute(cfg: Config, values: Mapping[str, Mapping[int, float]], month: Month, period: int) -> dict[str, Any]:
    periods = int((month.end - month.start).total_seconds() // period)
    minutes = period // 60
    uptimes, incidents = [], []
    for t, target in enumerate(cfg.targets):
        counts = {"up": 0, "down": 0, "suppressed": 0, "no data": 0}
        opened: int | None = None
        for index in range(periods + 1):
            state = _state(cfg, values, t, index) if index < periods else "end"
            if state in counts:
                counts[state] += 1
            if state == "down" and opened is None:
                opened = index
            elif state != "down" and opened is not None:
                start = month.start + dt.timedelta(seconds=opened * period)
                end = month.start + dt.timedelta(seconds=index * period)
                incidents.append(
                    Incident(
                        target.name, f"{start:%Y-%m-%dT%H:%MZ}", f"{end:%Y-%m-%dT%H:%MZ}", (index - opened) * minutes
                    )
                )
                opened = None
        counted = counts["up"] + counts["down"]
        uptime = round(100 * counts["up"] / counted, 4) if counted else None
        uptimes.append(
            Uptime(
                target=target.name,
                uptime_percent=uptime,
                up_minutes=counts["up"] * minutes,
                down_minutes=counts["down"] * minutes,
                suppressed_minutes=counts["suppressed"] * minutes,
                no_data_minutes=counts["no data"] * minutes,
                incidents=sum(1 for i in incidents if i.target == target.name),
                objective_met=None if uptime is None else uptime >= cfg.sla_objective,
            )
        )
    return {"uptimes": uptimes, "incidents": incidents}


def _reason(message: str, target: str) -> str | None:
    try:
        line = json.loads(message)
    except ValueError:
        line = None
    if isinstance(line, dict):
        if line.get("target") == target and line.get("ok") is False and isinstance(line.get("reason"), str):
            return common.clip(line["reason"], 300)
        return None
    marker = f"health check failed: {target}: "
    return common.clip(message.split(marker, 1)[1].strip(), 300) if marker in message else None


def add_reasons(cfg: Config, incidents: list[Incident], period: int) -> list[str]:
    """The first failure reason the function's log holds for each incident (up to MAX_REASON_LOOKUPS)."""
    if cfg.log_group is None:
        return []
    problems = []
    logs = common.client("logs")
    for incident in incidents[:MAX_REASON_LOOKUPS]:
        start = dt.datetime.strptime(incident.start, "%Y-%m-%dT%H:%MZ").replace(tzinfo=dt.UTC)
        try:
            answer = logs.filter_log_events(
                logGroupName=cfg.log_group,
                startTime=int(start.timestamp() * 1000),
                endTime=int((start.timestamp() + period) * 1000),
                filterPattern=f'{{ ($.target = "{incident.target}") && ($.ok IS FALSE) }}',
                limit=50,
            )
        except Exception as exc:  # no log group (yet), throttling: the report goes out without reasons
            problems.append(f"reasons from {cfg.log_group}: {common.clip(type(exc).__name__)}")
            break
        for event in answer.get("events", []):
            reason = _reason(str(event.get("message", "")), incident.target)
            if reason:
                incident.reason = reason
                break
    return problems


def render(cfg: Config, month: Month, period: int, computed: Mapping[str, Any]) -> dict[str, str]:
    """{file name: content}: uptime.csv, incidents.csv, report.json."""
    uptimes = [asdict(u) for u in computed["uptimes"]]
    incidents = [asdict(i) for i in computed["incidents"]]
    files = {}
    for name, rows, columns in (
        ("uptime.csv", uptimes, list(Uptime.__dataclass_fields__)),
        ("incidents.csv", incidents, list(Incident.__dataclass_fields__)),
    ):
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        files[name] = buffer.getvalue()
    document = {
        "month": month.label,
        "start": f"{month.start:%Y-%m-%dT%H:%M:%SZ}",
        "end": f"{month.end:%Y-%m-%dT%H:%M:%SZ}",
        "period_seconds": period,
        "objective_percent": cfg.sla_objective,
        "regions": list(cfg.regions) or [cfg.region],
        "min_failed_regions": cfg.min_failed_regions,
        "targets": uptimes,
        "incidents": incidents,
    }
    files["report.json"] = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return files


def summary(cfg: Config, month: Month, computed: Mapping[str, Any], location: str | None) -> tuple[str, str]:
    uptimes = computed["uptimes"]
    met = sum(1 for u in uptimes if u.objective_met)
    measured = sum(1 for u in uptimes if u.objective_met is not None)
    subject = f"Uptime {month.label}: {met} of {measured} targets met {cfg.sla_objective:g}%"
    lines = [f"Uptime report for {month.label} (UTC), objective {cfg.sla_objective:g}%:", ""]
    width = max(len(u.target) for u in uptimes)
    for u in uptimes:
        shown = "no data" if u.uptime_percent is None else f"{u.uptime_percent:.3f}%"
        verdict = "" if u.objective_met is None else ("met" if u.objective_met else "MISSED")
        lines.append(
            f"  {u.target:<{width}}  {shown:>9}  down {duration(u.down_minutes * 60):>14}  "
            f"{u.incidents} incident(s)  {verdict}".rstrip()
        )
    lines += ["", f"CSV and JSON: {location}" if location else "The report could not be written to S3."]
    return subject, "\n".join(lines)


def write(cfg: Config, month: Month, files: Mapping[str, str]) -> str:
    prefix = f"{PREFIX}/{month.label[:4]}/{month.label[5:]}/"
    s3 = common.client("s3")
    for name, content in files.items():
        kind = "application/json" if name.endswith(".json") else "text/csv"
        s3.put_object(
            Bucket=cfg.report_bucket, Key=prefix + name, Body=content.encode(), ContentType=f"{kind}; charset=utf-8"
        )
    return f"s3://{cfg.report_bucket}/{prefix}"
