"""asg-backup hardening: times that overflow, whole-string ids, status events checked against their command and
the configuration, the environment checked at cold start, the document version, bounded messages.

The same world as test_asg_backup.py: moto for SSM/S3/SNS, DescribeInstanceInformation answered by a narrow
`before-call` hook (moto lacks it), CompleteLifecycleAction through botocore's Stubber (moto lacks it), which
fails on any call that was not expected. `no_aws` stubs every client with no responses: any AWS call raises.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import opskit_common as common
import pytest
import yaml
from botocore.stub import Stubber
from test_asg_backup import (
    BUCKET,
    DOCUMENT,
    ENV,
    HOOK,
    INSTANCE,
    MODULE,
    TOKEN,
    World,
    complete_params,
    fake_operation,
    set_env,
    start_backup,
    status_event,
    upload_backup,
    world_context,
)

OTHER_INSTANCE = "i-0fedcba9876543210"
NOW = datetime(2026, 11, 23, 5, 0, 0, tzinfo=UTC)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    set_env(monkeypatch)
    with world_context(monkeypatch) as w:
        yield w


@pytest.fixture
def handler(load_handler: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    module = load_handler("asg_backup")
    monkeypatch.setattr(module, "_now", lambda: NOW, raising=False)
    return module


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    set_env(monkeypatch)
    monkeypatch.setenv("TOPIC_ARN", "arn:aws:sns:eu-central-1:123456789012:t")
    stubs = [Stubber(common.client(name)) for name in ("ssm", "autoscaling", "sns", "s3")]
    for stub in stubs:
        stub.activate()
    yield
    for stub in stubs:
        stub.assert_no_pending_responses()
        stub.deactivate()


def lifecycle(load_event: Callable[[str], Any], **detail: Any) -> dict[str, Any]:
    event = load_event("asg_backup/lifecycle-terminate.json")
    event["detail"].update(detail)
    return event


# --- 1. times --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "time", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "yesterday", None, 42, "2026-11-23T04:31:07"]
)
def test_an_unusable_event_time_does_not_abort_the_backup(
    world: World, handler: Any, load_event: Callable[[str], Any], time: Any
) -> None:
    """0001-01-01T00:00:00+01:00 raised OverflowError; no envelope time is worth holding scale-in for: the key
    takes the current time."""
    event = lifecycle(load_event)
    event["time"] = time
    result = handler.handler(event, None)
    assert result["decision"] == "backup_started"
    assert result["key"] == f"asg-backup/web-asg/{INSTANCE}/20261123T050000Z.tar.gz"


def test_a_year_before_1000_keeps_four_digits_in_the_key(handler: Any) -> None:
    key = handler.object_key("p", "web-asg", INSTANCE, datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert key == f"p/web-asg/{INSTANCE}/09990102T030405Z.tar.gz"
    assert handler.OBJECT_KEY.fullmatch(key)


def test_the_handler_knows_the_documents_object_key_pattern(handler: Any) -> None:
    declared = yaml.safe_load((MODULE / "backup-document.yaml").read_text())["parameters"]["ObjectKey"]
    assert declared["allowedPattern"] == f"^{handler.OBJECT_KEY.pattern}$"
    longest = handler.object_key("p" * handler.MAX_PREFIX_CHARS, "g" * 255, "i-" + "f" * 17, NOW)
    assert re.fullmatch(declared["allowedPattern"], longest)
    assert not re.fullmatch(declared["allowedPattern"], handler.object_key("p" * 645, "g" * 255, INSTANCE, NOW))


# --- 2, 3. whole-string ids, group names, status events checked against the command ------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("LifecycleActionToken", TOKEN + "\n"),
        ("EC2InstanceId", "i-0123456789abcde"),  # 15 hex digits
        ("EC2InstanceId", "i-0123456789abcdef"),  # 16
        ("EC2InstanceId", INSTANCE + "\n"),
        ("LifecycleHookName", HOOK + "\n"),
        ("AutoScalingGroupName", "web-asg\n"),
        ("AutoScalingGroupName", "web asg"),
        ("AutoScalingGroupName", "web:blue"),
        ("AutoScalingGroupName", "g" * 256),
        ("LifecycleTransition", "autoscaling:EC2_INSTANCE_TERMINATING\n"),
    ],
)
def test_lifecycle_fields_must_match_whole(
    no_aws: None, handler: Any, load_event: Callable[[str], Any], field: str, value: str
) -> None:
    with pytest.raises(common.InputError, match=field):
        handler.handler(lifecycle(load_event, **{field: value}), None)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("command-id", "e8d3c0e4-71f7-4491-898f-c9b35bee5f3b\n"),
        ("instance-id", "i-0123456789abcdef"),
        ("instance-id", INSTANCE + "\n"),
        ("document-name", DOCUMENT + "\n"),
        ("status", "Success\n"),
    ],
)
def test_status_fields_must_match_whole(
    no_aws: None, handler: Any, load_event: Callable[[str], Any], field: str, value: str
) -> None:
    event = load_event("asg_backup/command-invocation-success.json")
    event["detail"][field] = value
    with pytest.raises(common.InputError, match=field):
        handler.handler(event, None)


def test_a_group_that_is_not_configured_is_ignored(
    no_aws: None, handler: Any, load_event: Callable[[str], Any]
) -> None:
    result = handler.handler(lifecycle(load_event, AutoScalingGroupName="batch-asg"), None)
    assert result["decision"] == "ignored"
    assert result["reason"] == "group batch-asg is not configured"


def test_a_status_event_for_another_instance_of_the_command_is_refused(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    """Completing the lifecycle action of OTHER_INSTANCE with this command's token must not happen."""
    command_id = start_backup(handler, load_event)
    upload_backup(world)
    event = status_event(load_event, "Success", command_id)
    event["detail"]["instance-id"] = OTHER_INSTANCE
    with pytest.raises(common.InputError, match=f"targets \\['{INSTANCE}'\\], not {OTHER_INSTANCE}"):
        handler.handler(event, None)
    world.stub.assert_no_pending_responses()
    assert world.messages() == []


KEY_OF = f"asg-backup/web-asg/{INSTANCE}/20261123T043107Z.tar.gz"


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ({"Bucket": ["someone-elses-bucket"]}, "bucket 'someone-elses-bucket' is not"),
        ({"ObjectKey": [f"elsewhere/web-asg/{INSTANCE}/20261123T043107Z.tar.gz"]}, "is not under"),
        ({"ObjectKey": [f"asg-backup/web-asg/{OTHER_INSTANCE}/20261123T043107Z.tar.gz"]}, "is not under"),
        ({"ObjectKey": [KEY_OF + "\n"]}, "is not under"),
        ({"AutoScalingGroupName": ["batch-asg"]}, "group 'batch-asg' is not configured"),
        ({"LifecycleHookName": ["drain-connections"]}, "hook 'drain-connections' is not"),
        ({"LifecycleActionToken": ["not-a-token"]}, "lifecycle token 'not-a-token' is not valid"),
    ],
)
def test_a_command_with_parameters_this_module_did_not_send_is_refused(
    world: World, handler: Any, load_event: Callable[[str], Any], parameters: dict[str, list[str]], problem: str
) -> None:
    """Anyone allowed to run the document could otherwise make the function complete another group's lifecycle
    action, or vouch for an object outside the backups."""
    sent = {
        "BackupPaths": ["/var/log"],
        "Bucket": [BUCKET],
        "ObjectKey": [KEY_OF],
        "AutoScalingGroupName": ["web-asg"],
        "LifecycleHookName": [HOOK],
        "LifecycleActionToken": [TOKEN],
        **parameters,
    }
    command_id = world.ssm.send_command(InstanceIds=[INSTANCE], DocumentName=DOCUMENT, Parameters=sent)["Command"][
        "CommandId"
    ]
    upload_backup(world)
    with pytest.raises(common.InputError, match=re.escape(problem)):
        handler.handler(status_event(load_event, "Success", command_id), None)
    world.stub.assert_no_pending_responses()
    assert world.messages() == []


def test_the_commands_the_handler_sends_pass_its_own_check(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    command_id = start_backup(handler, load_event)
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("ABANDON"))
    assert handler.handler(status_event(load_event, "Failed", command_id), None)["decision"] == "backup_failed"


# --- 4. the environment, at cold start ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PREFIX", "p" * 645, "PREFIX='ppp"),
        ("PREFIX", "p" * 899, "must be at most 644 characters"),
        ("DOCUMENT_NAME", DOCUMENT + "\n", "DOCUMENT_NAME="),
        ("DOCUMENT_VERSION", "$DEFAULT", "DOCUMENT_VERSION='$DEFAULT'"),
        ("DOCUMENT_VERSION", None, "DOCUMENT_VERSION is required"),
        ("HOOK_NAME", HOOK + "\n", "HOOK_NAME="),
        ("BUCKET", BUCKET + "\n", "BUCKET="),
        ("TOPIC_ARN", "arn:aws:sns:eu-central-1:123456789012:t\n", "TOPIC_ARN="),
        ("AUTOSCALING_GROUP_NAMES", None, "AUTOSCALING_GROUP_NAMES is required"),
        ("AUTOSCALING_GROUP_NAMES", '["web asg"]', "AUTOSCALING_GROUP_NAMES must be"),
        ("AUTOSCALING_GROUP_NAMES", "[" * 60 + "]" * 60, "nested deeper"),
        ("BACKUP_PATHS", '["/var/log\\n"]', "BACKUP_PATHS must be"),
        ("FAILURE_RESULT", "continue", "FAILURE_RESULT='continue' must be CONTINUE or ABANDON"),
        ("COMMAND_TIMEOUT_SECONDS", "\uff11\uff18\uff10\uff10", "COMMAND_TIMEOUT_SECONDS="),
        ("COMMAND_TIMEOUT_SECONDS", "29", "at least 30"),
        ("SSE_KMS_KEY_ID", "alias/ops", "SSE_KMS_KEY_ID='alias/ops' is not a KMS key ARN"),
    ],
)
def test_a_bad_environment_fails_every_invocation_before_anything_else(
    no_aws: None,
    handler: Any,
    load_event: Callable[[str], Any],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str | None,
    message: str,
) -> None:
    """Even an Auto Scaling test notification, which needs no configuration, is refused: a broken deployment
    shows on its first invocation, not on the first scale-in."""
    if value is None:
        monkeypatch.delenv(name)
    else:
        monkeypatch.setenv(name, value)
    with pytest.raises(common.ConfigError, match=re.escape(message)):
        handler.handler(load_event("asg_backup/lifecycle-test-notification.json"), None)


def test_the_longest_prefix_and_group_still_make_a_key_the_document_accepts(
    world: World, handler: Any, load_event: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    group = "g" * 255
    monkeypatch.setenv("PREFIX", "p" * 644)
    monkeypatch.setenv("AUTOSCALING_GROUP_NAMES", json.dumps([group]))
    result = handler.handler(lifecycle(load_event, AutoScalingGroupName=group), None)
    assert result["decision"] == "backup_started"
    declared = yaml.safe_load((MODULE / "backup-document.yaml").read_text())["parameters"]
    (sent,) = world.sends
    for name, (value,) in sent["Parameters"].items():
        assert re.fullmatch(declared[name]["allowedPattern"], value), name


def test_the_configuration_is_what_terraform_sets(handler: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TOPIC_ARN", "arn:aws-cn:sns:cn-north-1:123456789012:opskit-asg-backup-results")
    monkeypatch.setenv(
        "SSE_KMS_KEY_ID", "arn:aws:kms:eu-central-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"
    )
    cfg = handler.Config.from_env(dict(os.environ))
    assert (cfg.document_version, cfg.prefix, cfg.groups) == ("3", "asg-backup", frozenset({"web-asg", "worker-asg"}))


# --- 8. bounded messages ---------------------------------------------------------------------------


def test_huge_values_are_clipped_in_errors(
    no_aws: None, handler: Any, load_event: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    event = load_event("asg_backup/lifecycle-terminate.json")
    event["source"] = "x" * 100_000
    with pytest.raises(common.InputError) as refused:
        handler.handler(event, None)
    assert len(str(refused.value)) < 500
    monkeypatch.setenv("BUCKET", "b" * 100_000)
    fresh = handler.Config.from_env
    with pytest.raises(common.ConfigError) as misconfigured:
        fresh(dict(os.environ))
    assert len(str(misconfigured.value)) < 500


def test_a_huge_aws_error_is_clipped_in_the_report(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    fake_operation(
        world.ssm,
        "SendCommand",
        lambda _: {"Error": {"Code": "InvalidDocument", "Message": "x" * 100_000}, "status": 400},
    )
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("ABANDON"))
    result = handler.handler(lifecycle(load_event), None)
    assert result["decision"] == "backup_failed"
    (message,) = world.messages()
    assert message["reason"].startswith("could not send the backup command: InvalidDocument: xxx")
    assert len(message["reason"]) < 500


def test_a_deeply_nested_script_result_is_ignored_not_raised(
    world: World, handler: Any, load_event: Callable[[str], Any]
) -> None:
    """The result line comes from the instance (up to 24,000 characters of output): json.loads of deep nesting
    raised RecursionError."""
    from test_asg_backup import backend_invocation

    command_id = start_backup(handler, load_event)
    upload_backup(world)
    backend_invocation(command_id)["StandardOutputContent"] = "OPSKIT_BACKUP_RESULT " + "[" * 11_000 + "]" * 11_000
    world.stub.add_response("complete_lifecycle_action", {}, complete_params("CONTINUE"))
    assert handler.handler(status_event(load_event, "Success", command_id), None)["decision"] == "backup_succeeded"
