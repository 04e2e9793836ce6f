"""scheduler: API calls and wall time to stop and start 10,000 tagged EC2 instances, 200 ECS services and
200 tagged CloudWatch alarms in one schedule (moto), with every kind enabled.

Target: the EC2 part stays at most N/50 = 200 calls per run (describe, tag, stop/start, verify, untag in
batches of 200). ECS and alarms need calls per resource where AWS has no batch API (UpdateService,
TagResource/UntagResource of one ARN each); their counts are printed, not capped."""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections import Counter
from typing import Any

import boto3
import opskit_common
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from opskit_tools.loader import load_handler
from opskit_tools.scenarios import Report, environment

ORDER = 10
REGION = "eu-central-1"
# OPSKIT_BENCH_FLEET=1200 runs a quick version: moto needs about 50 ms of CPU per instance to render and parse
# each DescribeInstances answer, so the full fleet costs minutes of moto time per run (AWS: 10 pages).
FLEET = int(os.environ.get("OPSKIT_BENCH_FLEET", "10000"))
TITLE = f"scheduler: stop and start {FLEET:,} instances, 200 ECS services, 200 alarms"
PER_LAUNCH = 200  # RunInstances calls with MinCount = MaxCount = 200
SERVICES = 200
ALARMS = 200
LIMIT = FLEET // 50
KINDS = ["alarms", "ecs", "asg", "ec2", "rds", "redshift"]
ENV: dict[str, str | None] = {"TAG_KEY": "Schedule", "DRY_RUN": "false", "HIBERNATE": "false"}
ENV["VERIFY_TIMEOUT_SECONDS"] = "20"
ENV["SCHEDULE_NAMES"] = '["office-hours"]'  # what modules/scheduler passes for its one schedule
ENV["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
ENV["TOPIC_ARN"] = None  # no summary topic: the counts are the resources' own
PART = {"ec2": "EC2", "ecs": "ECS", "monitoring": "alarms", "autoscaling": "other", "rds": "other", "redshift": "other"}
TAGGING_PART = {"ecs:service": "ECS", "cloudwatch:alarm": "alarms"}


def run(report: Report) -> None:
    with environment(ENV), mock_aws():
        _run(report)


def _launch() -> None:
    """The fleet, created in moto's EC2 backend with the arguments moto's RunInstances handler passes for
    `RunInstances(ImageId, MinCount=MaxCount=200, TagSpecifications=[instance: Schedule=office-hours])`.
    Through the API, moto spends ~10 s per 200 instances rendering the XML answer the bench never reads
    (13.5 min for the fleet on a busy 2-core machine); the measured runs below go through the API."""
    backend = ec2_backends[DEFAULT_ACCOUNT_ID][REGION]
    for first in range(0, FLEET, PER_LAUNCH):
        backend.run_instances(
            "ami-0123456789abcdef0", min(PER_LAUNCH, FLEET - first), None, [],
            instance_type="m1.small", is_instance_type_default=True, placement=None, placement_hostid=None,
            region_name=REGION, subnet_id=None, key_name=None, security_group_ids=[], nics=[], private_ip=None,
            associate_public_ip=None, tags={"instance": {"Schedule": "office-hours"}}, ebs_optimized=False,
            disable_api_stop=False, instance_market_options={}, instance_initiated_shutdown_behavior=None,
            launch_template={}, hibernation_options={}, iam_instance_profile_name=None,
            iam_instance_profile_arn=None, monitoring_state="disabled", ipv6_address_count=None,
            metadata_options={}, client_token="ABCDE",
        )  # fmt: skip


def _estate(report: Report) -> None:
    started = time.perf_counter()
    _launch()
    ecs = boto3.client("ecs", region_name=REGION)
    for cluster in ("apps", "batch"):
        ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(family="app", containerDefinitions=[{"name": "app", "image": "app", "memory": 128}])
    for n in range(SERVICES):
        ecs.create_service(
            cluster=("apps", "batch")[n % 2], serviceName=f"svc-{n:03d}", taskDefinition="app", desiredCount=2,
            tags=[{"key": "Schedule", "value": "office-hours"}],
        )  # fmt: skip
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    for n in range(ALARMS):
        cloudwatch.put_metric_alarm(
            AlarmName=f"alarm-{n:03d}", MetricName="CPUUtilization", Namespace="AWS/EC2", Statistic="Average",
            Period=60, EvaluationPeriods=1, Threshold=90, ComparisonOperator="GreaterThanThreshold",
            Tags=[{"Key": "Schedule", "Value": "office-hours"}],
        )  # fmt: skip
    report.kv("estate built (moto)", f"{time.perf_counter() - started:.1f} s")


def _run(report: Report) -> None:
    _estate(report)
    handler = load_handler("scheduler")
    handler.sleep = lambda seconds: None  # moto settles at once; the verification poll still runs
    calls: Counter[tuple[str, str]] = Counter()

    def count(params: dict[str, Any], model: Any, **_: Any) -> None:
        prefix = model.service_model.endpoint_prefix
        part = PART.get(prefix, "other")
        if prefix == "tagging":
            part = TAGGING_PART.get((params.get("ResourceTypeFilters") or [""])[0], "other")
        calls[(part, f"{prefix}:{model.name}")] += 1

    for service in ("ec2", "autoscaling", "rds", "ecs", "redshift", "cloudwatch", "resourcegroupstaggingapi"):
        opskit_common.client(service).meta.events.register("before-parameter-build.*.*", count)

    event = {"schedule": "office-hours", "timezone": "Europe/Berlin", "skip_dates": [], "resources": KINDS}
    rows = []
    for action in ("stop", "start"):
        calls.clear()
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the EMF line
            result = handler.handler({**event, "action": action, "dry_run": False}, None)
        seconds = time.perf_counter() - started
        parts = Counter[str]()
        for (part, _), n in calls.items():
            parts[part] += n
        succeeded = Counter(_kind(label) for label in result["succeeded"])
        report.heading(f"scheduler bench: {action}")
        report.kv("acted on", dict(succeeded))
        report.kv("API calls", f"{sum(parts.values())} ({', '.join(f'{p} {n}' for p, n in sorted(parts.items()))})")
        report.kv("wall time (moto)", f"{seconds:.1f} s")
        report.table(["part", "call", "count"], [[p, c, n] for (p, c), n in sorted(calls.items())])
        expected = {"ec2": FLEET, "ecs": SERVICES, "alarm": ALARMS}
        report.check(dict(succeeded) == expected and not result["failed"], f"{action}: every resource acted on")
        report.check(parts["EC2"] <= LIMIT, f"{action}: EC2 part {parts['EC2']} API calls <= {LIMIT} (N/50)")
        rows.append([action, sum(parts.values()), parts["EC2"], parts["ECS"], parts["alarms"], f"{seconds:.1f}"])

    report.heading("scheduler bench: summary")
    report.table(["run", "API calls", "EC2", "ECS", "alarms", "seconds (moto)"], rows)
    pages = -(-FLEET // 1000)
    report.line(f"moto pages DescribeInstances by reservation ({-(-FLEET // PER_LAUNCH)} here, one page); AWS pages by")
    report.line(f"instance (1,000 a page), so a real run of this fleet makes {pages - 1} more DescribeInstances calls,")
    report.line("and a start one or two more per verification poll that still finds instances pending. The wall time")
    report.line("is moto's: nearly all of it renders and parses the one DescribeInstances answer of the whole fleet.")


def _kind(label: str) -> str:
    return "ec2" if label.startswith("i-") else label.split("/")[0]
