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
    return next(body for entry in load("variables.tf")["variable"] for key, body in entry.items() if key == name)


# --- what the module renders is what the handler reads ------------------------------------------------------


def test_target_fields_match_the_handler(load_handler: Callable[[str], Any]) -> None:
    handler = load_handler("health_check")
    fields = set(re.findall(r"(\w+)\s*=\s*(?:optional\(|string|number|bool)", variable("targets")["type"]))
    assert fields | {"name"} == set(handler.TARGET_FIELDS)


def test_defaults_left_out_of_targets_json_are_the_handlers_defaults(load_handler: Callable[[str], Any]) -> None:
    """main.tf drops fields equal to target_defaults from TARGETS; the handler must fill in the same values,
    and the variable's optional() defaults must be those values too."""
    handler = load_handler("health_check")
    locals_ = {k: v for entry in load("main.tf")["locals"] for k, v in entry.items()}
    omitted = {k: json.loads(v) for k, v in locals_["target_defaults"].items()}
    parsed = handler.parse_target({"name": "n", "url": "https://x.test"}, "t")
    assert omitted == {
        "method": parsed.method,
        "headers": dict(parsed.headers),
        "expected_status": list(parsed.expected_status),
        "timeout_seconds": parsed.timeout_seconds,
        "follow_redirects": parsed.follow_redirects,
    }
    type_text = variable("targets")["type"]
    for field, value in omitted.items():
        match = re.search(rf"{field}\s*=\s*optional\([^,]+,\s*([^)]+?)\)?\)", type_text)
        assert match, field
        assert json.loads(match.group(1).strip().rstrip(")").replace("'", '"')) == value, field


def test_alarm_watches_what_the_handler_emits(load_handler: Callable[[str], Any], capsys: Any) -> None:
    handler = load_handler("health_check")
    alarm = hcl.blocks(MODULE, "resource", "aws_cloudwatch_metric_alarm")["target"]
    cfg = handler.Config(targets=(), namespace="ns", max_workers=1, connect_retries=0, max_body_bytes=1024)
    handler.report(handler.Result(name="shop", url="https://shop.test", ok=True, status=200, latency_ms=5), cfg)
    (directive,) = json.loads(capsys.readouterr().out.splitlines()[0])["_aws"]["CloudWatchMetrics"]
    assert alarm["metric_name"] in [m["Name"] for m in directive["Metrics"]]
    assert directive["Dimensions"] == [list(alarm["dimensions"])]
    assert alarm["dimensions"]["Target"] == "${each.key}"


def test_async_retries_and_schedule_passed_to_lambda_function() -> None:
    """What the module hands to modules/lambda-function (not visible to a native test of this module): no
    asynchronous retries (a failed check must not count three times), no DLQ, the schedule rule."""
    function = hcl.load_unquoted(MODULE / "main.tf")["module"][0]["function"]
    assert function["async_invocation"]["maximum_retry_attempts"] == 0
    assert function["create_dlq"] is False
    assert function["event_rules"]["schedule"]["schedule_expression"] == "${var.schedule_expression}"
    assert function["environment"] == "${local.environment}"
    assert function["create_alarms"] == "${var.create_function_alarms}"


def test_shared_patterns_and_limits_are_the_handlers(load_handler: Callable[[str], Any]) -> None:
    """The rules both sides implement are spelled the same way on both sides."""
    handler = load_handler("health_check")
    text = (MODULE / "variables.tf").read_text(encoding="utf-8")
    assert f'"{handler.CREDENTIAL_HEADER.pattern}"' in text
    assert f'"^{handler.HEADER_NAME.pattern}$"' in text
    assert f'"^{handler.TARGET_NAME.pattern}$"' in text
    assert f"t.max_latency_ms <= {handler.MAX_LATENCY_MS}" in text
    assert f"t.min_cert_days <= {handler.MAX_CERT_DAYS}" in text
    assert f"t.timeout_seconds <= {handler.MAX_TIMEOUT_SECONDS}" in text


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


VARIABLES = (MODULE / "variables.tf").read_text(encoding="utf-8")
NAMES = re.findall(r'^variable "(\w+)"', VARIABLES, re.M)


def copy_name(variables: set[str]) -> str:
    """Module copies hold only the variables a call sets (a plan over 100 calls of a one-variable copy takes
    a fraction of the time); "render" is variables.tf with main.tf's locals and a targets_json output."""
    return f"v{sum(1 << i for i, n in enumerate(NAMES) if n in variables):x}"  # a bit per variable


def _write_copy(work: Path, name: str) -> list[tuple[int, int]]:
    """Writes the copy `name`; returns (first line in the copy, first line in variables.tf) of each block."""
    (work / name).mkdir(parents=True, exist_ok=True)
    if name == "render":
        (work / name / "variables.tf").write_text(VARIABLES, encoding="utf-8")
        text = (MODULE / "main.tf").read_text(encoding="utf-8")
        locals_text = re.sub(
            r"\n\s*topic_arn\s*=.*", "", text[text.index("locals {") : text.index('module "function"')]
        )
        (work / name / "locals.tf").write_text(locals_text, encoding="utf-8")
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
