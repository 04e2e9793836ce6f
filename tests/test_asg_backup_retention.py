"""asg-backup: failed backups that never lose data, and the heartbeat settings held to their rules.

With ABANDON, a group whose instance lifecycle policy retains instances whose terminate hook is abandoned
(`instance_lifecycle_policy { retention_triggers { terminate_hook_abandon = "retain" } }`) keeps the instance
in Terminating:Retained, and the failure notice says so. moto has no instance lifecycle policy (nor
CompleteLifecycleAction): the autoscaling client goes through botocore's Stubber
(test_asg_backup.LifecycleStubber), which answers the DescribeAutoScalingGroups before each ABANDON
completion with the policy the test chooses and fails on any call it was not given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import opskit_common as common
import pytest
import yaml
from botocore.stub import Stubber
from test_asg_backup import (
    ENV,
    INSTANCE,
    MODULE,
    World,
    complete_params,
    set_env,
    start_backup,
    status_event,
    world_context,
)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    set_env(monkeypatch)  # FAILURE_RESULT=ABANDON
    with world_context(monkeypatch) as w:
        yield w


@pytest.fixture
def handler(load_handler: Callable[[str], Any]) -> Any:
    return load_handler("asg_backup")


def notices(world: World) -> list[dict[str, Any]]:
    """The published notices with their subjects."""
    raw = common.client("sqs").receive_message(QueueUrl=world.queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [{"Subject": json.loads(m["Body"])["Subject"], **json.loads(json.loads(m["Body"])["Message"])} for m in raw]


def fail_backup(world: World, handler: Any, load_event: Callable[[str], Any]) -> dict[str, Any]:
    command_id = start_backup(handler, load_event)
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("ABANDON"))
    result = handler.handler(status_event(load_event, "Failed", command_id), None)
    world.stub.assert_no_pending_responses()
    return result


def test_a_failed_backup_in_a_retaining_group_says_the_instance_was_retained(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    world.stub.retain = True
    result = fail_backup(world, handler, load_event)

    assert result["decision"] == "backup_failed" and result["instance_retained"] is True
    (notice,) = notices(world)
    assert notice["Subject"] == f"opskit asg-backup: BackupFailed {INSTANCE} (instance retained)"
    assert notice["lifecycle_action_result"] == "ABANDON" and notice["instance_retained"] is True
    assert notice["retention"].startswith("The instance was retained, not terminated: group web-asg keeps")
    assert (
        "Terminating:Retained" in notice["retention"] and "TerminateInstanceInAutoScalingGroup" in notice["retention"]
    )


def test_abandon_without_the_retention_trigger_says_nothing_was_retained(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    result = fail_backup(world, handler, load_event)  # the group's trigger is "terminate"
    assert "instance_retained" not in result
    (notice,) = notices(world)
    assert notice["Subject"] == f"opskit asg-backup: BackupFailed {INSTANCE}"
    assert notice["instance_retained"] is False and "retention" not in notice


def test_a_group_that_cannot_be_read_is_reported_as_unknown_and_still_completed(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    command_id = start_backup(handler, load_event)
    # The base Stubber methods: this test queues the group lookup itself (denied).
    Stubber.add_client_error(
        world.stub, "describe_auto_scaling_groups", service_error_code="AccessDenied", http_status_code=403
    )
    Stubber.add_response(world.stub, "complete_lifecycle_action", {}, complete_params("ABANDON"))

    result = handler.handler(status_event(load_event, "Failed", command_id), None)

    world.stub.assert_no_pending_responses()
    assert result["decision"] == "backup_failed"
    (notice,) = notices(world)
    assert notice["instance_retained"] is None
    assert notice["retention"] == "Whether group web-asg retains the instance could not be read."


def test_continue_does_not_read_the_group(
    world: World, load_handler: Callable[[str], Any], load_event: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAILURE_RESULT", "CONTINUE")
    handler = load_handler("asg_backup")
    command_id = start_backup(handler, load_event)
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("CONTINUE"))  # and nothing else
    assert handler.handler(status_event(load_event, "Failed", command_id), None)["decision"] == "backup_failed"
    world.stub.assert_no_pending_responses()
    (notice,) = notices(world)
    assert notice["instance_retained"] is False


def test_an_unmanaged_instance_abandoned_in_a_retaining_group_is_retained(
    world: World, load_handler: Callable[[str], Any], load_event: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNMANAGED_RESULT", "ABANDON")
    world.instance_information = []
    world.stub.retain = True
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("ABANDON"))

    result = load_handler("asg_backup").handler(load_event("asg_backup/lifecycle-terminate.json"), None)

    world.stub.assert_no_pending_responses()
    assert result["decision"] == "not_managed" and result["instance_retained"] is True
    (notice,) = notices(world)
    assert notice["outcome"] == "NotManaged" and notice["Subject"].endswith("(instance retained)")


def test_the_readme_shows_the_group_setting_the_provider_has() -> None:
    """The snippet in the module README is the block tests/retaining-group/main.tf plans against the AWS
    provider 6.69.1 schema (modules/asg-backup/tests/heartbeat.tftest.hcl, run the_readme_group_plans)."""
    readme = (MODULE / "README.md").read_text(encoding="utf-8")
    helper = (MODULE / "tests" / "retaining-group" / "main.tf").read_text(encoding="utf-8")
    block = re.search(r"\n(  instance_lifecycle_policy \{\n.*?\n  \}\n)", helper, re.S)
    assert block, "the helper configuration declares the policy"
    assert block.group(1) in readme
    assert 'terminate_hook_abandon = "retain"' in block.group(1)


# --- the heartbeat settings, held to the module's plan-time rules ------------------------------------

HEARTBEATS = {
    "MAX_BACKUP_SECONDS": "7200",
    "HEARTBEAT_TIMEOUT_SECONDS": "3600",
    "HEARTBEAT_SCHEDULE_GROUP": "opskit-asg-backup-heartbeats",
    "HEARTBEAT_ROLE_ARN": "arn:aws:iam::123456789012:role/opskit-asg-backup-heartbeat",
    "FUNCTION_ARN": "arn:aws:lambda:eu-central-1:123456789012:function:opskit-asg-backup",
    "HEARTBEAT_DLQ_ARN": "arn:aws:sqs:eu-central-1:123456789012:opskit-asg-backup-dlq",
    "TOPIC_ARN": "arn:aws:sns:eu-central-1:123456789012:t",
}


def environment(**changes: str | None) -> dict[str, str]:
    merged = {**ENV, **HEARTBEATS, **changes}
    return {k: v for k, v in merged.items() if v is not None}


def test_heartbeats_come_every_half_heartbeat_timeout(handler: Any) -> None:
    cfg = handler.Config.from_env(environment(HEARTBEAT_TIMEOUT_SECONDS="1728", MAX_BACKUP_SECONDS="172800"))
    assert cfg.heartbeats.interval_seconds == 864 and cfg.heartbeats.max_backup_seconds == 172800
    assert handler.Config.from_env(environment(MAX_BACKUP_SECONDS="")).heartbeats is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"MAX_BACKUP_SECONDS": "172801"}, "MAX_BACKUP_SECONDS=172801 must be at least 60 and at most 172800"),
        ({"MAX_BACKUP_SECONDS": "7200\n"}, "MAX_BACKUP_SECONDS="),
        ({"HEARTBEAT_TIMEOUT_SECONDS": "599"}, "HEARTBEAT_TIMEOUT_SECONDS=599 must be at least 600"),
        ({"HEARTBEAT_TIMEOUT_SECONDS": "600", "MAX_BACKUP_SECONDS": "60001"}, "exceeds 100 x HEARTBEAT_TIMEOUT"),
        ({"COMMAND_TIMEOUT_SECONDS": "6901"}, "COMMAND_TIMEOUT_SECONDS=6901 plus 300 s delivery must not exceed"),
        ({"HEARTBEAT_SCHEDULE_GROUP": None}, "HEARTBEAT_SCHEDULE_GROUP is required"),
        ({"HEARTBEAT_SCHEDULE_GROUP": "g" * 65}, "HEARTBEAT_SCHEDULE_GROUP="),
        ({"HEARTBEAT_ROLE_ARN": "opskit-asg-backup-heartbeat"}, "HEARTBEAT_ROLE_ARN="),
        ({"FUNCTION_ARN": HEARTBEATS["FUNCTION_ARN"] + ":live"}, "FUNCTION_ARN="),
        ({"HEARTBEAT_DLQ_ARN": "arn:aws:sns:eu-central-1:123456789012:t"}, "HEARTBEAT_DLQ_ARN="),
    ],
)
def test_bad_heartbeat_settings_are_named(handler: Any, changes: dict[str, str | None], message: str) -> None:
    with pytest.raises(common.ConfigError, match=re.escape(message)):
        handler.Config.from_env(environment(**changes))


def test_the_longest_backup_the_rules_allow_is_accepted(handler: Any) -> None:
    cfg = handler.Config.from_env(
        environment(MAX_BACKUP_SECONDS="172800", COMMAND_TIMEOUT_SECONDS="172500", HEARTBEAT_TIMEOUT_SECONDS="1728")
    )
    assert (cfg.command_timeout_seconds, cfg.heartbeats.max_backup_seconds) == (172500, 172800)


def test_terraform_the_handler_and_the_document_agree_on_the_limits(handler: Any) -> None:
    config = __import__("asg_backup_config")
    variables = (MODULE / "variables.tf").read_text(encoding="utf-8")
    main_tf = (MODULE / "main.tf").read_text(encoding="utf-8")
    assert f"var.max_backup_seconds <= {config.MAX_WAIT_SECONDS}" in variables
    assert f"var.command_timeout_seconds <= {config.MAX_COMMAND_TIMEOUT_SECONDS}" in variables
    assert f"var.heartbeat_timeout >= {config.MIN_HEARTBEAT_TIMEOUT_SECONDS}" in main_tf
    assert "var.max_backup_seconds <= 100 * var.heartbeat_timeout" in main_tf
    pattern = yaml.safe_load((MODULE / "backup-document.yaml").read_text())["parameters"]["executionTimeout"]
    accepted = [n for n in range(0, 200_001) if re.fullmatch(pattern["allowedPattern"], str(n))]
    assert (accepted[0], accepted[-1], len(accepted)) == (30, config.MAX_WAIT_SECONDS, config.MAX_WAIT_SECONDS - 29)
