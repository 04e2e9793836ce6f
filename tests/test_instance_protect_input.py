"""instance_protect handler: malformed events and environments are refused with InputError/ConfigError before
any AWS call, with messages of bounded length. The environment follows the rules modules/instance-protect
checks at plan time (tests/*.tftest.hcl there), so a deployable configuration always starts.

EC2 and SNS run on moto where a test shows that nothing was changed; otherwise boto3.client is replaced so
that any AWS call fails the test."""

from __future__ import annotations

import json
from typing import Any

import boto3
import fuzz
import opskit_common
import pytest
from test_instance_protect import aws as aws  # the fixtures, re-exported for pytest
from test_instance_protect import launch, notices, state_of, stopped_event, tags_of
from test_instance_protect import protect as protect

# --- malformed input and configuration -------------------------------------------------------------


def _no_aws(service: str, **kwargs: Any) -> Any:
    raise AssertionError(f"no AWS call expected, but a {service} client was requested")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: "not an event", "event must be a JSON object"),
        (lambda e: {**e, "source": "aws.autoscaling"}, "source='aws.autoscaling'"),
        (lambda e: {**e, "detail-type": "EC2 Spot Instance Interruption Warning"}, "detail-type="),
        (lambda e: {k: v for k, v in e.items() if k != "detail"}, "event.detail must be a JSON object"),
        (lambda e: {**e, "detail": {"state": "stopped"}}, "instance-id must be an instance id"),
        (lambda e: {**e, "detail": {"instance-id": "i-XYZ", "state": "stopped"}}, "'i-XYZ'"),
        (lambda e: {**e, "detail": {"instance-id": "i-0123456789ab", "state": "running"}}, "'i-0123456789ab'"),
        (lambda e: {**e, "detail": {"instance-id": "i-0123456789abcdef0", "state": "paused"}}, "'paused'"),
    ],
)
def test_malformed_events_fail_clearly_before_any_aws_call(protect, load_event, monkeypatch, mutate, message):
    fn = protect()
    monkeypatch.setattr(boto3, "client", _no_aws)
    event = mutate(stopped_event(load_event, "i-0123456789abcdef0"))

    with pytest.raises(opskit_common.InputError, match=message):
        fn.handler(event, None)


@pytest.mark.parametrize("state", ["pending", "stopping", "shutting-down", "terminated"])
def test_other_state_changes_are_ignored_without_aws_calls(protect, load_event, monkeypatch, state):
    fn = protect()
    monkeypatch.setattr(boto3, "client", _no_aws)

    result = fn.handler(stopped_event(load_event, "i-0123456789abcdef0", state), None)

    assert (result["decision"], result["reason"]) == ("skipped", "state-not-handled")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PROTECT_TAG": "Protected"}, "PROTECT_TAG"),
        ({"MAX_RESTARTS": "0"}, "MAX_RESTARTS=0 must be a whole number from 1 to 20"),
        ({"MAX_RESTARTS": "21"}, "MAX_RESTARTS=21 must be a whole number from 1 to 20"),
        ({"WINDOW_SECONDS": "10"}, "WINDOW_SECONDS=10 must be a whole number from 60 to 604800"),
        ({"STOPPED_BY_TAG_KEY": " "}, "STOPPED_BY_TAG_KEY ' ' is not a tag key"),
    ],
)
def test_misconfiguration_is_reported_before_any_aws_call(protect, load_event, monkeypatch, env, message):
    fn = protect(**env)
    monkeypatch.setattr(boto3, "client", _no_aws)

    with pytest.raises(opskit_common.ConfigError, match=message):
        fn.handler(stopped_event(load_event, "i-0123456789abcdef0"), None)


# --- event fields of the wrong type or shape --------------------------------------------------------


@pytest.mark.parametrize("state", [["stopped"], {"name": "stopped"}, 80, None, "stopped\n", " stopped"])
def test_state_of_any_other_type_or_spelling_is_an_input_error(protect, load_event, monkeypatch, state):
    """A list or object used to reach `state not in EC2_STATES` and raise TypeError: unhashable type."""
    fn = protect()
    monkeypatch.setattr(boto3, "client", _no_aws)
    event = stopped_event(load_event, "i-0123456789abcdef0")
    event["detail"]["state"] = state

    with pytest.raises(opskit_common.InputError, match=r"event\.detail\.state must be one of"):
        fn.handler(event, None)


@pytest.mark.parametrize(
    "instance_id",
    ["i-0123456789abcdef0\n", "i-0123abcd\n", " i-0123456789abcdef0", "i-0123456789ABCDEF0", ["i-0123456789abcdef0"]],
)
def test_instance_id_must_match_as_a_whole(protect, load_event, monkeypatch, instance_id):
    """`re.match(...$)` let a trailing newline through to DescribeInstances."""
    fn = protect()
    monkeypatch.setattr(boto3, "client", _no_aws)
    event = stopped_event(load_event, "i-0123456789abcdef0")
    event["detail"]["instance-id"] = instance_id

    with pytest.raises(opskit_common.InputError, match=r"event\.detail\.instance-id must be an instance id"):
        fn.handler(event, None)


@pytest.mark.parametrize("when", ["not-a-time", "2021-11-11T21:29:54", 1636666194, "0001-01-01T00:00:00+01:00"])
def test_malformed_event_time_is_an_input_error(protect, load_event, monkeypatch, when):
    fn = protect()
    monkeypatch.setattr(boto3, "client", _no_aws)
    event = {**stopped_event(load_event, "i-0123456789abcdef0"), "time": when}

    with pytest.raises(opskit_common.InputError, match=r"event\.time"):
        fn.handler(event, None)


@pytest.mark.parametrize(
    "field", [("source",), ("detail-type",), ("detail", "instance-id"), ("detail", "state"), ("time",)]
)
def test_error_messages_repeat_at_most_a_clip_of_a_huge_value(protect, load_event, monkeypatch, field):
    fn = protect()
    monkeypatch.setattr(boto3, "client", _no_aws)
    event = stopped_event(load_event, "i-0123456789abcdef0")
    parent = event["detail"] if field[0] == "detail" else event
    parent[field[-1]] = "x" * 100_000

    with pytest.raises(opskit_common.InputError) as refused:
        fn.handler(event, None)

    assert len(str(refused.value)) < 600
    assert "x" * 200 in str(refused.value) or "longer than" in str(refused.value)


# --- the environment: refused at cold start, before any AWS call --------------------------------------


def run_in_moto(aws: dict[str, Any], protect: Any, load_event: Any, **env: str) -> tuple[str, list[str]]:
    """A protected, stopped instance and one invocation with this environment: (instance id, AWS calls)."""
    iid = launch(aws["ec2"], {"Protected": "true"})
    aws["ec2"].stop_instances(InstanceIds=[iid])
    fn = protect(**env)
    with fuzz.recorded_calls() as calls, pytest.raises(opskit_common.ConfigError) as refused:
        fn.handler(stopped_event(load_event, iid), None)
    assert len(str(refused.value)) < 600
    return iid, calls


@pytest.mark.parametrize(
    "topic_arn",
    [
        "0",
        "$(id)",
        "arn:aws:sns:eu-central-1:123456789012:opskit-instance-protect-notices\n",
        " arn:aws:sns:eu-central-1:123456789012:opskit-instance-protect-notices",
        "arn:aws:sqs:eu-central-1:123456789012:opskit-instance-protect-notices",
        "arn:aws:sns:eu-central-1:123456789012:topic:subscription-id",
    ],
)
def test_topic_arn_that_is_no_sns_topic_is_refused_before_the_instance_is_touched(aws, protect, load_event, topic_arn):
    """It used to tag and start the instance and only then fail to publish (a PartialFailure)."""
    iid, calls = run_in_moto(aws, protect, load_event, TOPIC_ARN=topic_arn)

    assert calls == []
    assert state_of(aws["ec2"], iid) == "stopped"
    assert "opskit:protect-restarts" not in tags_of(aws["ec2"], iid)
    assert notices(aws) == []


BAD_ENVIRONMENTS = [
    ({"RESTARTS_TAG_KEY": "aws:protect-restarts"}, "RESTARTS_TAG_KEY 'aws:protect-restarts' is not a tag key"),
    ({"STOPPED_BY_TAG_KEY": "AWS:stopped-by"}, "STOPPED_BY_TAG_KEY 'AWS:stopped-by' is not a tag key"),
    ({"HOLD_TAG_KEY": "aws:hold"}, "HOLD_TAG_KEY 'aws:hold' is not a tag key"),
    ({"HOLD_TAG_KEY": ""}, "HOLD_TAG_KEY '' is not a tag key"),
    ({"SCHEDULE_TAG_KEY": "Aws:schedule"}, "SCHEDULE_TAG_KEY 'Aws:schedule' is not a tag key"),
    ({"SCHEDULE_TAG_KEY": "Schedule\n"}, r"SCHEDULE_TAG_KEY 'Schedule\\n' is not a tag key"),
    ({"SCHEDULE_TAG_KEY": "s" * 129}, "SCHEDULE_TAG_KEY 's{129}' is not a tag key"),
    ({"PROTECT_TAG": "aws:protected=true"}, "PROTECT_TAG key 'aws:protected' is not a tag key"),
    ({"PROTECT_TAG": " Protected=true"}, "PROTECT_TAG key ' Protected' is not a tag key"),
    ({"PROTECT_TAG": "=true"}, "PROTECT_TAG key '' is not a tag key"),
    ({"PROTECT_TAG": "Protected=true "}, "PROTECT_TAG value 'true ' must be at most 256 characters"),
    ({"PROTECT_TAG": "Protected=" + "v" * 257}, "PROTECT_TAG value 'v{200}... \\(57 more characters\\)' must"),
    ({"PROTECT_TAG": "Protected=\udc80"}, "PROTECT_TAG='Protected=\\\\udc80' is not valid Unicode"),
    ({"HOLD_TAG_KEY": "Protected"}, "must all differ"),
    ({"HOLD_TAG_KEY": "opskit:stopped-by"}, "must all differ"),
    ({"SCHEDULE_TAG_KEY": "opskit:protect-restarts"}, "must all differ"),
    ({"MAX_RESTARTS": " 3"}, r"MAX_RESTARTS=' 3' is not valid"),
    ({"MAX_RESTARTS": "1_0"}, r"MAX_RESTARTS='1_0' is not valid"),
    ({"MAX_RESTARTS": "\u0663"}, r"MAX_RESTARTS='\u0663' is not valid"),  # ARABIC-INDIC DIGIT THREE: int() takes it
    ({"MAX_RESTARTS": "9" * 100}, r"MAX_RESTARTS='9{100}' is not valid"),
    ({"WINDOW_SECONDS": "604801"}, "WINDOW_SECONDS=604801 must be a whole number from 60 to 604800"),
    ({"WINDOW_SECONDS": "3600.0"}, r"WINDOW_SECONDS='3600.0' is not valid"),
]


@pytest.mark.parametrize(("env", "message"), BAD_ENVIRONMENTS)
def test_every_environment_value_is_checked_before_any_call(aws, protect, load_event, env, message):
    iid, calls = run_in_moto(aws, protect, load_event, **env)

    assert calls == []
    assert state_of(aws["ec2"], iid) == "stopped"


@pytest.mark.parametrize(("env", "message"), BAD_ENVIRONMENTS)
def test_environment_messages_name_the_variable_and_the_rule(protect, env, message):
    with pytest.raises(opskit_common.ConfigError, match=message):
        protect(**env).Config.from_env({**env})


def test_the_edges_the_module_allows_are_accepted(protect):
    """The values modules/instance-protect/tests/validation.tftest.hcl lets through ("edges_of_every_rule_pass")."""
    env = {
        "PROTECT_TAG": "k" * 128 + "=" + "v" * 256,
        "SCHEDULE_TAG_KEY": "s" * 128,
        "HOLD_TAG_KEY": "h" * 128,
        "MAX_RESTARTS": "1",
        "WINDOW_SECONDS": "60",
        "TOPIC_ARN": "arn:aws-us-gov:sns:us-gov-west-1:123456789012:p" + "0" * 39 + "-instance-protect-notices",
    }
    cfg = protect().Config.from_env(env)

    assert (cfg.protect_key, cfg.protect_value) == ("k" * 128, "v" * 256)
    assert (cfg.hold_tag_key, cfg.max_restarts, cfg.window_seconds) == ("h" * 128, 1, 60)
    assert cfg.topic_arn == env["TOPIC_ARN"]
    upper = protect().Config.from_env({"MAX_RESTARTS": "20", "WINDOW_SECONDS": "604800", "PROTECT_TAG": "Protected="})
    assert (upper.max_restarts, upper.window_seconds, upper.protect_value) == (20, 604800, "")
    assert protect().Config.from_env({"TOPIC_ARN": ""}).topic_arn is None  # no topic: decisions without notices


@pytest.mark.parametrize(
    ("key", "accepted"),
    [("ops:k\x1f", True), ("ops:k\u00a0", False), ("\u2003ops:k", False), ("ops:k\u2028", False), ("a b", True)],
)
def test_blanks_are_the_ones_terraforms_trimspace_removes(protect, key, accepted):
    """variables.tf checks `key == trimspace(key)`; trimspace uses Go's unicode.IsSpace (Zs/Zl/Zp and ASCII
    blanks, not the separators U+001C-U+001F that Python's str.strip also removes)."""
    from_env = protect().Config.from_env
    if accepted:
        assert from_env({"HOLD_TAG_KEY": key}).hold_tag_key == key
    else:
        with pytest.raises(opskit_common.ConfigError, match="HOLD_TAG_KEY"):
            from_env({"HOLD_TAG_KEY": key})


def test_error_messages_about_the_environment_are_bounded(protect):
    with pytest.raises(opskit_common.ConfigError) as refused:
        protect().Config.from_env({"TOPIC_ARN": json.dumps(["x" * 100_000])})

    assert len(str(refused.value)) < 600
