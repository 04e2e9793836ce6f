"""modules/scheduler against functions/scheduler: the fixture events are what the template renders and
parse in the handler, the handler accepts every time zone the module accepts, and every AWS call the
handler makes under moto is one the module's IAM statements allow, conditions included.

What Terraform itself can assert (the schedules, the rendered payload, the IAM statements and their
conditions, every validation) lives in the native suite modules/scheduler/tests/*.tftest.hcl."""

from __future__ import annotations

import json
import re
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from opskit_tools import hcl, tftemplate

MODULE = Path(__file__).resolve().parents[1] / "modules" / "scheduler"
TEMPLATE = MODULE / "templates" / "input.json.tftpl"
SCHEDULES = ["office-hours", "weekends"]


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
    cfg = handler.Config.from_env({"SCHEDULE_NAMES": json.dumps(SCHEDULES)})
    stop = handler.parse(load_event("scheduler/office-hours-stop.json"), cfg)
    assert (stop.action, stop.schedule, stop.timezone, stop.manual) == ("stop", "office-hours", "Europe/Berlin", False)
    assert stop.skip_dates == {"2026-12-24", "2026-12-25"} and stop.resources == ("ec2", "asg", "rds")
    manual = handler.parse(load_event("scheduler/manual-stop.json"), cfg)
    assert manual.manual and manual.marker == "scheduler:manual" and len(manual.instance_ids) == 2


def _timezone_regex() -> str:
    """The RE2 pattern of the `timezone` validation in variables.tf (RE2 and Python agree on it)."""
    text = (MODULE / "variables.tf").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"validation \{(.*?)\n  \}", text, re.S) if 'error_message = "timezone' in b]
    pattern = re.search(r'regex\("((?:[^"\\]|\\.)*)"', block)
    assert pattern
    return pattern.group(1).replace("\\\\", "\\")


def test_every_iana_zone_the_module_accepts_is_accepted_by_the_handler_and_typos_by_neither(
    load_handler: Callable[[str], ModuleType],
) -> None:
    """The module's regex and the handler's own check must agree: a zone Terraform lets through and the
    function refuses would fail every run of that schedule."""
    handler = load_handler("scheduler")
    cfg = handler.Config.from_env({"SCHEDULE_NAMES": json.dumps(SCHEDULES)})
    pattern = _timezone_regex()
    zones = {z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("posix/", "right/"))}
    assert sorted(z for z in zones if not re.fullmatch(pattern, z)) == []
    for zone in sorted(zones | {"UTC"}):
        assert handler.parse({"action": "stop", "schedule": "weekends", "timezone": zone}, cfg).timezone == zone
    for bad in ("Berlin", "europe/berlin", "Europe/", "Europe Berlin", "UTC+1", "", "Europe/Berlin\n"):
        assert not re.fullmatch(pattern, bad), bad
        with pytest.raises(handler.common.InputError):
            handler.parse({"action": "stop", "schedule": "weekends", "timezone": bad}, cfg)


# --- IAM: every call the handler makes is allowed, conditions included ---------------------------


def _locals() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(MODULE.glob("*.tf")):
        for block in hcl.load_unquoted(path).get("locals", []):
            found.update({k: v for k, v in block.items() if isinstance(v, str)})
    return found


def _function_policy_statements() -> list[dict[str, Any]]:
    """The function's statements, those inside `dynamic "statement"` blocks included."""
    iam = hcl.load_unquoted(MODULE / "iam.tf")
    (document,) = [
        d["aws_iam_policy_document"]["function"]
        for d in iam["data"]
        if "function" in d.get("aws_iam_policy_document", {})
    ]
    statements = list(document.get("statement", []))
    for dynamic in document.get("dynamic", []):
        for body in dynamic.get("statement", {}).get("content", []) if "statement" in dynamic else []:
            statements.append(body)
    return statements


def _tag_keys(service: str, operation: str, params: dict[str, Any]) -> list[str] | None:
    """The tag keys a tagging request names (None for a request that is not a tag write)."""
    if operation in ("CreateTags", "DeleteTags", "CreateOrUpdateTags"):
        return [t["Key"] for t in params.get("Tags") or []]
    return None


def test_every_call_the_handler_makes_is_allowed_by_the_module_policy(
    load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stop and start EC2, an ASG and RDS on moto (scheduled and manual), recording each call with its
    parameters and the schedule tag of the resource it targets at that moment, then evaluate the module's
    statements the way IAM would for the conditions they use: the action is listed, aws:ResourceTag/<key>
    is one of the configured names (StringEquals ${local.schedule_names}), and a tag write names only the
    statement's own key (ForAllValues:StringEquals aws:TagKeys) and at least one key (Null aws:TagKeys)."""
    import boto3
    import opskit_common
    from moto import mock_aws

    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    monkeypatch.setenv("SCHEDULE_NAMES", json.dumps(SCHEDULES))
    monkeypatch.setenv("VERIFY_TIMEOUT_SECONDS", "5")
    locals_ = _locals()
    statements = _function_policy_statements()
    calls: list[tuple[str, dict[str, Any], list[str | None]]] = []
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="eu-central-1")
        asg = boto3.client("autoscaling", region_name="eu-central-1")
        rds = boto3.client("rds", region_name="eu-central-1")
        tag = [{"Key": "Schedule", "Value": "office-hours"}]
        ec2.run_instances(
            ImageId="ami-0123456789abcdef0", MinCount=2, MaxCount=2,
            TagSpecifications=[{"ResourceType": "instance", "Tags": tag}],
        )  # fmt: skip
        ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": "ami-0123456789abcdef0"})
        asg.create_auto_scaling_group(
            AutoScalingGroupName="web", LaunchTemplate={"LaunchTemplateName": "web"}, MinSize=1, MaxSize=1,
            DesiredCapacity=1, AvailabilityZones=["eu-central-1a"], Tags=[{**tag[0], "PropagateAtLaunch": False}],
        )  # fmt: skip
        rds.create_db_instance(
            DBInstanceIdentifier="db", DBInstanceClass="db.t3.micro", Engine="postgres", AllocatedStorage=20,
            MasterUsername="admin", MasterUserPassword="secret-password1", Tags=tag,
        )  # fmt: skip
        rds.create_db_cluster(
            DBClusterIdentifier="aurora", Engine="aurora-postgresql", MasterUsername="admin",
            MasterUserPassword="secret-password1", Tags=tag,
        )  # fmt: skip

        def schedule_tags(service: str, params: dict[str, Any]) -> list[str | None]:
            """The schedule tag of every resource the request targets, read before the request runs."""
            if service == "ec2":
                ids = params.get("InstanceIds") or params.get("Resources") or []
                found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
                return [
                    opskit_common.tags_to_dict(i.get("Tags")).get("Schedule") for r in found for i in r["Instances"]
                ]
            if service == "autoscaling":
                names = [params["AutoScalingGroupName"]] if "AutoScalingGroupName" in params else []
                names += [t["ResourceId"] for t in params.get("Tags") or []]
                groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=names)["AutoScalingGroups"]
                return [opskit_common.tags_to_dict(g.get("Tags")).get("Schedule") for g in groups]
            if "DBInstanceIdentifier" in params:
                db = rds.describe_db_instances(DBInstanceIdentifier=params["DBInstanceIdentifier"])["DBInstances"][0]
                return [opskit_common.tags_to_dict(db.get("TagList")).get("Schedule")]
            cluster = rds.describe_db_clusters(DBClusterIdentifier=params["DBClusterIdentifier"])["DBClusters"][0]
            return [opskit_common.tags_to_dict(cluster.get("TagList")).get("Schedule")]

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            service = model.service_model.endpoint_prefix
            action = f"{service}:{model.name}"
            mutating = not model.name.startswith("Describe")
            calls.append((action, dict(params), schedule_tags(service, params) if mutating else []))

        handler = load_handler("scheduler")
        handler.sleep = lambda seconds: None
        for service in ("ec2", "autoscaling", "rds"):
            opskit_common.client(service).meta.events.register("before-parameter-build.*.*", record)
        base = {"schedule": "office-hours", "timezone": "UTC", "resources": ["ec2", "asg", "rds"]}
        for action in ("stop", "start"):
            result = handler.handler({**base, "action": action})
            assert len(result["succeeded"]) == 5, result
        handler.handler({"action": "stop", "instance_ids": [i for i in result["succeeded"] if i.startswith("i-")][:1]})

    used = {action for action, _, _ in calls}
    assert {"ec2:CreateTags", "ec2:DeleteTags", "ec2:StopInstances", "autoscaling:UpdateAutoScalingGroup"} <= used
    assert {"autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags", "rds:StopDBCluster"} <= used

    def resolve(value: str) -> str:
        return re.sub(r"\$\{local\.(\w+)\}", lambda m: locals_[m.group(1)], value)

    for action, params, tags in calls:
        allowing = []
        for statement in statements:
            if action not in statement["actions"]:
                continue
            conditions = {(c["test"], c["variable"]): c["values"] for c in statement.get("condition", [])}
            required = conditions.get(("StringEquals", "aws:ResourceTag/${var.tag_key}"))
            if required is not None:
                assert required == "${local.schedule_names}", statement["sid"]
                if not tags or not all(t in SCHEDULES for t in tags):
                    continue
            keys = _tag_keys(*action.split(":"), params)
            own = conditions.get(("ForAllValues:StringEquals", "aws:TagKeys"))
            if own is not None and (keys is None or not set(keys) <= {resolve(k) for k in own}):
                continue
            if conditions.get(("Null", "aws:TagKeys")) == ["false"] and not keys:
                continue
            allowing.append(statement["sid"])
        assert allowing, f"{action} {params} on resources tagged {tags}: no statement allows it"
