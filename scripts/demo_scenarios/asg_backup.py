"""asg-backup: a scale-in of three instances, each taken through the real handler with the events AWS sends.

* web-1 is an online SSM managed node: the terminate lifecycle action sends the backup document; the document's
  own shell script then runs here under sh against a stub IMDSv2 (127.0.0.1; a `curl` wrapper on PATH points the
  script's http://169.254.169.254 there) and a stub `aws` that hands the archive to S3 (moto) exactly as
  `aws s3 cp` would; the Success status event completes the hook with CONTINUE.
  A second delivery of both events changes nothing.
* web-2 is managed but its backup fails (status Failed with the script's error): the hook is completed with the
  failure result and the error is published.
* web-3 has no SSM agent: the hook is completed at once with the unmanaged result.

Long backups (heartbeats up to max_backup_seconds) and retention on failure: asg_backup_heartbeats.py.

moto has no ssm:DescribeInstanceInformation and no autoscaling:CompleteLifecycleAction: both are answered by a
`before-call` hook on the function's own clients, which also records every completion for the report.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import opskit_common as common
import yaml
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ssm.models import ssm_backends
from opskit_tools.loader import load_handler
from opskit_tools.paths import MODULES
from opskit_tools.scenarios import Report, collect_logs, environment

ORDER = 50
TITLE = "asg-backup: back up terminating Auto Scaling instances before they go"

REGION = "eu-central-1"
GROUP = "web-asg"
HOOK = "opskit-asg-backup"
DOCUMENT = "opskit-asg-backup"
BUCKET = "opskit-asg-backup-demo"
ENV = {
    "DOCUMENT_NAME": DOCUMENT,
    "DOCUMENT_VERSION": "1",
    "AUTOSCALING_GROUP_NAMES": json.dumps([GROUP]),
    "BUCKET": BUCKET,
    "PREFIX": "asg-backup",
    "BACKUP_PATHS": "[]",  # set in run(): a temporary directory standing in for /var/log
    "HOOK_NAME": HOOK,
    "UNMANAGED_RESULT": "CONTINUE",
    "FAILURE_RESULT": "ABANDON",
    "COMMAND_TIMEOUT_SECONDS": "1800",
}


def lifecycle_event(
    instance_id: str, token: str, group_arn: str | None, time: str, group: str = GROUP
) -> dict[str, Any]:
    """The terminate lifecycle action as EventBridge delivers it (the demos of both asg-backup scenarios)."""
    return {
        "version": "0",
        "id": f"lifecycle-{token[:8]}",
        "detail-type": "EC2 Instance-terminate Lifecycle Action",
        "source": "aws.autoscaling",
        "account": DEFAULT_ACCOUNT_ID,
        "time": time,
        "region": REGION,
        "resources": [group_arn] if group_arn else [],
        "detail": {
            "LifecycleActionToken": token,
            "AutoScalingGroupName": group,
            "LifecycleHookName": HOOK,
            "EC2InstanceId": instance_id,
            "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
            "Origin": "AutoScalingGroup",
            "Destination": "EC2",
        },
    }


def status_event(instance_id: str, command_id: str, status: str, time: str = "2026-11-23T04:33:42Z") -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"status-{command_id[:8]}-{status}",
        "detail-type": "EC2 Command Invocation Status-change Notification",
        "source": "aws.ssm",
        "account": DEFAULT_ACCOUNT_ID,
        "time": time,
        "region": REGION,
        "resources": [f"arn:aws:ec2:{REGION}:{DEFAULT_ACCOUNT_ID}:instance/{instance_id}"],
        "detail": {
            "command-id": command_id,
            "document-name": DOCUMENT,
            "instance-id": instance_id,
            "requested-date-time": "2026-11-23T04:31:09.049Z",
            "status": status,
        },
    }


# --- what moto lacks -------------------------------------------------------------------------------


def answer(client: Any, operation: str, respond: Any) -> None:
    """Answer `operation` locally: respond(api_params) gives the parsed response (or an Error with a status)."""
    last: dict[str, Any] = {}

    def record(params: dict[str, Any], **_: Any) -> None:
        last.clear()
        last.update(params)

    def before_call(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        parsed = respond(dict(last))
        status = parsed.pop("status", 200)
        parsed["ResponseMetadata"] = {"HTTPStatusCode": status}
        return AWSResponse("https://local", status, {}, None), parsed

    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"before-parameter-build.{service}.{operation}", record)
    client.meta.events.register(f"before-call.{service}.{operation}", before_call)


class LifecycleActions:
    """Stands in for the Auto Scaling side of CompleteLifecycleAction: one completion per pending action."""

    def __init__(self) -> None:
        self.pending: set[str] = set()
        self.completed: list[dict[str, str]] = []

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        instance_id = params["InstanceId"]
        if instance_id not in self.pending:
            message = f"No active Lifecycle Action found with instance ID {instance_id}"
            return {"Error": {"Code": "ValidationError", "Message": message}, "status": 400}
        self.pending.discard(instance_id)
        self.completed.append({"instance": instance_id, "result": params["LifecycleActionResult"]})
        return {}


# --- the instance side: the document's script under sh ---------------------------------------------


class _Imds(http.server.BaseHTTPRequestHandler):
    instance_id = ""

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: str) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def do_PUT(self) -> None:
        self._send(200, "demo-token") if self.path == "/latest/api/token" else self._send(404, "")

    def do_GET(self) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") != "demo-token":
            self._send(401, "")
            return
        values = {"/latest/meta-data/instance-id": self.instance_id, "/latest/meta-data/placement/region": REGION}
        self._send(200, values[self.path]) if self.path in values else self._send(404, "")


@contextlib.contextmanager
def imds(instance_id: str) -> Iterator[str]:
    _Imds.instance_id = instance_id
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Imds)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_document_script(work: Path, instance_id: str, parameters: dict[str, list[str]]) -> dict[str, Any]:
    """Run the deployed document's script as the SSM Agent would; return its exit status, output and upload."""
    document = yaml.safe_load((MODULES / "asg-backup" / "backup-document.yaml").read_text(encoding="utf-8"))
    script = work / "_script.sh"
    script.write_text("\n".join(document["mainSteps"][0]["inputs"]["runCommand"]))
    bin_dir = work / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "aws").write_text('#!/bin/sh\nprintf \'%s\\n\' "$@" > "$STUB_ARGS"\ncp "$3" "$STUB_UPLOAD"\n')
    (bin_dir / "aws").chmod(0o755)
    # The script asks the link-local IMDS; this curl hands those URLs to the real curl with the stub's address.
    imds_url = "http://169.254.169.254"
    (bin_dir / "curl").write_text(
        "#!/bin/sh\nfor arg do\n  shift\n"
        f'  case "$arg" in {imds_url}/*) arg="$IMDS_STUB${{arg#{imds_url}}}" ;; esac\n'
        f'  set -- "$@" "$arg"\ndone\nexec "{shutil.which("curl")}" "$@"\n'
    )
    (bin_dir / "curl").chmod(0o755)
    with imds(instance_id) as endpoint:
        env = {
            "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "STUB_ARGS": str(work / "aws-args"),
            "STUB_UPLOAD": str(work / "upload.tar.gz"),
            "IMDS_STUB": endpoint,
            "SSM_KmsKeyId": "",
            **{f"SSM_{name}": values[0] for name, values in parameters.items()},
        }
        run = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60, check=False)
    args = (work / "aws-args").read_text().splitlines() if (work / "aws-args").exists() else []
    return {"status": run.returncode, "stdout": run.stdout, "stderr": run.stderr, "args": args}


def invocation(command_id: str, instance_id: str) -> dict[str, Any]:
    command = ssm_backends[DEFAULT_ACCOUNT_ID][REGION].get_command_by_id(command_id)
    return command.get_invocation(instance_id, None)


def as_run_command_records(command_id: str, instance_id: str) -> None:
    """moto adds every EC2 instance to a command sent with InstanceIds and no Targets (its target filter is
    empty); Run Command records the named instance only, and the handler checks the status event against it."""
    command = ssm_backends[DEFAULT_ACCOUNT_ID][REGION].get_command_by_id(command_id)
    command.instance_ids = [instance_id]
    command.invocations = [i for i in command.invocations if i["InstanceId"] == instance_id]


# --- the scenario ----------------------------------------------------------------------------------


def run(report: Report) -> None:
    with (
        environment({**ENV, "TOPIC_ARN": None}),
        collect_logs() as records,
        tempfile.TemporaryDirectory() as tmp,
        mock_aws(),
    ):
        _scenario(report, Path(tmp))
    # handler.py (opskit_fn_asg_backup) and the asg_backup_*.py modules it imports
    levels = [r.levelname for r in records if r.name.startswith(("opskit_fn_asg_backup", "asg_backup_"))]
    report.kv("function log records", ", ".join(f"{levels.count(n)} {n}" for n in sorted(set(levels))))


def _scenario(report: Report, work: Path) -> None:
    common.reset_clients()
    data = work / "var-log"
    (data / "app").mkdir(parents=True)
    (data / "app" / "app.log").write_text("GET /checkout 200\n" * 200)
    (data / "messages").write_text("kernel: scale-in\n")

    ec2, autoscaling = common.client("ec2"), common.client("autoscaling")
    image = "ami-0123456789abcdef0"  # any id: moto does not need a registered image
    ec2.create_launch_template(
        LaunchTemplateName="web", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"}
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        LaunchTemplate={"LaunchTemplateName": "web", "Version": "$Latest"},
        MinSize=0,
        MaxSize=3,
        DesiredCapacity=3,
        AvailabilityZones=[f"{REGION}a"],
    )
    autoscaling.put_lifecycle_hook(
        LifecycleHookName=HOOK,
        AutoScalingGroupName=GROUP,
        LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
        HeartbeatTimeout=3600,
        DefaultResult="CONTINUE",
    )
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]
    web1, web2, web3 = sorted(i["InstanceId"] for i in group["Instances"])

    common.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    sns, sqs = common.client("sns"), common.client("sqs")
    topic = sns.create_topic(Name="opskit-asg-backup-results")["TopicArn"]
    queue = sqs.create_queue(QueueName="results")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    os.environ.update(ENV, TOPIC_ARN=topic, BACKUP_PATHS=json.dumps([str(data), "/nonexistent/cache"]))

    managed = {web1, web2}
    answer(
        common.client("ssm"),
        "DescribeInstanceInformation",
        lambda p: {
            "InstanceInformationList": [
                {"InstanceId": i, "PingStatus": "Online", "PlatformType": "Linux"}
                for i in p["Filters"][0]["Values"]
                if i in managed
            ]
        },
    )
    hooks = LifecycleActions()
    answer(autoscaling, "CompleteLifecycleAction", hooks)

    handler = load_handler("asg_backup")
    tokens = {i: f"{n}7654321-4321-4321-4321-210987654321" for n, i in enumerate((web1, web2, web3), start=1)}
    hooks.pending.update(tokens)
    events = {i: lifecycle_event(i, tokens[i], group["AutoScalingGroupARN"], "2026-11-23T04:31:07Z") for i in tokens}
    emf = io.StringIO()

    report.line(f"Scale-in of {GROUP}: {web1} (managed), {web2} (managed, backup fails), {web3} (no SSM agent)")
    results = {}
    with contextlib.redirect_stdout(emf):
        for instance_id in (web1, web2, web3):
            results[instance_id] = handler.handler(events[instance_id], None)
            if results[instance_id]["command_id"]:
                as_run_command_records(results[instance_id]["command_id"], instance_id)
    report.table(
        ["instance", "decision", "command"],
        [[i, r["decision"], r["command_id"] or "-"] for i, r in results.items()],
    )
    report.check(
        [results[web1]["decision"], results[web2]["decision"], results[web3]["decision"]]
        == ["backup_started", "backup_started", "not_managed"],
        "managed instances get the backup command; the unmanaged one is released at once",
    )
    report.check(hooks.completed == [{"instance": web3, "result": "CONTINUE"}], f"{web3} completed with CONTINUE")

    command_id = results[web1]["command_id"]
    ssm = common.client("ssm")
    (command,) = ssm.list_commands(CommandId=command_id)["Commands"]
    parameters = command["Parameters"]
    report.kv("ObjectKey", parameters["ObjectKey"][0])
    with contextlib.redirect_stdout(emf):
        again = handler.handler(events[web1], None)
    report.check(
        again["decision"] == "duplicate" and again["command_id"] == command_id, "redelivered action: no 2nd command"
    )

    # The instance runs the document.
    if shutil.which("sh") and shutil.which("curl"):
        ran = run_document_script(work, web1, parameters)
        report.kv("script exit status", ran["status"])
        for line in ran["stderr"].splitlines():
            report.line(f"  stderr: {line}")
        report.check(ran["status"] == 0, "the document's script ran under sh and uploaded")
        upload = (work / "upload.tar.gz").read_bytes()
        sha256 = hashlib.sha256(upload).hexdigest()
        report.check(f"sha256={sha256},instance-id={web1}" in ran["args"], "checksum sent as object metadata")
        stdout = ran["stdout"]
    else:
        report.line("(sh or curl missing: the archive is built in Python instead of by the script)")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(data, arcname=str(data).lstrip("/"))
        upload, stdout = buffer.getvalue(), ""
        sha256 = hashlib.sha256(upload).hexdigest()
    common.client("s3").put_object(  # what `aws s3 cp` does with the script's arguments
        Bucket=BUCKET, Key=parameters["ObjectKey"][0], Body=upload, Metadata={"sha256": sha256, "instance-id": web1}
    )
    # What Run Command records for the two invocations (moto keeps whatever is set here).
    invocation(command_id, web1)["StandardOutputContent"] = stdout
    failing = invocation(results[web2]["command_id"], web2)
    failing.update(Status="Failed", StatusDetails="Failed", ResponseCode=2)
    failing["StandardErrorContent"] = (
        "tar: /var/lib/app: Cannot open: Permission denied\ntar: Exiting with failure status\n"
    )

    with contextlib.redirect_stdout(emf):
        done = handler.handler(status_event(web1, command_id, "Success"), None)
        failed = handler.handler(status_event(web2, results[web2]["command_id"], "Failed"), None)
        redelivered = handler.handler(status_event(web1, command_id, "Success"), None)
    report.check(done["decision"] == "backup_succeeded", f"{web1}: Success verified in S3, hook completed")
    report.check(failed["decision"] == "backup_failed", f"{web2}: failure reported, hook completed")
    report.check(redelivered["decision"] == "already_completed", "redelivered status: treated as done, not raised")
    try:  # a status event naming web-3 for web-1's command: nothing of web-3's may be completed
        handler.handler(status_event(web3, command_id, "Success"), None)
        refused = ""
    except common.InputError as exc:
        refused = str(exc)
    report.check(f"targets ['{web1}'], not {web3}" in refused, "status event for another instance: refused")
    report.check(
        hooks.completed[1:] == [{"instance": web1, "result": "CONTINUE"}, {"instance": web2, "result": "ABANDON"}],
        "hooks: CONTINUE after the backup, ABANDON (FAILURE_RESULT) after the failure",
    )

    messages = [
        json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    ]
    report.line("Results topic:")
    report.table(
        ["outcome", "instance", "result", "detail"],
        [
            [
                m["outcome"],
                m["instance_id"],
                m["lifecycle_action_result"],
                f"{m['bytes']} bytes sha256 {m['sha256'][:12]}..." if m.get("sha256") else m.get("reason", ""),
            ]
            for m in sorted(messages, key=lambda m: m["instance_id"])
        ],
    )
    report.check(
        sorted(m["outcome"] for m in messages) == ["BackupFailed", "BackupSucceeded", "NotManaged"],
        "one message per instance",
    )
    success = next(m for m in messages if m["outcome"] == "BackupSucceeded")
    report.check(success["sha256"] == sha256 and success["bytes"] == len(upload), "size and checksum match the upload")
    failure = next(m for m in messages if m["outcome"] == "BackupFailed")
    report.check("Permission denied" in failure.get("output_excerpt", ""), "the failure carries the command's output")
    metrics = [json.loads(line) for line in emf.getvalue().splitlines() if line.startswith('{"_aws"')]
    counted = sorted(name for m in metrics for name in ("BackupSucceeded", "BackupFailed", "NotManaged") if name in m)
    report.check(counted == ["BackupFailed", "BackupSucceeded", "NotManaged"], f"EMF metrics: {', '.join(counted)}")
    with tarfile.open(fileobj=io.BytesIO(upload), mode="r:gz") as tar:
        names = sorted(m.name for m in tar.getmembers() if m.isfile())
    report.kv("archive members", ", ".join(n.rsplit("/", 2)[-2] + "/" + n.rsplit("/", 1)[-1] for n in names))
