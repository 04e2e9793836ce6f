"""Issue 13, item 5: one summary per run to TOPIC_ARN (moto SNS with an SQS queue subscribed): outcome
attribute succeeded | partial | failed | skipped, a subject under 100 characters, every failure with its
reason, nothing for a run with nothing to do, and a failed publish reported as a failure of the run."""

from __future__ import annotations

import datetime as dt
import sys
from types import ModuleType
from typing import Any

import opskit_common
import pytest
import time_machine
from botocore.exceptions import ClientError
from test_scheduler_helpers import (
    OVERRIDE,
    TOPIC,
    ecs_service,
    launch,
    record_calls,
    scheduled,
    summaries,
    summary_topic,
)
from test_scheduler_helpers import world as world  # the fixture

PLAIN = {"Schedule": "office-hours"}


@pytest.fixture
def queue(world: ModuleType, monkeypatch: pytest.MonkeyPatch) -> str:
    return summary_topic(monkeypatch, world)


def refuse_stop_of(world: ModuleType, bad: set[str]) -> None:
    def hook(params: dict[str, Any], **_: Any) -> None:
        if bad & set(params["InstanceIds"]):
            raise ClientError({"Error": {"Code": "IncorrectInstanceState", "Message": "busy"}}, "StopInstances")

    opskit_common.client("ec2").meta.events.register("before-parameter-build.ec2.StopInstances", hook)


def test_a_successful_run_publishes_one_succeeded_summary(world: ModuleType, queue: str) -> None:
    ids = launch(PLAIN, count=2)
    ecs_service("api", 2)
    result = world.handler(scheduled("stop", ["ec2", "ecs"]))

    (message,) = summaries(queue)
    assert result["notified"] is True
    assert message["outcome"] == "succeeded"
    assert message["Subject"] == "opskit scheduler: stop office-hours succeeded: 3 ok, 0 failed, 0 skipped"
    text = message["Message"]
    assert text.startswith("Scheduler run: stop of schedule office-hours (Europe/Berlin) at ")
    assert "Succeeded: 3, failed: 0, skipped: 0" in text
    assert all(f"- {i}" in text for i in [*ids, "ecs/apps/api"])


def test_a_partial_run_lists_every_failure_with_its_reason(world: ModuleType, queue: str) -> None:
    ids = launch(PLAIN, count=4)
    refuse_stop_of(world, {ids[1], ids[3]})
    with pytest.raises(opskit_common.PartialFailure):
        world.handler(scheduled("stop", ["ec2"]))
    (message,) = summaries(queue)
    assert message["outcome"] == "partial"
    assert message["Subject"] == "opskit scheduler: stop office-hours partial: 2 ok, 2 failed, 0 skipped"
    failed_section = message["Message"].split("Failed:\n")[1].split("\n\n")[0]
    assert failed_section.splitlines() == [
        f"- {ids[1]}: IncorrectInstanceState: busy",
        f"- {ids[3]}: IncorrectInstanceState: busy",
    ]


def test_a_run_where_everything_failed_is_failed(world: ModuleType, queue: str) -> None:
    ids = launch(PLAIN, count=2)
    refuse_stop_of(world, set(ids))
    with pytest.raises(opskit_common.PartialFailure):
        world.handler(scheduled("stop", ["ec2"]))
    assert [m["outcome"] for m in summaries(queue)] == ["failed"]


def test_a_run_that_only_skipped_is_skipped(world: ModuleType, queue: str) -> None:
    launch({**PLAIN, OVERRIDE: "running@2026-12-05T18:00:00Z"})
    with time_machine.travel(dt.datetime(2026, 12, 1, tzinfo=dt.UTC), tick=False):
        world.handler(scheduled("stop", ["ec2"]))
    (message,) = summaries(queue)
    assert message["outcome"] == "skipped"
    assert "keeps it running until 2026-12-05T18:00:00Z" in message["Message"]


def test_a_skip_date_is_a_skipped_run(world: ModuleType, queue: str) -> None:
    with time_machine.travel(dt.datetime(2026, 12, 24, 10, tzinfo=dt.UTC), tick=False):
        world.handler(scheduled("stop", ["ec2"], skip_dates=["12-24"]))
    (message,) = summaries(queue)
    assert message["outcome"] == "skipped" and "2026-12-24 is a skip date" in message["Message"]


def test_a_run_with_nothing_to_do_publishes_nothing(world: ModuleType, queue: str) -> None:
    launch({"Schedule": "weekends"})
    calls = record_calls()
    result = world.handler(scheduled("stop", ["ec2", "ecs", "alarms"]))
    assert result["notified"] is False and summaries(queue) == []
    assert "sns:Publish" not in calls


def test_without_a_topic_nothing_is_published(world: ModuleType) -> None:
    launch(PLAIN)
    calls = record_calls()
    result = world.handler(scheduled("stop", ["ec2"]))
    assert "notified" not in result and not [c for c in calls if c.startswith("sns:")]


def test_a_dry_run_summary_says_so(world: ModuleType, queue: str) -> None:
    launch(PLAIN)
    world.handler(scheduled("stop", ["ec2"], dry_run=True))
    (message,) = summaries(queue)
    assert message["outcome"] == "succeeded"
    assert message["Subject"] == "opskit scheduler: stop office-hours succeeded (dry run): 1 ok, 0 failed, 0 skipped"
    assert "Planned:" in message["Message"] and "nothing was changed" in message["Message"]


def test_a_summary_that_cannot_be_published_fails_the_run(world: ModuleType, queue: str) -> None:
    (iid,) = launch(PLAIN)

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AuthorizationError", "Message": "no"}}, "Publish")

    opskit_common.client("sns").meta.events.register("before-parameter-build.sns.Publish", refuse)
    with pytest.raises(opskit_common.PartialFailure, match="the run summary could not be published") as raised:
        world.handler(scheduled("stop", ["ec2"]))
    result = raised.value.result
    assert result["succeeded"] == [iid] and result["notified"] is False
    assert result["failed"] == [
        {"id": "notification", "error": "the run summary could not be published: AuthorizationError: no"}
    ]


def test_subject_stays_under_100_characters_and_the_message_under_the_sns_limit(world: ModuleType) -> None:
    """The longest schedule name and five-digit counts; 20,000 failures with long reasons."""
    summary = sys.modules["scheduler_summary"]
    base = sys.modules["scheduler_base"]
    request = sys.modules["scheduler_request"]
    cfg = request.Config("Schedule", frozenset({"x" * 32}), False, False, 0, TOPIC)
    req = request.Request("start", "x" * 32, (), "America/Argentina/Buenos_Aires", frozenset(), ("ec2",), True)
    outcome = base.Outcome()
    outcome.planned.extend(f"i-{n:017x}" for n in range(20_000))
    for n in range(20_000):
        outcome.fail(f"i-{n:017x}", "UnauthorizedOperation: " + "y" * 200)
    run = base.Run(cfg, req, dt.datetime.now(dt.UTC), outcome, 200, 1000, lambda s: None, lambda: 0.0)

    subject = summary.subject(run, "partial")
    assert len(subject) < 100 and subject.isascii() and "\n" not in subject
    text = summary.message(run, "partial", {})
    assert len(text.encode("utf-8")) <= 200_000
    assert text.splitlines()[-1].startswith("... and ") and "more lines" in text.splitlines()[-1]
    assert f"- i-{0:017x}: UnauthorizedOperation: " in text
