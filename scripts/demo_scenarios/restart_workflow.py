"""restart-workflow: a CPU alarm → the guard (which confirms the alarm with CloudWatch) → one bounded restart
on Step Functions → the instance is running again; then the same alarm re-delivered (also by SNS and as a
Lambda alarm action), a second alarm inside the cooldown, a spot instance and an ALARM published to the topic
for an alarm that is not in ALARM are all refused."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import opskit_common
from moto import mock_aws
from opskit_tools import loader, tftemplate
from opskit_tools.paths import MODULES
from opskit_tools.scenarios import Report, environment

ORDER = 40
TITLE = "restart-workflow: CPU alarm → guard → Step Functions stop/start (cooldown, cap, dedupe)"

TABLE = "opskit-demo-restart-workflow-locks"
ALARM = "opskit-restart-web-1-cpu"  # the alarm name in the documented-shape fixtures
TAG = "opskit:stopped-by"
FIXTURE_TIME = "2024-05-14T09:12:41.421+0000"  # the state-change time in the documented-shape fixtures


def _alarm_event(template: dict[str, Any], instance_id: str, when: datetime) -> dict[str, Any]:
    event = copy.deepcopy(template)
    event["time"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
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


def _invoke(guard: Any, event: dict[str, Any]) -> dict[str, Any]:
    """Call the real handler, keeping its JSON log line and EMF metric line out of the report."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return guard.handler(event, None)
    finally:
        root.setLevel(level)


def _wait(sfn: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return described


def _history_rows(sfn: Any, arn: str) -> list[list[str]]:
    rows = []
    for event in sfn.get_execution_history(executionArn=arn)["events"]:
        if event["type"].endswith("StateEntered"):
            rows.append([str(event["id"]), event["stateEnteredEventDetails"]["name"], event["type"], ""])
        elif event["type"] == "TaskScheduled":
            details = event["taskScheduledEventDetails"]
            rows[-1][3] = f"{details['resourceType']}:{details['resource']}"
    return rows


def run(report: Report) -> None:
    env = {
        "LOCK_TABLE": TABLE,
        "COOLDOWN_SECONDS": "1800",
        "MAX_RESTARTS": "3",
        "WINDOW_SECONDS": "86400",
        "DRY_RUN": "false",
    }
    with (
        environment({**env, "STATE_MACHINE_ARN": None, "OPT_IN_TAG": None}),
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
    ):
        _scenario(report)


def _scenario(report: Report) -> None:
    ec2, ddb, sns, sqs, sfn, cloudwatch = (
        opskit_common.client(s) for s in ("ec2", "dynamodb", "sns", "sqs", "stepfunctions", "cloudwatch")
    )
    web = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web-1"}]}],
    )["Instances"][0]["InstanceId"]
    spot = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceMarketOptions={"MarketType": "spot"}
    )["Instances"][0]["InstanceId"]
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "instance_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "instance_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    topic = sns.create_topic(Name="opskit-demo-restart-workflow")["TopicArn"]
    queue = sqs.create_queue(QueueName="restart-notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    definition = tftemplate.render_file(
        MODULES / "restart-workflow" / "restart.asl.json",
        poll_interval_seconds=0,  # 15 s in Terraform; moto really waits
        max_stop_polls=40,
        max_start_polls=40,
        max_status_polls=60,
        execution_timeout_seconds=3300,
        table_name=TABLE,
        topic_arn=topic,
        notify_on_success=True,
    )
    machine = sfn.create_state_machine(
        name="opskit-demo-restart-workflow",
        definition=definition,
        roleArn="arn:aws:iam::123456789012:role/opskit-demo-restart-workflow-sfn",
    )["stateMachineArn"]
    os.environ["STATE_MACHINE_ARN"] = machine

    template = loader.load_event("restart_guard/eventbridge-alarm.json")
    _alarm(cloudwatch, ALARM, web, "ALARM")
    now = datetime.now(UTC).replace(microsecond=421000)
    guard = loader.load_handler("restart_guard")

    report.line(f"instance web-1 {web} (running), spot instance {spot}; alarm: CPUUtilization > 80 % for 5 of 5 min")
    report.line("EventBridge delivers 'CloudWatch Alarm State Change' (ALARM) to the guard:")
    first = _invoke(guard, _alarm_event(template, web, now))
    report.kv("decision", f"{first['decision']}: {first['reason']}")
    report.kv("execution", first["execution_arn"].rsplit(":", 1)[-1] if first["execution_arn"] else "-")
    report.check(first["decision"] == "started", "the alarm starts exactly one restart workflow")
    if first["decision"] != "started":
        return

    described = _wait(sfn, first["execution_arn"])
    report.heading("execution history (restart.asl.json, aws-sdk integrations, no polling Lambdas)")
    report.table(["id", "state", "event", "integration"], _history_rows(sfn, first["execution_arn"]))
    instance = ec2.describe_instances(InstanceIds=[web])["Reservations"][0]["Instances"][0]
    tags = opskit_common.tags_to_dict(instance.get("Tags"))
    lock = ddb.get_item(TableName=TABLE, Key={"instance_id": {"S": web}})["Item"]
    report.kv("execution status", described["status"])
    report.kv("instance state", instance["State"]["Name"])
    report.kv("lock item", {k: next(iter(v.values())) for k, v in sorted(lock.items())})
    report.check(described["status"] == "SUCCEEDED", "the state machine ends SUCCEEDED")
    report.check(instance["State"]["Name"] == "running", "web-1 is running again")
    report.check(TAG not in tags, f"the {TAG} tag (set before the stop for instance-protect) is removed")
    report.check("lock_owner" not in lock, "the lock is released; the restart stays recorded for cooldown/cap")
    for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        report.kv("SNS notification", message["Body"])

    report.heading("what the guard refuses")
    rows = []
    again = _invoke(guard, _alarm_event(template, web, now))
    rows.append(["same alarm re-delivered", again["decision"], again["reason"]])
    via_sns = _invoke(guard, _other_route("sns-alarm.json", web, now))
    rows.append(["same transition via an SNS alarm topic", via_sns["decision"], via_sns["reason"]])
    via_action = _invoke(guard, _other_route("lambda-action-alarm.json", web, now))
    rows.append(["same transition via a Lambda alarm action", via_action["decision"], via_action["reason"]])
    later = _invoke(guard, _alarm_event(template, web, now + timedelta(minutes=5)))
    rows.append(["next ALARM transition (+5 min)", later["decision"], later["reason"]])
    spot_event = _alarm_event(template, spot, now)
    spot_event["detail"]["alarmName"] = "opskit-restart-spot-cpu"
    _alarm(cloudwatch, "opskit-restart-spot-cpu", spot, "ALARM")
    spotted = _invoke(guard, spot_event)
    rows.append(["alarm on a spot instance", spotted["decision"], spotted["reason"]])
    _alarm(cloudwatch, "opskit-restart-db-1-cpu", web, "OK")
    forged = json.loads(json.dumps(_other_route("sns-alarm.json", web, now)).replace(ALARM, "opskit-restart-db-1-cpu"))
    faked = _invoke(guard, forged)
    rows.append(["ALARM published to the topic, alarm is OK", faked["decision"], faked["reason"]])
    report.table(["event", "decision", "reason"], rows)
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    report.check(again["reason"] == "already handled: execution exists", "a re-delivered alarm is already handled")
    report.check(
        via_sns["reason"] == via_action["reason"] == "already handled: execution exists",
        "the same transition arriving by SNS or as a Lambda alarm action maps to the same execution",
    )
    report.check(later["reason"].startswith("in cooldown"), "a second alarm inside the cooldown is refused")
    report.check(spotted["reason"].startswith("spot instance"), "spot instances are never stopped")
    report.check(
        faked["reason"] == "alarm 'opskit-restart-db-1-cpu' is OK now, not ALARM",
        "an ALARM anyone could publish to the topic is checked against CloudWatch first, and refused",
    )
    report.check(len(executions) == 1, f"one execution in total ({len(executions)})")
