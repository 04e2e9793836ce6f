"""asg-backup, long backups: heartbeats from one-shot EventBridge Scheduler schedules keep a backup's lifecycle
action alive past the hook's timeout, up to max_backup_seconds; a backup still running then is completed with
ABANDON, and the group's retention trigger keeps the instance (its data intact).

The group `batch-asg` (hook timeout 3600 s, default result ABANDON) retains instances whose terminate hook is
abandoned. Two instances leave it at 04:31:09:

* batch-1's backup runs 110 minutes: heartbeats at +30, +60 and +90 minutes; its Success status completes the
  hook with CONTINUE (without heartbeats the hook would have timed out at +60) and deletes the pending heartbeat.
* batch-2's backup hangs: heartbeats until the deadline (+120 minutes), then ABANDON; the instance is retained.

Everything runs through the real handler on moto (SSM, S3, SNS, EventBridge Scheduler). Scheduler's part is
played here: at a schedule's `at()` time the clock is moved there, the schedule deleted (ActionAfterCompletion
DELETE) and the handler invoked with the schedule's own Input. moto has no RecordLifecycleActionHeartbeat, no
CompleteLifecycleAction and no instance lifecycle policy: `HookTimer` answers the first two (and lets a
lifecycle action expire when its heartbeat timeout passes, as Auto Scaling does), and the group's policy is
added to moto's DescribeAutoScalingGroups answer.
"""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import opskit_common as common
from demo_scenarios.asg_backup import answer, lifecycle_event, status_event
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ssm.models import ssm_backends
from opskit_tools.loader import load_handler
from opskit_tools.scenarios import Report, environment

ORDER = 51
TITLE = "asg-backup: long backups kept alive by heartbeats, failed backups retained"

REGION = "eu-central-1"
GROUP = "batch-asg"
HOOK = "opskit-asg-backup"
BUCKET = "opskit-asg-backup-demo"
SCHEDULES = "opskit-asg-backup-heartbeats"
HEARTBEAT_TIMEOUT = 3600
T0 = datetime(2026, 11, 23, 4, 31, 9, tzinfo=UTC)
ENV = {
    "DOCUMENT_NAME": "opskit-asg-backup",
    "DOCUMENT_VERSION": "1",
    "AUTOSCALING_GROUP_NAMES": json.dumps([GROUP]),
    "BUCKET": BUCKET,
    "PREFIX": "asg-backup",
    "BACKUP_PATHS": json.dumps(["/var/lib/db"]),
    "HOOK_NAME": HOOK,
    "UNMANAGED_RESULT": "CONTINUE",
    "FAILURE_RESULT": "ABANDON",
    "COMMAND_TIMEOUT_SECONDS": "6600",
    "HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_TIMEOUT),
    "MAX_BACKUP_SECONDS": "7200",
    "HEARTBEAT_SCHEDULE_GROUP": SCHEDULES,
    "HEARTBEAT_ROLE_ARN": f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/opskit-asg-backup-heartbeat",
    "FUNCTION_ARN": f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:opskit-asg-backup",
    "HEARTBEAT_DLQ_ARN": f"arn:aws:sqs:{REGION}:{DEFAULT_ACCOUNT_ID}:opskit-asg-backup-dlq",
    "SSE_KMS_KEY_ID": None,
    "TOPIC_ARN": None,
}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class HookTimer:
    """Auto Scaling's side of the lifecycle actions: each expires heartbeat_timeout after its start or its last
    heartbeat; an expired or completed one answers "No active Lifecycle Action found"."""

    def __init__(self, clock: Clock, instances: list[str]) -> None:
        self.clock = clock
        self.expires = {i: T0 + timedelta(seconds=HEARTBEAT_TIMEOUT) for i in instances}
        self.completed: dict[str, str] = {}
        self.heartbeats: dict[str, int] = dict.fromkeys(instances, 0)

    def _active(self, instance_id: str) -> bool:
        return instance_id not in self.completed and self.clock.now <= self.expires[instance_id]

    def _gone(self, instance_id: str) -> dict[str, Any]:
        message = f"No active Lifecycle Action found with instance ID {instance_id}"
        return {"Error": {"Code": "ValidationError", "Message": message}, "status": 400}

    def heartbeat(self, params: dict[str, Any]) -> dict[str, Any]:
        instance_id = params["InstanceId"]
        if not self._active(instance_id):
            return self._gone(instance_id)
        self.heartbeats[instance_id] += 1
        self.expires[instance_id] = self.clock.now + timedelta(seconds=HEARTBEAT_TIMEOUT)
        return {}

    def complete(self, params: dict[str, Any]) -> dict[str, Any]:
        instance_id = params["InstanceId"]
        if not self._active(instance_id):
            return self._gone(instance_id)
        self.completed[instance_id] = params["LifecycleActionResult"]
        return {}


def pending() -> dict[str, dict[str, Any]]:
    scheduler = common.client("scheduler")
    names = [s["Name"] for s in scheduler.list_schedules(GroupName=SCHEDULES)["Schedules"]]
    return {n: scheduler.get_schedule(Name=n, GroupName=SCHEDULES) for n in names}


def next_due() -> tuple[datetime, str, dict[str, Any]] | None:
    """The schedule Scheduler fires next: (its time, its name, its Input)."""
    due = [
        (datetime.strptime(s["ScheduleExpression"], "at(%Y-%m-%dT%H:%M:%S)").replace(tzinfo=UTC), n, s)
        for n, s in pending().items()
    ]
    if not due:
        return None
    when, name, schedule = min(due, key=lambda d: d[0])
    return when, name, json.loads(schedule["Target"]["Input"])


def run(report: Report) -> None:
    with environment(ENV), mock_aws():
        _scenario(report)


def _scenario(report: Report) -> None:
    common.reset_clients()
    autoscaling, scheduler = common.client("autoscaling"), common.client("scheduler")
    common.client("ec2").create_launch_template(
        LaunchTemplateName="batch", LaunchTemplateData={"ImageId": "ami-0123456789abcdef0", "InstanceType": "m7g.large"}
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        LaunchTemplate={"LaunchTemplateName": "batch", "Version": "$Latest"},
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=2,
        AvailabilityZones=[f"{REGION}a"],
    )
    batch1, batch2 = sorted(
        i["InstanceId"]
        for i in autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0][
            "Instances"
        ]
    )
    common.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    scheduler.create_schedule_group(Name=SCHEDULES)
    sns, sqs = common.client("sns"), common.client("sqs")
    topic = sns.create_topic(Name="opskit-asg-backup-results")["TopicArn"]
    queue = sqs.create_queue(QueueName="results")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    import os

    os.environ["TOPIC_ARN"] = topic

    clock = Clock()
    hooks = HookTimer(clock, [batch1, batch2])
    answer(autoscaling, "RecordLifecycleActionHeartbeat", hooks.heartbeat)
    answer(autoscaling, "CompleteLifecycleAction", hooks.complete)
    moto_groups = boto3.client("autoscaling", region_name=REGION)  # moto's own answer, plus the policy
    retain = {"RetentionTriggers": {"TerminateHookAbandon": "retain"}}
    answer(
        autoscaling,
        "DescribeAutoScalingGroups",
        lambda p: {
            "AutoScalingGroups": [
                {**g, "InstanceLifecyclePolicy": retain}
                for g in moto_groups.describe_auto_scaling_groups(**p)["AutoScalingGroups"]
            ]
        },
    )
    answer(
        common.client("ssm"),
        "DescribeInstanceInformation",
        lambda p: {
            "InstanceInformationList": [
                {"InstanceId": i, "PingStatus": "Online", "PlatformType": "Linux"} for i in p["Filters"][0]["Values"]
            ]
        },
    )
    handler = load_handler("asg_backup")
    handler._now = clock  # type: ignore[attr-defined]  # the handler reads the time here

    report.line(
        f"{GROUP}: hook timeout {HEARTBEAT_TIMEOUT} s, max_backup_seconds 7200, failure_result ABANDON, "
        "retention trigger terminate_hook_abandon = retain"
    )
    emf = io.StringIO()
    rows: list[list[Any]] = []
    commands: dict[str, str] = {}
    with contextlib.redirect_stdout(emf):
        for n, instance_id in enumerate((batch1, batch2), start=1):
            result = handler.handler(
                lifecycle_event(instance_id, f"{n}7654321-4321-4321-4321-210987654321", None, _time(T0), GROUP), None
            )
            commands[instance_id] = result["command_id"]
            command = ssm_backends[DEFAULT_ACCOUNT_ID][REGION].get_command_by_id(result["command_id"])
            command.requested_date_time, command.status = T0.replace(tzinfo=None), "InProgress"
            command.instance_ids = [instance_id]
            command.invocations = [i for i in command.invocations if i["InstanceId"] == instance_id]
            rows.append(["+0", instance_id, result["decision"], result.get("next_heartbeat", "-"), "-"])

        finish_batch1 = T0 + timedelta(minutes=110)
        while (due := next_due()) is not None:
            when, name, event = due
            if when > finish_batch1 and batch1 not in hooks.completed:
                _finish_backup(handler, clock, batch1, commands[batch1], finish_batch1, rows)
                continue
            clock.now = when
            scheduler.delete_schedule(Name=name, GroupName=SCHEDULES)  # ActionAfterCompletion DELETE
            result = handler.handler(event, None)
            instance_id = event["detail"]["instance-id"]
            expires = hooks.expires[instance_id].strftime("%H:%M:%S") if instance_id not in hooks.completed else "-"
            rows.append([_offset(when), instance_id, result["decision"], result.get("next_heartbeat", "-"), expires])

    report.table(["time", "instance", "decision", "next heartbeat", "hook expires"], rows)
    report.check(hooks.heartbeats[batch1] == 4, f"{batch1}: 4 heartbeats (at start, +30, +60, +90 min)")
    report.check(
        hooks.completed.get(batch1) == "CONTINUE",
        f"{batch1}: Success at +110 min completed the hook (it would have expired at +60 without heartbeats)",
    )
    report.check(
        hooks.completed.get(batch2) == "ABANDON", f"{batch2}: at the deadline (+120 min) completed with ABANDON"
    )
    report.check(pending() == {}, "no heartbeat schedule left (the succeeded backup's pending one was deleted)")
    notices = [
        json.loads(json.loads(m["Body"])["Message"])
        for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    ]
    report.table(
        ["outcome", "instance", "result", "retained", "reason"],
        [
            [m["outcome"], m["instance_id"], m["lifecycle_action_result"], m["instance_retained"], m.get("reason", "")]
            for m in sorted(notices, key=lambda m: m["instance_id"])
        ],
    )
    failed = [m for m in notices if m["outcome"] == "BackupFailed"]
    report.check(
        len(failed) == 1 and failed[0]["instance_retained"] is True and "retained" in failed[0].get("retention", ""),
        f"{batch2}: the failure notice says the instance was retained",
    )
    metrics = sorted(
        name
        for line in emf.getvalue().splitlines()
        if line.startswith('{"_aws"')
        for name in ("BackupSucceeded", "BackupFailed")
        if name in json.loads(line)
    )
    report.check(metrics == ["BackupFailed", "BackupSucceeded"], f"EMF metrics: {', '.join(metrics)}")


def _finish_backup(
    handler: Any, clock: Clock, instance_id: str, command_id: str, when: datetime, rows: list[list[Any]]
) -> None:
    """batch-1's command succeeds: the archive is in S3 (what `aws s3 cp` does) and Run Command says Success."""
    clock.now = when
    key = json.loads(json.dumps(common.client("ssm").list_commands(CommandId=command_id)["Commands"][0]["Parameters"]))[
        "ObjectKey"
    ][0]
    common.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"db" * 1000, Metadata={"sha256": "ab" * 32})
    ssm_backends[DEFAULT_ACCOUNT_ID][REGION].get_command_by_id(command_id).status = "Success"
    result = handler.handler(status_event(instance_id, command_id, "Success", _time(when)), None)
    rows.append([_offset(when), instance_id, result["decision"], "(pending one deleted)", "-"])


def _time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _offset(when: datetime) -> str:
    return f"+{int((when - T0).total_seconds() // 60)} min"
