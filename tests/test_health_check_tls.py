"""health_check over TLS (trustme CA as the target's ca_bundle): certificate days, untrusted and expired
certificates, and secret headers from Secrets Manager/SSM (moto): sent to their origin only, never logged.
"""

# The fixtures come from test_health_check_support: imported once, then named as test parameters.
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import trustme
from moto import mock_aws
from test_health_check_support import (  # noqa: F401
    CERT_DAYS,
    SECRET_TOKEN,
    Route,
    Server,
    _tls_server,
    all_output,
    by_name,
    ca,
    ca_file,
    emf_lines,
    http,
    https,
    run,
)

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
    output = all_output(capsys, caplog) + json.dumps(outcome)
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
    assert "s3cr3t" not in all_output(capsys, caplog) + json.dumps(results)


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
