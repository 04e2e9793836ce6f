"""Shared moto world for the scheduler tests of issue 13 (no tests here): the handler with a fake clock, and
builders for every scheduled kind: EC2 instances, ECS services, Redshift clusters, RDS instances and
clusters (aurora-mysql, docdb, neptune), CloudWatch alarms, and an SNS topic with an SQS queue to read
the run summaries from."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import opskit_common
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.rds.models import rds_backends

REGION = "eu-central-1"
SCHEDULES = ["office-hours", "weekends"]
SERVICES = ("ec2", "autoscaling", "rds", "ecs", "redshift", "cloudwatch", "resourcegroupstaggingapi", "sns", "sts")
TOPIC = f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT_ID}:scheduler-summaries"
OVERRIDE = "opskit:override"
SAVED = "opskit:scheduler-saved-size"
MUTED = "opskit:muted-by"
MARKER = "opskit:stopped-by"
EVERY_KIND = ["ec2", "asg", "rds", "ecs", "redshift", "alarms"]
PLAIN = {"Schedule": "office-hours"}

_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    """The test's own clients (their calls are not counted); hooks go on opskit_common.client(...)."""
    if service not in _clients:
        _clients[service] = boto3.client(service, region_name=REGION)
    return _clients[service]


def reset_clients() -> None:
    """Forget the test's own clients (call it inside each new moto mock)."""
    _clients.clear()


@pytest.fixture
def world(load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """moto, the configured schedules, no summary topic, verification off; sleep() never waits."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    for key in ("TAG_KEY", "DRY_RUN", "HIBERNATE", "TOPIC_ARN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SCHEDULE_NAMES", json.dumps(SCHEDULES))
    monkeypatch.setenv("VERIFY_TIMEOUT_SECONDS", "0")
    with mock_aws():
        _clients.clear()
        module = load_handler("scheduler")
        module.sleep = lambda seconds: None
        yield module
        _clients.clear()


def scheduled(action: str, resources: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    event = {
        "action": action,
        "schedule": "office-hours",
        "timezone": "Europe/Berlin",
        "skip_dates": [],
        "resources": resources or EVERY_KIND,
        "dry_run": False,
    }
    return {**event, **extra}


def record_calls() -> list[str]:
    """Every API call the handler's clients make, in order, as service:Operation."""
    calls: list[str] = []
    for service in SERVICES:
        opskit_common.client(service).meta.events.register(
            "before-call.*.*", lambda model, **_: calls.append(f"{model.service_model.endpoint_prefix}:{model.name}")
        )
    return calls


def count(calls: list[str]) -> Counter[str]:
    return Counter(calls)


# --- builders --------------------------------------------------------------------------------------


def launch(tags: dict[str, str] | None = None, count: int = 1) -> list[str]:
    kwargs: dict[str, Any] = {"ImageId": "ami-0123456789abcdef0", "MinCount": count, "MaxCount": count}
    if tags:
        kwargs["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    return [i["InstanceId"] for i in client("ec2").run_instances(**kwargs)["Instances"]]


def instance(instance_id: str) -> tuple[str, dict[str, str]]:
    found = client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return found["State"]["Name"], opskit_common.tags_to_dict(found.get("Tags"))


def ecs_service(name: str, desired: int, tags: dict[str, str] | None = None, cluster: str = "apps") -> str:
    ecs = client("ecs")
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(family="app", containerDefinitions=[{"name": "app", "image": "app", "memory": 128}])
    tag_list = [{"key": k, "value": v} for k, v in (tags or {"Schedule": "office-hours"}).items()]
    service = ecs.create_service(
        cluster=cluster, serviceName=name, taskDefinition="app", desiredCount=desired, tags=tag_list
    )
    return str(service["service"]["serviceArn"])


def ecs_state(name: str, cluster: str = "apps") -> tuple[int, dict[str, str]]:
    ecs = client("ecs")
    service = ecs.describe_services(cluster=cluster, services=[name], include=["TAGS"])["services"][0]
    return service["desiredCount"], {t["key"]: t["value"] for t in service.get("tags") or []}


def redshift_cluster(ident: str, tags: dict[str, str] | None = None) -> None:
    client("redshift").create_cluster(
        ClusterIdentifier=ident, NodeType="ra3.xlplus", MasterUsername="admin", MasterUserPassword="Passw0rd!",
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {"Schedule": "office-hours"}).items()],
    )  # fmt: skip


def redshift_state(ident: str) -> tuple[str, dict[str, str]]:
    cluster = client("redshift").describe_clusters(ClusterIdentifier=ident)["Clusters"][0]
    return cluster["ClusterStatus"], opskit_common.tags_to_dict(cluster.get("Tags"))


def db_cluster(ident: str, engine: str, tags: dict[str, str] | None = None) -> None:
    """moto's CreateDBCluster refuses engine `docdb` (its enum lacks it), so a DocumentDB cluster is an
    aurora-mysql cluster whose engine is set to docdb in moto's RDS backend: DescribeDBClusters then
    reports `docdb`, and Stop/StartDBCluster act on it like on any cluster, as RDS does."""
    client("rds").create_db_cluster(
        DBClusterIdentifier=ident, Engine="aurora-mysql" if engine == "docdb" else engine, MasterUsername="admin",
        MasterUserPassword="password123",
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {"Schedule": "office-hours"}).items()],
    )  # fmt: skip
    if engine == "docdb":
        rds_backends[DEFAULT_ACCOUNT_ID][REGION].clusters[ident].engine = "docdb"


def db_cluster_state(ident: str) -> tuple[str, str, dict[str, str]]:
    cluster = client("rds").describe_db_clusters(DBClusterIdentifier=ident)["DBClusters"][0]
    return cluster["Status"], cluster["Engine"], opskit_common.tags_to_dict(cluster.get("TagList"))


def db_instance(ident: str, tags: dict[str, str] | None = None) -> None:
    client("rds").create_db_instance(
        DBInstanceIdentifier=ident, DBInstanceClass="db.t3.micro", Engine="postgres", AllocatedStorage=20,
        MasterUsername="admin", MasterUserPassword="secret-password1",
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {"Schedule": "office-hours"}).items()],
    )  # fmt: skip


def db_instance_state(ident: str) -> tuple[str, dict[str, str]]:
    db = client("rds").describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
    return db["DBInstanceStatus"], opskit_common.tags_to_dict(db.get("TagList"))


def alarm(name: str, tags: dict[str, str] | None = None, enabled: bool = True) -> str:
    cloudwatch = client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name, MetricName="CPUUtilization", Namespace="AWS/EC2", Statistic="Average", Period=60,
        EvaluationPeriods=1, Threshold=90, ComparisonOperator="GreaterThanThreshold", ActionsEnabled=enabled,
        AlarmActions=[f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT_ID}:pager"],
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {"Schedule": "office-hours"}).items()],
    )  # fmt: skip
    return f"arn:aws:cloudwatch:{REGION}:{DEFAULT_ACCOUNT_ID}:alarm:{name}"


def alarm_state(name: str) -> tuple[bool, dict[str, str]]:
    cloudwatch = client("cloudwatch")
    found = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    tags = cloudwatch.list_tags_for_resource(ResourceARN=found["AlarmArn"])["Tags"]
    return found["ActionsEnabled"], opskit_common.tags_to_dict(tags)


def summary_topic(monkeypatch: pytest.MonkeyPatch, handler: ModuleType) -> str:
    """Create the summary topic with an SQS queue subscribed; point TOPIC_ARN at it (config re-read)."""
    sns, sqs = client("sns"), client("sqs")
    assert sns.create_topic(Name="scheduler-summaries")["TopicArn"] == TOPIC
    queue = sqs.create_queue(QueueName="summaries")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=TOPIC, Protocol="sqs", Endpoint=arn)
    monkeypatch.setenv("TOPIC_ARN", TOPIC)
    handler.config.cache_clear()
    return str(queue)


def summaries(queue: str) -> list[dict[str, Any]]:
    """The published summaries: {"Subject", "Message", "outcome"} each, in order."""
    sqs = client("sqs")
    found = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for m in messages:
            body = json.loads(m["Body"])
            attributes = body.get("MessageAttributes", {})
            found.append({**body, "outcome": attributes.get("outcome", {}).get("Value")})
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])


def asg(name: str, size: tuple[int, int, int] = (1, 2, 1), tags: dict[str, str] | None = None) -> None:
    client("ec2").create_launch_template(
        LaunchTemplateName=f"{name}-lt", LaunchTemplateData={"ImageId": "ami-0123456789abcdef0"}
    )
    client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": f"{name}-lt"}, MinSize=size[0],
        MaxSize=size[1], DesiredCapacity=size[2], AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": False} for k, v in (tags or PLAIN).items()],
    )  # fmt: skip


def asg_state(name: str) -> tuple[tuple[int, int, int], dict[str, str]]:
    group = client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]), opskit_common.tags_to_dict(group["Tags"])
