"""Cross-checks of modules/restart-workflow against the code it deploys: defaults and bounds the guard shares
with the variables, the environment Terraform sets against what the guard reads, the lock item's key and TTL
attribute against the guard's writes, and IAM against the calls the handler and the definition make.

What Terraform renders from its inputs (alarms, definition, pattern, IAM statements, routes, validations and
preconditions) is asserted by Terraform itself: modules/restart-workflow/tests/*.tftest.hcl."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opskit_tools import eventpattern, hcl, tftemplate
from opskit_tools.hcl import labelled, unquote

REPO = Path(__file__).resolve().parents[1]
MODULE = REPO / "modules" / "restart-workflow"
HANDLER = REPO / "functions" / "restart_guard" / "handler.py"
GUARD_CONFIG = HANDLER.with_name("guard_config.py")
GUARD_SOURCES = sorted(HANDLER.parent.glob("*.py"))  # handler.py and the files it is split into
PATTERN = MODULE / "patterns" / "alarm-state-change.json"
SERVICE_PREFIX = {
    "ec2": "ec2",
    "dynamodb": "dynamodb",
    "stepfunctions": "states",
    "sns": "sns",
    "cloudwatch": "cloudwatch",
    "s3": "s3",
    "ssm": "ssm",
}
# IAM authorises a TransactWriteItems by the actions of its parts (the guard's claim: two Updates).
IAM_FOR_CALL = {"dynamodb:TransactWriteItems": "dynamodb:UpdateItem"}


def load(name: str) -> dict[str, Any]:
    return hcl.load(MODULE / name)


def resource(kind: str, name: str) -> dict[str, Any]:
    return dict(labelled([b for k, b in labelled(load("main.tf")["resource"]) if k == kind]))[name]


def variables() -> dict[str, dict[str, Any]]:
    return dict(labelled(load("variables.tf")["variable"]))


def statements(document: str) -> dict[str, dict[str, Any]]:
    documents = dict(labelled([b for k, b in labelled(load("iam.tf")["data"]) if k == "aws_iam_policy_document"]))
    body = documents[document]
    found = {unquote(s["sid"]): s for s in body.get("statement", [])}
    for dynamic in body.get("dynamic", []):
        for _, dynamic_body in labelled([dynamic]):
            for content in dynamic_body["content"]:
                found[unquote(content["sid"])] = content
    return found


def actions(document: str) -> set[str]:
    return {unquote(a) for s in statements(document).values() for a in s["actions"]}


def iam_action(service: str, api: str) -> str:
    camel = "".join(part[:1].upper() + part[1:] for part in api.split("_"))
    return f"{SERVICE_PREFIX[service]}:{camel}"


# --- alarm and guard defaults ------------------------------------------------------------------------


def test_terraform_defaults_match_the_guard_defaults(load_handler: Any) -> None:
    guard = load_handler("restart_guard")
    cfg = guard.Config.from_env(
        {"STATE_MACHINE_ARN": "arn:aws:states:eu-central-1:123456789012:stateMachine:m", "LOCK_TABLE": "locks"}
    )
    declared = variables()
    assert (cfg.cooldown_seconds, cfg.max_restarts, cfg.window_seconds) == (1800, 3, 86400)
    assert declared["cooldown_seconds"]["default"] == cfg.cooldown_seconds
    assert declared["max_restarts"]["default"] == cfg.max_restarts
    assert declared["window_seconds"]["default"] == cfg.window_seconds
    assert declared["poll_interval_seconds"]["default"] == 15
    assert cfg.opt_in_tag is None and cfg.dry_run is False and cfg.allowed_alarm_names is None


@pytest.mark.parametrize(
    ("variable", "env"),
    [
        ("cooldown_seconds", "COOLDOWN_SECONDS"),
        ("max_restarts", "MAX_RESTARTS"),
        ("window_seconds", "WINDOW_SECONDS"),
        ("max_alarm_age_seconds", "MAX_ALARM_AGE_SECONDS"),
        ("max_concurrent_restarts", "MAX_CONCURRENT_RESTARTS"),
        ("max_restarts_per_hour", "MAX_RESTARTS_PER_HOUR"),
    ],
)
def test_guard_accepts_exactly_the_range_terraform_allows(load_handler: Any, variable: str, env: str) -> None:
    """The variable's validation and the guard's cold-start check agree on both ends of the range."""
    condition = unquote(variables()[variable]["validation"][0]["condition"])
    low, high = (
        int(v) for v in re.search(rf"var\.{variable} >= (\d+) && var\.{variable} <= (\d+)", condition).groups()
    )
    guard = load_handler("restart_guard")
    base = {"STATE_MACHINE_ARN": "arn:aws:states:eu-central-1:123456789012:stateMachine:m", "LOCK_TABLE": "locks"}
    for value in (low, high):
        assert getattr(guard.Config.from_env({**base, env: str(value)}), variable) == value
    for value in (low - 1, high + 1):
        with pytest.raises(guard.common.ConfigError):
            guard.Config.from_env({**base, env: str(value)})


def _bounds(name: str) -> tuple[int, int]:
    condition = unquote(variables()[name]["validation"][0]["condition"])
    low, high = re.search(r">= (\d+) && .* <= (\d+)", condition).groups()
    return int(low), int(high)


def test_guard_accepts_every_lock_duration_terraform_can_compute(load_handler: Any) -> None:
    """LOCK_SECONDS = the execution timeout + 300, the timeout the sum of each step's longest run and the settle
    wait, + 600. The steps are 1-5 distinct ones, so the longest ladder is stop-start, reboot and three ssm steps,
    every timeout at its maximum; the shortest is one reboot with the minimums. The guard accepts both."""
    main = (MODULE / "main.tf").read_text()
    assert (
        '"stop-start" = 2 * var.stop_timeout_seconds + var.start_timeout_seconds + var.status_check_timeout_seconds'
        in (main)
    )
    assert "reboot       = var.status_check_timeout_seconds" in main
    assert "ssm          = var.ssm_timeout_seconds" in main
    assert "local.step_seconds[step.kind] + var.settle_seconds])) + 600" in main
    assert "lock_seconds              = local.execution_timeout_seconds + 300" in main
    guard = load_handler("restart_guard")
    base = {"STATE_MACHINE_ARN": "arn:aws:states:eu-central-1:123456789012:stateMachine:m", "LOCK_TABLE": "locks"}
    names = ("stop_timeout_seconds", "start_timeout_seconds", "status_check_timeout_seconds", "ssm_timeout_seconds")
    for end in (0, 1):
        stop, start, status, ssm = (_bounds(n)[end] for n in names)
        settle = _bounds("settle_seconds")[end]
        if end:
            longest = (2 * stop + start + status + settle) + (status + settle) + 3 * (ssm + settle)
        else:
            longest = status + settle
        lock = longest + 600 + 300
        assert guard.Config.from_env({**base, "LOCK_SECONDS": str(lock)}).lock_seconds == lock


def test_every_environment_variable_the_guard_reads_is_set_by_terraform() -> None:
    source = "".join(path.read_text() for path in GUARD_SOURCES)
    read = set(re.findall(r"env(?:_\w+\(env, |\.get\()\"([A-Z_]+)\"", source)) - {"AWS_REGION"}  # set by Lambda
    assert read == {
        "STATE_MACHINE_ARN",
        "NOTICE_TOPIC_ARN",
        "MAX_CONCURRENT_RESTARTS",
        "MAX_RESTARTS_PER_HOUR",
        "LOCK_TABLE",
        "COOLDOWN_SECONDS",
        "MAX_RESTARTS",
        "WINDOW_SECONDS",
        "LOCK_SECONDS",
        "MAX_ALARM_AGE_SECONDS",
        "OPT_IN_TAG",
        "ALLOWED_ALARM_NAMES",
        "DRY_RUN",
    }
    guard = dict(labelled(load("main.tf")["module"]))["guard"]
    assert guard["environment"] == "${local.guard_environment}"
    main = (MODULE / "main.tf").read_text()
    written = main[main.index("  guard_settings = merge(") : main.index("  guard_environment_size")]
    assert read == set(re.findall(r"\b([A-Z_]{5,})\s+= ", written))


# --- lock table ------------------------------------------------------------------------------------


def test_lock_table_key_and_ttl_attribute_are_the_ones_the_guard_writes() -> None:
    table = resource("aws_dynamodb_table", "locks")
    (ttl,) = table["ttl"]
    assert unquote(table["hash_key"]) == "instance_id"
    source = "".join(path.read_text() for path in GUARD_SOURCES)
    assert f"{unquote(ttl['attribute_name'])} = :expires" in source  # the guard's UpdateExpressions
    assert '"Key": {"instance_id": {"S": instance_id}}' in source
    assert '"Key": {"instance_id": {"S": FLEET_KEY}}' in source
    # the state machine releases the same fleet item
    assert '"S": "opskit:fleet"' in (MODULE / "restart.asl.json").read_text()


# --- IAM against what the code calls -----------------------------------------------------------------


def test_guard_policy_grants_exactly_the_calls_the_handler_makes() -> None:
    source = "".join(path.read_text() for path in GUARD_SOURCES)
    calls = re.findall(r"client\(\"(\w+)\"\)\s*\.(\w+)\(", source)
    called = {iam_action(service, api) for service, api in calls}
    assert "dynamodb:TransactWriteItems" in called  # the claim (guard_lock.py)
    assert {IAM_FOR_CALL.get(action, action) for action in called} == actions("guard") - {
        "kms:Decrypt",
        "kms:GenerateDataKey",
    }


def test_state_machine_policy_covers_every_task_of_the_definition() -> None:
    text = (MODULE / "restart.asl.json").read_text()
    needed = set()
    for service, api in re.findall(r"arn:aws:states:::(?:aws-sdk:)?(\w+):(\w+)", text):
        needed.add(f"{service}:{api[:1].upper()}{api[1:]}")
    assert needed == {
        "ec2:GetConsoleOutput",
        "ec2:GetConsoleScreenshot",
        "s3:PutObject",
        "ec2:RebootInstances",
        "ec2:CreateTags",
        "ec2:StopInstances",
        "ec2:DescribeInstances",
        "ec2:StartInstances",
        "ec2:DescribeInstanceStatus",
        "ec2:DeleteTags",
        "ssm:SendCommand",
        "ssm:GetCommandInvocation",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:PutMetricData",
        "dynamodb:UpdateItem",
        "sns:Publish",
    }
    assert needed <= actions("state_machine")


# --- templates: the alarm pattern and the variables Terraform passes ---------------------------------


def test_alarm_pattern_matches_only_watched_alarms_entering_alarm(load_event: Callable[[str], Any]) -> None:
    pattern = tftemplate.render_json(
        PATTERN, alarm_names=["opskit-restart-web-1-cpu", "opskit-restart-db-1-cpu"], account_id="123456789012"
    )
    alarm = load_event("restart_guard/eventbridge-alarm.json")
    assert eventpattern.matches(pattern, alarm)
    assert not eventpattern.matches(pattern, load_event("restart_guard/eventbridge-ok.json"))
    other = json.loads(json.dumps(alarm).replace("opskit-restart-web-1-cpu", "someone-elses-alarm"))
    assert not eventpattern.matches(pattern, other)


def test_alarm_pattern_ignores_the_same_alarm_from_another_account(load_event: Callable[[str], Any]) -> None:
    """On a shared (or cross-account) bus another account's alarm of the same name must not match."""
    alarm = load_event("restart_guard/eventbridge-alarm.json")
    pattern = tftemplate.render_json(PATTERN, alarm_names=["opskit-restart-web-1-cpu"], account_id="123456789012")
    assert eventpattern.matches(pattern, alarm)
    assert not eventpattern.matches(pattern, {**alarm, "account": "210987654321"})
    assert not eventpattern.matches(
        tftemplate.render_json(PATTERN, alarm_names=["opskit-restart-web-1-cpu"], account_id="210987654321"), alarm
    )


def _templatefile_keys(main_tf: str, file_name: str) -> set[str]:
    start = main_tf.index(f'templatefile("${{path.module}}/{file_name}", {{')
    body = main_tf[start : main_tf.index("})", start)]
    return set(re.findall(r"^\s+([a-z_]+)\s+=", body, flags=re.MULTILINE))


@pytest.mark.parametrize("file_name", ["restart.asl.json", "patterns/alarm-state-change.json"])
def test_terraform_passes_exactly_the_variables_the_template_uses(file_name: str) -> None:
    used = set(re.findall(r"\$\{\s*(?:jsonencode\(\s*)?([a-z_]+)", (MODULE / file_name).read_text()))
    assert _templatefile_keys((MODULE / "main.tf").read_text(), file_name) == used


# --- evidence bucket and dashboard -------------------------------------------------------------------


def test_evidence_bucket_is_the_internal_module_with_the_module_key_and_retention() -> None:
    """The bucket's own rules (private, versioned, TLS-only, encrypted) are modules/s3-bucket's; what this module
    decides is passed in its call (Terraform cannot assert inside a called module's resources)."""
    call = dict(labelled(load("main.tf")["module"]))["evidence_bucket"]
    assert unquote(call["source"]) == "../s3-bucket"
    assert call["kms_key_arn"] == "${var.kms_key_arn}"
    assert unquote(call["sse_algorithm_without_key"]) == "aws:kms"
    assert call["expiration_days"] == "${var.evidence_retention_days}"
    assert "expiration_prefix" not in call  # evidence lives under <instance>/<execution>/ at the bucket's root
    assert unquote(call["bucket_prefix"]) == "${lower(substr(var.name_prefix, 0, 19))}-restart-evidence-"
    assert len("x" * 19 + "-restart-evidence-") <= 37  # s3-bucket's bucket_prefix limit


def test_dashboard_lists_every_reason_the_guard_can_give(load_handler: Any) -> None:
    guard = load_handler("restart_guard")
    dashboard = (MODULE / "dashboard.tf").read_text()
    block = dashboard[
        dashboard.index("decision_reasons = [") : dashboard.index("]", dashboard.index("decision_reasons = ["))
    ]
    assert re.findall(r'"(\w+)"', block) == list(guard.REASONS)
    source = "".join(path.read_text() for path in GUARD_SOURCES)
    returned = set(re.findall(r'return \(?\s*"(\w+)",', source)) | set(
        re.findall(r'Decision\(\s*"\w+",\s*"(\w+)"', source)
    )
    assert returned == set(guard.REASONS), returned ^ set(guard.REASONS)
