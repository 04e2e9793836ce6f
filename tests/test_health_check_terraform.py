"""modules/health-check: the Terraform agrees with the handler (fields, defaults, metric names) and keeps the
properties the module promises (0 async retries, breaching M-of-N alarms, scoped secret reads).

The HCL is read with python-hcl2. The TARGETS rendering test evaluates the module's own locals with a real
`terraform console` (no provider needed) when a terraform >= 1.5 binary is available, and is skipped otherwise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opskit_tools import hcl
from opskit_tools.hcl import unquote

MODULE = Path(__file__).resolve().parents[1] / "modules" / "health-check"


def load(name: str) -> dict[str, Any]:
    return hcl.load_unquoted(MODULE / name)


def block(doc: dict[str, Any], kind: str, *labels: str) -> dict[str, Any]:
    for entry in doc.get(kind, []):
        node: Any = entry
        for label in labels:
            node = node.get(label)
            if node is None:
                break
        if node is not None:
            return node
    raise KeyError(f"{kind} {' '.join(labels)} not found")


def variable(name: str) -> dict[str, Any]:
    return block(load("variables.tf"), "variable", name)


def test_target_fields_match_the_handler(load_handler: Callable[[str], Any]) -> None:
    handler = load_handler("health_check")
    type_text = variable("targets")["type"]
    fields = set(re.findall(r"(\w+)\s*=\s*(?:optional\(|string|number|bool)", type_text))
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
        hcl_default = match.group(1).strip().rstrip(")")
        assert json.loads(hcl_default.replace("'", '"')) == value, field


def test_schedule_alarm_and_retry_settings() -> None:
    main = load("main.tf")
    function = block(main, "module", "function")
    assert function["source"] == "../lambda-function"
    assert function["package"] == "health_check"
    assert function["async_invocation"]["maximum_retry_attempts"] == 0
    assert function["create_dlq"] is False
    assert function["event_rules"]["schedule"]["schedule_expression"] == "${var.schedule_expression}"
    assert unquote(variable("schedule_expression")["default"]) == "rate(5 minutes)"
    locals_ = {k: v for entry in main["locals"] for k, v in entry.items()}
    assert function["environment"] == "${local.environment}"
    assert set(locals_["environment"]) == {"TARGETS", "METRIC_NAMESPACE", "CONNECT_RETRIES", "MAX_WORKERS"}

    alarm = block(main, "resource", "aws_cloudwatch_metric_alarm", "target")
    assert alarm["for_each"] == "${var.targets}"
    assert unquote(alarm["treat_missing_data"]) == "breaching"
    assert alarm["ok_actions"] == alarm["alarm_actions"] == ["${local.topic_arn}"]
    assert alarm["datapoints_to_alarm"] == "${var.alarm_datapoints_to_alarm}"
    assert alarm["evaluation_periods"] == "${var.alarm_evaluation_periods}"
    assert (variable("alarm_datapoints_to_alarm")["default"], variable("alarm_evaluation_periods")["default"]) == (2, 3)
    assert unquote(alarm["comparison_operator"]) == "LessThanThreshold" and alarm["threshold"] == 1


def test_errors_alarm_email_subscriptions_and_vpc_are_wired() -> None:
    """The blueprint's alarm on the function's Errors metric (created by lambda-function when create_alarms is
    set), the e-mail subscriptions from alarm_emails on the same topic, and vpc_config passed through."""
    main = load("main.tf")
    function = block(main, "module", "function")
    assert function["create_alarms"] == "${var.create_function_alarms}"
    assert variable("create_function_alarms")["default"] is True
    assert function["alarm_topic_arn"] == "${local.topic_arn}"
    subscription = block(main, "resource", "aws_sns_topic_subscription", "email")
    assert subscription["for_each"] == "${toset(var.alarm_emails)}"
    assert (subscription["protocol"], subscription["endpoint"]) == ("email", "${each.value}")
    assert subscription["topic_arn"] == "${local.topic_arn}"
    assert function["vpc_config"] == "${var.vpc_config}"
    assert variable("vpc_config")["default"] is None


def test_alarm_watches_what_the_handler_emits(load_handler: Callable[[str], Any], capsys: Any) -> None:
    handler = load_handler("health_check")
    alarm = block(load("main.tf"), "resource", "aws_cloudwatch_metric_alarm", "target")
    cfg = handler.Config(targets=(), namespace="ns", max_workers=1, connect_retries=0, max_body_bytes=1024)
    handler.report(handler.Result(name="shop", url="https://shop.test", ok=True, status=200, latency_ms=5), cfg)
    doc = json.loads(capsys.readouterr().out.splitlines()[0])
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    assert unquote(alarm["metric_name"]) in [m["Name"] for m in directive["Metrics"]]
    assert directive["Dimensions"] == [list(alarm["dimensions"])]
    assert alarm["dimensions"]["Target"] == "${each.key}"


def test_topic_is_encrypted_and_secret_reads_are_scoped() -> None:
    main, iam = load("main.tf"), load("iam.tf")
    topic = block(main, "resource", "aws_sns_topic", "alarms")
    assert "kms_key_arn" in topic["kms_master_key_id"] and "aws_kms_key.alarms" in topic["kms_master_key_id"]
    assert block(main, "resource", "aws_kms_key", "alarms")["enable_key_rotation"] is True
    statements = block(iam, "data", "aws_iam_policy_document", "headers_secrets")["dynamic"]
    by_sid = {s["statement"]["content"][0]["sid"]: s["statement"]["content"][0] for s in statements}
    assert by_sid["ReadHeadersSecrets"]["actions"] == ["secretsmanager:GetSecretValue"]
    assert by_sid["ReadHeadersParameters"]["actions"] == ["ssm:GetParameter"]
    assert all(c["resources"] == "${statement.value}" for c in by_sid.values())
    kms = by_sid["DecryptHeadersSecrets"]
    assert kms["actions"] == ["kms:Decrypt"]
    assert kms["condition"][0]["variable"] == "kms:ViaService"


# --- the module's locals, evaluated by terraform ---------------------------------------------------


def _terraform() -> str | None:
    candidates = [os.environ.get("OPSKIT_TERRAFORM", "")]
    candidates += [str(Path(d) / "terraform") for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    candidates += [shutil.which("terraform") or "", "/usr/local/bin/terraform", "/usr/bin/terraform"]
    for candidate in dict.fromkeys(c for c in candidates if c and os.access(c, os.X_OK)):
        try:
            out = subprocess.run([candidate, "version", "-json"], capture_output=True, text=True, timeout=30).stdout
            version = tuple(int(p) for p in json.loads(out)["terraform_version"].split(".")[:2])
        except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
            continue
        if version >= (1, 5):
            return candidate
    return None


def _evaluate(tmp_path: Path, tfvars: str, expressions: list[str]) -> list[Any]:
    """Copy variables.tf and the locals block of main.tf (minus resource references) and ask terraform."""
    binary = _terraform()
    if binary is None:
        pytest.skip("no terraform >= 1.5 binary to evaluate the module's locals")
    text = (MODULE / "main.tf").read_text(encoding="utf-8")
    start = text.index("locals {")
    end = text.index('module "function"')
    locals_text = re.sub(r"\n\s*topic_arn\s*=.*", "", text[start:end])
    shutil.copy(MODULE / "variables.tf", tmp_path / "variables.tf")
    (tmp_path / "locals.tf").write_text(locals_text, encoding="utf-8")
    (tmp_path / "terraform.tfvars").write_text(tfvars, encoding="utf-8")
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    completed = subprocess.run(
        [binary, "console", "-no-color"],
        input=f"jsonencode([{', '.join(expressions)}])\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    # console reports an invalid variable on stderr but may still exit 0 (and print the value regardless)
    assert completed.returncode == 0 and "Error:" not in completed.stderr, completed.stderr
    return json.loads(json.loads(completed.stdout.strip().splitlines()[-1]))


TFVARS = """
targets = {
  shop = {
    url            = "https://shop.example.com/"
    expected_text  = "Grüße \\"ok\\""
    min_cert_days  = 14
    max_latency_ms = 1500
  }
  api  = {
    url                = "https://api.example.com/v1/ping"
    method             = "POST"
    body               = "{}"
    headers            = { Content-Type = "application/json" }
    expected_status    = [200, 204]
    timeout_seconds    = 2.5
    regex              = "\\"db\\":\\\\s*\\"up\\""
    headers_secret_arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:api-AbCdEf"
  }
  blog = { url = "http://blog.example.com/", follow_redirects = false, expected_status = [301] }
  wiki = { url = "https://wiki.corp.internal/", ca_bundle = "handler.py" }
  partner = {
    url                = "https://partner.example.com/"
    headers_secret_arn = "arn:aws:ssm:eu-central-1:123456789012:parameter/opskit/partner"
  }
}
schedule_expression = "rate(2 minutes)"
connect_retries     = 2
kms_key_arn         = "arn:aws:kms:eu-central-1:123456789012:key/1111aaaa-2222-bbbb-3333-cccc4444dddd"
headers_secret_kms_key_arns = ["arn:aws:kms:eu-central-1:123456789012:key/5555eeee-6666-ffff-7777-000088889999"]
"""


def test_rendered_targets_parse_to_the_configured_values(tmp_path: Path, load_handler: Callable[[str], Any]) -> None:
    targets_json, timeout, period, secret_arns, parameter_arns, keys, environment, size = _evaluate(
        tmp_path,
        TFVARS,
        [
            "local.targets_json",
            "local.function_timeout",
            "local.alarm_period",
            "local.secretsmanager",
            "local.ssm_parameters",
            "local.secret_keys",
            "local.environment",
            "local.environment_size",
        ],
    )
    raw = json.loads(targets_json)
    assert {
        "name": "blog",
        "url": "http://blog.example.com/",
        "expected_status": [301],
        "follow_redirects": False,
    } in raw
    assert len(targets_json) < 800  # nulls and defaults are left out
    handler = load_handler("health_check")
    targets = {t.name: t for t in handler.Config.from_env({"TARGETS": targets_json}).targets}
    assert targets["shop"].expected_text == 'Grüße "ok"'
    assert (targets["shop"].min_cert_days, targets["shop"].max_latency_ms) == (14, 1500)
    assert targets["shop"].method == "GET" and targets["shop"].timeout_seconds == 10
    api = targets["api"]
    assert (api.method, api.body, api.expected_status, api.timeout_seconds) == ("POST", "{}", (200, 204), 2.5)
    assert api.regex.pattern == '"db":\\s*"up"' and api.regex.search('{"db": "up"}')
    assert dict(api.headers) == {"Content-Type": "application/json"}
    assert targets["blog"].follow_redirects is False
    assert Path(targets["wiki"].ca_bundle).name == "handler.py"
    assert timeout == 10 * (2 + 3) + 15  # slowest target x (retries + 3), one round of threads, + margin
    assert period == 120
    # IAM reads exactly the configured ARNs, each with its service's action, and decrypts with exactly these keys
    assert secret_arns == ["arn:aws:secretsmanager:eu-central-1:123456789012:secret:api-AbCdEf"]
    assert parameter_arns == ["arn:aws:ssm:eu-central-1:123456789012:parameter/opskit/partner"]
    assert sorted(keys) == [
        "arn:aws:kms:eu-central-1:123456789012:key/1111aaaa-2222-bbbb-3333-cccc4444dddd",
        "arn:aws:kms:eu-central-1:123456789012:key/5555eeee-6666-ffff-7777-000088889999",
    ]
    assert environment["TARGETS"] == targets_json
    assert environment["CONNECT_RETRIES"] == "2"
    assert size == sum(len(k) + len(v) for k, v in environment.items())  # what the 4 KB precondition checks


SECRET_WITHOUT_SUFFIX = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:api"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ('{ url = "https://x.test/", headers = { X-A = "1\\r\\nX-B: 2" } }', "must not contain line breaks"),
        ('{ url = "https://x.test/", min_cert_days = 7.5 }', "whole number of days"),
        ('{ url = "http://x.test/", min_cert_days = 7 }', "min_cert_days must be a whole"),
        (f'{{ url = "https://x.test/", headers_secret_arn = "{SECRET_WITHOUT_SUFFIX}" }}', "full Secrets Manager"),
    ],
)
def test_plan_time_validation_of_targets(tmp_path: Path, target: str, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        _evaluate(tmp_path, f"targets = {{ t = {target} }}\n", ["local.targets_json"])


@pytest.mark.parametrize(
    ("setting", "expression", "message"),
    [
        # MAX_WORKERS="2.5" would fail every run of the function
        ("max_concurrency = 2.5", "local.environment", "max_concurrency must be a whole number"),
        ("timeout = 30.5", "local.function_timeout", "timeout must be a whole number"),
        ("vpc_config = { subnet_ids = [], security_group_ids = [] }", "var.vpc_config", "vpc_config needs at least"),
    ],
)
def test_plan_time_validation_of_settings(tmp_path: Path, setting: str, expression: str, message: str) -> None:
    tfvars = f'targets = {{ t = {{ url = "https://x.test/" }} }}\n{setting}\n'
    with pytest.raises(AssertionError, match=message):
        _evaluate(tmp_path, tfvars, [expression])
