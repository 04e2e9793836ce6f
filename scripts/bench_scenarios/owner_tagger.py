"""owner-tagger: API calls and wall time (moto) for a RunInstances of 1,000 instances, and for the sweep over
5,000 resources of which 1,000 lack an owner.

The launch: DescribeInstances and DescribeTags per 100 resources, one CreateTags per tag key per 100
resources (the IAM grant allows one key per request). The sweep: GetResources pages of 100, one LookupEvents
per untagged resource (CloudTrail allows 2 per second per account and region, so a real run spends at least
lookups / 2 seconds there), and TagResources per 20 ARNs per key; at most SWEEP_MAX_LOOKUPS lookups per run,
the rest continues in the next run from the saved resume point. moto has no LookupEvents: a botocore
before-call hook answers from an in-memory event history (the records of tests/events/owner_tagger/)."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import json
import time
from collections import Counter
from typing import Any

import boto3
import opskit_common
from moto import mock_aws
from opskit_tools.loader import load_event, load_handler
from opskit_tools.scenarios import Report, environment

ORDER = 20
TITLE = "owner-tagger: a 1,000-instance launch and a sweep over 5,000 resources"

REGION = "eu-central-1"
ACCOUNT = "123456789012"
LAUNCH = 1000
RESOURCES = 5000
UNTAGGED = 1000
MAX_LOOKUPS = 400
PARAMETER = "/opskit-bench-owner-tagger/sweep-state"
ENV = {
    "OWNER_TAG_KEY": "Owner",
    "CREATED_BY_TAG_KEY": "CreatedBy",
    "CREATED_AT_TAG_KEY": "CreatedAt",
    "CREATED_VIA_TAG_KEY": "CreatedVia",
    "EVENT_NAMES": json.dumps(["RunInstances", "sns:CreateTopic"]),
    "SWEEP_STATE_PARAMETER": PARAMETER,
    "SWEEP_MAX_LOOKUPS": str(MAX_LOOKUPS),
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}


class _Answer:
    status_code = 200
    headers: dict[str, str] = {}


class _Context:
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:opskit-bench-owner-tagger"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def _counter(services: tuple[str, ...]) -> Counter[str]:
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}:{model.name}"] += 1

    for service in services:
        opskit_common.client(service).meta.events.register("before-call.*.*", count)
    return calls


def run(report: Report) -> None:
    with environment(ENV), mock_aws():
        _launch(report)
    with environment(ENV), mock_aws():
        _sweep(report)


def _launch(report: Report) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    instances = ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=LAUNCH, MaxCount=LAUNCH)["Instances"]
    event = copy.deepcopy(load_event("owner_tagger/run-instances-multi.json"))
    [item] = event["detail"]["responseElements"]["instancesSet"]["items"][:1]
    items = []
    for instance in instances:
        entry = copy.deepcopy(item)
        entry["instanceId"] = instance["InstanceId"]
        entry["networkInterfaceSet"]["items"][0]["networkInterfaceId"] = instance["NetworkInterfaces"][0][
            "NetworkInterfaceId"
        ]
        items.append(entry)
    event["detail"]["responseElements"]["instancesSet"]["items"] = items

    handler = load_handler("owner_tagger")
    calls = _counter(("ec2", "autoscaling"))
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        result = handler.handler(event, None)
    seconds = time.perf_counter() - started
    total = sum(calls.values())
    report.heading(f"owner-tagger bench: RunInstances of {LAUNCH} instances")
    report.kv("resources tagged", f"{len(result['tagged'])} (instances, root volumes, network interfaces)")
    report.kv("API calls", total)
    report.kv("wall time (moto)", f"{seconds:.2f} s")
    report.table(["call", "count"], [[name, n] for name, n in sorted(calls.items())])
    expected = 3 * LAUNCH
    report.check(len(result["tagged"]) == expected and not result["failed"], f"all {expected} resources tagged")
    limit = 10 + 30 + 4 * 30  # DescribeInstances per 100 ids, DescribeTags and CreateTags (x4 keys) per 100
    report.check(total <= limit, f"{total} API calls <= {limit} (no call per resource)")


def _sweep(report: Report) -> None:
    sns = boto3.client("sns", region_name=REGION)
    record = load_event("owner_tagger/sns-create-topic.json")["detail"]
    history: dict[str, dict[str, Any]] = {}
    for n in range(RESOURCES):
        name = f"topic-{n:05d}"
        tags = [{"Key": "Project", "Value": "bench"}] if n < UNTAGGED else [{"Key": "Owner", "Value": "team-a"}]
        arn = sns.create_topic(Name=name, Tags=tags)["TopicArn"]
        if n < UNTAGGED:
            created = copy.deepcopy(record)
            created["requestParameters"]["name"] = name
            created["responseElements"]["topicArn"] = arn
            history[name] = created
    boto3.client("ssm", region_name=REGION).put_parameter(Name=PARAMETER, Value='{"cursor": ""}', Type="String")

    def lookup(params: dict[str, Any], **_: Any) -> Any:
        name = json.loads(params["body"])["LookupAttributes"][0]["AttributeValue"]
        found = [history[name]] if name in history else []
        events = [
            {
                "EventId": r["eventID"],
                "EventName": r["eventName"],
                "EventSource": r["eventSource"],
                "EventTime": dt.datetime(2026, 11, 18, tzinfo=dt.UTC),
                "CloudTrailEvent": json.dumps(r),
            }
            for r in found
        ]
        return _Answer(), {"Events": events}

    rows = []
    totals: Counter[str] = Counter()
    day = 0
    while True:
        day += 1
        handler = load_handler("owner_tagger")
        opskit_common.reset_clients()
        opskit_common.client("cloudtrail").meta.events.register("before-call.cloudtrail.LookupEvents", lookup)
        calls = _counter(("resourcegroupstaggingapi", "cloudtrail", "ssm", "sts"))
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            result = handler.handler({"mode": "sweep"}, _Context())
        seconds = time.perf_counter() - started
        totals.update(calls)
        lookups = calls["cloudtrail:LookupEvents"]
        rows.append(
            [
                day,
                len(result["backfilled"]),
                f"{result['coverage_pct']:.1f} %",
                calls["resourcegroupstaggingapi:GetResources"],
                lookups,
                calls["resourcegroupstaggingapi:TagResources"],
                sum(calls.values()),
                f"{seconds:.2f}",
                f"{lookups / 2:.0f}",
            ]
        )
        if result["remaining"] == 0 or day >= 5:
            break
    report.heading(f"owner-tagger bench: sweeps over {RESOURCES} resources, {UNTAGGED} without an owner")
    report.table(
        [
            "run",
            "backfilled",
            "coverage",
            "GetResources",
            "LookupEvents",
            "TagResources",
            "calls",
            "s (moto)",
            "s lookups at 2/s",
        ],
        rows,
    )
    report.line(
        f"SWEEP_MAX_LOOKUPS={MAX_LOOKUPS}: each daily run backfills at most that many and saves where it stopped."
    )
    report.check(result["coverage_pct"] == 100.0 and day == -(-UNTAGGED // MAX_LOOKUPS), f"100 % after {day} runs")
    report.check(
        all(int(r[4]) <= MAX_LOOKUPS and int(r[5]) <= 4 * -(-int(r[1]) // 20) for r in rows),
        f"every run: at most {MAX_LOOKUPS} lookups, and one TagResources per 20 backfilled resources per tag key",
    )
    report.line("GetResources: AWS pages by ResourcesPerPage=100 (50 calls for 5,000 resources plus one read per 100")
    report.line("resources tagged); moto also ends a page at 100 tags, so its count grows as resources gain tags.")
