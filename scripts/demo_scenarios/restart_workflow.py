"""restart-workflow: a CPU alarm → the guard (confirms the alarm with CloudWatch, claims the instance and a slot of
the fleet budget in one transaction) → Step Functions saves the console evidence to S3 and climbs the restart
ladder until the alarm is OK again: web-1 heals at the cheapest step (reboot), web-2 only at stop-start. Then a
refusal over the fleet budget (with its notice), the guard's other refusals, and the decision metrics.

moto has no metrics behind its alarms, so the demo decides when an instance recovers: web-1 when it is rebooted,
web-2 when it is started again (the alarm is set back to OK in moto's CloudWatch at that moment). moto also has
no ec2:GetConsoleScreenshot: the demo serves a small stand-in image for web-1, and answers like EC2 does for an
instance type without screenshots for the others, so both a saved screenshot and a failed capture show."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import opskit_common
from moto import mock_aws
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.instances import Instance
from moto.ec2.responses.general import General
from opskit_tools import loader, tftemplate
from opskit_tools.paths import MODULES
from opskit_tools.scenarios import Report, environment

ORDER = 40
TITLE = "restart-workflow: alarm → guard → evidence → restart ladder (reboot, stop-start) + fleet budget + metrics"

REGION = "eu-central-1"
ACCOUNT = "123456789012"
TABLE = "opskit-demo-restart-workflow-locks"
BUCKET = "opskit-demo-restart-evidence-1"
ALARM = "opskit-restart-web-1-cpu"  # the alarm name in the documented-shape fixtures
TAG = "opskit:stopped-by"
FIXTURE_TIME = "2024-05-14T09:12:41.421+0000"  # the state-change time in the documented-shape fixtures
STEPS = ["reboot", "stop-start"]
SCREENSHOT = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGBwkIBwcHBwgJCgwKCQoLCgcHCg0KCw=="


def _alarm_event(template: dict[str, Any], name: str, instance_id: str, when: datetime) -> dict[str, Any]:
    event = copy.deepcopy(template)
    event["time"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    event["detail"]["alarmName"] = name
    event["detail"]["state"]["timestamp"] = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["InstanceId"] = instance_id
    return event


def _other_route(fixture: str, instance_id: str, when: datetime) -> dict[str, Any]:
    """The same alarm transition as delivered by an SNS alarm topic or a Lambda alarm action (fixtures from
    AWS's documented shapes, pointed at the demo instance and time)."""
    documented = json.dumps(loader.load_event(f"restart_guard/{fixture}"))
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"
    return json.loads(documented.replace("i-0abcd1234ef567890", instance_id).replace(FIXTURE_TIME, stamp))


def _alarm(cloudwatch: Any, name: str, instance_id: str, state: str) -> None:
    """The CloudWatch alarm the guard reads back before it acts (CPU > 80 % for 5 of 5 minutes)."""
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=5,
        DatapointsToAlarm=5,
        Threshold=80,
        ComparisonOperator="GreaterThanThreshold",
        Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="demo")


@contextlib.contextmanager
def _recoveries(alarms: dict[str, str], screenshots: set[str]) -> Iterator[None]:
    """web-1 recovers when rebooted, web-2 when started again; screenshots for the instances in `screenshots`."""
    real_reboot, real_start = Instance.reboot, Instance.start
    backend = cloudwatch_backends[ACCOUNT][REGION]

    def recover(instance: Instance, how: str) -> None:
        if alarms.get(instance.id, ("", ""))[1] == how:
            backend.set_alarm_state(alarms[instance.id][0], f"demo: recovered after {how}", None, "OK")

    def reboot(self: Instance) -> Any:
        result = real_reboot(self)
        recover(self, "reboot")
        return result

    def start(self: Instance) -> Any:
        result = real_start(self)
        recover(self, "start")
        return result

    def screenshot(self: General) -> ActionResult:
        instance_id = self._get_param("InstanceId")
        if instance_id not in screenshots:
            raise EC2ClientError("UnsupportedOperation", "This instance type does not support console screenshots.")
        return ActionResult({"InstanceId": instance_id, "ImageData": SCREENSHOT})

    with (
        mock.patch.object(Instance, "reboot", reboot),
        mock.patch.object(Instance, "start", start),
        mock.patch.object(General, "get_console_screenshot", screenshot, create=True),
    ):
        yield


def _invoke(guard: Any, event: dict[str, Any], metrics: Counter[str]) -> dict[str, Any]:
    """Call the real handler, keeping its JSON log line out of the report and counting its EMF metric."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)
    stdout = io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout):
            return guard.handler(event, None)
    finally:
        root.setLevel(level)
        for line in stdout.getvalue().splitlines():
            if line.startswith("{") and "_aws" in line:
                document = json.loads(line)
                for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                    metrics[metric["Name"]] += int(document[metric["Name"]])


def _wait(sfn: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return described


def _history_rows(sfn: Any, arn: str) -> list[list[str]]:
    rows = []
    for event in sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]:
        if event["type"].endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            if rows and rows[-1][0] == name:
                continue
            rows.append([name, ""])
        elif event["type"] == "TaskScheduled" and rows:
            rows[-1][1] = event["taskScheduledEventDetails"]["resource"]
    return rows


def _notices(sqs: Any, queue: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def run(report: Report) -> None:
    env = {
        "LOCK_TABLE": TABLE,
        "COOLDOWN_SECONDS": "1800",
        "MAX_RESTARTS": "3",
        "WINDOW_SECONDS": "86400",
        "MAX_CONCURRENT_RESTARTS": "2",
        "MAX_RESTARTS_PER_HOUR": "2",  # small, so the demo reaches the fleet budget
        "DRY_RUN": "false",
    }
    with (
        environment({**env, "STATE_MACHINE_ARN": None, "NOTICE_TOPIC_ARN": None, "OPT_IN_TAG": None}),
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
    ):
        _scenario(report)


def _scenario(report: Report) -> None:
    ec2, ddb, sns, sqs, sfn, cloudwatch, s3 = (
        opskit_common.client(s) for s in ("ec2", "dynamodb", "sns", "sqs", "stepfunctions", "cloudwatch", "s3")
    )

    def instance(name: str, **extra: Any) -> str:
        tags = [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}]
        return ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro", TagSpecifications=tags, **extra
        )["Instances"][0]["InstanceId"]

    web1, web2, web3 = instance("web-1"), instance("web-2"), instance("web-3")
    spot = instance("batch-spot", InstanceMarketOptions={"MarketType": "spot"})
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "instance_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "instance_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    topic = sns.create_topic(Name="opskit-demo-restart-workflow")["TopicArn"]
    queue = sqs.create_queue(QueueName="restart-notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    definition = tftemplate.render_file(
        MODULES / "restart-workflow" / "restart.asl.json",
        ladder=[{"name": s, "kind": s, "document": ""} for s in STEPS],
        step_count=len(STEPS),
        poll_interval_seconds=0,  # 15 s in Terraform; moto really waits
        settle_seconds=0,  # 300 s in Terraform
        max_stop_polls=40,
        max_start_polls=40,
        max_status_polls=60,
        max_ssm_polls=40,
        execution_timeout_seconds=4800,
        table_name=TABLE,
        topic_arn=topic,
        notify_on_success=True,
        capture_screenshot=True,
        evidence_bucket=BUCKET,
        console_url="https://console.aws.amazon.com",
        region=REGION,
    )
    machine = sfn.create_state_machine(
        name="opskit-demo-restart-workflow",
        definition=definition,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/opskit-demo-restart-workflow-sfn",
    )["stateMachineArn"]
    os.environ["STATE_MACHINE_ARN"] = machine
    os.environ["NOTICE_TOPIC_ARN"] = topic

    template = loader.load_event("restart_guard/eventbridge-alarm.json")
    alarms = {
        web1: (ALARM, "reboot"),
        web2: ("opskit-restart-web-2-cpu", "start"),
        web3: ("opskit-restart-web-3-cpu", ""),
    }
    for iid, (name, _) in alarms.items():
        _alarm(cloudwatch, name, iid, "ALARM")
    now = datetime.now(UTC).replace(microsecond=421000)
    guard = loader.load_handler("restart_guard")
    metrics: Counter[str] = Counter()

    report.line(f"web-1 {web1}, web-2 {web2}, web-3 {web3} (running), spot {spot}; ladder {STEPS}")
    report.line("fleet budget: max_concurrent_restarts 2, max_restarts_per_hour 2 (small for the demo)")
    with _recoveries(alarms, screenshots={web1}):
        runs = {}
        for label, iid in (("web-1", web1), ("web-2", web2)):
            result = _invoke(guard, _alarm_event(template, alarms[iid][0], iid, now), metrics)
            report.kv(f"{label}: guard", f"{result['decision']} ({result['code']}): {result['reason']}")
            if not report.check(result["code"] == "Started", f"the {label} alarm starts one restart workflow"):
                return
            runs[label] = (iid, result["execution_arn"], _wait(sfn, result["execution_arn"]))

        iid, arn, described = runs["web-1"]
        report.heading("web-1: evidence first, then the ladder stops at the cheapest step that heals")
        report.table(["state", "integration"], _history_rows(sfn, arn))
        notices = _notices(sqs, queue)
        healed = {n["instance"]: n for n in notices if n.get("outcome") == "healed"}
        report.kv("execution status", described["status"])
        report.kv("notice (SNS)", json.dumps({k: v for k, v in healed.get(web1, {}).items() if k != "evidence"}))
        report.check(healed.get(web1, {}).get("healedBy") == "reboot", "web-1 healed by reboot: no stop, no start")
        execution = arn.rsplit(":", 1)[-1]
        objects = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))
        report.heading("evidence saved before any action (S3, linked from the notice)")
        for key, value in healed.get(web1, {}).get("evidence", {}).items():
            report.kv(key, json.dumps(value))
        report.kv("objects", ", ".join(objects))
        report.check(
            f"{web1}/{execution}/console-output.log.b64" in objects
            and f"{web1}/{execution}/console-screenshot.jpg.b64" in objects,
            "console output and screenshot stored under <instance>/<execution>/",
        )

        iid, arn, described = runs["web-2"]
        report.heading("web-2: reboot did not heal, stop-start did")
        report.kv("notice (SNS)", json.dumps({k: v for k, v in healed.get(web2, {}).items() if k != "evidence"}))
        report.kv("evidence", json.dumps(healed.get(web2, {}).get("evidence")))
        report.check(
            healed.get(web2, {}).get("healedBy") == "stop-start"
            and healed[web2].get("notHealedBy") == "reboot: StillInAlarm; ",
            "web-2: the alarm was still ALARM after the reboot, OK after stop-start",
        )
        report.check(
            "notSaved" in healed.get(web2, {}).get("evidence", {}).get("screenshot", {}),
            "a screenshot the instance type cannot give is recorded and does not block the ladder",
        )

        report.heading("fleet-wide budget: a third instance within the hour is refused and a human is paged")
        third = _invoke(guard, _alarm_event(template, alarms[web3][0], web3, now), metrics)
        report.kv("web-3: guard", f"{third['decision']} ({third['code']}): {third['reason']}")
        notice = next((n for n in _notices(sqs, queue) if n.get("outcome") == "over-budget"), {})
        report.kv("notice (SNS)", json.dumps(notice))
        fleet = ddb.get_item(TableName=TABLE, Key={"instance_id": {"S": "opskit:fleet"}})["Item"]
        report.kv("fleet item", {k: next(iter(v.values())) for k, v in sorted(fleet.items())})
        report.check(third["code"] == "OverBudget", "over budget: refused, nothing claimed, no run started")
        report.check(notice.get("instance") == web3, 'the refusal publishes outcome "over-budget" to the topic')
        report.check(fleet["running"]["M"] == {}, "both finished runs gave their fleet slots back")

        report.heading("what else the guard refuses (web-1's alarm is in ALARM again)")
        cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="demo: high again")
        rows = []
        again = _invoke(guard, _alarm_event(template, ALARM, web1, now), metrics)
        rows.append(["web-1's alarm re-delivered", again["code"], again["reason"]])
        via_sns = _invoke(guard, _other_route("sns-alarm.json", web1, now), metrics)
        rows.append(["same transition via an SNS alarm topic", via_sns["code"], via_sns["reason"]])
        via_action = _invoke(guard, _other_route("lambda-action-alarm.json", web1, now), metrics)
        rows.append(["same transition via a Lambda alarm action", via_action["code"], via_action["reason"]])
        later = _invoke(guard, _alarm_event(template, ALARM, web1, now + timedelta(minutes=5)), metrics)
        rows.append(["web-1's next ALARM transition (+5 min)", later["code"], later["reason"]])
        _alarm(cloudwatch, "opskit-restart-spot-cpu", spot, "ALARM")
        spotted = _invoke(guard, _alarm_event(template, "opskit-restart-spot-cpu", spot, now), metrics)
        rows.append(["alarm on a spot instance", spotted["code"], spotted["reason"]])
        _alarm(cloudwatch, "opskit-restart-db-1-cpu", web1, "OK")
        forged = json.loads(
            json.dumps(_other_route("sns-alarm.json", web1, now)).replace(ALARM, "opskit-restart-db-1-cpu")
        )
        faked = _invoke(guard, forged, metrics)
        rows.append(["ALARM published to the topic, alarm is OK", faked["code"], faked["reason"]])
        report.table(["event", "code", "reason"], rows)
        report.check(
            again["code"] == via_sns["code"] == via_action["code"] == "AlreadyHandled",
            "the same transition, re-delivered or arriving by SNS or a Lambda alarm action, is already handled",
        )
        report.check(later["code"] == "Cooldown", "a second alarm inside the cooldown is refused")
        report.check(spotted["code"] == "Spot", "spot instances are never stopped")
        report.check(faked["code"] == "NotConfirmed", "an ALARM CloudWatch does not confirm is refused")

    report.heading("reasons as metrics: one EMF metric per guard decision, one outcome metric per run")
    report.table(
        ["guard decision metric (opskit)", "count"], [[name, count] for name, count in sorted(metrics.items())]
    )
    outcomes = sorted(
        f"{m['MetricName']}{{Step={next(d['Value'] for d in m['Dimensions'] if d['Name'] == 'Step')}}}"
        for m in cloudwatch.list_metrics(Namespace="opskit")["Metrics"]
    )
    report.kv("state machine outcome metrics", ", ".join(outcomes))
    report.check(
        metrics
        == Counter({"Started": 2, "OverBudget": 1, "AlreadyHandled": 3, "Cooldown": 1, "Spot": 1, "NotConfirmed": 1}),
        "every decision counted once, under its reason (the dashboard plots these)",
    )
    report.check(
        outcomes == ["Healed{Step=reboot}", "Healed{Step=stop-start}"],
        "runs counted by outcome and the step that healed",
    )
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    report.check(len(executions) == 2, f"two executions in total ({len(executions)})")
