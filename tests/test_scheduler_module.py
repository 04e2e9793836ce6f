"""modules/scheduler: the payload its schedules send (rendered from the one template file both Terraform
and these tests read), the fixture events, and the plan-time validations of its inputs."""

from __future__ import annotations

import re
import shutil
import subprocess
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from opskit_tools import hcl, tftemplate

MODULE = Path(__file__).resolve().parents[1] / "modules" / "scheduler"
TEMPLATE = MODULE / "templates" / "input.json.tftpl"


def _schedule_resource() -> dict[str, Any]:
    main = hcl.load_unquoted(MODULE / "main.tf")
    (resource,) = [r["aws_scheduler_schedule"] for r in main["resource"] if "aws_scheduler_schedule" in r]
    return resource["this"]


def _templatefile_call() -> tuple[str, set[str]]:
    """The template path and the variable names main.tf passes to templatefile() for the target input."""
    target = _schedule_resource()["target"]
    target = target[0] if isinstance(target, list) else target
    expression = target["input"]
    match = re.search(r'templatefile\("\$\{path\.module\}/([^"]+)",\s*\{(.*)\}\s*\)\}?$', expression, re.S)
    assert match, expression
    names = set(re.findall(r'"?([a-z_]+)"?\s*[=:]', match.group(2)))
    return match.group(1), names


def _template_variables() -> set[str]:
    return set(re.findall(r"\$\{\s*(?:jsonencode\(\s*)?([A-Za-z_]\w*)", TEMPLATE.read_text(encoding="utf-8")))


def test_main_tf_renders_the_template_with_exactly_its_variables() -> None:
    path, passed = _templatefile_call()
    assert MODULE / path == TEMPLATE
    assert passed == _template_variables() == {"action", "schedule", "timezone", "skip_dates", "resources", "dry_run"}


@pytest.mark.parametrize("action", ["start", "stop"])
def test_fixture_events_are_what_the_schedules_send(action: str, load_event: Callable[[str], Any]) -> None:
    rendered = tftemplate.render_json(
        TEMPLATE,
        action=action,
        schedule="office-hours",
        timezone="Europe/Berlin",
        skip_dates=["2026-12-24", "2026-12-25"],
        resources=["ec2", "asg", "rds"],
        dry_run=False,
    )
    assert rendered == load_event(f"scheduler/office-hours-{action}.json")


def test_fixture_events_parse_in_the_handler(
    load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any]
) -> None:
    handler = load_handler("scheduler")
    cfg = handler.Config.from_env({})
    stop = handler.parse(load_event("scheduler/office-hours-stop.json"), cfg)
    assert (stop.action, stop.schedule, stop.timezone, stop.manual) == ("stop", "office-hours", "Europe/Berlin", False)
    assert stop.skip_dates == {"2026-12-24", "2026-12-25"} and stop.resources == ("ec2", "asg", "rds")
    manual = handler.parse(load_event("scheduler/manual-stop.json"), cfg)
    assert manual.manual and manual.marker == "scheduler:manual" and len(manual.instance_ids) == 2


def test_one_schedule_per_name_and_action_with_the_required_settings() -> None:
    schedule = _schedule_resource()
    assert schedule["for_each"] == "${local.schedule_actions}"
    assert schedule["schedule_expression_timezone"] == "${each.value.timezone}"
    window = schedule["flexible_time_window"]
    assert (window[0] if isinstance(window, list) else window)["mode"] == "OFF"
    target = schedule["target"][0] if isinstance(schedule["target"], list) else schedule["target"]
    assert target["dead_letter_config"] and target["retry_policy"]


# --- plan-time validations, read from variables.tf and run with Python's regex engine --------------


def _validation_regexes() -> dict[str, str]:
    """The regexes of the `schedules` validations, keyed by a word of their error message."""
    text = (MODULE / "variables.tf").read_text(encoding="utf-8")
    found = {}
    for block in re.findall(r"validation \{(.*?)\n  \}", text, re.S):
        pattern = re.search(r'regex\("((?:[^"\\]|\\.)*)"', block)
        message = re.search(r'error_message = "([^"\\]*(?:\\.[^"\\]*)*)"', block)
        if pattern and message:
            found[message.group(1).split()[0]] = pattern.group(1).replace("\\\\", "\\")
    return found


@pytest.mark.parametrize(
    ("expression", "ok"),
    [
        ("cron(0 7 ? * MON-FRI *)", True),
        ("cron(30 19 ? * MON-FRI *)", True),
        ("cron(0/15 * * * ? *)", True),
        ("rate(5 minutes)", True),
        ("rate(1 day)", True),
        ("at(2026-12-24T07:00:00)", True),
        ("cron(0 7 * * *)", False),  # five fields: crontab, not EventBridge
        ("0 7 * * 1-5", False),
        ("rate(0 minutes)", False),
        ("rate(5 weeks)", False),
        ("at(2026-12-24 07:00)", False),
    ],
)
def test_expression_validation(expression: str, ok: bool) -> None:
    assert bool(re.fullmatch(_validation_regexes()["start/stop"], expression)) is ok


def test_timezone_validation_accepts_every_iana_area_location_and_rejects_typos() -> None:
    pattern = _validation_regexes()["timezone"]
    zones = {z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("posix/", "right/"))}
    rejected = sorted(z for z in zones if not re.fullmatch(pattern, z))
    assert rejected == []
    for bad in ("Berlin", "europe/berlin", "Europe/", "Europe Berlin", "UTC+1", ""):
        assert not re.fullmatch(pattern, bad), bad
    assert re.fullmatch(pattern, "UTC")


@pytest.mark.parametrize(
    ("date", "ok"), [("2026-12-24", True), ("2026-1-5", False), ("24.12.2026", False), ("2026-13-01", False)]
)
def test_skip_date_validation(date: str, ok: bool) -> None:
    assert bool(re.fullmatch(_validation_regexes()["skip_dates"], date)) is ok


# --- the same validations evaluated by Terraform itself (RE2 regexes, formatdate), when a binary is at hand --


def _terraform() -> str | None:
    return shutil.which("terraform", path=str(MODULE.parents[1] / ".venv" / "bin")) or shutil.which("terraform")


def _terraform_verdicts(first_word: str, variable: str, literal: str, values: list[str], tmp_path: Path) -> list[bool]:
    """Evaluate the validation whose message starts with `first_word` with `terraform console` (no
    providers needed) for each value x, with `variable` replaced by `literal` (which uses x)."""
    terraform = _terraform()
    if terraform is None:
        pytest.skip("no terraform binary on PATH or in .venv/bin")
    text = (MODULE / "variables.tf").read_text(encoding="utf-8")
    (condition,) = [
        c
        for c, message in re.findall(r'condition\s*=\s*(.*?)\n\s*error_message\s*=\s*"([^"]*)', text, re.S)
        if message.split()[0] == first_word
    ]
    expression = condition.replace(variable, literal)
    listing = ", ".join(f'"{v}"' for v in values)
    query = " ".join(f"[for x in [{listing}] : {expression}]".split())
    out = subprocess.run(
        [terraform, "console"], input=query + "\n", cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    verdicts = re.findall(r"\b(true|false)\b", out.stdout)
    assert len(verdicts) == len(values), out.stdout
    return [v == "true" for v in verdicts]


SKIP_DATES = {
    "2026-12-24": True,
    "2024-02-29": True,
    "2026-02-29": False,  # not a leap year
    "2026-02-30": False,
    "2026-04-31": False,
    "2026-1-5": False,
    "24.12.2026": False,
}
EXPRESSIONS = {"cron(0 7 ? * MON-FRI *)": True, "rate(5 minutes)": True, "cron(0 7 * * *)": False, "0 7 * * 1-5": False}
KMS_KEYS = {
    "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab": True,
    "arn:aws:kms:eu-central-1:123456789012:alias/ops": False,  # CloudWatch Logs needs the key ARN
    "1234abcd-12ab-34cd-56ef-1234567890ab": False,
}
TOPICS = {"arn:aws:sns:eu-central-1:123456789012:ops-alarms": True, "ops-alarms": False}
ZONES = {"Europe/Berlin": True, "UTC": True, "America/Argentina/Buenos_Aires": True, "Berlin": False, "UTC+1": False}


@pytest.mark.parametrize(
    ("first_word", "variable", "literal", "cases"),
    [
        ("skip_dates", "var.schedules", "{ a = { skip_dates = [x] } }", SKIP_DATES),
        ("start/stop", "var.schedules", "{ a = { start = x, stop = null } }", EXPRESSIONS),
        ("timezone", "var.schedules", "{ a = { timezone = x } }", ZONES),
        ("kms_key_arn", "var.kms_key_arn", "x", KMS_KEYS),
        ("alarm_topic_arn", "var.alarm_topic_arn", "x", TOPICS),
        ("A", "var.schedules", "{ a = { description = x } }", {"Office hours": True, "x" * 513: False}),
    ],
    ids=["skip_dates", "expressions", "timezone", "kms_key_arn", "alarm_topic_arn", "description"],
)
def test_terraform_evaluates_the_validations_as_intended(
    first_word: str, variable: str, literal: str, cases: dict[str, bool], tmp_path: Path
) -> None:
    """The regexes above run in Python; this runs the real conditions (RE2, and formatdate's calendar check
    that turns away 2026-02-30, which the handler would otherwise refuse on every run)."""
    assert _terraform_verdicts(first_word, variable, literal, list(cases), tmp_path) == list(cases.values())


# --- IAM: what the handler calls is what the module grants, and no more than tagged resources ------


def _function_policy_statements() -> list[dict[str, Any]]:
    iam = hcl.load_unquoted(MODULE / "iam.tf")
    (document,) = [
        d["aws_iam_policy_document"]["function"]
        for d in iam["data"]
        if "function" in d.get("aws_iam_policy_document", {})
    ]
    return document["statement"]


def test_mutating_grants_require_the_schedule_tag_and_tag_grants_are_limited_to_own_keys() -> None:
    for statement in _function_policy_statements():
        actions = statement["actions"]
        assert not any("*" in a for a in actions), statement["sid"]
        if all(a.split(":")[1].startswith("Describe") for a in actions):
            continue
        conditions = {(c["test"], c["variable"]): c["values"] for c in statement.get("condition", [])}
        if actions == ["kms:CreateGrant"]:
            assert conditions[("Bool", "kms:GrantIsForAWSResource")] == ["true"]
            continue
        assert statement["resources"] != ["*"], statement["sid"]
        tag_present = [v for (t, v), values in conditions.items() if t == "Null" and values == ["false"]]
        assert any(v.endswith("/${var.tag_key}") for v in tag_present), statement["sid"]
        if any(a.endswith(("CreateTags", "DeleteTags", "CreateOrUpdateTags")) for a in actions):
            own_keys = conditions[("ForAllValues:StringEquals", "aws:TagKeys")]
            assert own_keys in (["${local.stopped_by_tag}"], ["${local.saved_size_tag}"]), statement["sid"]
            assert "aws:TagKeys" in tag_present, "a request without tag keys (delete all tags) must not match"


def test_every_call_the_handler_makes_is_granted(
    load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run stop and start over EC2, an ASG and RDS on moto, recording each API call the handler makes."""
    import boto3
    import opskit_common
    from moto import mock_aws

    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    granted = {a for s in _function_policy_statements() for a in s["actions"]}
    used: set[str] = set()
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="eu-central-1")
        tag = [{"Key": "Schedule", "Value": "office-hours"}]
        ec2.run_instances(
            ImageId="ami-0123456789abcdef0", MinCount=2, MaxCount=2,
            TagSpecifications=[{"ResourceType": "instance", "Tags": tag}],
        )  # fmt: skip
        ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": "ami-0123456789abcdef0"})
        boto3.client("autoscaling", region_name="eu-central-1").create_auto_scaling_group(
            AutoScalingGroupName="web", LaunchTemplate={"LaunchTemplateName": "web"}, MinSize=1, MaxSize=1,
            DesiredCapacity=1, AvailabilityZones=["eu-central-1a"], Tags=[{**tag[0], "PropagateAtLaunch": False}],
        )  # fmt: skip
        rds = boto3.client("rds", region_name="eu-central-1")
        rds.create_db_instance(
            DBInstanceIdentifier="db", DBInstanceClass="db.t3.micro", Engine="postgres", AllocatedStorage=20,
            MasterUsername="admin", MasterUserPassword="secret-password1", Tags=tag,
        )  # fmt: skip
        rds.create_db_cluster(
            DBClusterIdentifier="aurora", Engine="aurora-postgresql", MasterUsername="admin",
            MasterUserPassword="secret-password1", Tags=tag,
        )  # fmt: skip
        handler = load_handler("scheduler")
        handler.sleep = lambda seconds: None
        for service in ("ec2", "autoscaling", "rds"):
            opskit_common.client(service).meta.events.register(
                "before-call.*.*",
                lambda model, **_: used.add(f"{model.service_model.endpoint_prefix}:{model.name}"),
            )
        base = {"schedule": "office-hours", "timezone": "UTC", "resources": ["ec2", "asg", "rds"]}
        for action in ("stop", "start"):
            result = handler.handler({**base, "action": action})
            assert len(result["succeeded"]) == 5, result
        handler.handler({"action": "stop", "instance_ids": result["succeeded"][:1]})

    assert {"ec2:CreateTags", "ec2:StopInstances", "autoscaling:UpdateAutoScalingGroup", "rds:StopDBCluster"} <= used
    assert used - granted == set()
