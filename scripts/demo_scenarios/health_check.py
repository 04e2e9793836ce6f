"""health-check through the real handler on moto, against servers on 127.0.0.1, with time-machine for the clock:

1. checks: a shop over https (private CA, Authorization from a Secrets Manager secret), a failing api, a JSON
   pointer, a TLS port and a DNS name; the reasons, the metrics, no secret anywhere, and the same secret target
   over http:// refused at cold start;
2. three regions (a home and two probes) publish to the home: a target down everywhere alarms (2 of 3 regions
   in 2 of 3 periods, the module's metric-math rule evaluated on moto's data), a blip in one region does not;
3. a maintenance window and a dependency suppress failures: only the root cause counts;
4. a reminder while the alarm stays in ALARM, then the recovery notice with the total downtime;
5. the monthly uptime report, printed as a table (CSV and JSON in S3, the summary on the topic).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import opskit_common as common
import time_machine
import trustme
from moto import mock_aws
from opskit_tools.loader import load_handler
from opskit_tools.scenarios import Report, environment

ORDER = 30
TITLE = "health-check: checks, agreement across regions, suppression, reminders, the monthly report"

TOKEN = "Bearer demo-7c1f0e9a"
HOME, PROBES = "eu-central-1", ("us-east-1", "ap-southeast-2")
PREFIX = "opskit-health-check-"
STATE: dict[str, Any] = {"region": HOME, "period": 0}  # what the servers answer depends on who asks when


class _Site(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        blip = self.path == "/blog" and STATE["region"] == "us-east-1" and STATE["period"] == 1
        if self.path == "/shop":
            ok = self.headers.get("Authorization") == TOKEN
            status, body = (200, "<h1>Willkommen — Grüße!</h1>") if ok else (401, "who are you?")
        elif self.path in ("/blog", "/docs") and not blip:
            status, body = 200, "<p>fine</p>"
        elif self.path == "/status.json":
            status, body = 200, '{"status": {"db": "up", "cache": "degraded"}}'
        else:
            status, body = 503, "upstream unavailable"
        self.send_response(status)
        self.send_header("Content-Type", "text/html")  # no charset: the check must still decode UTF-8
        self.send_header("Content-Length", str(len(body.encode())))
        self.end_headers()
        self.wfile.write(body.encode())


@contextlib.contextmanager
def _server(tls: ssl.SSLContext | None = None) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _invoke(event: Any, values: dict[str, str | None]) -> tuple[dict[str, Any], str]:
    """The handler's outcome (a PartialFailure's too) and what it printed (EMF lines)."""
    out = io.StringIO()
    with environment({"NO_PROXY": "127.0.0.1", **values}), contextlib.redirect_stdout(out):
        try:
            return load_handler("health_check").handler(event, None), out.getvalue()
        except common.PartialFailure as exc:
            return {**exc.result, "raised": str(exc)}, out.getvalue()


def _scheduled(at: dt.datetime) -> dict[str, Any]:
    return {"detail-type": "Scheduled Event", "source": "aws.events", "time": f"{at:%Y-%m-%dT%H:%M:%SZ}", "detail": {}}


def _inbox() -> tuple[str, Any]:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="opskit-health-check-alarms")["TopicArn"]
    url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)

    def take() -> list[dict[str, Any]]:  # called at the simulated time (the queue keeps messages for 4 days)
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]

    return topic, take


def checks(report: Report, secure: str, plain: str, ca_bundle: str) -> None:
    secret_arn = boto3.client("secretsmanager").create_secret(
        Name="opskit/health-check/shop", SecretString=json.dumps({"Authorization": TOKEN})
    )["ARN"]
    shop = {"name": "shop", "url": f"{secure}/shop", "expected_text": "Grüße", "headers_secret_arn": secret_arn}
    port = int(secure.rsplit(":", 1)[1])
    targets = [
        {**shop, "ca_bundle": ca_bundle},
        {"name": "api", "url": f"{plain}/api/health"},
        {"name": "db-state", "url": f"{plain}/status.json", "json_pointer": "/status/db", "json_equals": '"up"'},
        {"name": "tls-port", "kind": "tcp", "host": "127.0.0.1", "port": port, "tls": True, "ca_bundle": ca_bundle},
        {"name": "resolver", "kind": "dns", "host": "localhost", "expected_addresses": ["127.0.0.0/8", "::1"]},
    ]
    outcome, printed = _invoke({}, {"TARGETS": json.dumps(targets)})
    report.table(
        ["target", "ok", "status", "latency ms", "reason"],
        [[r["name"], r["ok"], r["status"], r["latency_ms"], r["reason"] or ""] for r in outcome["results"]],
    )
    emf = {d["Target"]: d for d in map(json.loads, printed.splitlines()) if "_aws" in d}
    report.check(outcome.get("raised", "").startswith("1 of 5 health checks failed: api"), "only api fails the run")
    report.check(
        {t: d["Failed"] for t, d in emf.items()} == {"shop": 0, "api": 1, "db-state": 0, "tls-port": 0, "resolver": 0},
        "http (text, JSON pointer), tcp with TLS and dns checks: Failed per target",
    )
    report.check("demo-7c1f0e9a" not in printed + json.dumps(outcome), "the secret header value appears in no output")
    refused, _ = _refusal({**targets[0], "url": f"{plain}/shop"})
    report.check(
        "headers_secret_arn needs an https:// url" in refused, f"over http:// refused at cold start: {refused}"
    )


def _refusal(target: dict[str, Any]) -> tuple[str, None]:
    with environment({"TARGETS": json.dumps([target])}):
        try:
            load_handler("health_check").handler({}, None)
        except common.ConfigError as exc:
            return str(exc), None
    return "", None


def regions(report: Report, plain: str, start: dt.datetime) -> None:
    targets = [{"name": "shop", "url": f"{plain}/down"}, {"name": "blog", "url": f"{plain}/blog"}]
    for period in range(3):
        STATE["period"] = period
        for region in (HOME, *PROBES):
            STATE["region"] = region
            values = {
                "TARGETS": json.dumps(targets),
                "HOME_REGION": HOME,
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
            }
            values["REGIONS"] = ",".join((HOME, *PROBES)) if region == HOME else None
            with time_machine.travel(start + dt.timedelta(minutes=5 * period, seconds=20), tick=True):
                _invoke(_scheduled(start + dt.timedelta(minutes=5 * period)), values)
    STATE["region"] = HOME
    # What the home alarm computes: FILL(f0, 1) + FILL(f1, 1) + FILL(f2, 1) >= 2, in 2 of the last 3 periods.
    queries = [
        {
            "Id": f"f{t}_{r}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "opskit/HealthCheck",
                    "MetricName": "Failed",
                    "Dimensions": [{"Name": "Target", "Value": name}, {"Name": "Region", "Value": region}],
                },
                "Period": 300,
                "Stat": "Maximum",
            },
        }
        for t, name in enumerate(("shop", "blog"))
        for r, region in enumerate((HOME, *PROBES))
    ]
    data = boto3.client("cloudwatch", region_name=HOME).get_metric_data(
        MetricDataQueries=queries,
        StartTime=start,
        EndTime=start + dt.timedelta(minutes=15),
        ScanBy="TimestampAscending",
    )["MetricDataResults"]
    series = {
        d["Id"]: dict(zip([int((s - start).total_seconds() // 300) for s in d["Timestamps"]], d["Values"], strict=True))
        for d in data
    }
    rows, states = [], {}
    for t, name in enumerate(("shop", "blog")):
        failed = [sum(series.get(f"f{t}_{r}", {}).get(p, 1.0) for r in range(3)) for p in range(3)]
        states[name] = "ALARM" if sum(f >= 2 for f in failed) >= 2 else "OK"
        rows.append([name, *(f"{int(f)} of 3" for f in failed), states[name]])
    report.table(["target", "period 1", "period 2", "period 3", "home alarm"], rows)
    report.check(states == {"shop": "ALARM", "blog": "OK"}, "down in every region pages; a blip in us-east-1 does not")


def suppression(report: Report, plain: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    window = {"cron": "0 2 * * SUN", "duration_minutes": 120, "timezone": "Europe/Berlin"}
    targets = [
        {"name": "db", "kind": "tcp", "host": "127.0.0.1", "port": closed},
        {"name": "api", "url": f"{plain}/api", "depends_on": ["db"]},
        {"name": "docs", "url": f"{plain}/docs", "depends_on": ["db"]},
        {"name": "shop", "url": f"{plain}/shop-deploy", "maintenance": [window]},
    ]
    with time_machine.travel(dt.datetime(2026, 11, 22, 1, 30, tzinfo=dt.UTC), tick=True):  # Sunday 02:30 Berlin
        outcome, _ = _invoke({}, {"TARGETS": json.dumps(targets)})
    report.table(
        ["target", "ok", "reason", "suppressed"],
        [[r["name"], r["ok"], r["reason"] or "", r.get("suppressed", "")] for r in outcome["results"]],
    )
    report.check(
        outcome["raised"].startswith("1 of 4 health checks failed: db"), "only the root cause (db) fails the run"
    )
    report.check(outcome["suppressed"] == 2, "the window suppresses shop, the failed dependency suppresses api")


def reminders(report: Report, topic: str, take: Any) -> None:
    cloudwatch = boto3.client("cloudwatch")
    down_at = dt.datetime(2026, 11, 23, 5, 8, 12, tzinfo=dt.UTC)
    with time_machine.travel(down_at, tick=False):
        cloudwatch.put_metric_alarm(
            AlarmName=PREFIX + "shop",
            Namespace="opskit/HealthCheck",
            MetricName="Failed",
            Statistic="Maximum",
            Period=300,
            EvaluationPeriods=3,
            Threshold=2,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        cloudwatch.set_alarm_state(AlarmName=PREFIX + "shop", StateValue="ALARM", StateReason="2 of 3 regions")
    values = {
        "TARGETS": json.dumps([{"name": "shop", "url": "http://127.0.0.1:9/"}]),
        "ALARM_PREFIX": PREFIX,
        "TOPIC_ARN": topic,
        "REMIND_MINUTES": "60",
        "RUN_INTERVAL": "300",
    }
    sent = []
    for minutes in range(55, 70, 5):
        at = down_at.replace(second=0) + dt.timedelta(minutes=minutes + 2)
        with time_machine.travel(at + dt.timedelta(seconds=2), tick=False):
            outcome, _ = _invoke(_scheduled(at), values)
        sent.append((f"{at:%H:%M}", outcome.get("reminders", [])))
    report.kv("runs (reminders sent)", ", ".join(f"{at} {names or '-'}" for at, names in sent))
    up_at = down_at + dt.timedelta(hours=1, minutes=15, seconds=29)
    event = {
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "detail": {
            "alarmName": PREFIX + "shop",
            "state": {"value": "OK", "timestamp": up_at.isoformat()},
            "previousState": {"value": "ALARM", "timestamp": down_at.isoformat()},
        },
    }
    with time_machine.travel(up_at + dt.timedelta(seconds=3), tick=False):
        _invoke(event, values)
        messages = take()
    for message in messages:
        report.line(f"  SNS  {message['Subject']}: {message['Message']}")
    report.check(
        [m["Subject"] for m in messages] == ["Still down: shop (1 h 1 min)", "Recovered: shop after 1 h 15 min"],
        "one reminder after an hour, then the recovery notice with the total downtime",
    )


def monthly(report: Report, topic: str, take: Any) -> None:
    boto3.client("s3").create_bucket(
        Bucket="opskit-hc-sla-demo", CreateBucketConfiguration={"LocationConstraint": HOME}
    )
    down = {(30, 10), (30, 11), (31, 3)}
    data = []
    for day in range(24, 32):  # the function was deployed on October 24th: earlier periods have no data
        for hour in range(24):
            at = dt.datetime(2026, 10, day, hour, 0, 30, tzinfo=dt.UTC)
            for name in ("shop", "api"):
                failed = 1.0 if name == "shop" and (day, hour) in down else 0.0
                data.append(
                    {
                        "MetricName": "Failed",
                        "Dimensions": [{"Name": "Target", "Value": name}],
                        "Timestamp": at,
                        "Value": failed,
                    }
                )
            if (day, hour) in ((25, 2), (25, 3)):
                data.append(
                    {
                        "MetricName": "Suppressed",
                        "Dimensions": [{"Name": "Target", "Value": "shop"}],
                        "Timestamp": at,
                        "Value": 1.0,
                    }
                )
    with time_machine.travel(dt.datetime(2026, 11, 1, 6, 0, 5, tzinfo=dt.UTC), tick=False):
        for chunk in common.chunked(data, 500):
            boto3.client("cloudwatch").put_metric_data(Namespace="opskit/HealthCheck", MetricData=chunk)
        values = {
            "TARGETS": json.dumps(
                [{"name": "shop", "url": "https://shop.test/"}, {"name": "api", "url": "https://api.test/"}]
            ),
            "REPORT_BUCKET": "opskit-hc-sla-demo",
            "REPORT_PERIOD": "3600",
            "TOPIC_ARN": topic,
        }
        outcome, _ = _invoke({"action": "sla-report"}, values)
        summaries = take()
    body = boto3.client("s3").get_object(Bucket="opskit-hc-sla-demo", Key="sla/2026/10/report.json")["Body"].read()
    document = json.loads(body)
    report.table(
        ["target", "uptime %", "down min", "suppressed min", "no data min", "incidents", "99.9% met"],
        [
            [
                t["target"],
                t["uptime_percent"],
                t["down_minutes"],
                t["suppressed_minutes"],
                t["no_data_minutes"],
                t["incidents"],
                t["objective_met"],
            ]
            for t in document["targets"]
        ],
    )
    report.table(
        ["incident", "start", "end", "minutes"],
        [[i["target"], i["start"], i["end"], i["duration_minutes"]] for i in document["incidents"]],
    )
    report.kv("SNS summary", " / ".join(m["Subject"] for m in summaries))
    report.check(outcome.get("location") == "s3://opskit-hc-sla-demo/sla/2026/10/", "CSV and JSON written to S3")
    report.check(
        [m["Subject"] for m in summaries] == ["Uptime 2026-10: 1 of 2 targets met 99.9%"], "summary on the topic"
    )
    report.check(
        document["targets"][0]["uptime_percent"] == 98.4211 and len(document["incidents"]) == 2,
        "shop: 3 h down in 2 incidents, the maintenance hours excluded",
    )


def run(report: Report) -> None:
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=90)).configure_cert(tls)
    with mock_aws(), _server(tls) as secure, _server() as plain, tempfile.TemporaryDirectory() as tmp:
        common.reset_clients()
        ca_bundle = Path(tmp) / "private-ca.pem"
        ca.cert_pem.write_to_path(str(ca_bundle))
        topic, take = _inbox()
        for title, part in (
            (
                "1. http, tcp and dns checks: reasons, metrics, secrets",
                lambda: checks(report, secure, plain, str(ca_bundle)),
            ),
            (
                "2. three regions, one home alarm (k = 2 of 3 regions, 2 of 3 periods)",
                lambda: regions(report, plain, dt.datetime(2026, 11, 23, 4, 0, tzinfo=dt.UTC)),
            ),
            ("3. a maintenance window and a dependency (Sunday 02:30 in Berlin)", lambda: suppression(report, plain)),
            ("4. reminders while the alarm stays in ALARM, then the recovery", lambda: reminders(report, topic, take)),
            ("5. the monthly uptime report (October 2026)", lambda: monthly(report, topic, take)),
        ):
            report.line()
            report.line(title)
            part()
