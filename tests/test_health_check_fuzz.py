"""Mutation tests (tests/fuzz.py) of the health_check handler: every fixture event (scheduled and manual checks,
the alarm's recovery, the monthly report), the TARGETS JSON and every environment variable, mutated hundreds of
ways with fixed seeds. The handler may accept a mutant (and check the local servers, notify, report) or refuse it
with InputError/ConfigError; it may also report failures with PartialFailure. Anything else (TypeError,
OverflowError, RecursionError, a bare ValueError, an unbounded message) fails the test with the mutation's label.

The targets point at two servers on 127.0.0.1 (plain http, and https with a trustme CA passed as ca_bundle), a
tcp port (the http server's) and a name the machine resolves (localhost); the https target reads its headers
from a Secrets Manager secret created in moto. The function is a home of three regions with reminders and the
report on, so every resource the fixtures name exists in moto: the topic, the target alarms (in ALARM), the
report bucket and the log group. The clock stands at the report's time (time-machine, ticking).
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import fuzz
import opskit_common as common
import pytest
import time_machine
import trustme
from moto import mock_aws

EVENTS = Path(__file__).resolve().parent / "events" / "health_check"
FIXTURES = sorted(p.name for p in EVENTS.glob("*.json"))
MUTATIONS = fuzz.scaled(300)  # per fixture event, for TARGETS (over two seeds) and for the environment
SEEDS = (11, 29)
NOW = "2026-11-23T05:00:10Z"  # a moment after the scheduled event's own time
PREFIX = "opskit-health-check-"


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        page = '{"status": "ok"}' if self.path.startswith("/ok/json") else "<p>Grüße: ok</p>"
        body = b"" if self.command == "HEAD" else page.encode()
        self.send_response(200 if self.path.startswith("/ok") else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve


def _serve(tls: ssl.SSLContext | None) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"{'https' if tls else 'http'}://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    yield from _serve(None)


@pytest.fixture(scope="module")
def https_base(ca: trustme.CA) -> Iterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    yield from _serve(context)


@pytest.fixture
def environment(
    ca: trustme.CA, http_base: str, https_base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """The function's environment as the module renders it, under moto with the headers secret created.
    The https target (TLS handshake, secret read) costs several times a plain one, so the tests that run
    the checks for every mutant use `plain()`: the same environment without it."""
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    for key in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(key, "127.0.0.1")
    with mock_aws(), time_machine.travel(NOW, tick=True):
        common.reset_clients()
        secret_arn = boto3.client("secretsmanager").create_secret(
            Name="opskit/health-check/secure", SecretString=json.dumps({"Authorization": "Bearer fuzz-s3cr3t"})
        )["ARN"]
        topic_arn = boto3.client("sns").create_topic(Name="opskit-health-check-alarms")["TopicArn"]
        boto3.client("s3").create_bucket(
            Bucket="opskit-hc-sla-fuzz", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        boto3.client("logs").create_log_group(logGroupName="/aws/lambda/opskit-health-check")
        cloudwatch = boto3.client("cloudwatch")
        with time_machine.travel("2026-11-23T03:59:30Z", tick=False):  # in ALARM for an hour: a reminder is due
            _alarms(cloudwatch)

        port = int(http_base.rsplit(":", 1)[1])
        targets = [
            {
                "name": "shop",
                "url": f"{http_base}/ok/shop",
                "expected_text": "Grüße",
                "max_latency_ms": 5000,
                "timeout_seconds": 2,
                "depends_on": ["db"],
            },
            {
                "name": "api",
                "url": f"{http_base}/ok/api?probe=1",
                "method": "POST",
                "headers": {"Content-Type": "application/json", "X-Probe": "opskit"},
                "body": '{"ping": true}',
                "expected_status": [200, 204],
                "regex": r"ok\W",
                "unexpected_text": "Traceback",
                "timeout_seconds": 2,
                "follow_redirects": False,
                "maintenance": [{"cron": "0 2 * * SUN", "duration_minutes": 120, "timezone": "Europe/Berlin"}],
            },
            {"name": "head", "url": f"{http_base}/ok/head", "method": "HEAD", "timeout_seconds": 2},
            {"name": "json", "url": f"{http_base}/ok/json", "json_pointer": "/status", "json_equals": '"ok"'},
            {"name": "db", "kind": "tcp", "host": "127.0.0.1", "port": port, "timeout_seconds": 2},
            {"name": "dns", "kind": "dns", "host": "localhost", "expected_addresses": ["127.0.0.0/8", "::1"]},
            {
                "name": "secure",
                "url": f"{https_base}/ok/secure",
                "min_cert_days": 1,
                "timeout_seconds": 2,
                "headers_secret_arn": secret_arn,
                "ca_bundle": str(ca_file),
            },
        ]
        yield {
            "TARGETS": json.dumps(targets),
            "METRIC_NAMESPACE": "opskit/HealthCheck",
            "CONNECT_RETRIES": "0",
            "MAX_WORKERS": "32",
            "MAX_BODY_BYTES": "65536",
            "HOME_REGION": "eu-central-1",
            "REGIONS": "eu-central-1,us-east-1,ap-southeast-2",
            "MIN_FAILED_REGIONS": "2",
            "ALARM_PREFIX": PREFIX,
            "TOPIC_ARN": topic_arn,
            "REMIND_MINUTES": "60",
            "RUN_INTERVAL": "300",
            "REPORT_BUCKET": "opskit-hc-sla-fuzz",
            "REPORT_PERIOD": "3600",
            "SLA_OBJECTIVE": "99.9",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/opskit-health-check",
        }


def _alarms(cloudwatch: Any) -> None:
    for name in ("shop", "api"):
        cloudwatch.put_metric_alarm(
            AlarmName=PREFIX + name,
            Namespace="opskit/HealthCheck",
            MetricName="Failed",
            Statistic="Maximum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        cloudwatch.set_alarm_state(AlarmName=PREFIX + name, StateValue="ALARM", StateReason="down")


def plain(environment: dict[str, str]) -> dict[str, str]:
    targets = [t for t in json.loads(environment["TARGETS"]) if not t.get("url", "").startswith("https:")]
    return {**environment, "TARGETS": json.dumps(targets)}


def _invoke(handler: Any, env: dict[str, Any], event: Any, tally: Counter[str] | None = None) -> Callable[[], Any]:
    """Run the handler cold (configuration parsed again) in exactly this environment (None: unset); count
    in `tally` whether it refused the input or ran the checks (so a test can tell it exercised both)."""

    def run() -> Any:
        handler.config.cache_clear()
        sys.modules["hc_results"].reset_clients()  # cross-region clients are cached per process
        with mock.patch.dict(os.environ):
            for name, value in env.items():
                os.environ.pop(name, None)
                if value is not None:
                    os.environ[name] = value
            outcome = "refused"
            try:
                result = handler.handler(event, None)
                outcome = "ran"
                return result
            except common.PartialFailure:
                outcome = "ran"
                raise
            finally:
                if tally is not None:
                    tally[outcome] += 1

    return run


def _as_env_value(value: Any) -> str | None:
    """A mutant as an environment variable can hold it: strings as they are, other values as JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def test_the_unmutated_inputs_pass(environment: dict[str, str], load_handler: Callable[[str], Any]) -> None:
    """The baseline the mutations start from: every check fixture runs every (or the named) target successfully
    (the scheduled one also reminds of the two alarms in ALARM), the recovery is notified, the report written."""
    handler = load_handler("health_check")
    outcomes = {f: _invoke(handler, environment, json.loads((EVENTS / f).read_text()))() for f in FIXTURES}
    assert set(outcomes) == {
        "alarm-recovered.json",
        "manual-subset.json",
        "scheduled-event.json",
        "sla-report-month.json",
        "sla-report.json",
    }
    for fixture in ("manual-subset.json", "scheduled-event.json"):
        assert outcomes[fixture]["failed"] == 0 and outcomes[fixture]["results"], outcomes[fixture]
    assert sorted(outcomes["scheduled-event.json"]["reminders"]) == ["api", "shop"]
    assert outcomes["alarm-recovered.json"]["recovered"] == "shop"
    assert outcomes["sla-report.json"]["report"] == outcomes["sla-report-month.json"]["report"] == "2026-10"


@pytest.mark.parametrize("fixture", FIXTURES)
def test_mutated_fixture_events(fixture: str, environment: dict[str, str], load_handler: Callable[[str], Any]) -> None:
    handler = load_handler("health_check")
    event = json.loads((EVENTS / fixture).read_text())
    tally: Counter[str] = Counter()
    for label, mutant in fuzz.mutations(event, seed=SEEDS[0], count=MUTATIONS):
        fuzz.check(_invoke(handler, plain(environment), mutant, tally), f"{fixture}: {label}")
    assert sum(tally.values()) == MUTATIONS and tally["ran"] > 0, tally


@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_targets_json(seed: int, environment: dict[str, str], load_handler: Callable[[str], Any]) -> None:
    """TARGETS mutated as a document (values, types, removed and added keys), then rendered back to JSON."""
    handler = load_handler("health_check")
    targets = json.loads(environment["TARGETS"])
    tally: Counter[str] = Counter()
    for label, mutant in fuzz.mutations(targets, seed=seed, count=MUTATIONS // 2):
        env = {**environment, "TARGETS": json.dumps(mutant)}
        fuzz.check(_invoke(handler, env, {}, tally), f"TARGETS: {label}")
    assert tally["ran"] > 0 and tally["refused"] > 0, tally


def test_mutated_environment_variables(environment: dict[str, str], load_handler: Callable[[str], Any]) -> None:
    """Every variable replaced, cut, extended or removed as text (TARGETS included: broken JSON), plus the
    blueprint's single-site variables the handler falls back to."""
    handler = load_handler("health_check")
    base = {**plain(environment), "site": json.loads(environment["TARGETS"])[0]["url"], "expected": "ok"}
    seed, tally, mutated = SEEDS[0], Counter[str](), set()
    for label, mutant in fuzz.mutations(base, seed=seed, count=MUTATIONS):
        env = {name: _as_env_value(mutant.get(name)) for name in base}
        mutated |= {name for name in base if env[name] != base[name]}
        fuzz.check(_invoke(handler, env, {}, tally), f"environment: {label}")
    without_targets = {**base, "TARGETS": None}
    for label, mutant in fuzz.mutations(without_targets, seed=seed, count=MUTATIONS // 3):
        env = {name: _as_env_value(mutant.get(name)) for name in without_targets}
        fuzz.check(_invoke(handler, env, {}, tally), f"blueprint environment: {label}")
    assert mutated == set(base), f"never mutated: {set(base) - mutated}"
    assert tally["ran"] > 0 and tally["refused"] > 0, tally
