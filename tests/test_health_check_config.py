"""health_check hardening: bad configuration is a ConfigError that names the target and the field, raised at
cold start before any request or AWS call; no secret travels in TARGETS or in clear text; every message and
log line stays bounded (common.clip). Requests go to a plain http.server on 127.0.0.1; secrets come from moto.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import fuzz
import opskit_common as common
import pytest
import requests
from moto import mock_aws

LIMIT = 2_000  # what tests/fuzz.py allows an error message


@pytest.fixture
def refused(monkeypatch: pytest.MonkeyPatch, load_handler: Callable[[str], Any]) -> Callable[..., common.ConfigError]:
    """refused(targets, **env): the ConfigError of a cold start with this TARGETS (a list, or raw JSON text);
    fails when it passes, when it is unbounded, or when a request or AWS call happened first."""

    def _refused(targets: Any, **env: str) -> common.ConfigError:
        monkeypatch.setenv("TARGETS", targets if isinstance(targets, str) else json.dumps(targets))
        for key, value in env.items():
            monkeypatch.setenv(key, value)

        def no_request(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("a request was sent before the configuration was checked")

        monkeypatch.setattr(requests.Session, "request", no_request)
        with fuzz.recorded_calls() as calls, pytest.raises(common.ConfigError) as caught:
            load_handler("health_check").handler({}, None)
        assert calls == []
        assert len(str(caught.value)) < LIMIT, f"unbounded: {len(str(caught.value))} characters"
        return caught.value

    return _refused


def target(**fields: Any) -> list[dict[str, Any]]:
    return [{"name": "api", "url": "https://api.test/health", **fields}]


# --- bad configuration and input: clear errors before any request (moved from test_health_check.py) ----


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
    targets: str, message: str, refused: Callable[..., common.ConfigError]
) -> None:
    assert re.search(message, str(refused(targets)))


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


# --- Hardening 1: non-finite numbers and unparseable URLs ------------------------------------------------


@pytest.mark.parametrize("field", ["min_cert_days", "max_latency_ms", "timeout_seconds"])
@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e400"])
def test_non_finite_numbers_name_the_target_and_field(field: str, number: str, refused: Callable[..., Any]) -> None:
    """json.loads reads Infinity, NaN and 1e400 (what Terraform renders for it) as floats; before, min_cert_days
    = Infinity ended in OverflowError and NaN in a bare ValueError at int(), and the others were accepted."""
    raw = f'[{{"name": "api", "url": "https://api.test/", "{field}": {number}}}]'
    assert str(refused(raw)).startswith(f"target 'api': {field} must be ")


@pytest.mark.parametrize("days", [7.5, -1, 3651, True, "14"])
def test_min_cert_days_is_a_whole_number_of_days_up_to_ten_years(days: Any, refused: Callable[..., Any]) -> None:
    assert "min_cert_days must be a whole number between 0 and 3650" in str(refused(target(min_cert_days=days)))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://[::1", "is not a valid URL (Invalid IPv6 URL)"),
        ("https://[1.2.3.4]/", "is not a valid URL (An IPv4 address cannot be in brackets)"),
        ("https://[zz]/", "is not a valid URL"),
        ("https://api.test:99999/", "has an invalid port"),
        ("https://api.test:0/", "has an invalid port"),
        ("https://api.test:/", "has an invalid port"),
        ("https://api.test/a b", "contains spaces or control characters"),
        ("https://api.test/\n", "contains spaces or control characters"),
        ("HTTPS://api.test/", "must be an absolute http:// or https:// URL"),
        ("https:///health", "must be an absolute http:// or https:// URL"),
    ],
)
def test_unparseable_urls_name_the_target_and_field(url: str, problem: str, refused: Callable[..., Any]) -> None:
    message = str(refused(target(url=url)))
    assert message.startswith("target 'api': url ") and problem in message


def test_blueprint_site_with_a_broken_url_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, load_handler: Callable[[str], Any]
) -> None:
    """Before, urlsplit's ValueError escaped from the single-site fallback."""
    monkeypatch.delenv("TARGETS", raising=False)
    monkeypatch.setenv("site", "http://[::1")
    with pytest.raises(common.ConfigError, match=r"target 'site': url 'http://\[::1' is not a valid URL"):
        load_handler("health_check").handler({}, None)


# --- Hardening 2: no secrets in TARGETS, secret headers only over https ------------------------------------


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("https://ops:hunter2@api.test/", "hunter2"),
        ("https://t0ken-abc@api.test/", "t0ken-abc"),
        ("https://:hunter2@api.test/", "hunter2"),
    ],
)
def test_credentials_in_urls_are_refused_without_repeating_them(
    url: str, secret: str, refused: Callable[..., Any]
) -> None:
    message = str(refused(target(url=url)))
    assert "must not contain credentials" in message and "headers_secret_arn" in message
    assert secret not in message


def test_secret_headers_need_https(refused: Callable[..., Any], load_handler: Callable[[str], Any]) -> None:
    arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:opskit/api-AbCdEf"
    message = str(refused(target(url="http://api.test/", headers_secret_arn=arn)))
    assert (
        message
        == "target 'api': headers_secret_arn needs an https:// url (secret headers are never sent in clear text)"
    )
    assert load_handler("health_check").parse_target(target(headers_secret_arn=arn)[0], "t").headers_secret_arn == arn


@pytest.mark.parametrize(
    "name", ["Authorization", "proxy-authorization", "Cookie", "X-Api-Key", "X-API_KEY", "X-Auth-Token", "X-Secret"]
)
def test_credential_headers_must_come_from_a_secret(name: str, refused: Callable[..., Any]) -> None:
    message = str(refused(target(headers={"Accept": "text/html", name: "s3cr3t-value"})))
    assert message.startswith(f"target 'api': headers ['{name}'] look like credentials")
    assert "s3cr3t-value" not in message


def test_plain_headers_that_carry_no_credentials_are_fine(load_handler: Callable[[str], Any]) -> None:
    headers = {"Accept": "text/html", "X-Request-Id": "1", "Content-Type": "a/b", "X-Keyboard": "de", "X-N": "Grüße"}
    parsed = load_handler("health_check").parse_target(target(headers=headers)[0], "t")
    assert dict(parsed.headers) == headers


@pytest.mark.parametrize("value", ["5 €", " leading", "\u00a0nbsp", "a\udc80"])
def test_header_values_must_be_sendable(value: str, refused: Callable[..., Any]) -> None:
    """http.client sends Latin-1 and requests refuses leading whitespace: such a value failed every run."""
    assert "must be Latin-1 text without line breaks, NUL or leading whitespace" in str(
        refused(target(headers={"X-Note": value}))
    )


# --- Hardening 3: bounded messages -------------------------------------------------------------------------

LONG = "x" * 100_000


@pytest.mark.parametrize(
    "targets",
    [
        target(url="https://api.test/" + LONG),
        target(expected_text=LONG),
        target(regex="(" * 3000),
        target(regex="a{99999999999}"),  # OverflowError from re.compile before
        target(**{LONG: 1}),
        target(headers={f"X {i}": "v" for i in range(5000)}),
        target(expected_status=list(range(100_000))),
        target(ca_bundle="x" * 300),  # OSError (file name too long) from Path.is_file before
        [{"name": LONG, "url": "https://api.test/"}],
        [{"name": f"n{i}", "url": "https://api.test/"} for i in range(2000)] * 2,
        "[" * 100_000 + "]" * 100_000,  # RecursionError from json.loads before
        "[" + LONG + "]",
    ],
    ids=lambda t: common.clip(t if isinstance(t, str) else json.dumps(t), 30),
)
def test_configuration_errors_are_bounded(targets: Any, refused: Callable[..., Any]) -> None:
    assert len(str(refused(targets))) < 700


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("MAX_WORKERS", "9" * 100_000),
        ("MAX_WORKERS", "0"),
        ("MAX_WORKERS", "129"),
        ("CONNECT_RETRIES", str(2**70)),  # accepted before: endless connection retries
        ("CONNECT_RETRIES", "1.5"),
        ("MAX_BODY_BYTES", "10"),
        ("METRIC_NAMESPACE", "AWS/Lambda"),
        ("METRIC_NAMESPACE", LONG),
    ],
)
def test_environment_settings_are_bounded(env: str, value: str, refused: Callable[..., Any]) -> None:
    assert env in str(refused(target(), **{env: value}))


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    class Answer(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_reasons_log_lines_and_the_partial_failure_are_bounded(
    site: str,
    monkeypatch: pytest.MonkeyPatch,
    load_handler: Callable[[str], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """40 targets whose 3,000-character expected text is missing: every reason, log message and the raised
    message stay short (before: each reason repeated the whole text, and the message all 40 of them)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    text = "missing " + "y" * 3000
    targets = [{"name": f"t{i}", "url": f"{site}/", "expected_text": text} for i in range(40)]
    monkeypatch.setenv("TARGETS", json.dumps(targets))
    caplog.set_level(logging.INFO)
    with pytest.raises(common.PartialFailure) as caught:
        load_handler("health_check").handler({}, None)
    assert str(caught.value).startswith("40 of 40 health checks failed: t0 (expected text 'missing yyy")
    assert len(str(caught.value)) < LIMIT
    reasons = [r["reason"] for r in caught.value.result["results"]]
    assert len(reasons) == 40 and all(r.startswith("expected text 'missing y") and len(r) < 400 for r in reasons)
    lines = [r for r in caplog.records if getattr(r, "target", None)]
    assert len(lines) == 40 and all(len(r.getMessage()) < 500 and len(r.reason) < 400 for r in lines)


def test_unknown_manual_targets_are_bounded_and_printable(
    monkeypatch: pytest.MonkeyPatch, load_handler: Callable[[str], Any]
) -> None:
    monkeypatch.setenv("TARGETS", json.dumps(target()))
    handler = load_handler("health_check")
    with pytest.raises(common.InputError) as caught:
        handler.handler({"targets": [LONG, "\udc80"]}, None)
    assert len(str(caught.value)) < 500 and "\udc80" not in str(caught.value)
    with pytest.raises(common.InputError) as caught:
        handler.handler({"targets": [None] * 100_000}, None)
    assert len(str(caught.value)) < 500


@mock_aws
@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[" * 100_000 + "]" * 100_000, "is not JSON (or too large or deeply nested)"),  # RecursionError before
        (json.dumps({"X-Token": "5 € s3cr3t"}), "header 'X-Token' has an invalid name or value"),
        (json.dumps({"X-Token": "s3cr3t" * 20_000}), "is not JSON (or too large or deeply nested)"),
    ],
)
def test_unusable_secret_content_fails_its_target_without_quoting_it(
    content: str, problem: str, load_handler: Callable[[str], Any]
) -> None:
    arn = boto3.client("secretsmanager").create_secret(Name="opskit/api", SecretString=content)["ARN"]
    handler = load_handler("health_check")
    with pytest.raises(handler.SecretHeadersError) as caught:
        handler.read_secret_headers(arn)
    assert str(caught.value) == (
        f"headers secret {arn}: {problem}" if problem.startswith("header ") else f"headers secret {arn} {problem}"
    )
    assert "s3cr3t" not in str(caught.value)
