"""instance-protect: protected instances come back after an unplanned stop; planned stops are respected.

Four instances on moto. Each stop or start produces the EC2 state-change event AWS documents; the event is
matched against the rule's pattern file (what EventBridge would deliver) and handed to the real handler:

  web-1      Protected=true, stopped by hand                 -> started again, notice published
  batch-1    Protected=true + Schedule, stopped by the real  -> stays stopped (opskit:stopped-by marker)
             scheduler handler (its manual form)
  scratch-1  untagged, stopped by hand                       -> stays stopped (not protected)
  flaky-1    Protected=true, stops four times in a row       -> started three times, then the restart cap
                                                                holds it stopped and a notice says so
  db-1       Protected=true, an operator tags opskit:hold    -> stays stopped (held), notice published
             and stops it to contain an incident
  batch-1    started by hand (the scheduler does not know)   -> the running event clears the stale marker
             then crashes (unplanned stop)                   -> started again, notice published

Every decision writes one CloudWatch EMF line (stdout) whose metric is named by its reason; the demo
captures those lines and prints one line per metric seen, as the module's dashboard would count them.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import opskit_common as common
from moto import mock_aws
from opskit_tools.eventpattern import matches
from opskit_tools.loader import load_event, load_handler
from opskit_tools.paths import FUNCTIONS, MODULES
from opskit_tools.scenarios import Report, collect_logs, environment
from opskit_tools.tftemplate import render_json

ORDER = 60
TITLE = "instance-protect: restart protected instances, respect planned stops, cap crash loops"

REGION = "eu-central-1"
ACCOUNT = "123456789012"  # moto's account, and the fixtures'
ENV = {
    "PROTECT_TAG": "Protected=true",
    "SCHEDULE_TAG_KEY": "Schedule",
    "STOPPED_BY_TAG_KEY": "opskit:stopped-by",
    "RESTARTS_TAG_KEY": "opskit:protect-restarts",
    "HOLD_TAG_KEY": "opskit:hold",
    "MAX_RESTARTS": "3",
    "WINDOW_SECONDS": "3600",
    "TAG_KEY": "Schedule",  # the scheduler's
    "SCHEDULE_NAMES": '["office-hours"]',  # the scheduler's configured schedules (required since its hardening)
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}


def _state_event(instance_id: str, state: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event(f"instance_protect/instance-{state}.json"))
    event["detail"]["instance-id"] = instance_id
    event["resources"] = [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance_id}"]
    return event


def run(report: Report) -> None:
    # Rendered as Terraform renders it: the rule only matches the deploying account's events.
    pattern = render_json(MODULES / "instance-protect/patterns/instance-state.json", account_id=ACCOUNT)
    use_scheduler = (FUNCTIONS / "scheduler/handler.py").exists()
    with environment(ENV), mock_aws():
        _run(report, pattern, use_scheduler)


def _run(report: Report, pattern: dict[str, Any], use_scheduler: bool) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name="opskit-instance-protect-notices")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="oncall")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    def launch(name: str, tags: dict[str, str]) -> str:
        all_tags = [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in tags.items()]
        reply = ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            TagSpecifications=[{"ResourceType": "instance", "Tags": all_tags}],
        )
        return reply["Instances"][0]["InstanceId"]

    def state(instance_id: str) -> str:
        return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]

    ids = {
        "web-1": launch("web-1", {"Protected": "true"}),
        "batch-1": launch("batch-1", {"Protected": "true", "Schedule": "office-hours"}),
        "scratch-1": launch("scratch-1", {}),
        "flaky-1": launch("flaky-1", {"Protected": "true"}),
        "db-1": launch("db-1", {"Protected": "true"}),
    }
    report.line(
        "Function environment: " + ", ".join(f"{k}={ENV[k]}" for k in ("PROTECT_TAG", "MAX_RESTARTS", "WINDOW_SECONDS"))
    )
    report.line(f"Rule pattern (patterns/instance-state.json, rendered): {json.dumps(pattern)}")
    report.line()

    rows: list[list[Any]] = []
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in ids}
    emf: list[list[dict[str, Any]]] = []  # the EMF documents of each handler invocation
    handled: list[dict[str, Any]] = []  # the result of each handler invocation, in the same order
    with collect_logs() as records, environment({"TOPIC_ARN": topic_arn}):
        protect = load_handler("instance_protect")
        metric_name = sys.modules["instance_protect_metrics"].metric_name  # the handler's reason -> metric table

        def deliver(name: str, how: str, change: Callable[[], None], state_: str = "stopped") -> None:
            change()
            event = _state_event(ids[name], state_)
            matched = matches(pattern, event)
            result = _invoke(protect, event, emf) if matched else {"decision": "-", "reason": "not delivered"}
            if matched:
                handled.append(result)
            after = state(ids[name])
            results[name].append({**result, "state_after": after})
            rows.append([name, how, "yes" if matched else "no", result["decision"], result["reason"], after])

        def by_hand(name: str) -> Callable[[], None]:
            return lambda: ec2.stop_instances(InstanceIds=[ids[name]])

        scheduler_result: dict[str, Any] = {}

        def by_scheduler() -> None:
            if use_scheduler:
                scheduler = load_handler("scheduler")
                with environment({"TOPIC_ARN": None}):  # the scheduler's own configuration: no summary topic
                    scheduler.config()
                scheduler_result.update(scheduler.handler({"action": "stop", "instance_ids": [ids["batch-1"]]}, None))
            else:  # the scheduler's contract: mark, then stop
                ec2.create_tags(
                    Resources=[ids["batch-1"]], Tags=[{"Key": "opskit:stopped-by", "Value": "scheduler:manual"}]
                )
                ec2.stop_instances(InstanceIds=[ids["batch-1"]])

        deliver("web-1", "stopped by hand (console/API)", by_hand("web-1"))
        deliver("batch-1", "stopped by the scheduler" + ("" if use_scheduler else " (simulated)"), by_scheduler)
        deliver("scratch-1", "stopped by hand", by_hand("scratch-1"))
        for attempt in range(1, 5):
            deliver("flaky-1", f"crashed (stop #{attempt}, seconds apart)", by_hand("flaky-1"))
        marker_before_hand_start = _tags(ec2, ids["batch-1"]).get("opskit:stopped-by")
        deliver(
            "batch-1",
            "started by hand (console), not by the scheduler",
            lambda: ec2.start_instances(InstanceIds=[ids["batch-1"]]),
            "running",
        )
        deliver("batch-1", "crashed later (unplanned stop)", by_hand("batch-1"))

        def hold_then_stop() -> None:  # the runbook: tag it, then stop it
            ec2.create_tags(Resources=[ids["db-1"]], Tags=[{"Key": "opskit:hold", "Value": "INC-4711 containment"}])
            ec2.stop_instances(InstanceIds=[ids["db-1"]])

        deliver("db-1", "tagged opskit:hold, then stopped by an operator", hold_then_stop)
        foreign = {**_state_event(ids["web-1"], "stopped"), "account": "210987654321"}
        foreign_matched = matches(pattern, foreign)

        delivered = {
            other: matches(pattern, _state_event(ids["web-1"], other))
            for other in ("pending", "stopping", "shutting-down", "terminated")
        }

    report.table(["instance", "what happened", "rule matched", "decision", "reason", "state after"], rows)
    if use_scheduler:
        report.line()
        report.line(
            f"scheduler manual stop of batch-1: succeeded={scheduler_result.get('succeeded')} "
            f"failed={scheduler_result.get('failed')}"
        )
    batch_tags = _tags(ec2, ids["batch-1"])
    flaky_tags = _tags(ec2, ids["flaky-1"])
    report.kv("batch-1 opskit:stopped-by after the scheduler's stop", marker_before_hand_start)
    report.kv("batch-1 opskit:stopped-by now", batch_tags.get("opskit:stopped-by", "(none)"))
    report.kv("flaky-1 opskit:protect-restarts", flaky_tags.get("opskit:protect-restarts"))

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    subjects = [json.loads(m["Body"])["Subject"] for m in messages]
    report.line()
    report.line("Notices on the SNS topic (as the on-call queue received them):")
    for subject in subjects:
        report.line(f"  - {subject}")
    report.line("Decision log lines:")
    for record in records:
        if getattr(record, "decision", None):
            report.line(f"  {record.levelname:<7} {record.getMessage()}")
    seen = _metrics_seen(emf)
    report.line()
    report.line("Metrics written (namespace opskit, one EMF line per decision; Sum per metric, reasons and instances):")
    for (event_state, metric), (count, reasons, instances) in sorted(seen.items(), key=lambda kv: -kv[1][0]):
        names = ", ".join(sorted({name for name, iid in ids.items() if iid in instances}))
        why = ", ".join(sorted(reasons))
        report.line(f"  {metric:<19} Module=instance-protect Event={event_state:<8} {count}  ({why}: {names})")

    flaky = [(r["decision"], r["reason"]) for r in results["flaky-1"]]
    report.line()
    report.check(
        results["web-1"][0]["decision"] == "started" and state(ids["web-1"]) in ("pending", "running"),
        "web-1 (protected, stopped by hand) was started again",
    )
    report.check(
        results["batch-1"][0]["reason"] == "stopped-by-opskit" and results["batch-1"][0]["state_after"] == "stopped",
        "batch-1 (protected, stopped by the scheduler) stays stopped",
    )
    report.check(
        results["scratch-1"][0]["reason"] == "not-protected" and state(ids["scratch-1"]) == "stopped",
        "scratch-1 (not protected) stays stopped",
    )
    report.check(
        flaky == [("started", "unplanned-stop")] * 3 + [("skipped", "restart-cap-reached")]
        and state(ids["flaky-1"]) == "stopped",
        "flaky-1 was restarted 3 times, then the cap held it stopped",
    )
    batch = [(r["decision"], r["reason"]) for r in results["batch-1"]]
    report.check(
        marker_before_hand_start is not None
        and batch[1] == ("skipped", "cleared-stale-marker")
        and "opskit:stopped-by" not in batch_tags,
        "batch-1 started by hand: the running event removed the stale opskit:stopped-by marker",
    )
    report.check(
        batch[2] == ("started", "unplanned-stop") and state(ids["batch-1"]) == "running",
        "batch-1's later unplanned stop was restarted (no longer mistaken for a scheduler stop)",
    )
    report.check(
        results["db-1"][0]["reason"] == "held" and state(ids["db-1"]) == "stopped",
        "db-1 (protected, tagged opskit:hold, then stopped by an operator) stays stopped",
    )
    report.check(
        sum("started" in s and "again" in s for s in subjects) == 5
        and sum("restart cap" in s for s in subjects) == 1
        and sum("(on hold)" in s for s in subjects) == 1,
        "5 restart notices, 1 restart-cap notice and 1 hold notice were published",
    )
    report.check(
        all(len(docs) == 1 for docs in emf)
        and all(
            doc["Reason"] == r["reason"] and _names(doc) == [metric_name(doc["Event"], r["reason"])]
            for docs, r in zip(emf, handled, strict=True)
            for doc in docs
        ),
        f"each of the {len(emf)} handled events wrote exactly one metric, named by its decision's reason",
    )
    report.check(
        {metric: seen[("stopped", metric)][0] for metric in ("Started", "Cap", "Held", "StoppedByOpskit", "NotOptedIn")}
        == {"Started": 5, "Cap": 1, "Held": 1, "StoppedByOpskit": 1, "NotOptedIn": 1}
        and seen[("running", "StaleMarkerCleared")][0] == 1,
        "metrics by reason: Started 5, Cap 1, Held 1, StoppedByOpskit 1, NotOptedIn 1; StaleMarkerCleared 1 (running)",
    )
    report.check(not foreign_matched, "a stopped event from another account (shared bus) does not match the rule")
    report.check(
        not any(delivered.values()),
        "pending, stopping, shutting-down and terminated events do not match the rule",
    )


def _tags(ec2: Any, instance_id: str) -> dict[str, str]:
    reply = ec2.describe_instances(InstanceIds=[instance_id])
    return common.tags_to_dict(reply["Reservations"][0]["Instances"][0].get("Tags"))


def _invoke(protect: Any, event: dict[str, Any], emf: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Run the handler and keep the EMF lines it printed (in Lambda they go to CloudWatch Logs)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result: dict[str, Any] = protect.handler(event, None)
    emf.append([doc for doc in map(json.loads, filter(None, out.getvalue().splitlines())) if "_aws" in doc])
    return result


def _names(doc: dict[str, Any]) -> list[str]:
    return [metric["Name"] for directive in doc["_aws"]["CloudWatchMetrics"] for metric in directive["Metrics"]]


def _metrics_seen(emf: list[list[dict[str, Any]]]) -> dict[tuple[str, str], tuple[int, set[str], set[str]]]:
    """(Event, metric) -> (sum of values, reasons, instance ids), as CloudWatch would aggregate them."""
    counts: Counter[tuple[str, str]] = Counter()
    reasons: dict[tuple[str, str], set[str]] = {}
    instances: dict[tuple[str, str], set[str]] = {}
    for docs in emf:
        for doc in docs:
            for directive in doc["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    key = (doc["Event"], metric["Name"])
                    counts[key] += doc[metric["Name"]]
                    reasons.setdefault(key, set()).add(doc["Reason"])
                    instances.setdefault(key, set()).add(doc["InstanceId"])
    return {key: (counts[key], reasons[key], instances[key]) for key in counts}
