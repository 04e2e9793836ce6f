"""health-check: one healthy and one failing site on 127.0.0.1, checked by the real handler on a scheduled event.

The "shop" answers 200 over https (a private CA, trusted through the target's ca_bundle) with the expected
(non-ASCII) text, given the Authorization header read from a Secrets Manager secret (moto); the "api" answers
503 over plain http. The run must report both, write both targets' metrics, and raise (the Errors alarm) only
after both were checked, with no secret value anywhere in the output. The same secret target over http:// is
refused at cold start: secret headers never travel in clear text.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import ssl
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import opskit_common as common
import trustme
from moto import mock_aws
from opskit_tools.loader import load_handler
from opskit_tools.scenarios import Report, collect_logs, environment

ORDER = 30
TITLE = "health-check: concurrent website checks with per-target metrics"

TOKEN = "Bearer demo-7c1f0e9a"
SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-11-23T05:00:00Z",
    "region": "eu-central-1",
    "resources": ["arn:aws:events:eu-central-1:123456789012:rule/opskit-health-check-schedule"],
    "detail": {},
}


class _Site(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/shop" and self.headers.get("Authorization") == TOKEN:
            status, body = 200, "<h1>Willkommen im Laden — Grüße!</h1>".encode()
        elif self.path == "/shop":
            status, body = 401, b"who are you?"
        else:
            status, body = 503, b"upstream unavailable"
        self.send_response(status)
        self.send_header("Content-Type", "text/html")  # no charset: the check must still decode UTF-8
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def _server(tls: ssl.SSLContext | None = None) -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def run(report: Report) -> None:
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=90, hours=1)).configure_cert(tls)
    with mock_aws(), _server(tls) as secure, _server() as plain, tempfile.TemporaryDirectory() as tmp:
        common.reset_clients()
        ca_bundle = Path(tmp) / "private-ca.pem"
        ca.cert_pem.write_to_path(str(ca_bundle))
        secret_arn = boto3.client("secretsmanager", region_name="eu-central-1").create_secret(
            Name="opskit/health-check/shop", SecretString=json.dumps({"Authorization": TOKEN})
        )["ARN"]
        targets = [
            {
                "name": "shop",
                "url": f"https://127.0.0.1:{secure.server_port}/shop",
                "expected_text": "Grüße",
                "max_latency_ms": 2000,
                "headers_secret_arn": secret_arn,
                "ca_bundle": str(ca_bundle),
            },
            {
                "name": "api",
                "url": f"http://127.0.0.1:{plain.server_port}/api/health",
                "expected_text": '"status":"ok"',
            },
        ]
        report.line("Targets (the TARGETS environment of the function):")
        report.table(
            ["name", "url", "expects"],
            [[t["name"], t["url"], f"200 + {t['expected_text']!r}"] for t in targets],
        )

        out = io.StringIO()
        raised: common.PartialFailure | None = None
        with (
            environment(
                {"TARGETS": json.dumps(targets), "METRIC_NAMESPACE": "opskit/HealthCheck", "NO_PROXY": "127.0.0.1"}
            ),
            collect_logs() as records,
        ):
            handler = load_handler("health_check")
            with contextlib.redirect_stdout(out):
                try:
                    handler.handler(SCHEDULED_EVENT, None)
                except common.PartialFailure as exc:
                    raised = exc

        in_clear = [{**targets[0], "url": f"http://127.0.0.1:{plain.server_port}/shop"}]
        refusal: common.ConfigError | None = None
        with environment({"TARGETS": json.dumps(in_clear), "NO_PROXY": "127.0.0.1"}):
            try:
                load_handler("health_check").handler(SCHEDULED_EVENT, None)
            except common.ConfigError as exc:
                refusal = exc

    report.line()
    report.line("handler raised: " + (str(raised) if raised else "nothing"))
    outcome = raised.result if raised else {}
    report.table(
        ["target", "ok", "status", "latency ms", "reason"],
        [[r["name"], r["ok"], r["status"], r["latency_ms"], r["reason"] or ""] for r in outcome.get("results", [])],
    )

    emf = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith('{"_aws"')]
    report.line()
    report.line("Embedded Metric Format lines (namespace opskit/HealthCheck, dimension Target):")
    for doc in emf:
        metrics = [m["Name"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
        report.kv(f"  Target={doc['Target']}", ", ".join(f"{m}={doc[m]}" for m in metrics))
    report.line("Log lines (one per target; structured fields target, ok, status, latency_ms, failure, reason):")
    for record in records:
        if hasattr(record, "target"):
            report.line(f"  {record.levelname:<7} {record.getMessage()}")

    results = {r["name"]: r for r in outcome.get("results", [])}
    report.line()
    report.check(raised is not None and outcome.get("failed") == 1, "the run raised after checking both targets")
    report.check(results.get("shop", {}).get("ok") is True, "shop is healthy (secret header sent, UTF-8 text found)")
    report.check(
        results.get("api", {}).get("reason") == 'status 503 not in [200]; expected text \'"status":"ok"\' not found',
        "api fails with its reasons: status 503 and the missing text",
    )
    report.check(
        {d["Target"]: d["Success"] for d in emf} == {"shop": 1, "api": 0}, "Success metric written for both targets"
    )
    logged = "\n".join(json.dumps(vars(r), default=str) for r in records)
    everything = out.getvalue() + logged + json.dumps(outcome) + str(raised)
    report.check("demo-7c1f0e9a" not in everything, "the secret header value appears in no output")
    report.line()
    report.line(f"the shop target over http:// instead: {refusal}")
    report.check(
        refusal is not None and "headers_secret_arn needs an https:// url" in str(refusal),
        "a secret-header target over plain http is refused at cold start, before any request",
    )
