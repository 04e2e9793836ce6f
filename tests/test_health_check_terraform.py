"""modules/health-check against the handler, and the native suite (modules/health-check/tests) against the rules.

The module's own behaviour (alarms, topic, key, IAM statements, every validation and precondition) is tested
natively by `terraform test`. What stays here needs Python on the other side:

- the target fields, defaults and metric names the module renders are the ones the handler reads and writes;
- the handler accepts exactly what the module's validation accepts: a table of URLs, headers, numbers and
  ARNs is evaluated by a real Terraform (the module's variables.tf and locals, no provider needed) and by
  `Config.from_env`; what Terraform renders is parsed by the handler;
- each refusing native run breaks exactly one validation rule, every rule has such a run, and every
  validated input is set in a passing run.

Terraform comes from PATH (the gate's binary); these tests are skipped where there is none.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hcl2
import pytest
from opskit_tools import hcl, tfgate

MODULE = Path(__file__).resolve().parents[1] / "modules" / "health-check"
SECRET_ARN = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:opskit/api-AbCdEf"
PARAMETER_ARN = "arn:aws:ssm:eu-central-1:123456789012:parameter/opskit/partner"


def load(name: str) -> dict[str, Any]:
    return hcl.load_unquoted(MODULE / name)


def variable(name: str) -> dict[str, Any]:
    return next(
        body
        for path in ("variables.tf", "targets.tf")
        for entry in load(path).get("variable", [])
        for key, body in entry.items()
        if key == name
    )


def optional_fields(type_text: str) -> dict[str, str]:
    """{field: its type expression} of the outermost object({...}) in a type constraint."""
    body = type_text[type_text.index("object({") + len("object({") :]
    fields, depth, part = {}, 0, ""
    for char in body:
        if depth == 0 and char in ",}":
            key, _, value = part.partition("=")
            fields[key.strip()] = value.strip()
            part = ""
            if char == "}":
                break
            continue
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(char, 0)
        part += char
    return fields


# --- what the module renders is what the handler reads ------------------------------------------------------


def test_target_fields_match_the_handler(load_handler: Callable[[str], Any]) -> None:
    handler = load_handler("health_check")
    fields = set(optional_fields(variable("targets")["type"]))
    assert "maintenance" in fields and "cron" not in fields  # top-level fields only
    assert fields | {"name"} == set(handler.TARGET_FIELDS)


def test_defaults_left_out_of_targets_json_are_the_handlers_defaults(load_handler: Callable[[str], Any]) -> None:
    """targets.tf drops fields equal to target_defaults from TARGETS; the handler must fill in the same values,
    and the variable's optional() defaults must be those values too."""
    handler = load_handler("health_check")
    locals_ = {k: v for entry in load("targets.tf")["locals"] for k, v in entry.items()}
    omitted = {k: json.loads(v) for k, v in locals_["target_defaults"].items()}
    parsed = handler.parse_target({"name": "n", "url": "https://x.test"}, "t")
    assert omitted == {
        "kind": parsed.kind,
        "method": parsed.method,
        "headers": dict(parsed.headers),
        "expected_status": list(parsed.expected_status),
        "timeout_seconds": parsed.timeout_seconds,
        "follow_redirects": parsed.follow_redirects,
        "tls": parsed.tls,
        "maintenance": list(parsed.maintenance),
        "depends_on": list(parsed.depends_on),
    }
    types = optional_fields(variable("targets")["type"])
    for field, value in omitted.items():
        match = re.fullmatch(r"optional\((.+), (.+)\)", types[field])
        assert match, field
        assert json.loads(match.group(2).replace("'", '"')) == value, field
    # The windows' own default time zone is left out as well, and the handler reads it back as UTC.
    window_type = optional_fields(types["maintenance"])
    assert window_type["timezone"] == 'optional(string, "UTC")'
    assert '"UTC" ? []' in (MODULE / "targets.tf").read_text(encoding="utf-8")
    window = handler.parse_target(
        {"name": "n", "url": "https://x.test", "maintenance": [{"cron": "0 2 * * *", "duration_minutes": 5}]}, "t"
    ).maintenance[0]
    assert window.timezone == "UTC"


def test_alarm_watches_what_the_handler_emits(load_handler: Callable[[str], Any], capsys: Any) -> None:
    """The alarm reads the metric Failed (dimension Target, plus Region across regions) that report() writes."""
    handler = load_handler("health_check")
    alarm = hcl.blocks(MODULE, "resource", "aws_cloudwatch_metric_alarm")["target"]
    (query,) = alarm["dynamic"][0]["metric_query"]["content"]
    (metric,) = query["metric"]
    handler.report(handler.Result(name="shop", url="https://shop.test", ok=False, status=500, latency_ms=5), "ns")
    document = json.loads(capsys.readouterr().out.splitlines()[0])
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert metric["metric_name"] == "Failed" and metric["stat"] == "Maximum"
    assert metric["metric_name"] in [m["Name"] for m in directive["Metrics"]] and document["Failed"] == 1
    assert directive["Dimensions"] == [["Target"]]
    assert "Target = each.key, Region = metric_query.value" in metric["dimensions"]


def test_async_retries_and_schedule_passed_to_lambda_function() -> None:
    """What the module hands to modules/lambda-function (not visible to a native test of this module): no
    asynchronous retries (a failed check must not count three times), no DLQ, the schedule rule."""
    function = hcl.load_unquoted(MODULE / "main.tf")["module"][0]["function"]
    assert function["async_invocation"]["maximum_retry_attempts"] == 0
    assert function["create_dlq"] is False
    assert function["event_rules"] == "${local.event_rules}"  # asserted natively (tests/notices.tftest.hcl)
    assert function["environment"] == "${local.environment}"
    assert function["create_alarms"] == "${local.function_alarms}"
    assert set(function["policy_documents"].split("runtime = data.aws_iam_policy_document.runtime[0].json")) != {
        function["policy_documents"]
    }


def test_shared_patterns_and_limits_are_the_handlers(load_handler: Callable[[str], Any]) -> None:
    """The rules both sides implement are spelled the same way on both sides."""
    handler = load_handler("health_check")
    text = (MODULE / "targets.tf").read_text(encoding="utf-8")
    assert f'"{handler.CREDENTIAL_HEADER.pattern}"' in text
    assert f'"^{handler.HEADER_NAME.pattern}$"' in text
    assert f'"^{handler.TARGET_NAME.pattern}$"' in text
    assert f"t.max_latency_ms <= {handler.MAX_LATENCY_MS}" in text
    assert f"t.min_cert_days <= {handler.MAX_CERT_DAYS}" in text
    assert f"t.timeout_seconds <= {handler.MAX_TIMEOUT_SECONDS}" in text


def test_new_shared_patterns_are_the_handlers(load_handler: Callable[[str], Any]) -> None:
    """Cron, host, address, JSON pointer, time zone and objective rules: the same text on both sides."""
    load_handler("health_check")
    import hc_config
    import hc_fields
    import hc_windows

    text = (MODULE / "targets.tf").read_text(encoding="utf-8") + (MODULE / "variables.tf").read_text(encoding="utf-8")

    def hcl_string(pattern: str) -> str:
        return pattern.replace("\\", "\\\\")

    for pattern in (
        hc_windows.CRON,
        hc_fields.HOSTNAME,
        hc_fields.IPV4_OR_CIDR,
        hc_fields.IPV6_OR_CIDR,
        hc_fields.IPV6,
        hc_fields.JSON_POINTER,
    ):
        assert f'"^{hcl_string(pattern.pattern)}$"' in text, pattern.pattern
    assert f'"^({hc_windows.ZONE.pattern})$"' in text
    assert f'"^{hcl_string(hc_config.OBJECTIVE.pattern)}$"' in text
    assert f"w.duration_minutes <= {hc_windows.MAX_DURATION_MINUTES}" in text
    assert f"length(t.maintenance) <= {hc_windows.MAX_WINDOWS}" in text
    assert f"length(t.host) <= {hc_fields.MAX_HOST_LENGTH}" in text
    assert f"length(t.expected_addresses) <= {hc_fields.MAX_ADDRESSES}" in text


# --- a real Terraform over the module's variables (and locals) ----------------------------------------------


def _terraform() -> str:
    binary, why = tfgate.find_terraform()
    if binary is None:
        pytest.skip(why)
    return binary


def hcl_value(value: Any) -> str:
    """A Python value as an HCL expression (infinity as 1e400, which JSON renders as a number Python reads
    as infinity)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isinf(value):
        return "1e400"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = "".join(c if " " <= c < "\x7f" and c not in '"\\' else f"\\u{ord(c):04x}" for c in value)
        return '"' + escaped.replace("${", "$${").replace("%{", "%%{") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(hcl_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{hcl_value(str(k))} = {hcl_value(v)}" for k, v in value.items()) + "}"


def variable_block(text: str, name: str) -> str:
    """The text of `variable "<name>" { ... }` in text: braces counted outside strings and heredocs."""
    start = text.index(f'variable "{name}" {{')
    depth, i, in_string, heredoc = 0, start, False, ""
    while i < len(text):
        if heredoc:
            end = text.index("\n", i)
            heredoc = "" if text[i:end].strip() == heredoc else heredoc
            i = end + 1
            continue
        c = text[i]
        if in_string:
            in_string = c != '"'
            i += 2 if c == "\\" else 1
            continue
        match = re.match(r"<<-?(\w+)\n", text[i : i + 40])
        if match:
            heredoc, i = match.group(1), i + match.end()
            continue
        in_string = c == '"'
        depth += {"{": 1, "}": -1}.get(c, 0)
        if c == "}" and depth == 0:
            return text[start : i + 1]
        i += 1
    raise ValueError(f"variable {name} not found")


# Every variable block of the module (variables.tf, then targets.tf's "targets"); rule lines below count in this text.
TARGETS_TF = (MODULE / "targets.tf").read_text(encoding="utf-8")
VARIABLES = (MODULE / "variables.tf").read_text(encoding="utf-8") + "\n" + TARGETS_TF[: TARGETS_TF.index("\nlocals {")]
NAMES = re.findall(r'^variable "(\w+)"', VARIABLES, re.M)


def copy_name(variables: set[str]) -> str:
    """Module copies hold only the variables a call sets (a plan over 100 calls of a one-variable copy takes
    a fraction of the time); "render" is every variable with targets.tf's locals and a targets_json output."""
    return f"v{sum(1 << i for i, n in enumerate(NAMES) if n in variables):x}"  # a bit per variable


def _write_copy(work: Path, name: str) -> list[tuple[int, int]]:
    """Writes the copy `name`; returns (first line in the copy, first line in variables.tf) of each block."""
    (work / name).mkdir(parents=True, exist_ok=True)
    if name == "render":
        (work / name / "variables.tf").write_text(VARIABLES, encoding="utf-8")
        (work / name / "locals.tf").write_text(TARGETS_TF[TARGETS_TF.index("\nlocals {") :], encoding="utf-8")
        (work / name / "outputs.tf").write_text('output "targets_json" {\n  value = local.targets_json\n}\n')
        return [(1, 1)]
    blocks, offsets, line = [], [], 1
    for variable_name in [n for i, n in enumerate(NAMES) if int(name[1:], 16) >> i & 1]:
        block = variable_block(VARIABLES, variable_name)
        offsets.append((line, VARIABLES[: VARIABLES.index(block)].count("\n") + 1))
        blocks.append(block)
        line += block.count("\n") + 2
    (work / name / "variables.tf").write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return offsets


def terraform_calls(work: Path, calls: dict[str, tuple[str, str]], apply: bool = False) -> dict[str, Any]:
    """calls: {name: (module copy, HCL arguments)}. Plan: {name: [error diagnostics]}, every error placed by
    line. Apply (every call valid, "render" copies): {name: the call's targets_json}."""
    terraform = _terraform()
    copies = {copy: _write_copy(work, copy) for copy, _ in calls.values()}
    starts: list[tuple[int, str]] = []
    text = ""
    for name, (copy, arguments) in calls.items():
        starts.append((text.count("\n") + 1, name))
        text += f'module "{name}" {{\n  source = "./{copy}"\n{arguments}\n}}\n'
        text += f'output "{name}" {{\n  value = module.{name}.targets_json\n}}\n' if apply else ""
    (work / "main.tf").write_text(text, encoding="utf-8")
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    env.pop("TF_REATTACH_PROVIDERS", None)

    def tf(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([terraform, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)

    init = tf("init", "-backend=false", "-input=false", "-no-color")
    assert init.returncode == 0, init.stderr
    if apply:
        applied = tf("apply", "-auto-approve", "-input=false", "-no-color")
        assert applied.returncode == 0, applied.stderr
        return {name: value["value"] for name, value in json.loads(tf("output", "-json").stdout).items()}
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in calls}
    for line in tf("plan", "-json", "-input=false", "-no-color").stdout.splitlines():
        entry = json.loads(line)
        diagnostic = entry.get("diagnostic")
        if entry.get("type") == "diagnostic" and diagnostic["severity"] == "error":
            at = diagnostic.get("range", {}).get("start", {}).get("line", 0)
            owner = [name for start, name in starts if start <= at]
            assert owner, diagnostic
            rule = re.search(r"validation rule at ([\w-]+)/variables\.tf:(\d+),", diagnostic.get("detail", ""))
            if rule:  # the rule's line in variables.tf
                first, original = [o for o in copies[rule.group(1)] if o[0] <= int(rule.group(2))][-1]
                diagnostic["rule_line"] = original + int(rule.group(2)) - first
            found[owner[-1]].append(diagnostic)
    return found


def validation_rules() -> dict[int, str]:
    """{line of each `validation {` block in variables.tf: the variable it belongs to}."""
    rules, current = {}, ""
    for number, line in enumerate(VARIABLES.splitlines(), start=1):
        match = re.match(r'variable "(\w+)"', line)
        current = match.group(1) if match else current
        if line.strip() == "validation {":
            rules[number] = current
    return rules


def broken_rules(diagnostics: list[dict[str, Any]]) -> list[int]:
    """Lines (in variables.tf) of the validation rules a plan reported as broken; any other error is line 0."""
    return [d.get("rule_line", 0) for d in diagnostics]


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


# --- the native suite refuses each rule on its own ---------------------------------------------------------


def native_runs() -> list[tuple[str, dict[str, Any], list[str]]]:
    """(file:run, merged variables, expect_failures) of every run in modules/health-check/tests."""
    runs = []
    for path in sorted((MODULE / "tests").glob("*.tftest.hcl")):
        document = hcl2.loads(path.read_text(encoding="utf-8"))
        shared = {k: v for block in document.get("variables", []) for k, v in block.items() if k != "__is_block__"}
        for entry in document.get("run", []):
            for label, body in entry.items():
                own = {k: v for b in body.get("variables", []) for k, v in b.items() if k != "__is_block__"}
                expected = [e.strip("${}") for e in body.get("expect_failures", [])]
                runs.append((f"{path.name}:{hcl.unquote(label)}", {**shared, **own}, expected))
    return runs


def test_each_refusing_native_run_breaks_exactly_one_rule_and_every_rule_has_one(tmp_path: Path) -> None:
    """Terraform cannot say which rule an expected failure came from; a plan over the module's variables can.
    Runs expecting a precondition (data.aws_region.current) are outside variables.tf and not checked here."""
    runs = [r for r in native_runs() if not r[2] or all(e.startswith("var.") for e in r[2])]
    calls = {}
    for i, (_, variables, _) in enumerate(runs):
        body = hcl2.dumps({"module": [{'"x"': {**variables, "__is_block__": True}}]})
        calls[f"run_{i}"] = (copy_name(set(variables)), body[body.index("{") + 1 : body.rindex("}")])
    planned = terraform_calls(tmp_path, calls)
    rules = validation_rules()
    hit: set[int] = set()
    problems = []
    for i, (name, _, expected) in enumerate(runs):
        broken = broken_rules(planned[f"run_{i}"])
        hit.update(broken)
        if not expected and broken:
            problems.append(f"{name}: a passing run breaks rules at lines {broken}")
        if expected and (len(broken) != 1 or f"var.{rules.get(broken[0])}" not in expected):
            problems.append(f"{name}: expected one rule of {expected} broken, got lines {broken}")
    problems += [
        f"variables.tf:{line} ({var}): no native run refuses it" for line, var in rules.items() if line not in hit
    ]
    set_by_passing_runs = {key for _, variables, expected in runs if not expected for key in variables}
    problems += [f"{var}: not set by a passing run" for var in set(rules.values()) - set_by_passing_runs]
    assert problems == []
