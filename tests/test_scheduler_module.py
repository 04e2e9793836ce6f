"""modules/scheduler against functions/scheduler: the fixture events are what the template renders and
parse in the handler, the handler accepts every time zone the module accepts, and every AWS call the
handler makes under moto is one the module's IAM statements allow, conditions included.

What Terraform itself can assert (the schedules, the rendered payload, the IAM statements and their
conditions, every validation) lives in the native suite modules/scheduler/tests/*.tftest.hcl."""

from __future__ import annotations

import datetime as dt
import fnmatch
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
@pytest.mark.parametrize(
    ("fixture", "skip_dates", "resources"),
    [
        ("office-hours", ["2026-12-24", "2026-12-25"], ["ec2", "asg", "rds"]),
        ("every-kind", ["12-24", "12-25", "2027-01-01"], ["alarms", "ecs", "asg", "ec2", "rds", "redshift"]),
    ],
)
def test_fixture_events_are_what_the_schedules_send(
    action: str, fixture: str, skip_dates: list[str], resources: list[str], load_event: Callable[[str], Any]
) -> None:
    rendered = tftemplate.render_json(
        TEMPLATE,
        action=action,
        schedule="office-hours",
        timezone="Europe/Berlin",
        skip_dates=skip_dates,
        resources=resources,
        dry_run=False,
    )
    assert rendered == load_event(f"scheduler/{fixture}-{action}.json")


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
    every = handler.parse(load_event("scheduler/every-kind-start.json"), cfg)
    assert every.resources == ("alarms", "ecs", "asg", "ec2", "rds", "redshift")
    assert every.skip_dates == {"12-24", "12-25", "2027-01-01"}
    before_the_end = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    held = handler.parse(load_event("scheduler/manual-start-override.json"), cfg, before_the_end)
    assert held.manual and held.override_value == "running@2026-12-05T18:00:00Z"


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


def _tag_keys(operation: str, params: dict[str, Any]) -> list[str] | None:
    """The tag keys a tagging request names (None for a request that is not a tag write)."""
    if operation not in ("CreateTags", "DeleteTags", "CreateOrUpdateTags", "TagResource"):
        if operation in ("RemoveTagsFromResource", "UntagResource"):
            return list(params.get("TagKeys") or params.get("tagKeys") or [])
        return None
    if "TagKeys" in params:  # Redshift DeleteTags
        return list(params["TagKeys"])
    return [t.get("Key", t.get("key")) for t in params.get("Tags") or params.get("tags") or []]


IAM_PREFIX = {"monitoring": "cloudwatch", "tagging": "tag"}  # endpoint prefix -> IAM service prefix
ACCOUNT, REGION = "123456789012", "eu-central-1"
UNTIL = "2026-12-05T18:00:00Z"


class _Targets:
    """The ARNs a mutating request acts on and the schedule tag each carries, read before the request runs
    (with the test's own clients, which the recorder does not see)."""

    def __init__(self, boto3: Any, tags_to_dict: Callable[[Any], dict[str, str]]) -> None:
        self.c = {
            s: boto3.client(s, region_name=REGION)
            for s in ("ec2", "autoscaling", "rds", "ecs", "redshift", "cloudwatch")
        }
        self.tags = tags_to_dict

    def __call__(self, service: str, params: dict[str, Any]) -> list[tuple[str, str | None]]:
        c, tags = self.c, self.tags
        if service == "ec2":
            ids = params.get("InstanceIds") or params.get("Resources") or []
            found = [i for r in c["ec2"].describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]]
            return [
                (f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{i['InstanceId']}", tags(i.get("Tags")).get("Schedule"))
                for i in found
            ]
        if service == "autoscaling":
            names = [params["AutoScalingGroupName"]] if "AutoScalingGroupName" in params else []
            names += [t["ResourceId"] for t in params.get("Tags") or []]
            groups = c["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=names)["AutoScalingGroups"]
            return [(g["AutoScalingGroupARN"], tags(g.get("Tags")).get("Schedule")) for g in groups]
        if service == "rds":
            if "DBInstanceIdentifier" in params:
                db = c["rds"].describe_db_instances(DBInstanceIdentifier=params["DBInstanceIdentifier"])["DBInstances"][
                    0
                ]
                return [(db["DBInstanceArn"], tags(db.get("TagList")).get("Schedule"))]
            if "DBClusterIdentifier" in params:
                cl = c["rds"].describe_db_clusters(DBClusterIdentifier=params["DBClusterIdentifier"])["DBClusters"][0]
                return [(cl["DBClusterArn"], tags(cl.get("TagList")).get("Schedule"))]
            arn = params["ResourceName"]
            return [(arn, tags(c["rds"].list_tags_for_resource(ResourceName=arn)["TagList"]).get("Schedule"))]
        if service == "ecs":
            arn = (
                params.get("resourceArn")
                or f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{params['cluster']}/{params['service']}"
            )
            cluster = arn.split("/")[1]
            svc = c["ecs"].describe_services(cluster=cluster, services=[arn], include=["TAGS"])["services"][0]
            return [(arn, {t["key"]: t["value"] for t in svc.get("tags") or []}.get("Schedule"))]
        if service == "redshift":
            ident = params.get("ClusterIdentifier") or params["ResourceName"].rsplit(":", 1)[1]
            cluster = c["redshift"].describe_clusters(ClusterIdentifier=ident)["Clusters"][0]
            return [(f"arn:aws:redshift:{REGION}:{ACCOUNT}:cluster:{ident}", tags(cluster.get("Tags")).get("Schedule"))]
        if service == "monitoring":
            arns = (
                [params["ResourceARN"]]
                if "ResourceARN" in params
                else [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{n}" for n in params["AlarmNames"]]
            )
            return [
                (a, tags(c["cloudwatch"].list_tags_for_resource(ResourceARN=a)["Tags"]).get("Schedule")) for a in arns
            ]
        if service == "sns":
            return [(params["TopicArn"], None)]
        raise AssertionError(f"no target reader for {service}")


def _arn_matches(arn: str, patterns: list[str], values: dict[str, str]) -> bool:
    resolved = [re.sub(r"\$\{local\.(\w+)\}", lambda m: values[m.group(1)], p) for p in patterns]
    return any(p == "*" or fnmatch.fnmatchcase(arn, p) for p in resolved)


def _world(boto3: Any, topic: str) -> None:
    """One resource of every kind tagged office-hours; the RDS instance, Neptune cluster, ECS service, group
    and Redshift cluster carry an override that has expired by the time the runs happen."""
    expired = {"Schedule": "office-hours", "opskit:override": f"running@{UNTIL}"}
    plain = {"Schedule": "office-hours"}

    def kv(tags: dict[str, str], lower: bool = False) -> list[dict[str, str]]:
        return [{"key": k, "value": v} if lower else {"Key": k, "Value": v} for k, v in tags.items()]

    ec2, asg, rds = (boto3.client(s, region_name=REGION) for s in ("ec2", "autoscaling", "rds"))
    ec2.run_instances(
        ImageId="ami-0123456789abcdef0", MinCount=2, MaxCount=2,
        TagSpecifications=[{"ResourceType": "instance", "Tags": kv(plain)}],
    )  # fmt: skip
    ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": "ami-0123456789abcdef0"})
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web", LaunchTemplate={"LaunchTemplateName": "web"}, MinSize=1, MaxSize=1,
        DesiredCapacity=1, AvailabilityZones=[f"{REGION}a"],
        Tags=[{**t, "PropagateAtLaunch": False} for t in kv(expired)],
    )  # fmt: skip
    rds.create_db_instance(
        DBInstanceIdentifier="db", DBInstanceClass="db.t3.micro", Engine="postgres", AllocatedStorage=20,
        MasterUsername="admin", MasterUserPassword="secret-password1", Tags=kv(expired),
    )  # fmt: skip
    for ident, engine in (("aurora", "aurora-postgresql"), ("graph", "neptune")):
        rds.create_db_cluster(
            DBClusterIdentifier=ident, Engine=engine, MasterUsername="admin", MasterUserPassword="secret-password1",
            Tags=kv(expired if engine == "neptune" else plain),
        )  # fmt: skip
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName="apps")
    ecs.register_task_definition(family="app", containerDefinitions=[{"name": "app", "image": "app", "memory": 128}])
    ecs.create_service(cluster="apps", serviceName="api", taskDefinition="app", desiredCount=2, tags=kv(expired, True))
    boto3.client("redshift", region_name=REGION).create_cluster(
        ClusterIdentifier="wh", NodeType="ra3.xlplus", MasterUsername="admin", MasterUserPassword="Passw0rd!",
        Tags=kv(expired),
    )  # fmt: skip
    boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(
        AlarmName="api-5xx", MetricName="5xx", Namespace="app", Statistic="Sum", Period=60, EvaluationPeriods=1,
        Threshold=1, ComparisonOperator="GreaterThanThreshold", Tags=kv(plain),
    )  # fmt: skip
    assert boto3.client("sns", region_name=REGION).create_topic(Name=topic.rsplit(":", 1)[1])["TopicArn"] == topic


def test_every_call_the_handler_makes_is_allowed_by_the_module_policy(
    load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stop and start every kind on moto (EC2, an ASG, an RDS instance, Aurora and Neptune clusters, an ECS
    service, a Redshift cluster, an alarm; expired overrides removed on the way; the run summaries
    published), then a manual stop with override_until. Each call is recorded with its parameters and, for a
    mutating call, the ARN and schedule tag of every resource it targets at that moment. The module's
    statements are then evaluated the way IAM would for what they use: the action is listed, a mutating
    call's ARNs match the statement's resources, aws:ResourceTag/<key> is one of the configured names
    (StringEquals ${local.schedule_names}), and a tag write names only the statement's own keys
    (ForAllValues:StringEquals aws:TagKeys) and at least one key (Null aws:TagKeys). The one call no
    statement needs to allow is sts:GetCallerIdentity (IAM never denies it)."""
    import boto3
    import opskit_common
    import time_machine
    from moto import mock_aws

    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:opskit-scheduler-summaries"
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    monkeypatch.setenv("SCHEDULE_NAMES", json.dumps(SCHEDULES))
    monkeypatch.setenv("VERIFY_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("TOPIC_ARN", topic)
    locals_ = {**_locals(), "arn_prefix": "arn:aws", "region": REGION, "account_id": ACCOUNT}
    locals_["notification_topic_arn"] = topic
    statements = _function_policy_statements()
    calls: list[tuple[str, dict[str, Any], list[tuple[str, str | None]]]] = []
    with time_machine.travel(dt.datetime(2026, 12, 6, 9, tzinfo=dt.UTC), tick=False), mock_aws():
        _world(boto3, topic)
        targets = _Targets(boto3, opskit_common.tags_to_dict)

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            prefix = model.service_model.endpoint_prefix
            action = f"{IAM_PREFIX.get(prefix, prefix)}:{model.name}"
            mutating = not model.name.startswith(("Describe", "Get", "List"))
            calls.append((action, dict(params), targets(prefix, params) if mutating else []))

        handler = load_handler("scheduler")
        handler.sleep = lambda seconds: None
        for service in (
            "ec2",
            "autoscaling",
            "rds",
            "ecs",
            "redshift",
            "cloudwatch",
            "resourcegroupstaggingapi",
            "sns",
            "sts",
        ):
            opskit_common.client(service).meta.events.register("before-parameter-build.*.*", record)
        base = {
            "schedule": "office-hours",
            "timezone": "UTC",
            "resources": ["ec2", "asg", "rds", "ecs", "redshift", "alarms"],
        }
        for action in ("stop", "start"):
            result = handler.handler({**base, "action": action})
            assert len(result["succeeded"]) == 9 and result["failed"] == [], result
        instance = [i for i in result["succeeded"] if i.startswith("i-")][:1]
        handler.handler({"action": "stop", "instance_ids": instance, "override_until": "2026-12-08T18:00:00Z"})

    used = {action for action, _, _ in calls}
    assert {
        "ec2:CreateTags", "ec2:DeleteTags", "ec2:StopInstances", "ec2:StartInstances",
        "autoscaling:UpdateAutoScalingGroup", "autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags",
        "rds:StopDBInstance", "rds:StartDBInstance", "rds:StopDBCluster", "rds:StartDBCluster",
        "rds:RemoveTagsFromResource", "ecs:UpdateService", "ecs:TagResource", "ecs:UntagResource",
        "redshift:PauseCluster", "redshift:ResumeCluster", "redshift:DeleteTags", "cloudwatch:DisableAlarmActions",
        "cloudwatch:EnableAlarmActions", "cloudwatch:TagResource", "cloudwatch:UntagResource", "sns:Publish",
        "tag:GetResources", "ecs:DescribeServices", "redshift:DescribeClusters", "cloudwatch:DescribeAlarms",
    } <= used, sorted(used)  # fmt: skip
    assert any(a == "ec2:CreateTags" and p["Tags"][0]["Key"] == "opskit:override" for a, p, _ in calls)

    for action, params, targeted in calls:
        if action == "sts:GetCallerIdentity":
            continue
        allowing = []
        for statement in statements:
            if action not in statement["actions"]:
                continue
            if targeted and not all(_arn_matches(arn, statement["resources"], locals_) for arn, _ in targeted):
                continue
            conditions = {(c["test"], c["variable"]): c["values"] for c in statement.get("condition", [])}
            required = conditions.get(("StringEquals", "aws:ResourceTag/${var.tag_key}"))
            if required is not None:
                assert required == "${local.schedule_names}", statement["sid"]
                if not targeted or not all(t in SCHEDULES for _, t in targeted):
                    continue
            keys = _tag_keys(action.split(":")[1], params)
            own = conditions.get(("ForAllValues:StringEquals", "aws:TagKeys"))
            if own is not None and (keys is None or not set(keys) <= {locals_[k.split(".")[1][:-1]] for k in own}):
                continue
            if conditions.get(("Null", "aws:TagKeys")) == ["false"] and not keys:
                continue
            allowing.append(statement["sid"])
        assert allowing, f"{action} {params} on {targeted}: no statement allows it"
