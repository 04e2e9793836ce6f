"""functions/scheduler hardening (issue "Hardening"): whole-string instance ids, configured schedules only,
bounded messages and logs, and the environment checked at cold start before any AWS call."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import opskit_common
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

REGION = "eu-central-1"
MARKER = "opskit:stopped-by"
SCHEDULES = ["office-hours", "weekends"]
VALID_ENV = {
    "TAG_KEY": "Schedule",
    "SCHEDULE_NAMES": json.dumps(SCHEDULES),
    "DRY_RUN": "false",
    "HIBERNATE": "false",
    "VERIFY_TIMEOUT_SECONDS": "0",
}


@pytest.fixture
def sched(load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    for key, value in VALID_ENV.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        module = load_handler("scheduler")
        module.sleep = lambda seconds: None
        yield module


def ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


def launch(schedule: str | None, count: int = 1) -> list[str]:
    kwargs: dict[str, Any] = {"ImageId": "ami-0123456789abcdef0", "MinCount": count, "MaxCount": count}
    if schedule is not None:
        kwargs["TagSpecifications"] = [{"ResourceType": "instance", "Tags": [{"Key": "Schedule", "Value": schedule}]}]
    return [i["InstanceId"] for i in ec2().run_instances(**kwargs)["Instances"]]


def state(instance_id: str) -> tuple[str, dict[str, str]]:
    instance = ec2().describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return instance["State"]["Name"], opskit_common.tags_to_dict(instance.get("Tags"))


def count_calls() -> Counter[str]:
    calls: Counter[str] = Counter()
    for service in ("ec2", "autoscaling", "rds"):
        opskit_common.client(service).meta.events.register(
            "before-call.*.*", lambda model, **_: calls.update([model.name])
        )
    return calls


# --- 1. whole-string instance ids ------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "i-0123456789abcdef0\n",  # `re.match("...$")` lets this through
        "i-0123abcd\n",
        " i-0123456789abcdef0",
        "i-0123456789abcdef0 ",
        "I-0123456789ABCDEF0",
        "i-012345678",  # neither 8 nor 17 digits
        "i-0123456789abcdef01",
        "i-0123456789abcdeg0",
        "\udc80",
        "",
        3,
        None,
    ],
)
def test_manual_form_refuses_every_list_with_a_malformed_id_before_any_call(sched: ModuleType, bad: Any) -> None:
    """The valid instance next to the malformed id must be neither tagged nor stopped."""
    (good,) = launch("office-hours")
    calls = count_calls()

    with pytest.raises(opskit_common.InputError, match="malformed instance ids") as raised:
        sched.handler({"action": "stop", "instance_ids": [bad, good]})

    assert sum(calls.values()) == 0
    assert state(good) == ("running", {"Schedule": "office-hours"})
    assert len(str(raised.value)) < 300


def test_manual_form_takes_at_most_1000_ids(sched: ModuleType) -> None:
    calls = count_calls()
    ids = [f"i-{n:017x}" for n in range(1001)]
    with pytest.raises(opskit_common.InputError, match="at most 1000") as raised:
        sched.handler({"action": "stop", "instance_ids": ids})
    assert sum(calls.values()) == 0 and len(str(raised.value)) < 400
    assert sched.parse({"action": "stop", "instance_ids": ids[:1000]}, sched.config()).instance_ids == tuple(ids[:1000])


# --- 2. configured schedules only ----------------------------------------------------------------


def test_a_scheduled_run_for_an_unconfigured_schedule_is_refused_before_any_call(sched: ModuleType) -> None:
    """Tagging instances Schedule=anything and sending {"schedule": "anything"} must not enrol them."""
    rogue = launch("anything", count=2)
    calls = count_calls()

    with pytest.raises(opskit_common.InputError, match="schedule must be one of the configured schedules"):
        sched.handler({"action": "stop", "schedule": "anything", "timezone": "UTC"})

    assert sum(calls.values()) == 0
    assert [state(i) for i in rogue] == [("running", {"Schedule": "anything"})] * 2


def test_a_configured_schedule_still_runs_and_leaves_other_tag_values_alone(sched: ModuleType) -> None:
    ours = launch("weekends")
    rogue = launch("anything")
    result = sched.handler({"action": "stop", "schedule": "weekends", "timezone": "UTC", "resources": ["ec2"]})
    assert result["succeeded"] == ours and result["failed"] == []
    assert state(ours[0])[0] == "stopped" and state(rogue[0])[0] == "running"


# --- 3. bounded messages and logs -----------------------------------------------------------------

HUGE = "x" * 100_000


@pytest.mark.parametrize(
    "event",
    [
        {"action": HUGE, "schedule": "office-hours"},
        {"action": "stop", "schedule": "office-hours", "dry_run": HUGE},
        {"action": "stop", "instance_ids": HUGE},
        {"action": "stop", "instance_ids": [HUGE] * 50},
        {"action": "stop", "schedule": HUGE},
        {"action": "stop", "schedule": "office-hours", "timezone": "Europe/" + HUGE},
        {"action": "stop", "schedule": "office-hours", "skip_dates": [HUGE]},
        {"action": "stop", "schedule": "office-hours", "skip_dates": HUGE},
        {"action": "stop", "schedule": "office-hours", "resources": [HUGE]},
        {"action": "stop", "schedule": "office-hours", "resources": HUGE},
    ],
    ids=["action", "dry_run", "ids", "id", "schedule", "timezone", "skip_date", "skip_dates", "kind", "resources"],
)
def test_refusals_never_repeat_a_huge_input(sched: ModuleType, event: dict[str, Any]) -> None:
    calls = count_calls()
    with pytest.raises(opskit_common.InputError) as raised:
        sched.handler(event)
    assert len(str(raised.value)) < 400, str(raised.value)[:500]
    assert sum(calls.values()) == 0


def test_huge_aws_errors_are_clipped_in_the_result_the_failure_and_the_logs(
    sched: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    ids = launch("office-hours", count=12)

    def refuse(params: dict[str, Any], **_: Any) -> None:
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": HUGE}}, "StopInstances")

    opskit_common.client("ec2").meta.events.register("before-parameter-build.ec2.StopInstances", refuse)

    with caplog.at_level(logging.INFO), pytest.raises(opskit_common.PartialFailure) as raised:
        sched.handler({"action": "stop", "instance_ids": ids})

    failed = raised.value.result["failed"]
    assert sorted(f["id"] for f in failed) == sorted(ids)
    assert all(f["error"].startswith("UnauthorizedOperation: xxx") and len(f["error"]) < 300 for f in failed)
    assert len(str(raised.value)) < 2000 and "and 2 more" in str(raised.value)
    assert caplog.records
    for record in caplog.records:
        extra = {k: v for k, v in vars(record).items() if k not in vars(logging.makeLogRecord({}))}
        assert len(record.getMessage()) + len(json.dumps(extra, default=str)) < 2000


# --- 4. the environment, checked at cold start ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SCHEDULE_NAMES", None, "SCHEDULE_NAMES is required"),
        ("SCHEDULE_NAMES", "office-hours", "SCHEDULE_NAMES is not valid JSON"),
        ("SCHEDULE_NAMES", '{"office-hours": 1}', "must be a JSON list"),
        ("SCHEDULE_NAMES", '["office hours"]', "must be a JSON list"),
        ("SCHEDULE_NAMES", '["manual"]', "must be a JSON list"),
        ("SCHEDULE_NAMES", '["office-hours\\n"]', "must be a JSON list"),
        ("SCHEDULE_NAMES", '["office-hours", 7]', "must be a JSON list"),
        ("SCHEDULE_NAMES", json.dumps([f"s{i}" for i in range(51)]), "at most 50"),
        ("SCHEDULE_NAMES", "[" * 100 + "]" * 100, "nested"),
        ("SCHEDULE_NAMES", '["' + HUGE + '"]', "longer than"),
        ("TAG_KEY", "aws:schedule", "reserved aws: namespace"),
        ("TAG_KEY", "Schedule\n", "TAG_KEY"),
        ("TAG_KEY", "", "TAG_KEY"),
        ("TAG_KEY", "x" * 128, "TAG_KEY"),
        ("DRY_RUN", "maybe", "DRY_RUN"),
        ("DRY_RUN", HUGE, "DRY_RUN"),
        ("HIBERNATE", "2", "HIBERNATE"),
        ("VERIFY_TIMEOUT_SECONDS", "-1", "VERIFY_TIMEOUT_SECONDS"),
        ("VERIFY_TIMEOUT_SECONDS", "1.5", "VERIFY_TIMEOUT_SECONDS"),
        ("VERIFY_TIMEOUT_SECONDS", "301", "at most 300"),
        ("VERIFY_TIMEOUT_SECONDS", "9" * 5000, "VERIFY_TIMEOUT_SECONDS"),
    ],
)
def test_a_bad_environment_fails_the_cold_start_before_any_call(
    sched: ModuleType, monkeypatch: pytest.MonkeyPatch, name: str, value: str | None, message: str
) -> None:
    launch("office-hours")
    if value is None:
        monkeypatch.delenv(name)
    else:
        monkeypatch.setenv(name, value)
    sched.config.cache_clear()
    calls = count_calls()

    with pytest.raises(opskit_common.ConfigError, match=message) as raised:
        sched.handler({"action": "stop", "schedule": "office-hours"})

    assert sum(calls.values()) == 0
    assert len(str(raised.value)) < 400, str(raised.value)[:500]


@pytest.mark.parametrize("value", [7, 1.5, True, ["Schedule"], {"a": 1}])
@pytest.mark.parametrize("name", sorted(VALID_ENV))
def test_a_non_string_environment_value_is_a_config_error(
    load_handler: Callable[[str], ModuleType], name: str, value: Any
) -> None:
    """Config.from_env takes any mapping; a value that is not text is refused, not a TypeError."""
    handler = load_handler("scheduler")
    with pytest.raises(opskit_common.ConfigError, match=name):
        handler.Config.from_env({**VALID_ENV, name: value})


def test_the_environment_the_module_sets_is_accepted(load_handler: Callable[[str], ModuleType]) -> None:
    handler = load_handler("scheduler")
    cfg = handler.Config.from_env(
        {
            "TAG_KEY": "ops:schedule",
            "SCHEDULE_NAMES": '["morning-start","nightly-stop","office-hours"]',
            "DRY_RUN": "true",
            "HIBERNATE": "false",
            "VERIFY_TIMEOUT_SECONDS": "300",
        }
    )
    assert cfg == handler.Config(
        "ops:schedule", frozenset({"morning-start", "nightly-stop", "office-hours"}), True, False, 300
    )
    empty = handler.Config.from_env({"SCHEDULE_NAMES": "[]"})  # a module without schedules
    assert empty == handler.Config("Schedule", frozenset(), False, False, 30)
    with pytest.raises(opskit_common.InputError, match=r"configured schedules \(none\)"):
        handler.parse({"action": "stop", "schedule": "office-hours"}, empty)
