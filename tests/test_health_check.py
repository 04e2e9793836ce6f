"""health_check handler against real HTTP servers on 127.0.0.1: status, text and regex checks, decoding,
latency, timeouts, redirects, connection errors, concurrency, metrics, logs and the run's result. TLS and
secret headers: test_health_check_tls.py; configuration: test_health_check_config.py.
"""

# The fixtures come from test_health_check_support: imported once, then named as test parameters.
# ruff: noqa: F811

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable
from typing import Any

import opskit_common as common
import pytest
from test_health_check_support import Route, Server, by_name, ca, ca_file, emf_lines, http, https, run  # noqa: F401

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
        "Failed",
        "LatencyMs",
        "StatusCode",
        "CertDaysRemaining",
    ]
    assert (emf["secure"]["Success"], emf["secure"]["StatusCode"]) == (1, 200)
    assert (emf["broken"]["Success"], emf["broken"]["StatusCode"]) == (0, 500)
    assert (emf["secure"]["Failed"], emf["broken"]["Failed"]) == (0, 1)  # what the per-target alarm watches
    assert "Suppressed" not in emf["secure"] and "Suppressed" not in emf["broken"]
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
