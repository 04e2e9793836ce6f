"""The handler accepts exactly what modules/health-check accepts: a table of URLs, headers, numbers, ARNs, kinds,
hosts, addresses, JSON pointers, cron windows, time zones and dependencies is judged by a real Terraform (the
module's variables and TARGETS locals, no provider needed) and by `Config.from_env`; what Terraform renders is
parsed by the handler.

Terraform comes from PATH (the gate's binary); these tests are skipped where there is none.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from test_health_check_tfsupport import PARAMETER_ARN, SECRET_ARN, broken_rules, copy_name, hcl_value, terraform_calls

# --- the handler accepts exactly what the module accepts ----------------------------------------------------

OK, REFUSED = "ok", "refused"
MODULE_ONLY = "module-only"  # refused by Terraform, accepted by the handler (never rendered)
HANDLER_ONLY = "handler-only"  # accepted by Terraform, refused by the handler at cold start

U = "https://x.test/"
CASES: list[tuple[str, dict[str, Any], str]] = [
    # urls
    ("t", {"url": "http://x.test"}, OK),
    ("t", {"url": "https://[::1]:8443/x"}, OK),
    ("t", {"url": "https://[2001:db8::1]/"}, OK),
    ("t", {"url": "https://bücher.example/"}, OK),
    ("t", {"url": "https://x.test:1/a%20b?q=1#f"}, OK),
    ("t", {"url": "https://x.test:65535?q"}, OK),
    ("t", {"url": "http://[::1"}, REFUSED),
    ("t", {"url": "https://[1.2.3.4]/"}, REFUSED),
    ("t", {"url": "https://[zz]/"}, REFUSED),
    ("t", {"url": "https://[]/"}, REFUSED),
    ("t", {"url": "https://x.test:0/"}, REFUSED),
    ("t", {"url": "https://x.test:080/"}, REFUSED),
    ("t", {"url": "https://x.test:/"}, REFUSED),
    ("t", {"url": "https://x.test:65536/"}, REFUSED),
    ("t", {"url": "https://x.test:80:80/"}, REFUSED),
    ("t", {"url": "https://x.test/a b"}, REFUSED),
    ("t", {"url": "https://x.test/\n"}, REFUSED),
    ("t", {"url": "https://x\t.test/"}, REFUSED),
    ("t", {"url": "https://x.test/\x7f"}, REFUSED),
    ("t", {"url": "HTTPS://x.test/"}, REFUSED),
    ("t", {"url": "ftp://x.test/"}, REFUSED),
    ("t", {"url": "https:///x"}, REFUSED),
    ("t", {"url": "x.test/"}, REFUSED),
    ("t", {"url": "https://ops:hunter2@x.test/"}, REFUSED),
    ("t", {"url": "https://t0ken@x.test/"}, REFUSED),
    ("t", {"url": "https://@x.test/"}, REFUSED),
    # headers
    ("t", {"url": U, "headers": {"Accept": "text/html", "X-Keyboard": "de", "X-Empty": ""}}, OK),
    ("t", {"url": U, "headers": {"X-Probe!#$%&'*+.^_`|~": "Grüße a\x01b "}}, OK),
    ("t", {"url": U, "headers": {"X A": "1"}}, REFUSED),
    ("t", {"url": U, "headers": {"X:A": "1"}}, REFUSED),
    ("t", {"url": U, "headers": {"X-A": "1\r\nX-B: 2"}}, REFUSED),
    ("t", {"url": U, "headers": {"X-A": "a\x00b"}}, REFUSED),
    ("t", {"url": U, "headers": {"X-A": "5 €"}}, REFUSED),
    ("t", {"url": U, "headers": {"X-A": " x"}}, REFUSED),
    ("t", {"url": U, "headers": {"X-A": "\xa0x"}}, REFUSED),
    ("t", {"url": U, "headers": {"X-A": "\x1cx"}}, REFUSED),
    *[
        ("t", {"url": U, "headers": {name: "v"}}, REFUSED)
        for name in ("authorization", "Proxy-Authorization", "Cookie", "X-API_KEY", "ApiKey", "X-Auth-Token")
    ],
    *[("t", {"url": U, "headers": {name: "v"}}, REFUSED) for name in ("X-Client-Secret", "X-Password", "Credential")],
    # numbers
    ("t", {"url": U, "min_cert_days": 0, "max_latency_ms": 1, "timeout_seconds": 0.1}, OK),
    ("t", {"url": U, "min_cert_days": 3650, "max_latency_ms": 600000, "timeout_seconds": 120}, OK),
    ("t", {"url": U, "min_cert_days": float("inf")}, REFUSED),
    ("t", {"url": U, "min_cert_days": 3651}, REFUSED),
    ("t", {"url": U, "min_cert_days": 7.5}, REFUSED),
    ("t", {"url": U, "min_cert_days": -1}, REFUSED),
    ("t", {"url": "http://x.test/", "min_cert_days": 7}, REFUSED),
    ("t", {"url": U, "max_latency_ms": float("inf")}, REFUSED),
    ("t", {"url": U, "max_latency_ms": 0.5}, REFUSED),
    ("t", {"url": U, "max_latency_ms": 600001}, REFUSED),
    ("t", {"url": U, "timeout_seconds": 0.09}, REFUSED),
    ("t", {"url": U, "timeout_seconds": 121}, REFUSED),
    ("t", {"url": U, "expected_status": [100, 599]}, OK),
    ("t", {"url": U, "expected_status": []}, REFUSED),
    ("t", {"url": U, "expected_status": [99]}, REFUSED),
    ("t", {"url": U, "expected_status": [200.5]}, REFUSED),
    # methods and text checks
    *[("t", {"url": U, "method": m}, OK) for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")],
    ("t", {"url": U, "method": "get"}, REFUSED),
    ("t", {"url": U, "method": "FETCH"}, REFUSED),
    ("t", {"url": U, "method": "HEAD", "unexpected_text": "x"}, REFUSED),
    ("t", {"url": U, "body": "", "expected_text": "a", "unexpected_text": "b", "regex": "c+"}, OK),
    ("t", {"url": U, "expected_text": ""}, REFUSED),
    ("t", {"url": U, "regex": ""}, REFUSED),
    ("t", {"url": U, "ca_bundle": ""}, REFUSED),
    # secrets
    ("t", {"url": U, "headers_secret_arn": SECRET_ARN}, OK),
    ("t", {"url": U, "headers_secret_arn": PARAMETER_ARN}, OK),
    ("t", {"url": U, "headers_secret_arn": "arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/p"}, OK),
    ("t", {"url": "http://x.test/", "headers_secret_arn": SECRET_ARN}, REFUSED),
    ("t", {"url": U, "headers_secret_arn": SECRET_ARN[:-7]}, REFUSED),
    ("t", {"url": U, "headers_secret_arn": SECRET_ARN + "\n"}, REFUSED),
    ("t", {"url": U, "headers_secret_arn": "arn:aws:s3:::bucket"}, REFUSED),
    ("t", {"url": U, "headers_secret_arn": ""}, REFUSED),
    # names
    ("a.b_c-D9", {"url": U}, OK),
    ("x" * 64, {"url": U}, OK),
    ("x" * 65, {"url": U}, REFUSED),
    ("shop front", {"url": U}, REFUSED),
    ("errors", {"url": U}, MODULE_ONLY),  # taken by the function's own alarm names
    # files: Terraform cannot see the function package
    ("t", {"url": U, "ca_bundle": "handler.py"}, OK),
    ("t", {"url": U, "ca_bundle": "no-such-ca.pem"}, HANDLER_ONLY),
    # kinds: tcp and dns
    ("t", {"kind": "tcp", "host": "db.internal", "port": 5432}, OK),
    ("t", {"kind": "tcp", "host": "2001:db8::25", "port": 1, "tls": True, "min_cert_days": 0}, OK),
    ("t", {"kind": "tcp", "host": "db.internal.", "port": 65535, "tls": True, "ca_bundle": "handler.py"}, OK),
    ("t", {"kind": "tcp", "host": "10.0.0.1", "port": 22, "timeout_seconds": 0.1, "max_latency_ms": 1}, OK),
    ("t", {"kind": "tcp", "host": "_srv.x-y.test", "port": 80, "depends_on": []}, OK),
    ("t", {"kind": "tcp", "host": "a" * 63 + ".test", "port": 80}, OK),
    ("t", {"kind": "tcp", "host": ("a" * 61 + ".") * 4 + "abc", "port": 80}, OK),
    ("t", {"kind": "tcp", "host": ("a" * 62 + ".") * 4 + "ab", "port": 80}, REFUSED),
    ("t", {"kind": "tcp", "host": "a" * 64 + ".test", "port": 80}, REFUSED),
    ("t", {"kind": "tcp", "host": "-db.test", "port": 80}, REFUSED),
    ("t", {"kind": "tcp", "host": "db..test", "port": 80}, REFUSED),
    ("t", {"kind": "tcp", "host": "bücher.test", "port": 80}, REFUSED),
    ("t", {"kind": "tcp", "host": "[2001:db8::1]", "port": 80}, REFUSED),
    ("t", {"kind": "tcp", "host": "fe80::1%eth0", "port": 80}, REFUSED),
    ("t", {"kind": "tcp", "host": "::ffff:1.2.3.4", "port": 80}, REFUSED),
    ("t", {"kind": "tcp", "host": "2001:db8::1::2", "port": 80}, REFUSED),
    ("t", {"kind": "tcp", "host": "db.test\n", "port": 80}, REFUSED),
    ("t", {"kind": "tcp", "host": "", "port": 80}, REFUSED),
    ("t", {"kind": "tcp", "host": "db.test", "port": 0}, REFUSED),
    ("t", {"kind": "tcp", "host": "db.test", "port": 65536}, REFUSED),
    ("t", {"kind": "tcp", "host": "db.test", "port": 80.5}, REFUSED),
    ("t", {"kind": "tcp", "host": "db.test"}, REFUSED),
    ("t", {"kind": "dns", "host": "db.test", "port": 53}, REFUSED),
    ("t", {"kind": "tcp", "host": "db.test", "port": 80, "min_cert_days": 7}, REFUSED),
    ("t", {"kind": "tcp", "host": "db.test", "port": 80, "ca_bundle": "handler.py"}, REFUSED),
    ("t", {"kind": "dns", "host": "db.test", "tls": True}, REFUSED),
    ("t", {"kind": "dns", "host": "db.test", "ca_bundle": "handler.py"}, REFUSED),
    ("t", {"url": U, "tls": True}, REFUSED),
    ("t", {"kind": "tcp", "host": "db.test", "port": 80, "method": "POST"}, REFUSED),
    ("t", {"kind": "tcp", "host": "db.test", "port": 80, "headers": {"X-A": "1"}}, REFUSED),
    ("t", {"kind": "dns", "host": "db.test", "expected_status": [204]}, REFUSED),
    ("t", {"kind": "dns", "host": "db.test", "follow_redirects": False}, REFUSED),
    ("t", {"kind": "dns", "host": "db.test", "json_pointer": "/a", "json_equals": "1"}, REFUSED),
    ("t", {"kind": "tcp", "host": "db.test", "port": 80, "url": "https://x.test/"}, REFUSED),
    ("t", {"kind": "tcp", "url": "https://x.test/", "port": 80}, REFUSED),
    ("t", {"url": U, "host": "x.test"}, REFUSED),
    ("t", {"kind": "ftp", "url": U}, REFUSED),
    ("t", {"kind": "HTTP", "url": U}, REFUSED),
    ("t", {"kind": "http"}, REFUSED),
    (
        "t",
        {"kind": "dns", "host": "db.test", "expected_addresses": ["192.0.2.1", "10.0.0.0/8", "2001:db8::/32", "::1"]},
        OK,
    ),
    ("t", {"kind": "dns", "host": "db.test", "expected_addresses": ["10.0.0.1/8", "0.0.0.0/0", "::/0"]}, OK),
    ("t", {"kind": "dns", "host": "db.test", "expected_addresses": []}, REFUSED),
    ("t", {"kind": "dns", "host": "db.test", "expected_addresses": ["010.0.0.1"]}, REFUSED),
    ("t", {"kind": "dns", "host": "db.test", "expected_addresses": ["256.0.0.1"]}, REFUSED),
    ("t", {"kind": "dns", "host": "db.test", "expected_addresses": ["10.0.0.0/33"]}, REFUSED),
    ("t", {"kind": "dns", "host": "db.test", "expected_addresses": ["10.0.0.0/08"]}, REFUSED),
    ("t", {"kind": "dns", "host": "db.test", "expected_addresses": ["2001:db8::/129"]}, REFUSED),
    ("t", {"kind": "dns", "host": "db.test", "expected_addresses": ["fe80::1%eth0"]}, REFUSED),
    ("t", {"kind": "dns", "host": "db.test", "expected_addresses": ["::ffff:1.2.3.4"]}, REFUSED),
    ("t", {"kind": "dns", "host": "db.test", "expected_addresses": ["db.test"]}, REFUSED),
    ("t", {"kind": "dns", "host": "db.test", "expected_addresses": ["1:2:3:4:5:6:7:8:9"]}, REFUSED),
    ("t", {"kind": "dns", "host": "db.test", "expected_addresses": ["10.0.0.1"] * 33}, REFUSED),
    ("t", {"kind": "tcp", "host": "db.test", "port": 80, "expected_addresses": ["10.0.0.1"]}, REFUSED),
    # JSON pointer and value
    ("t", {"url": U, "json_pointer": "", "json_equals": '{"a": [1, true, null]}'}, OK),
    ("t", {"url": U, "json_pointer": "/a~0b/c~1d/0", "json_equals": '"up"'}, OK),
    ("t", {"url": U, "json_pointer": "/x", "json_equals": "1e400"}, OK),
    ("t", {"url": U, "json_pointer": "/x", "json_equals": " true "}, OK),
    ("t", {"url": U, "json_pointer": "/x"}, REFUSED),
    ("t", {"url": U, "json_equals": "1"}, REFUSED),
    ("t", {"url": U, "json_pointer": "x", "json_equals": "1"}, REFUSED),
    ("t", {"url": U, "json_pointer": "/a~2", "json_equals": "1"}, REFUSED),
    ("t", {"url": U, "json_pointer": "/a~", "json_equals": "1"}, REFUSED),
    ("t", {"url": U, "json_pointer": "/" + "a" * 1100, "json_equals": "1"}, REFUSED),
    ("t", {"url": U, "json_pointer": "/x", "json_equals": "up"}, REFUSED),
    ("t", {"url": U, "json_pointer": "/x", "json_equals": "NaN"}, REFUSED),
    ("t", {"url": U, "json_pointer": "/x", "json_equals": ""}, REFUSED),
    ("t", {"url": U, "json_pointer": "/x", "json_equals": "[1,]"}, REFUSED),
    ("t", {"url": U, "json_pointer": "/x", "json_equals": "1 2"}, REFUSED),
    ("t", {"url": U, "json_pointer": "/x", "json_equals": '"' + "a" * 5000 + '"'}, REFUSED),
    ("t", {"url": U, "method": "HEAD", "json_pointer": "/x", "json_equals": "1"}, REFUSED),
    ("t", {"url": U, "json_pointer": "/x", "json_equals": "[" * 40 + "]" * 40}, HANDLER_ONLY),  # > 32 levels
    # maintenance windows
    (
        "t",
        {"url": U, "maintenance": [{"cron": "0 2 * * SUN", "duration_minutes": 120, "timezone": "Europe/Berlin"}]},
        OK,
    ),
    (
        "t",
        {
            "url": U,
            "maintenance": [
                {"cron": "*/15 22-2 1,15 NOV-FEB mon-fri", "duration_minutes": 10080},
                {"cron": "59 23 31 12 7", "duration_minutes": 1, "timezone": "UTC"},
                {"cron": "5/20  0-23/2 * * *", "duration_minutes": 1, "timezone": "America/Argentina/Buenos_Aires"},
            ],
        },
        OK,
    ),
    *[
        ("t", {"url": U, "maintenance": [{"cron": cron, "duration_minutes": 60}]}, REFUSED)
        for cron in (
            "0 2 * *",
            "60 2 * * *",
            "0 24 * * *",
            "0 2 0 * *",
            "0 2 * 13 *",
            "0 2 * * 8",
            "0 2 * * SUNDAY",
            "0 2 * * */0",
            "0 2 * * * ",
            " 0 2 * * *",
            "0\t2 * * *",
            "0 2 * * *\n",
            "0 2 ? * *",
            "0 2 L * *",
            "0 2 * * 1#2",
            "0 2 * * 1-",
            "0 2,,3 * * *",
        )
    ],
    ("t", {"url": U, "maintenance": [{"cron": "0 2 * * *", "duration_minutes": 0}]}, REFUSED),
    ("t", {"url": U, "maintenance": [{"cron": "0 2 * * *", "duration_minutes": 10081}]}, REFUSED),
    ("t", {"url": U, "maintenance": [{"cron": "0 2 * * *", "duration_minutes": 1.5}]}, REFUSED),
    (
        "t",
        {"url": U, "maintenance": [{"cron": "0 2 * * *", "duration_minutes": 5, "timezone": "europe/berlin"}]},
        REFUSED,
    ),
    ("t", {"url": U, "maintenance": [{"cron": "0 2 * * *", "duration_minutes": 5, "timezone": ""}]}, REFUSED),
    (
        "t",
        {"url": U, "maintenance": [{"cron": "0 2 * * *", "duration_minutes": 5, "timezone": "Mars/Olympus"}]},
        HANDLER_ONLY,
    ),
    ("t", {"url": U, "maintenance": [{"cron": "0 2 * * *", "duration_minutes": 5}] * 11}, REFUSED),
    # dependencies (within one call: the target alone)
    ("self", {"url": U, "depends_on": ["self"]}, REFUSED),
    ("t", {"url": U, "depends_on": ["other"]}, REFUSED),
]


def test_module_and_handler_agree_on_every_case(tmp_path: Path, load_handler: Callable[[str], Any]) -> None:
    """Terraform judges each case in a call of its own; the accepted ones are rendered together (one call,
    keys made unique) and the handler parses each rendered target on its own."""
    handler = load_handler("health_check")
    keys = [name if name != "t" else f"case-{i}" for i, (name, _, _) in enumerate(CASES)]
    calls = {
        f"case_{i}": (copy_name({"targets"}), f"  targets = {{ {hcl_value(key)} = {hcl_value(fields)} }}")
        for i, (key, (_, fields, _)) in enumerate(zip(keys, CASES, strict=True))
    }
    planned = terraform_calls(tmp_path / "plan", calls)
    accepted = {keys[i]: CASES[i][1] for i in range(len(CASES)) if not planned[f"case_{i}"]}
    render = {"all": ("render", f"  targets = {hcl_value(accepted)}")}
    rendered = {t["name"]: t for t in json.loads(terraform_calls(tmp_path / "apply", render, apply=True)["all"])}
    disagreements = []
    for i, (key, (_, fields, expected)) in enumerate(zip(keys, CASES, strict=True)):
        errors = planned[f"case_{i}"]
        assert all(broken_rules(errors)), (key, fields, errors)  # refused by a validation rule, nothing else
        by_module = OK if not errors else REFUSED
        try:
            handler.Config.from_env({"TARGETS": json.dumps([rendered.get(key) or {"name": key, **fields}])})
            by_handler = OK
        except handler.common.ConfigError:
            by_handler = REFUSED
        verdicts = {(OK, OK): OK, (REFUSED, REFUSED): REFUSED, (REFUSED, OK): MODULE_ONLY, (OK, REFUSED): HANDLER_ONLY}
        if verdicts[by_module, by_handler] != expected:
            disagreements.append((key, fields, expected, f"module {by_module}, handler {by_handler}"))
    assert set(rendered) == set(accepted)
    assert disagreements == []


def test_rendered_targets_parse_to_the_configured_values(tmp_path: Path, load_handler: Callable[[str], Any]) -> None:
    targets = {
        "shop": {"url": "https://shop.example.com/", "expected_text": 'Grüße "ok"', "min_cert_days": 14},
        "api": {
            "url": "https://api.example.com/v1/ping",
            "method": "POST",
            "body": "{}",
            "headers": {"Content-Type": "application/json"},
            "expected_status": [200, 204],
            "timeout_seconds": 2.5,
            "max_latency_ms": 1500,
            "regex": '"db":\\s*"up"',
            "headers_secret_arn": SECRET_ARN,
        },
        "blog": {"url": "http://blog.example.com/", "follow_redirects": False, "expected_status": [301]},
        "wiki": {"url": "https://wiki.corp.internal/", "ca_bundle": "handler.py"},
        "partner": {"url": "https://partner.example.com/", "headers_secret_arn": PARAMETER_ARN},
    }
    targets_json = terraform_calls(tmp_path, {"all": ("render", f"  targets = {hcl_value(targets)}")}, apply=True)[
        "all"
    ]
    assert {"name": "blog", "url": "http://blog.example.com/", "expected_status": [301], "follow_redirects": False} in (
        json.loads(targets_json)
    )
    handler = load_handler("health_check")
    parsed = {t.name: t for t in handler.Config.from_env({"TARGETS": targets_json}).targets}
    assert set(parsed) == set(targets)
    assert parsed["shop"].expected_text == 'Grüße "ok"' and parsed["shop"].min_cert_days == 14
    assert parsed["shop"].method == "GET" and parsed["shop"].timeout_seconds == 10
    api = parsed["api"]
    assert (api.method, api.body, api.expected_status, api.timeout_seconds) == ("POST", "{}", (200, 204), 2.5)
    assert api.max_latency_ms == 1500 and api.headers_secret_arn == SECRET_ARN
    assert api.regex.pattern == '"db":\\s*"up"' and api.regex.search('{"db": "up"}')
    assert dict(api.headers) == {"Content-Type": "application/json"}
    assert parsed["blog"].follow_redirects is False
    assert Path(parsed["wiki"].ca_bundle).name == "handler.py"
    assert parsed["partner"].headers_secret_arn == PARAMETER_ARN
