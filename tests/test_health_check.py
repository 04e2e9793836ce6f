"""health_check handler against real HTTP(S) servers on 127.0.0.1 (http.server + threads, trustme CA).

TLS: the handler trusts a private CA through the per-target `ca_bundle` field (a PEM path), the same
mechanism a deployment uses for endpoints behind a private CA; the tests write trustme's CA there.
Secrets Manager and SSM come from moto.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import opskit_common as common
import pytest
import trustme
from moto import mock_aws

SECRET_TOKEN = "Bearer s3cr3t-9f8e7d6c5b4a"


@dataclass
class Route:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/plain; charset=utf-8"})
    delay: float = 0.0  # seconds before the status line
    drip: float = 0.0  # seconds between body chunks (one byte per chunk)
    drop: bool = False  # close the connection without answering
    barrier: threading.Barrier | None = None  # every request waits for its peers (proves concurrency)
    require_header: tuple[str, str] | None = None  # else 401
    chunked: bool = False  # Transfer-Encoding: chunked, in 7-byte chunks


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out and hang up are part of the tests


class Server:
    """A tiny routable HTTP(S) server; records every request it receives."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.routes: dict[str, Route] = {}
        self.requests: list[dict[str, Any]] = []
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                route = server.routes.get(self.path.split("?")[0], Route(status=404, body=b"not found"))
                if route.drop:
                    self.close_connection = True
                    return
                if route.barrier is not None:
                    try:
                        route.barrier.wait()
                        status = route.status
                    except threading.BrokenBarrierError:
                        status = 500
                else:
                    status = route.status
                if route.require_header and self.headers.get(route.require_header[0]) != route.require_header[1]:
                    status = 401
                if route.delay:
                    server.stop.wait(route.delay)
                self.send_response(status)
                for key, value in route.headers.items():
                    self.send_header(key, value)
                payload = b"" if self.command == "HEAD" else route.body
                if route.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(payload), 7):
                        piece = payload[start : start + 7]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                if route.drip:
                    for byte in payload:
                        if server.stop.wait(route.drip):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                else:
                    self.wfile.write(payload)

            do_GET = do_HEAD = do_POST = _serve

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.httpd.server_port}{path}"

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def http() -> Iterator[Server]:
    server = Server()
    yield server
    server.close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_server(ca: trustme.CA, not_after: dt.datetime, names: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Server:
    cert = ca.issue_cert(*names, not_after=not_after)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return Server(tls=context)


CERT_DAYS = 20


@pytest.fixture(scope="module")
def https(ca: trustme.CA) -> Iterator[Server]:
    # An hour past whole days, so "whole days remaining" is CERT_DAYS however long the tests take.
    server = _tls_server(ca, dt.datetime.now(dt.UTC) + dt.timedelta(days=CERT_DAYS, hours=1))
    server.routes["/"] = Route(body=b"secure hello")
    yield server
    server.close()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, load_handler: Callable[[str], Any]) -> Callable[..., dict[str, Any]]:
    """run(targets, event=None, **env) → the handler's result; a PartialFailure's result is returned with
    `raised` set, so every test sees both."""

    def _run(targets: list[dict[str, Any]], event: Any = None, context: Any = None, **env: str) -> dict[str, Any]:
        monkeypatch.setenv("TARGETS", json.dumps(targets))
        for key in ("NO_PROXY", "no_proxy"):  # a proxy configured for the machine must not see 127.0.0.1
            monkeypatch.setenv(key, "127.0.0.1,localhost")
        monkeypatch.setenv("CONNECT_RETRIES", env.pop("CONNECT_RETRIES", "0"))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        module = load_handler("health_check")
        try:
            outcome = module.handler(event if event is not None else {}, context)
            outcome["raised"] = None
        except common.PartialFailure as exc:
            outcome = dict(exc.result)
            outcome["raised"] = str(exc)
        return outcome

    return _run


def by_name(outcome: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in outcome["results"]}


def emf_lines(out: str) -> dict[str, dict[str, Any]]:
    docs = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    return {d["Target"]: d for d in docs}


# --- status, text, regex, unicode ------------------------------------------------------------------


def test_status_sets(http: Server, run: Callable[..., dict[str, Any]]) -> None:
    http.routes.update({"/no-content": Route(status=204, body=b""), "/down": Route(status=503, body=b"busy")})
    outcome = run(
        [
            {"name": "accepts-204", "url": http.url("/no-content"), "expected_status": [200, 204]},
            {"name": "default-200", "url": http.url("/no-content")},
            {"name": "down", "url": http.url("/down")},
        ]
    )
    results = by_name(outcome)
    assert results["accepts-204"]["ok"] is True
    assert results["default-200"] == {
        "name": "default-200",
        "ok": False,
        "status": 204,
        "latency_ms": results["default-200"]["latency_ms"],
        "reason": "status 204 not in [200]",
    }
    assert results["down"]["reason"] == "status 503 not in [200]"
    assert outcome["failed"] == 2
    assert outcome["raised"].startswith("2 of 3 health checks failed")


def test_expected_and_unexpected_text(http: Server, run: Callable[..., dict[str, Any]]) -> None:
    http.routes["/page"] = Route(body=b"<h1>Welcome</h1><p>maintenance window tonight</p>")
    results = by_name(
        run(
            [
                {"name": "present", "url": http.url("/page"), "expected_text": "Welcome"},
                {"name": "missing", "url": http.url("/page"), "expected_text": "Checkout"},
                {"name": "forbidden", "url": http.url("/page"), "unexpected_text": "maintenance"},
                {"name": "clean", "url": http.url("/page"), "unexpected_text": "Traceback"},
            ]
        )
    )
    assert results["present"]["ok"] and results["clean"]["ok"]
    assert results["missing"]["reason"] == "expected text 'Checkout' not found"
    assert results["forbidden"]["reason"] == "unexpected text 'maintenance' found"


def test_regex(http: Server, run: Callable[..., dict[str, Any]]) -> None:
    http.routes["/version"] = Route(
        body=b'{"version": "2.14.3", "db": "up"}', headers={"Content-Type": "application/json"}
    )
    results = by_name(
        run(
            [
                {"name": "semver", "url": http.url("/version"), "regex": r'"version": "\d+\.\d+\.\d+"'},
                {"name": "db-down", "url": http.url("/version"), "regex": r'"db": "down"'},
            ]
        )
    )
    assert results["semver"]["ok"] is True
    assert results["db-down"]["reason"] == 'regex \'"db": "down"\' did not match'


def test_unicode_text_is_checked_on_decoded_text(http: Server, run: Callable[..., dict[str, Any]]) -> None:
    utf8 = "<p>Grüße aus Köln — 東京</p>".encode()
    latin1 = "<p>Grüße aus Köln</p>".encode("iso-8859-1")
    # The original blueprint searched str(bytes), where the umlauts are escapes: it could never match.
    assert "Grüße" not in str(utf8)
    http.routes.update(
        {
            "/utf8-declared": Route(body=utf8, headers={"Content-Type": "text/html; charset=utf-8"}),
            # text/* without a charset: requests alone would assume ISO-8859-1 and garble these bytes.
            "/utf8-undeclared": Route(body=utf8, headers={"Content-Type": "text/html"}),
            "/latin1": Route(body=latin1, headers={"Content-Type": "text/html; charset=ISO-8859-1"}),
        }
    )
    results = by_name(
        run(
            [
                {"name": "declared", "url": http.url("/utf8-declared"), "expected_text": "Grüße aus Köln — 東京"},
                {"name": "undeclared", "url": http.url("/utf8-undeclared"), "expected_text": "Grüße aus Köln — 東京"},
                {"name": "latin1", "url": http.url("/latin1"), "expected_text": "Grüße aus Köln"},
                {"name": "absent", "url": http.url("/latin1"), "expected_text": "Grüße aus Bonn"},
            ]
        )
    )
    assert [results[n]["ok"] for n in ("declared", "undeclared", "latin1", "absent")] == [True, True, True, False]


def test_compressed_and_chunked_bodies_are_decoded_before_the_text_checks(
    http: Server, run: Callable[..., dict[str, Any]]
) -> None:
    page = "<p>Bestellung möglich</p>".encode()
    gzipped = {"Content-Type": "text/html", "Content-Encoding": "gzip"}
    http.routes.update(
        {
            "/gzip": Route(body=gzip.compress(page), headers=gzipped),
            "/chunked": Route(body=page, headers={"Content-Type": "text/html; charset=utf-8"}, chunked=True),
            "/both": Route(
                body=gzip.compress(page),
                headers={"Content-Type": "text/html", "Content-Encoding": "gzip"},
                chunked=True,
            ),
        }
    )
    outcome = run(
        [
            {"name": n, "url": http.url(f"/{n}"), "expected_text": "Bestellung möglich"}
            for n in ("gzip", "chunked", "both")
        ]
    )
    assert outcome["failed"] == 0, outcome


def test_post_with_body_and_headers(http: Server, run: Callable[..., dict[str, Any]]) -> None:
    http.routes["/graphql"] = Route(body=b'{"data":{"ping":"pong"}}', headers={"Content-Type": "application/json"})
    outcome = run(
        [
            {
                "name": "graphql",
                "url": http.url("/graphql"),
                "method": "POST",
                "headers": {"Content-Type": "application/json", "X-Probe": "opskit"},
                "body": '{"query":"{ ping }"}',
                "expected_text": '"pong"',
            }
        ]
    )
    assert outcome["failed"] == 0
    seen = [r for r in http.requests if r["path"] == "/graphql"][-1]
    assert seen["method"] == "POST"
    assert seen["body"] == b'{"query":"{ ping }"}'
    assert seen["headers"]["X-Probe"] == "opskit"
    assert seen["headers"]["User-Agent"].startswith("opskit-health-check/")


# --- latency, timeouts, redirects, connection errors -----------------------------------------------


def test_latency_threshold(http: Server, run: Callable[..., dict[str, Any]]) -> None:
    http.routes.update({"/slowish": Route(delay=0.25), "/fast": Route()})
    results = by_name(
        run(
            [
                {"name": "slow", "url": http.url("/slowish"), "max_latency_ms": 100},
                {"name": "fast", "url": http.url("/fast"), "max_latency_ms": 5000},
            ]
        )
    )
    assert results["slow"]["ok"] is False
    assert results["slow"]["status"] == 200
    assert results["slow"]["latency_ms"] >= 250
    assert results["slow"]["reason"] == f"latency {results['slow']['latency_ms']} ms over 100 ms"
    assert results["fast"]["ok"] is True


def test_timeouts_waiting_for_response_and_for_a_dripping_body(
    http: Server, run: Callable[..., dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    http.routes.update(
        {"/hang": Route(delay=5), "/drip": Route(body=b"x" * 40, drip=0.05), "/stall": Route(body=b"xy", drip=5)}
    )
    results = by_name(
        run(
            [
                {"name": "hang", "url": http.url("/hang"), "timeout_seconds": 0.3},
                {"name": "stall", "url": http.url("/stall"), "timeout_seconds": 0.3},  # headers, then nothing
                # every read is quick, but the whole body would take 2 s: the total budget still applies
                {"name": "drip", "url": http.url("/drip"), "timeout_seconds": 0.5},
            ]
        )
    )
    assert results["hang"]["reason"] == "no response within 0.3 s"
    assert results["hang"]["status"] is None
    assert results["drip"]["reason"] == "body not complete within 0.5 s"
    assert results["stall"]["reason"] == "body stalled for 0.3 s"
    emf = emf_lines(capsys.readouterr().out)
    assert emf["hang"]["Success"] == 0
    assert "LatencyMs" not in emf["hang"]


def test_redirects(http: Server, run: Callable[..., dict[str, Any]]) -> None:
    http.routes.update(
        {
            "/old": Route(status=301, body=b"", headers={"Location": "/new"}),
            "/new": Route(body=b"new home"),
            "/loop": Route(status=302, body=b"", headers={"Location": "/loop"}),
        }
    )
    results = by_name(
        run(
            [
                {"name": "followed", "url": http.url("/old"), "expected_text": "new home"},
                {"name": "pinned", "url": http.url("/old"), "follow_redirects": False, "expected_status": [301]},
                {"name": "not-followed", "url": http.url("/old"), "follow_redirects": False},
                {"name": "loop", "url": http.url("/loop")},
            ]
        )
    )
    assert results["followed"]["ok"] and results["followed"]["status"] == 200
    assert results["pinned"]["ok"] and results["pinned"]["status"] == 301
    assert results["not-followed"]["reason"] == "status 301 not in [200]"
    assert results["loop"]["reason"] == "more than 10 redirects"


@mock_aws
def test_secret_headers_do_not_follow_a_redirect_to_another_origin(
    ca: trustme.CA, https: Server, ca_file: str, http: Server, run: Callable[..., dict[str, Any]]
) -> None:
    """Secret headers go to the configured origin only: not to another https origin, and not to a plain
    http:// URL a redirect downgrades to (the same host, but clear text)."""
    other = _tls_server(ca, dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    other.routes["/landing"] = Route(body=b"landed")
    http.routes["/downgraded"] = Route(body=b"clear text")
    try:
        secret_arn = boto3.client("secretsmanager").create_secret(
            Name="redirect-test", SecretString=json.dumps({"X-Api-Key": "k3y-must-stay-home", "Authorization": "t0k"})
        )["ARN"]
        https.routes.update(
            {
                "/away": Route(status=302, body=b"", headers={"Location": other.url("/landing")}),
                "/down": Route(status=302, body=b"", headers={"Location": http.url("/downgraded")}),
                "/home": Route(status=302, body=b"", headers={"Location": "/guarded"}),
                "/guarded": Route(require_header=("X-Api-Key", "k3y-must-stay-home")),
            }
        )
        before = len(http.requests)
        results = by_name(
            run(
                [
                    {"name": n, "url": https.url(f"/{n}"), "headers_secret_arn": secret_arn, "ca_bundle": ca_file}
                    for n in ("away", "down", "home")
                ]
            )
        )
    finally:
        other.close()
    assert results["away"]["ok"] and results["home"]["ok"]  # same origin: the secret headers still go along
    assert results["down"]["ok"]
    (landing,) = other.requests
    (downgraded,) = http.requests[before:]
    for request in (landing, downgraded):
        assert {k.lower() for k in request["headers"]} & {"x-api-key", "authorization"} == set()
    first_hop = [r for r in https.requests if r["path"] == "/away"][-1]
    assert first_hop["headers"]["X-Api-Key"] == "k3y-must-stay-home"


def test_connection_refused_and_dns_failure(run: Callable[..., dict[str, Any]]) -> None:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    results = by_name(
        run(
            [
                {"name": "refused", "url": f"http://127.0.0.1:{port}/", "timeout_seconds": 2},
                {"name": "dns", "url": "http://no-such-host.invalid/", "timeout_seconds": 2},
            ]
        )
    )
    assert results["refused"]["reason"] == "connection to 127.0.0.1 refused"
    assert results["dns"]["reason"] == "DNS lookup failed for no-such-host.invalid"


def test_connection_errors_are_retried_within_the_run_but_a_sent_request_is_not(
    http: Server, run: Callable[..., dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    http.routes["/drop"] = Route(drop=True)
    before = len([r for r in http.requests if r["path"] == "/drop"])
    results = by_name(
        run(
            [
                {"name": "refused", "url": f"http://127.0.0.1:{port}/", "timeout_seconds": 2},
                {"name": "dropped", "url": http.url("/drop"), "method": "POST", "body": "{}"},
            ],
            CONNECT_RETRIES="2",
        )
    )
    retries = [r for r in caplog.records if r.name.startswith("urllib3") and "Retrying" in r.getMessage()]
    assert len(retries) == 2  # the refused connection: two extra attempts, then the failure
    assert results["refused"]["ok"] is False
    assert results["dropped"]["ok"] is False
    assert results["dropped"]["reason"].startswith("connection to 127.0.0.1")
    assert len([r for r in http.requests if r["path"] == "/drop"]) - before == 1  # the POST went out once


class _LambdaContext:
    """The one method of Lambda's context object the handler uses."""

    def __init__(self, remaining_ms: int):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_a_check_that_would_outlast_the_function_is_reported_before_the_function_times_out(
    http: Server, run: Callable[..., dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """1 s left in the invocation: the handler stops waiting after 0.8 s (a fifth kept for reporting), so the
    hanging target gets its Success=0 metric instead of the whole run ending without any metrics."""
    http.routes.update({"/hang-long": Route(delay=5), "/quick": Route()})
    outcome = run(
        [
            {"name": "hung", "url": http.url("/hang-long"), "timeout_seconds": 30},
            {"name": "quick", "url": http.url("/quick")},
        ],
        context=_LambdaContext(remaining_ms=1000),
    )
    results = by_name(outcome)
    assert results["quick"]["ok"] is True
    assert results["hung"]["ok"] is False and results["hung"]["status"] is None
    assert results["hung"]["reason"].startswith("check still running when the function had to report")
    assert outcome["raised"].startswith("1 of 2 health checks failed: hung")
    emf = emf_lines(capsys.readouterr().out)
    assert (emf["hung"]["Success"], emf["quick"]["Success"]) == (0, 1)


def test_targets_are_checked_concurrently(http: Server, run: Callable[..., dict[str, Any]]) -> None:
    """Each request waits at a barrier for the other two: checked one after another, the barrier breaks
    (its timeout) and the server answers 500; checked concurrently, all three pass."""
    http.routes["/together"] = Route(barrier=threading.Barrier(3, timeout=5))
    outcome = run([{"name": f"t{i}", "url": http.url(f"/together?{i}")} for i in range(3)])
    assert outcome["failed"] == 0, outcome


# --- TLS -------------------------------------------------------------------------------------------


def test_certificate_days(https: Server, ca_file: str, run: Callable[..., dict[str, Any]], capsys: Any) -> None:
    outcome = run(
        [
            {"name": "enough", "url": https.url("/"), "ca_bundle": ca_file, "min_cert_days": 14},
            {"name": "too-few", "url": https.url("/"), "ca_bundle": ca_file, "min_cert_days": 30},
            {"name": "no-threshold", "url": https.url("/"), "ca_bundle": ca_file, "expected_text": "secure"},
        ]
    )
    results = by_name(outcome)
    assert results["enough"]["ok"] and results["no-threshold"]["ok"]
    assert results["too-few"]["reason"] == f"certificate expires in {CERT_DAYS} days (minimum 30)"
    emf = emf_lines(capsys.readouterr().out)
    assert {n: emf[n]["CertDaysRemaining"] for n in results} == dict.fromkeys(results, CERT_DAYS)


def test_untrusted_and_expired_certificates_fail(
    ca: trustme.CA, https: Server, ca_file: str, run: Callable[..., dict[str, Any]]
) -> None:
    expired = _tls_server(ca, dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    other_name = _tls_server(ca, dt.datetime.now(dt.UTC) + dt.timedelta(days=90), names=("status.example.com",))
    expired.routes["/"] = other_name.routes["/"] = Route()
    try:
        results = by_name(
            run(
                [
                    {"name": "public-roots-only", "url": https.url("/")},
                    {"name": "expired", "url": expired.url("/"), "ca_bundle": ca_file},
                    {"name": "wrong-name", "url": other_name.url("/"), "ca_bundle": ca_file},
                ]
            )
        )
    finally:
        expired.close()
        other_name.close()
    assert results["public-roots-only"]["reason"].startswith("TLS error: ")
    assert "certificate has expired" in results["expired"]["reason"]
    assert "certificate is not valid for '127.0.0.1'" in results["wrong-name"]["reason"]
    assert not any(r["ok"] for r in results.values())


# --- secret headers --------------------------------------------------------------------------------


def _all_output(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    captured = capsys.readouterr()
    records = [json.dumps(vars(r), default=str) for r in caplog.records]
    return captured.out + captured.err + caplog.text + "\n".join(records)


@mock_aws
def test_secret_headers_from_secrets_manager_and_ssm_are_sent_and_never_logged(
    https: Server,
    ca_file: str,
    run: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret_arn = boto3.client("secretsmanager").create_secret(
        Name="opskit/health-check/api", SecretString=json.dumps({"Authorization": SECRET_TOKEN})
    )["ARN"]
    boto3.client("ssm").put_parameter(
        Name="/opskit/health-check/partner",
        Type="SecureString",
        Value=json.dumps({"X-Api-Key": "k3y-from-parameter-store"}),
    )
    parameter_arn = "arn:aws:ssm:eu-central-1:123456789012:parameter/opskit/health-check/partner"
    https.routes.update(
        {
            "/private": Route(body=b"private ok", require_header=("Authorization", SECRET_TOKEN)),
            "/partner": Route(require_header=("X-Api-Key", "k3y-from-parameter-store")),
            "/rejects": Route(require_header=("Authorization", "something else")),
        }
    )
    caplog.set_level("DEBUG")  # after the set-up: every library's debug output of the run itself is captured
    caplog.clear()
    secure = {"ca_bundle": ca_file}
    outcome = run(
        [
            {"name": "private", "url": https.url("/private"), "headers_secret_arn": secret_arn, **secure},
            {"name": "partner", "url": https.url("/partner"), "headers_secret_arn": parameter_arn, **secure},
            {"name": "rejected", "url": https.url("/rejects"), "headers_secret_arn": secret_arn, **secure},
        ]
    )
    results = by_name(outcome)
    assert results["private"]["ok"] and results["partner"]["ok"]
    assert results["rejected"]["reason"] == "status 401 not in [200]"
    output = _all_output(capsys, caplog) + json.dumps(outcome)
    assert "health check failed: rejected" in output  # the capture does see the log lines...
    assert SECRET_TOKEN not in output and "s3cr3t" not in output  # ...and never the secret values
    assert "k3y-from-parameter-store" not in output


@mock_aws
def test_unreadable_or_malformed_secrets_fail_only_their_target_and_stay_redacted(
    https: Server,
    ca_file: str,
    run: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sm = boto3.client("secretsmanager")
    bad_value = sm.create_secret(Name="bad-value", SecretString=json.dumps({"X-Token": "s3cr3t\r\nInjected: 1"}))
    not_object = sm.create_secret(Name="not-object", SecretString='["s3cr3t-list"]')
    missing = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:gone-AbCdEf"
    https.routes["/open"] = Route()
    url = https.url("/open")
    results = by_name(
        run(
            [
                {"name": "bad-value", "url": url, "headers_secret_arn": bad_value["ARN"], "ca_bundle": ca_file},
                {"name": "not-object", "url": url, "headers_secret_arn": not_object["ARN"], "ca_bundle": ca_file},
                {"name": "missing", "url": url, "headers_secret_arn": missing, "ca_bundle": ca_file},
                {"name": "healthy", "url": url, "ca_bundle": ca_file},
            ]
        )
    )
    assert results["healthy"]["ok"] is True
    assert results["bad-value"]["reason"] == (
        f"headers secret {bad_value['ARN']}: header 'X-Token' has an invalid name or value"
    )
    assert results["not-object"]["reason"].endswith("must be a JSON object of header name to string value")
    assert results["missing"]["reason"] == f"could not read headers secret {missing}: ResourceNotFoundException"
    assert "s3cr3t" not in _all_output(capsys, caplog) + json.dumps(results)


# --- metrics, logs, result, partial failure --------------------------------------------------------


def test_metrics_and_log_line_per_target(
    http: Server,
    https: Server,
    ca_file: str,
    load_event: Callable[[str], Any],
    run: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO")
    http.routes["/broken"] = Route(status=500, body=b"oops")
    outcome = run(
        [
            {"name": "secure", "url": https.url("/"), "ca_bundle": ca_file},
            {"name": "broken", "url": http.url("/broken")},
        ],
        event=load_event("health_check/scheduled-event.json"),
        METRIC_NAMESPACE="Acme/Web",
    )
    emf = emf_lines(capsys.readouterr().out)
    assert set(emf) == {"secure", "broken"}  # the failing target's metrics were written before the raise
    for name, doc in emf.items():
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Acme/Web"
        assert directive["Dimensions"] == [["Target"]]
        assert doc["Target"] == name
    assert [m["Name"] for m in emf["secure"]["_aws"]["CloudWatchMetrics"][0]["Metrics"]] == [
        "Success",
        "LatencyMs",
        "StatusCode",
        "CertDaysRemaining",
    ]
    assert (emf["secure"]["Success"], emf["secure"]["StatusCode"]) == (1, 200)
    assert (emf["broken"]["Success"], emf["broken"]["StatusCode"]) == (0, 500)
    assert "CertDaysRemaining" not in emf["broken"]

    lines = {r.target: r for r in caplog.records if hasattr(r, "target")}
    assert lines["broken"].levelname == "WARNING"
    assert (lines["broken"].failure, lines["broken"].reason) == ("status", "status 500 not in [200]")
    assert lines["secure"].levelname == "INFO" and lines["secure"].reason is None
    assert outcome["failed"] == 1
    assert outcome["raised"] == "1 of 2 health checks failed: broken (status 500 not in [200])"
    assert [r["name"] for r in outcome["results"]] == ["secure", "broken"]  # configuration order


def test_all_healthy_returns_without_raising(http: Server, run: Callable[..., dict[str, Any]]) -> None:
    http.routes["/fine"] = Route()
    outcome = run([{"name": "a", "url": http.url("/fine")}, {"name": "b", "url": http.url("/fine")}])
    assert outcome["raised"] is None
    assert outcome["failed"] == 0
    assert set(outcome["results"][0]) == {"name", "ok", "status", "latency_ms", "reason"}


def test_manual_invocation_checks_a_subset(
    http: Server, run: Callable[..., dict[str, Any]], load_event: Callable[[str], Any]
) -> None:
    http.routes["/subset"] = Route()
    outcome = run(
        [{"name": "shop", "url": http.url("/subset")}, {"name": "blog", "url": http.url("/down-for-good")}],
        event=load_event("health_check/manual-subset.json"),
    )
    assert [r["name"] for r in outcome["results"]] == ["shop"]
    assert outcome["failed"] == 0


def test_blueprint_variables_still_work(
    http: Server, monkeypatch: pytest.MonkeyPatch, load_handler: Callable[[str], Any]
) -> None:
    http.routes["/legacy"] = Route(body=b"<title>Legacy shop</title>")
    monkeypatch.delenv("TARGETS", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("site", http.url("/legacy"))
    monkeypatch.setenv("expected", "Legacy shop")
    assert load_handler("health_check").handler({}, None)["results"][0]["ok"] is True
    monkeypatch.setenv("expected", "Another shop")
    with pytest.raises(common.PartialFailure, match="expected text 'Another shop' not found"):
        load_handler("health_check").handler({}, None)


# --- bad configuration and input: clear errors before any request ---------------------------------


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ("[{not json", "TARGETS is not valid JSON"),
        ("{}", "TARGETS must be a non-empty JSON list"),
        ('[{"name": "api"}]', "target 'api': url is required"),
        ('[{"url": "https://example.com"}]', r"TARGETS\[0\]: name is required"),
        ('[{"name": "api", "url": "https://example.com", "regex": "(unclosed"}]', "target 'api': regex '\\(unclosed'"),
        ('[{"name": "api", "url": "ftp://example.com"}]', "target 'api': url 'ftp://example.com' must be"),
        ('[{"name": "api", "url": "https://x.test", "expected_texts": "a"}]', "target 'api': unknown field"),
        ('[{"name": "api", "url": "http://x.test", "min_cert_days": 7}]', "min_cert_days needs an https"),
        ('[{"name": "api", "url": "https://x.test", "expected_status": ["200"]}]', "expected_status must be"),
        ('[{"name": "api", "url": "https://x.test", "timeout_seconds": 0}]', "timeout_seconds must be a number"),
        ('[{"name": "api", "url": "https://x.test", "method": "HEAD", "expected_text": "a"}]', "HEAD responses"),
        ('[{"name": "api", "url": "https://x.test", "headers_secret_arn": "arn:aws:s3:::b"}]', "headers_secret_arn"),
        ('[{"name": "api", "url": "https://x.test", "ca_bundle": "/nope/ca.pem"}]', "ca_bundle '/nope/ca.pem'"),
        ('[{"name": "api", "url": "https://x.test", "headers": {"X-A": "1\\r\\nX-B: 2"}}]', "line break"),
        ('[{"name": "a", "url": "https://x.test"}, {"name": "a", "url": "https://y.test"}]', "duplicate target"),
    ],
)
def test_bad_configuration_names_the_target_before_any_request(
    targets: str,
    message: str,
    http: Server,
    monkeypatch: pytest.MonkeyPatch,
    load_handler: Callable[[str], Any],
) -> None:
    monkeypatch.setenv("TARGETS", targets)
    before = len(http.requests)
    with pytest.raises(common.ConfigError, match=message):
        load_handler("health_check").handler({}, None)
    assert len(http.requests) == before


def test_no_configuration_at_all(monkeypatch: pytest.MonkeyPatch, load_handler: Callable[[str], Any]) -> None:
    monkeypatch.delenv("TARGETS", raising=False)
    monkeypatch.delenv("site", raising=False)
    with pytest.raises(common.ConfigError, match="TARGETS is not set"):
        load_handler("health_check").handler({}, None)


@pytest.mark.parametrize(
    ("event", "message"),
    [({"targets": ["nope"]}, "unknown target\\(s\\) nope"), ({"targets": "shop"}, "non-empty list of target names")],
)
def test_bad_manual_event(
    event: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch, load_handler: Callable[[str], Any]
) -> None:
    monkeypatch.setenv("TARGETS", json.dumps([{"name": "shop", "url": "https://shop.test"}]))
    with pytest.raises(common.InputError, match=message):
        load_handler("health_check").handler(event, None)


def test_relative_ca_bundle_resolves_against_the_package(
    monkeypatch: pytest.MonkeyPatch, load_handler: Callable[[str], Any]
) -> None:
    module = load_handler("health_check")
    target = module.parse_target({"name": "x", "url": "https://x.test", "ca_bundle": "handler.py"}, "t")
    assert Path(target.ca_bundle) == Path(module.__file__).resolve()


def test_url_password_never_reaches_a_failure_reason(load_handler: Callable[[str], Any]) -> None:
    """requests quotes the whole URL in some errors (here: a port out of range). Configuration rejects such a
    URL up front; check() itself, given one anyway, still keeps the password out of the reason."""
    module = load_handler("health_check")
    url = "http://ops:hunter2pw@127.0.0.1:99999/"
    with pytest.raises(common.ConfigError, match=r"target 'x': url 'http://ops:\*\*\*@127.0.0.1:99999/' has an"):
        module.parse_target({"name": "x", "url": url}, "t")
    cfg = module.Config(targets=(), namespace="ns", max_workers=1, connect_retries=0, max_body_bytes=1024)
    result = module.check(module.Target(name="x", url=url), cfg)
    assert result.ok is False
    assert result.reason.startswith("request failed: InvalidURL") and "hunter2pw" not in result.reason
    assert result.url == "http://ops:***@127.0.0.1:99999/"


def test_url_password_is_redacted(load_handler: Callable[[str], Any]) -> None:
    module = load_handler("health_check")
    assert module.redact_url("https://ops:hunter2@status.test:8443/x?y=1") == "https://ops:***@status.test:8443/x?y=1"
    assert module.redact_url("https://status.test/") == "https://status.test/"
    assert module.redact_url("https://t0ken@status.test/") == "https://***@status.test/"  # a token as user name
    assert module.redact_url("https://[::1]:8443/") == "https://[::1]:8443/"
