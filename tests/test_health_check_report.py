"""The monthly uptime report: metrics from moto's CloudWatch (GetMetricData), failure reasons from moto's
CloudWatch Logs, CSV and JSON into a moto S3 bucket, the summary through moto's SNS (read from an SQS queue),
all at a frozen time (time-machine). Periods are an hour here (REPORT_PERIOD=3600): moto's GetMetricData
walks every period of the month per query.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import fuzz
import opskit_common as common
import pytest
import time_machine
from moto import mock_aws
from test_health_check_notices import Inbox

REPORT_TIME = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)
OCTOBER = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
NAMESPACE = "opskit/HealthCheck"
LOG_GROUP = "/aws/lambda/opskit-health-check"
BUCKET = "opskit-hc-sla-123456789012-eu-central-1"
TARGETS = [{"name": n, "url": f"https://{n}.example.com/"} for n in ("shop", "api", "blog")]


def hour(day: int, at: int) -> dt.datetime:
    return dt.datetime(2026, 10, day, at, 0, 30, tzinfo=dt.UTC)


def put(values: list[tuple[str, str, dt.datetime, float]], region: str | None = None) -> None:
    """(target, metric, time, value) datapoints, dimension Target (and Region when given)."""
    cloudwatch = boto3.client("cloudwatch")
    data = []
    for target, metric, at, value in values:
        dimensions = [{"Name": "Target", "Value": target}]
        dimensions += [{"Name": "Region", "Value": region}] if region else []
        data.append({"MetricName": metric, "Dimensions": dimensions, "Timestamp": at, "Value": value, "Unit": "Count"})
    for chunk in common.chunked(data, 500):
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=chunk)


@pytest.fixture
def october() -> Iterator[Inbox]:
    """Three days of hourly results: shop down 10:00-12:00 on the 30th and 03:00-04:00 on the 31st, inside a
    maintenance window 02:00-04:00 on the 29th (failing, suppressed); api always up; blog never reported."""
    with mock_aws(), time_machine.travel(REPORT_TIME, tick=False):
        common.reset_clients()
        box = Inbox()
        boto3.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        down = {hour(30, 10), hour(30, 11), hour(31, 3)}
        window = {hour(29, 2), hour(29, 3)}
        values = []
        for day in (29, 30, 31):
            for at in range(24):
                moment = hour(day, at)
                values.append(("shop", "Failed", moment, 1.0 if moment in down else 0.0))
                values += [("shop", "Suppressed", moment, 1.0)] if moment in window else []
                values.append(("api", "Failed", moment, 0.0))
        put(values)
        logs = boto3.client("logs")
        logs.create_log_group(logGroupName=LOG_GROUP)
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName="2026/10/30/[$LATEST]abc")
        line = {"level": "WARNING", "message": "health check failed: shop: status 503 not in [200]", "target": "shop"}
        line |= {"ok": False, "failure": "status", "reason": "status 503 not in [200]"}
        other = {**line, "target": "api", "reason": "not this one"}
        events = [(hour(30, 10) + dt.timedelta(seconds=5), other), (hour(30, 10) + dt.timedelta(seconds=9), line)]
        logs.put_log_events(
            logGroupName=LOG_GROUP,
            logStreamName="2026/10/30/[$LATEST]abc",
            logEvents=[{"timestamp": int(t.timestamp() * 1000), "message": json.dumps(m)} for t, m in events],
        )
        yield box


def report_env(box: Inbox, **extra: str) -> dict[str, str]:
    return {
        "TARGETS": json.dumps(TARGETS),
        "METRIC_NAMESPACE": NAMESPACE,
        "REPORT_BUCKET": BUCKET,
        "REPORT_PERIOD": "3600",
        "SLA_OBJECTIVE": "99.9",
        "TOPIC_ARN": box.topic_arn,
        "AWS_LAMBDA_LOG_GROUP_NAME": LOG_GROUP,
        **extra,
    }


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch, load_handler: Callable[[str], Any]) -> Callable[..., Any]:
    def _invoke(event: Any, env: dict[str, str]) -> Any:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return load_handler("health_check").handler(event, None)

    return _invoke


def objects() -> dict[str, str]:
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read().decode() for o in listed}


def test_last_months_uptime_incidents_and_reasons(
    october: Inbox, invoke: Callable[..., Any], load_event: Callable[[str], Any]
) -> None:
    outcome = invoke(load_event("health_check/sla-report.json"), report_env(october))
    assert outcome["report"] == "2026-10" and outcome["location"] == f"s3://{BUCKET}/sla/2026/10/"
    files = objects()
    assert sorted(files) == ["sla/2026/10/incidents.csv", "sla/2026/10/report.json", "sla/2026/10/uptime.csv"]
    assert files["sla/2026/10/uptime.csv"] == (
        "target,uptime_percent,up_minutes,down_minutes,suppressed_minutes,no_data_minutes,incidents,objective_met\n"
        "shop,95.7143,4020,180,120,40320,2,False\n"
        "api,100.0,4320,0,0,40320,0,True\n"
        "blog,,0,0,0,44640,0,\n"
    )
    assert files["sla/2026/10/incidents.csv"] == (
        "target,start,end,duration_minutes,reason\n"
        "shop,2026-10-30T10:00Z,2026-10-30T12:00Z,120,status 503 not in [200]\n"
        "shop,2026-10-31T03:00Z,2026-10-31T04:00Z,60,\n"
    )
    document = json.loads(files["sla/2026/10/report.json"])
    assert (document["month"], document["start"], document["end"]) == (
        "2026-10",
        "2026-10-01T00:00:00Z",
        "2026-11-01T00:00:00Z",
    )
    assert document["targets"][0] == {
        "target": "shop",
        "uptime_percent": 95.7143,
        "up_minutes": 4020,
        "down_minutes": 180,
        "suppressed_minutes": 120,
        "no_data_minutes": 40320,
        "incidents": 2,
        "objective_met": False,
    }
    assert (
        document["incidents"][0]["reason"] == "status 503 not in [200]" and document["incidents"][1]["reason"] is None
    )
    ((subject, message),) = october.take()
    assert subject == "Uptime 2026-10: 1 of 2 targets met 99.9%"
    assert message.splitlines() == [
        "Uptime report for 2026-10 (UTC), objective 99.9%:",
        "",
        "  shop    95.714%  down      3 h 0 min  2 incident(s)  MISSED",
        "  api    100.000%  down          0 min  0 incident(s)  met",
        "  blog    no data  down          0 min  0 incident(s)",
        "",
        f"CSV and JSON: s3://{BUCKET}/sla/2026/10/",
    ]


def test_a_named_month_and_the_months_that_cannot_be_reported(
    october: Inbox, invoke: Callable[..., Any], load_event: Callable[[str], Any]
) -> None:
    assert invoke(load_event("health_check/sla-report-month.json"), report_env(october))["report"] == "2026-10"
    for month, message in [
        ("2026-11", "month 2026-11 is not over yet"),
        ("2025-07", "older than CloudWatch keeps metrics"),
        ("2026-13", "month '2026-13' is not valid"),
        (202610, "month must be a string"),
    ]:
        with fuzz.recorded_calls() as calls, pytest.raises(common.InputError, match=message):
            invoke({"action": "sla-report", "month": month}, report_env(october))
        assert calls == []
    with pytest.raises(common.InputError, match='"action" must be "sla-report"'):
        invoke({"action": "reboot"}, report_env(october))


def test_without_a_bucket_the_summary_still_goes_out_and_the_run_fails(
    october: Inbox, invoke: Callable[..., Any]
) -> None:
    with pytest.raises(common.PartialFailure) as caught:
        invoke({"action": "sla-report"}, report_env(october, REPORT_BUCKET="opskit-hc-sla-gone"))
    assert str(caught.value) == "uptime report 2026-10: writing to s3://opskit-hc-sla-gone failed: NoSuchBucket"
    assert caught.value.result["targets"][1]["uptime_percent"] == 100.0
    ((_, message),) = october.take()
    assert message.endswith("The report could not be written to S3.")


def test_a_function_without_report_refuses_the_event(
    monkeypatch: pytest.MonkeyPatch, load_handler: Callable[[str], Any]
) -> None:
    monkeypatch.setenv("TARGETS", json.dumps(TARGETS))
    with pytest.raises(common.InputError, match="writes no uptime report"):
        load_handler("health_check").handler({"action": "sla-report"}, None)


def test_regions_agree_period_by_period(invoke: Callable[..., Any]) -> None:
    """k = 2 of 3 regions; one target, eight hours on October 5th (values per region: 0 up, 1 down, S suppressed,
    - no data):  A 000 up | B 100 up (a blip) | C 110 down | D 1-0 down (silence counts with a failure) |
    E --0 up | F --- no data | G SSS suppressed | H S10 suppressed."""
    regions = ("eu-central-1", "us-east-1", "ap-southeast-2")
    rows = ["000", "100", "110", "1-0", "--0", "---", "SSS", "S10"]
    with mock_aws(), time_machine.travel(REPORT_TIME, tick=False):
        common.reset_clients()
        box = Inbox()
        boto3.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        for r, region in enumerate(regions):
            values = []
            for h, row in enumerate(rows):
                at = dt.datetime(2026, 10, 5, h, 10, tzinfo=dt.UTC)
                if row[r] == "S":
                    values += [("shop", "Failed", at, 0.0), ("shop", "Suppressed", at, 1.0)]
                elif row[r] != "-":
                    values.append(("shop", "Failed", at, float(row[r])))
            put(values, region=region)
        env = report_env(box, TARGETS=json.dumps(TARGETS[:1]), HOME_REGION=regions[0], REGIONS=",".join(regions))
        outcome = invoke({"action": "sla-report"}, {**env, "MIN_FAILED_REGIONS": "2"})
    (shop,) = outcome["targets"]
    assert (shop["up_minutes"], shop["down_minutes"], shop["suppressed_minutes"]) == (180, 120, 120)
    assert shop["uptime_percent"] == 60.0 and shop["incidents"] == 1  # C and D are one incident


def test_old_months_are_read_at_the_resolution_cloudwatch_still_has(load_handler: Callable[[str], Any]) -> None:
    load_handler("health_check")
    import hc_config
    import hc_sla

    cfg = hc_config.Config(targets=(), namespace=NAMESPACE, max_workers=1, connect_retries=0, max_body_bytes=1024)
    minute = hc_config.Config(**{**cfg.__dict__, "report_period": 60})
    month = hc_sla.parse_month({}, REPORT_TIME)
    assert month.label == "2026-10" and hc_sla.query_period(minute, month, REPORT_TIME) == 300  # over 15 days
    assert hc_sla.query_period(minute, month, REPORT_TIME + dt.timedelta(days=40)) == 3600  # over 63 days
    assert hc_sla.query_period(cfg, hc_sla.parse_month({}, dt.datetime(2026, 10, 3, tzinfo=dt.UTC)), REPORT_TIME) == 300
    assert hc_sla.parse_month({}, dt.datetime(2027, 1, 1, 6, tzinfo=dt.UTC)).label == "2026-12"
