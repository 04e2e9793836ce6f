"""restart.asl.json under moto: the restart ladder (healed by reboot, healed by stop-start, exhausted, ssm:<document>
steps), the evidence saved before the first step (and a failing capture that never blocks), and the end of every
run (lock and fleet slot released, outcome metric, notice). Fixture, `execute` and `heals`: test_restart_workflow.py.

moto gaps, and how they are covered here:
- ec2:GetConsoleScreenshot is not implemented by moto: the `aws` fixture answers like EC2 does for an instance
  type without screenshots (UnsupportedOperation), and `_screenshot` serves an image where a test needs one.
- moto's botocore client decodes GetConsoleOutput's base64 Output (a botocore customization), so the object saved
  under moto holds the decoded text; Step Functions passes EC2's base64 text through, so the deployed object is
  base64 (hence its name, console-output.log.b64). Both are the bytes the state machine was given.
- moto's SSM runs no command: invocations end `Success` at once; Failed / InProgress are injected by patching
  moto's Command model, a document that cannot be sent by patching its backend.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.instances import Instance
from moto.ec2.responses.general import General
from moto.ssm.exceptions import InvalidDocument
from moto.ssm.models import Command, SimpleSystemManagerBackend
from test_restart_workflow import (
    ACCOUNT,
    ALARM,
    BUCKET,
    FLEET_KEY,
    MODULE,
    REGION,
    SCREENSHOT,
    TAG,
    _screenshot,
    apis,
    execute,
    heals,
    moto_workflow,
    set_alarm,
)

DIMENSIONS = {"Module": "restart-workflow", "Workflow": "opskit-restart-workflow"}
# the screenshot is unsupported by default (an EC2 error): tried once and retried twice, briefly
EVIDENCE_CALLS = ["getConsoleOutput", "putObject", *["getConsoleScreenshot"] * 3]
END_CALLS = ["updateItem", "updateItem", "putMetricData", "publish"]  # lock, fleet slot, outcome metric, notice


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    yield from moto_workflow()


def test_healed_by_reboot_stops_at_the_cheapest_step(aws: dict[str, Any]) -> None:
    with heals(Instance, "reboot"):
        outcome = execute(aws)  # the default ladder: reboot, stop-start
    assert outcome["status"] == "SUCCEEDED"
    assert apis(outcome) == [
        *EVIDENCE_CALLS,
        "rebootInstances",
        "describeInstanceStatus",
        "describeAlarms",
        *END_CALLS,
    ]
    assert outcome["state"] == "running" and TAG not in outcome["tags"]  # never stopped, never tagged
    (message,) = outcome["messages"]
    assert (message["outcome"], message["healedBy"], message["notHealedBy"]) == ("healed", "reboot", "")
    assert outcome["lock"]["last_outcome"] == {"S": "healed"} and "lock_owner" not in outcome["lock"]
    assert outcome["metrics"] == [("Healed", {**DIMENSIONS, "Step": "reboot"})]


def test_healed_by_stop_start_after_the_reboot_did_not(aws: dict[str, Any]) -> None:
    with heals(Instance, "start"):
        outcome = execute(aws)
    assert outcome["status"] == "SUCCEEDED"
    calls = apis(outcome)
    assert calls.index("rebootInstances") < calls.index("createTags") < calls.index("stopInstances")
    assert calls.count("describeAlarms") == 2  # read again after each step
    (message,) = outcome["messages"]
    assert (message["healedBy"], message["notHealedBy"]) == ("stop-start", "reboot: StillInAlarm; ")
    assert outcome["state"] == "running" and TAG not in outcome["tags"]
    assert outcome["metrics"] == [("Healed", {**DIMENSIONS, "Step": "stop-start"})]


def test_exhausted_ladder_fails_with_a_notice_naming_each_step(aws: dict[str, Any]) -> None:
    outcome = execute(aws)  # nothing heals: the alarm stays in ALARM
    assert outcome["status"] == "FAILED"
    assert outcome["error"] == "LadderExhausted"
    assert outcome["cause"] == "no step healed the instance: reboot: StillInAlarm; stop-start: StillInAlarm; "
    (message,) = outcome["messages"]
    assert {k: message[k] for k in ("outcome", "step", "error", "cause")} == {
        "outcome": "exhausted",
        "step": "stop-start",
        "error": "LadderExhausted",
        "cause": outcome["cause"],
    }
    assert outcome["state"] == "running" and TAG not in outcome["tags"]
    assert outcome["lock"]["last_outcome"] == {"S": "exhausted"} and "lock_owner" not in outcome["lock"]
    assert outcome["fleet"]["running"] == {"M": {"other-run": {"N": "9999999999"}}}
    assert outcome["metrics"] == [("Exhausted", {**DIMENSIONS, "Step": "stop-start"})]


def test_alarm_in_insufficient_data_after_a_step_is_not_healed(aws: dict[str, Any]) -> None:
    real_reboot = Instance.reboot

    def reboot_without_data(self: Instance) -> Any:
        real_reboot(self)
        set_alarm("INSUFFICIENT_DATA")

    with mock.patch.object(Instance, "reboot", reboot_without_data), heals(Instance, "start"):
        outcome = execute(aws)
    assert outcome["messages"][0]["healedBy"] == "stop-start"
    (still,) = [e for e in outcome["events"] if e.get("stateExitedEventDetails", {}).get("name") == "StillInAlarm"]
    assert "the alarm was INSUFFICIENT_DATA after settling" in still["stateExitedEventDetails"]["output"]


def test_alarm_deleted_during_the_run_is_not_healed(aws: dict[str, Any]) -> None:
    real_reboot = Instance.reboot

    def reboot_and_delete_the_alarm(self: Instance) -> Any:
        real_reboot(self)
        cloudwatch_backends[ACCOUNT][REGION].delete_alarms([ALARM])

    with mock.patch.object(Instance, "reboot", reboot_and_delete_the_alarm):
        outcome = execute(aws)
    assert outcome["status"] == "FAILED"
    assert outcome["cause"] == "no step healed the instance: reboot: AlarmNotFound; stop-start: AlarmNotFound; "


# --- ssm:<document> steps --------------------------------------------------------------------------

SSM_LADDER = ["ssm:opskit-restart-nginx", "reboot"]


@pytest.fixture
def invocation_status() -> Iterator[list[str]]:
    """Statuses moto's SSM reports for the next commands' invocations (default: Success)."""
    statuses: list[str] = []
    real = Command.invocation_response

    def with_status(self: Command, instance_id: str, plugin_name: str) -> dict[str, Any]:
        response = real(self, instance_id, plugin_name)
        if statuses:
            response["Status"] = response["StatusDetails"] = statuses[0]
        return response

    with mock.patch.object(Command, "invocation_response", with_status):
        yield statuses


def test_ssm_step_runs_its_document_and_heals(aws: dict[str, Any]) -> None:
    with heals(SimpleSystemManagerBackend, "send_command"):
        outcome = execute(aws, SSM_LADDER)
    assert outcome["status"] == "SUCCEEDED"
    (send,) = [c for c in outcome["calls"] if c["_api"] == "sendCommand"]
    assert send["DocumentName"] == "opskit-restart-nginx"
    assert send["InstanceIds"] == [aws["instance"]]
    assert "rebootInstances" not in apis(outcome)
    assert outcome["messages"][0]["healedBy"] == "ssm:opskit-restart-nginx"
    assert outcome["metrics"] == [("Healed", {**DIMENSIONS, "Step": "ssm:opskit-restart-nginx"})]


def test_failed_command_moves_up_the_ladder(aws: dict[str, Any], invocation_status: list[str]) -> None:
    invocation_status.append("Failed")
    with heals(Instance, "reboot"):
        outcome = execute(aws, SSM_LADDER)
    assert outcome["status"] == "SUCCEEDED"
    assert apis(outcome).count("describeAlarms") == 1  # a failed command is not settled on
    assert outcome["messages"][0]["healedBy"] == "reboot"
    assert outcome["messages"][0]["notHealedBy"] == "ssm:opskit-restart-nginx: CommandFailed; "


def test_command_still_running_at_its_timeout_moves_up_the_ladder(
    aws: dict[str, Any], invocation_status: list[str]
) -> None:
    invocation_status.append("InProgress")
    with heals(Instance, "reboot"):
        outcome = execute(aws, SSM_LADDER)
    assert apis(outcome).count("getCommandInvocation") == 2  # max_ssm_polls
    assert outcome["messages"][0]["notHealedBy"] == "ssm:opskit-restart-nginx: CommandTimeout; "


def test_command_that_cannot_be_sent_moves_up_the_ladder(aws: dict[str, Any]) -> None:
    missing = InvalidDocument("Document opskit-restart-nginx does not exist.")
    with (
        mock.patch.object(SimpleSystemManagerBackend, "send_command", side_effect=missing),
        heals(Instance, "reboot"),
    ):
        outcome = execute(aws, SSM_LADDER)
    assert outcome["status"] == "SUCCEEDED"
    assert outcome["messages"][0]["notHealedBy"] == "ssm:opskit-restart-nginx: Ssm.InvalidDocumentException; "


# --- evidence before action ------------------------------------------------------------------------


def test_evidence_is_saved_before_any_action_under_instance_and_execution(aws: dict[str, Any]) -> None:
    iid = aws["instance"]
    with mock.patch.object(General, "get_console_screenshot", _screenshot), heals(Instance, "reboot"):
        outcome = execute(aws)
    calls = apis(outcome)
    assert calls[:5] == ["getConsoleOutput", "putObject", "getConsoleScreenshot", "putObject", "rebootInstances"]
    assert outcome["calls"][0] == {"InstanceId": iid, "Latest": True, "_api": "getConsoleOutput"}
    prefix = f"{iid}/run-1/"
    assert sorted(outcome["objects"]) == [f"{prefix}console-output.log.b64", f"{prefix}console-screenshot.jpg.b64"]
    assert outcome["objects"][f"{prefix}console-screenshot.jpg.b64"] == SCREENSHOT.encode()
    assert outcome["objects"][f"{prefix}console-output.log.b64"].startswith(b"Linux version")  # see the docstring
    link = f"https://console.aws.amazon.com/s3/object/{BUCKET}?region={REGION}&prefix={prefix}"
    assert outcome["messages"][0]["evidence"] == {
        "consoleOutput": {
            "saved": f"s3://{BUCKET}/{prefix}console-output.log.b64",
            "link": f"{link}console-output.log.b64",
        },
        "screenshot": {
            "saved": f"s3://{BUCKET}/{prefix}console-screenshot.jpg.b64",
            "link": f"{link}console-screenshot.jpg.b64",
        },
    }


def test_evidence_capture_failing_never_blocks_the_remediation(aws: dict[str, Any]) -> None:
    """The console output cannot be read (after its retries), the screenshot cannot be stored (no bucket):
    both are recorded in the notice and the ladder runs as if nothing happened."""

    def no_console(self: General) -> Any:
        raise EC2ClientError("UnauthorizedOperation", "You are not authorized to perform this operation.")

    aws["s3"].delete_bucket(Bucket=BUCKET)
    with (
        mock.patch.object(General, "get_console_output", no_console),
        mock.patch.object(General, "get_console_screenshot", _screenshot),
        heals(Instance, "reboot"),
    ):
        outcome = execute(aws)
    assert outcome["status"] == "SUCCEEDED"
    assert apis(outcome).count("getConsoleOutput") == 3  # retried twice (briefly: evidence never holds up a step)
    assert outcome["messages"][0]["evidence"] == {
        "consoleOutput": {"notSaved": "Ec2.Ec2Exception"},
        "screenshot": {"notSaved": "S3.NoSuchBucketException"},
    }
    assert outcome["messages"][0]["healedBy"] == "reboot"
    failed = [e["taskFailedEventDetails"] for e in outcome["events"] if e["type"] == "TaskFailed"]
    assert any("not authorized" in f["cause"] for f in failed)  # the reason stays in the execution history


def test_unsupported_screenshot_and_missing_console_output_are_recorded(aws: dict[str, Any]) -> None:
    def no_output(self: General) -> Any:
        return ActionResult({"InstanceId": self._get_param("InstanceId")})

    with mock.patch.object(General, "get_console_output", no_output), heals(Instance, "reboot"):
        outcome = execute(aws)
    assert outcome["objects"] == {}
    assert outcome["messages"][0]["evidence"] == {
        "consoleOutput": {"notSaved": "NoConsoleOutput"},
        "screenshot": {"notSaved": "Ec2.Ec2Exception"},  # UnsupportedOperation on this instance type
    }


def test_screenshot_is_not_requested_when_turned_off(aws: dict[str, Any]) -> None:
    with heals(Instance, "reboot"):
        outcome = execute(aws, capture_screenshot=False)
    assert "getConsoleScreenshot" not in apis(outcome)
    assert outcome["messages"][0]["evidence"]["screenshot"] == "not captured"


# --- the end of every run --------------------------------------------------------------------------


def test_fleet_slot_release_is_conditional_and_bumps_the_version(aws: dict[str, Any]) -> None:
    with heals(Instance, "reboot"):
        outcome = execute(aws)
    assert outcome["fleet"]["running"] == {"M": {"other-run": {"N": "9999999999"}}}  # only this run's slot
    assert outcome["fleet"]["version"] == {"N": "8"}  # a guard that read version 7 must read again
    (release,) = [c for c in outcome["calls"] if c.get("Key") == {"instance_id": {"S": FLEET_KEY}}]
    assert release["ConditionExpression"] == "attribute_exists(#running.#me)"  # never creates the item


def test_history_per_step_stays_within_the_plan_time_bound(aws: dict[str, Any]) -> None:
    """main.tf bounds the longest run at 11 events per poll, 100 per step besides its polls and 600 for the rest
    (worst_case_history_events). Measured on an exhausted three-step run: each step's events besides its polls,
    and everything outside the steps."""
    outcome = execute(aws, ["reboot", "ssm:opskit-restart-nginx", "stop-start"])
    assert outcome["status"] == "FAILED"
    entered = outcome["entered"]
    starts = [i for i, name in enumerate(entered) if name == "NextStep"]
    end = entered.index("Exhausted")
    polls = {"WaitForStopped", "WaitForRunning", "WaitForStatusChecks", "WaitForCommand"}
    for begin, finish in zip(starts, [*starts[1:], end], strict=True):
        segment = entered[begin:finish]
        overhead = len(segment) - 11 * sum(name in polls for name in segment)
        assert 0 < overhead < 100, (segment[:3], overhead)
    outside = len(entered) - (end - starts[0])
    assert outside < 600
    main = (MODULE / "main.tf").read_text()
    assert re.search(r"worst_case_history_events = 11 \* sum\(.*\) \+ 100 \* length\(local\.ladder\) \+ 600", main)
