"""The owner-tagger fixtures of tests/events/owner_tagger/ bound to moto: for each create call moto's Tagging
API supports, a binder creates the resource the record names (with the record's own names where moto keeps
them, writing moto's ids back into the record otherwise); and what each record says about its caller and
creation path. Shared by test_owner_tagger_services.py and test_owner_tagger_fuzz.py (no tests here)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import boto3

REGION = "eu-central-1"
ACCOUNT = "123456789012"
STUBBED = {
    "sqs-create-queue.json",
    "elbv2-create-load-balancer.json",
    "elbv2-create-target-group.json",
    "eks-create-cluster.json",
    "eks-create-nodegroup.json",
    "ecr-create-repository.json",
    "kinesis-create-stream.json",
}


def response(event: dict[str, Any]) -> dict[str, Any]:
    return event["detail"]["responseElements"]


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def _role() -> str:
    iam = client("iam")
    try:
        return iam.get_role(RoleName="orders")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return iam.create_role(RoleName="orders", AssumeRolePolicyDocument="{}")["Role"]["Arn"]


def _vpc() -> tuple[str, str]:
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]
    return vpc, subnet["SubnetId"]


# --- binding each fixture to a moto resource of the kind it names -----------------------------------
# Each binder creates the resource (with the fixture's own names where moto keeps them) and rewrites the
# fixture's ids/ARNs where moto makes up its own.


def _security_group(event: dict[str, Any]) -> None:
    vpc, _ = _vpc()
    response(event)["groupId"] = client("ec2").create_security_group(
        GroupName="web-sg", Description="web tier", VpcId=vpc
    )["GroupId"]


def _vpc_event(event: dict[str, Any]) -> None:
    response(event)["vpc"]["vpcId"] = _vpc()[0]


def _subnet(event: dict[str, Any]) -> None:
    response(event)["subnet"]["subnetId"] = _vpc()[1]


def _launch_template(event: dict[str, Any]) -> None:
    created = client("ec2").create_launch_template(LaunchTemplateName="payments-web", LaunchTemplateData={})
    response(event)["CreateLaunchTemplateResponse"]["launchTemplate"]["launchTemplateId"] = created["LaunchTemplate"][
        "LaunchTemplateId"
    ]


def _nat_gateway(event: dict[str, Any]) -> None:
    ec2 = client("ec2")
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=_vpc()[1], AllocationId=allocation)["NatGateway"]["NatGatewayId"]
    response(event)["CreateNatGatewayResponse"]["natGateway"]["natGatewayId"] = nat


def _internet_gateway(event: dict[str, Any]) -> None:
    igw = client("ec2").create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    response(event)["internetGateway"]["internetGatewayId"] = igw


def _transit_gateway(event: dict[str, Any]) -> None:
    tgw = client("ec2").create_transit_gateway(Description="hub")["TransitGateway"]["TransitGatewayId"]
    response(event)["CreateTransitGatewayResponse"]["transitGateway"]["transitGatewayId"] = tgw


def _bucket(event: dict[str, Any]) -> None:
    client("s3").create_bucket(Bucket="payments-reports-eu", CreateBucketConfiguration={"LocationConstraint": REGION})


def _db_instance(event: dict[str, Any] | None = None) -> None:
    rds = client("rds")
    if rds.describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": ["orders-db"]}])["DBInstances"]:
        return  # the fuzz tests bind several fixtures in one moto account
    rds.create_db_instance(
        DBInstanceIdentifier="orders-db",
        Engine="postgres",
        DBInstanceClass="db.t4g.micro",
        AllocatedStorage=20,
        MasterUsername="orders",
        MasterUserPassword="not-a-real-password-1",
    )


def _db_cluster(event: dict[str, Any] | None = None) -> None:
    rds = client("rds")
    if rds.describe_db_clusters(Filters=[{"Name": "db-cluster-id", "Values": ["ledger"]}])["DBClusters"]:
        return  # the fuzz tests bind several fixtures in one moto account
    rds.create_db_cluster(
        DBClusterIdentifier="ledger",
        Engine="aurora-postgresql",
        MasterUsername="ledger",
        MasterUserPassword="not-a-real-password-1",
    )


def _db_snapshot(event: dict[str, Any]) -> None:
    _db_instance()
    client("rds").create_db_snapshot(DBSnapshotIdentifier="orders-db-before-upgrade", DBInstanceIdentifier="orders-db")


def _db_cluster_snapshot(event: dict[str, Any]) -> None:
    _db_cluster()
    client("rds").create_db_cluster_snapshot(
        DBClusterSnapshotIdentifier="awsbackup-job-0a1b2c3d", DBClusterIdentifier="ledger"
    )


def _function(event: dict[str, Any]) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("handler.py", "def handler(event, context):\n    return None\n")
    client("lambda").create_function(
        FunctionName="orders-api",
        Runtime="python3.13",
        Role=_role(),
        Handler="handler.handler",
        Code={"ZipFile": archive.getvalue()},
    )


def _table(event: dict[str, Any]) -> None:
    client("dynamodb").create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _topic(event: dict[str, Any]) -> None:
    client("sns").create_topic(Name="orders-alerts")


def _ecs_cluster(event: dict[str, Any]) -> None:
    client("ecs").create_cluster(clusterName="orders")


def _ecs_service(event: dict[str, Any]) -> None:
    ecs = client("ecs")
    ecs.create_cluster(clusterName="orders")  # idempotent in ECS (and moto)
    task = ecs.register_task_definition(
        family="orders-api", containerDefinitions=[{"name": "api", "image": "orders/api", "memory": 128}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="orders", serviceName="orders-api", taskDefinition=task, desiredCount=0)


def _secret(event: dict[str, Any]) -> None:
    response(event)["arn"] = client("secretsmanager").create_secret(Name="orders/db", SecretString="x")["ARN"]


def _log_group(event: dict[str, Any]) -> None:
    client("logs").create_log_group(logGroupName="/orders/api")


def _key(event: dict[str, Any]) -> None:
    response(event)["keyMetadata"]["arn"] = client("kms").create_key(Description="orders data")["KeyMetadata"]["Arn"]


def _state_machine(event: dict[str, Any]) -> None:
    client("stepfunctions").create_state_machine(
        name="orders-refund",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
        roleArn=_role(),
    )


def _file_system(event: dict[str, Any]) -> None:
    created = client("efs").create_file_system(CreationToken="orders-shared")
    response(event)["fileSystemId"] = created["FileSystemId"]
    response(event)["fileSystemArn"] = created["FileSystemArn"]


def _cache_cluster(event: dict[str, Any]) -> None:
    client("elasticache").create_cache_cluster(
        CacheClusterId="orders-cache", Engine="redis", CacheNodeType="cache.t4g.micro", NumCacheNodes=1
    )


def _replication_group(event: dict[str, Any]) -> None:
    client("elasticache").create_replication_group(
        ReplicationGroupId="sessions", ReplicationGroupDescription="sessions", Engine="redis"
    )


BINDERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "ec2-create-security-group.json": _security_group,
    "ec2-create-vpc.json": _vpc_event,
    "ec2-create-subnet.json": _subnet,
    "ec2-create-launch-template.json": _launch_template,
    "ec2-create-nat-gateway.json": _nat_gateway,
    "ec2-create-internet-gateway.json": _internet_gateway,
    "ec2-create-transit-gateway.json": _transit_gateway,
    "s3-create-bucket.json": _bucket,
    "rds-create-db-instance.json": _db_instance,
    "rds-create-db-cluster.json": _db_cluster,
    "rds-create-db-snapshot.json": _db_snapshot,
    "rds-create-db-cluster-snapshot.json": _db_cluster_snapshot,
    "lambda-create-function.json": _function,
    "dynamodb-create-table.json": _table,
    "sns-create-topic.json": _topic,
    "ecs-create-cluster.json": _ecs_cluster,
    "ecs-create-service.json": _ecs_service,
    "secretsmanager-create-secret.json": _secret,
    "logs-create-log-group.json": _log_group,
    "kms-create-key.json": _key,
    "states-create-state-machine.json": _state_machine,
    "efs-create-file-system.json": _file_system,
    "elasticache-create-cache-cluster.json": _cache_cluster,
    "elasticache-create-replication-group.json": _replication_group,
}

# What each fixture's record says about its caller and path (the Owner, CreatedBy and CreatedVia values).
EXPECTED = {
    "alice": ("alice", f"arn:aws:iam::{ACCOUNT}:user/alice"),
    "bob": ("bob", f"arn:aws:sts::{ACCOUNT}:assumed-role/Developer/bob"),
    "carol": (
        "carol.jones@example.com",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_PowerUserAccess_3b1f0c2d9e8a7654/carol.jones@example.com",
    ),
    "dave": ("dave", f"arn:aws:sts::{ACCOUNT}:assumed-role/platform-deployer/dave"),
    "ci": ("github-actions-1234", f"arn:aws:sts::{ACCOUNT}:assumed-role/orders-ci/github-actions-1234"),
    "app": ("orders-api", f"arn:aws:sts::{ACCOUNT}:assumed-role/orders-api/orders-api"),
    "partner": (
        "partner-session",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/partner-session delegate:444455556666",
    ),
    "backup": (
        "backup.amazonaws.com",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSServiceRoleForBackup/AWSBackup-AWSBackupDefaultServiceRole",
    ),
}
CALLS = {
    "ec2-create-security-group.json": ("alice", "console"),
    "ec2-create-vpc.json": ("bob", "terraform"),
    "ec2-create-subnet.json": ("bob", "terraform"),
    "ec2-create-launch-template.json": ("dave", "cloudformation:payments-prod"),
    "ec2-create-nat-gateway.json": ("carol", "cli"),
    "ec2-create-internet-gateway.json": ("bob", "terraform"),
    "ec2-create-transit-gateway.json": ("partner", "sdk-python"),
    "s3-create-bucket.json": ("alice", "console"),
    "rds-create-db-instance.json": ("bob", "terraform"),
    "rds-create-db-cluster.json": ("dave", "cloudformation:payments-prod"),
    "rds-create-db-snapshot.json": ("carol", "cli"),
    "rds-create-db-cluster-snapshot.json": ("backup", "aws-service:backup"),
    "lambda-create-function.json": ("bob", "terraform"),
    "dynamodb-create-table.json": ("ci", "sdk-javascript"),
    "sqs-create-queue.json": ("alice", "console"),
    "sns-create-topic.json": ("carol", "cli"),
    "elbv2-create-load-balancer.json": ("bob", "terraform"),
    "elbv2-create-target-group.json": ("bob", "terraform"),
    "ecs-create-cluster.json": ("carol", "cli"),
    "ecs-create-service.json": ("dave", "cloudformation:payments-prod"),
    "eks-create-cluster.json": ("bob", "terraform"),
    "eks-create-nodegroup.json": ("bob", "terraform"),
    "ecr-create-repository.json": ("ci", "sdk-java"),
    "secretsmanager-create-secret.json": ("alice", "console"),
    "logs-create-log-group.json": ("app", "sdk-python"),
    "kms-create-key.json": ("carol", "cli"),
    "states-create-state-machine.json": ("dave", "cloudformation:payments-prod"),
    "efs-create-file-system.json": ("bob", "terraform"),
    "elasticache-create-cache-cluster.json": ("carol", "cli"),
    "elasticache-create-replication-group.json": ("bob", "terraform"),
    "kinesis-create-stream.json": ("ci", "sdk-python"),
}


def expected_tags(name: str, event: dict[str, Any]) -> dict[str, str]:
    who, via = CALLS[name]
    owner, created_by = EXPECTED[who]
    return {"Owner": owner, "CreatedBy": created_by, "CreatedAt": event["detail"]["eventTime"], "CreatedVia": via}
