"""Reminders and recovery notices, with the alarm as the only state: moto's CloudWatch holds the target alarms
(set to ALARM at a frozen time), moto's SNS topic delivers to an SQS queue the test reads, time-machine moves
the clock and the scheduled events carry their own time, as EventBridge's do.
"""

# The fixtures come from test_health_check_support: imported once, then named as test parameters.
# ruff: noqa: F811

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import fuzz
import opskit_common as common
import pytest
import time_machine
from moto import mock_aws
from opskit_tools import eventpattern, tftemplate
from test_health_check_support import Route, Server, http, run  # noqa: F401

PREFIX = "opskit-health-check-"
DOWN_AT = dt.datetime(2026, 11, 23, 5, 8, 12, tzinfo=dt.UTC)
PATTERN = Path(__file__).resolve().parents[1] / "modules" / "health-check" / "patterns" / "alarm-recovered.json"


def scheduled(at: dt.datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-central-1",
        "resources": ["arn:aws:events:eu-central-1:123456789012:rule/opskit-health-check-schedule"],
        "detail": {},
    }


class Inbox:
    """The alarm topic, with an SQS queue subscribed; `take()` returns (subject, message) pairs received."""

    def __init__(self) -> None:
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        self.topic_arn = sns.create_topic(Name="opskit-health-check-alarms")["TopicArn"]
        self.queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]
        sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn["QueueArn"])
        self.sqs = sqs

    def take(self) -> list[tuple[str, str]]:
        answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        messages = answer.get("Messages", [])
        for message in messages:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return [(json.loads(m["Body"]).get("Subject"), json.loads(m["Body"])["Message"]) for m in messages]


def alarm(name: str) -> None:
    boto3.client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        Namespace="opskit/HealthCheck",
        MetricName="Failed",
        Dimensions=[{"Name": "Target", "Value": name.removeprefix(PREFIX)}],
        Statistic="Maximum",
        Period=300,
        EvaluationPeriods=3,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    boto3.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="2 of 3 failed")


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with mock_aws(), time_machine.travel(DOWN_AT, tick=False):
        common.reset_clients()
        box = Inbox()
        for name in ("shop", "blog", "errors"):  # blog: not configured here; errors: the function's own alarm
            alarm(PREFIX + name)
        boto3.client("cloudwatch").set_alarm_state(AlarmName=PREFIX + "blog", StateValue="OK", StateReason="fine")
        yield box


def notify_env(box: Inbox, remind: str = "60") -> dict[str, str]:
    return {"ALARM_PREFIX": PREFIX, "TOPIC_ARN": box.topic_arn, "REMIND_MINUTES": remind, "RUN_INTERVAL": "300"}


def test_one_reminder_per_interval_while_the_alarm_stays_in_alarm(
    inbox: Inbox, http: Server, run: Callable[..., dict[str, Any]]
) -> None:
    """Runs every 5 minutes for 3 h 10 min after the alarm went off: reminders at 1 h, 2 h and 3 h exactly, each
    saying how long the target has been down; nothing for the function's own alarm or an OK alarm."""
    http.routes["/up"] = Route()
    targets = [{"name": "shop", "url": http.url("/up")}, {"name": "api", "url": http.url("/up")}]
    sent: list[tuple[dt.datetime, list[str]]] = []
    first_run = DOWN_AT.replace(second=0) + dt.timedelta(minutes=2)  # 05:10, then every 5 minutes
    for n in range(39):
        at = first_run + dt.timedelta(minutes=5 * n)
        with time_machine.travel(at + dt.timedelta(seconds=3), tick=False):  # invoked a moment after its time
            outcome = run(targets, event=scheduled(at), **notify_env(inbox))
        sent += [(at, outcome["reminders"])] if "reminders" in outcome else []
    assert [(at - DOWN_AT, names) for at, names in sent] == [
        (dt.timedelta(hours=1, minutes=1, seconds=48), ["shop"]),
        (dt.timedelta(hours=2, minutes=1, seconds=48), ["shop"]),
        (dt.timedelta(hours=3, minutes=1, seconds=48), ["shop"]),
    ]
    subjects = [subject for subject, _ in inbox.take()]
    assert subjects == ["Still down: shop (1 h 1 min)", "Still down: shop (2 h 1 min)", "Still down: shop (3 h 1 min)"]


def test_the_reminder_names_alarm_time_and_the_next_one(
    inbox: Inbox, http: Server, run: Callable[..., dict[str, Any]]
) -> None:
    http.routes["/up"] = Route()
    at = DOWN_AT + dt.timedelta(minutes=30, seconds=10)
    with time_machine.travel(at, tick=False):
        outcome = run([{"name": "shop", "url": http.url("/up")}], event=scheduled(at), **notify_env(inbox, "30"))
    assert outcome["reminders"] == ["shop"]
    ((subject, message),) = inbox.take()
    assert subject == "Still down: shop (30 min)"
    assert message == (
        "Health check shop is still failing: its alarm opskit-health-check-shop has been in ALARM for 30 min (since "
        "2026-11-23T05:08:12Z). Reminder 1; the next one follows in 30 min while it stays down."
    )


def test_no_reminders_from_a_manual_run_or_when_turned_off(
    inbox: Inbox, http: Server, run: Callable[..., dict[str, Any]]
) -> None:
    http.routes["/up"] = Route()
    targets = [{"name": "shop", "url": http.url("/up")}]
    at = DOWN_AT + dt.timedelta(hours=1, seconds=30)
    with time_machine.travel(at, tick=False):
        manual = run(targets, event={"targets": ["shop"]}, **notify_env(inbox))
        off = run(targets, event=scheduled(at), **notify_env(inbox, "0"))
    assert "reminders" not in manual and "reminders" not in off and inbox.take() == []


def test_a_scheduled_event_with_a_broken_time_is_refused_before_any_call(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch, load_handler: Callable[[str], Any]
) -> None:
    monkeypatch.setenv("TARGETS", json.dumps([{"name": "shop", "url": "https://shop.test/"}]))
    for key, value in notify_env(inbox).items():
        monkeypatch.setenv(key, value)
    event = {**scheduled(DOWN_AT), "time": "yesterday"}
    with fuzz.recorded_calls() as calls, pytest.raises(common.InputError, match="time 'yesterday' is not an ISO-8601"):
        load_handler("health_check").handler(event, None)
    assert calls == []


def test_a_failed_reminder_fails_the_run_after_the_checks(
    inbox: Inbox, http: Server, run: Callable[..., dict[str, Any]]
) -> None:
    http.routes["/up"] = Route()
    env = {**notify_env(inbox), "TOPIC_ARN": inbox.topic_arn.replace("alarms", "deleted")}
    at = DOWN_AT + dt.timedelta(hours=1)
    with time_machine.travel(at, tick=False):
        outcome = run([{"name": "shop", "url": http.url("/up")}], event=scheduled(at), **env)
    assert outcome["results"][0]["ok"] is True
    assert outcome["raised"] == "reminder for shop not sent: NotFound"


# --- recovery ---------------------------------------------------------------------------------------------


def test_the_recovery_notice_says_how_long_the_target_was_down(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch, load_handler: Callable[[str], Any], load_event: Callable[[str], Any]
) -> None:
    monkeypatch.setenv("TARGETS", json.dumps([{"name": "shop", "url": "https://shop.test/"}]))
    for key, value in notify_env(inbox).items():
        monkeypatch.setenv(key, value)
    outcome = load_handler("health_check").handler(load_event("health_check/alarm-recovered.json"), None)
    assert outcome == {"recovered": "shop", "down_seconds": 4529.191}
    ((subject, message),) = inbox.take()
    assert subject == "Recovered: shop after 1 h 15 min"
    assert message == (
        "Health check shop is passing again: its alarm opskit-health-check-shop went back to OK at "
        "2026-11-23T06:23:41Z after 1 h 15 min in ALARM (since 2026-11-23T05:08:12Z)."
    )


def test_recovery_events_of_other_alarms_are_ignored_and_malformed_ones_refused(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch, load_handler: Callable[[str], Any], load_event: Callable[[str], Any]
) -> None:
    monkeypatch.setenv("TARGETS", json.dumps([{"name": "shop", "url": "https://shop.test/"}]))
    for key, value in notify_env(inbox).items():
        monkeypatch.setenv(key, value)
    handler = load_handler("health_check")
    event = load_event("health_check/alarm-recovered.json")
    for name in (PREFIX + "errors", PREFIX + "blog", "someone-else-shop"):
        other = copy.deepcopy(event)
        other["detail"]["alarmName"] = name
        assert handler.handler(other, None) == {"ignored": "not an alarm of a configured target"}
    backwards = copy.deepcopy(event)
    backwards["detail"]["state"]["value"], backwards["detail"]["previousState"]["value"] = "ALARM", "OK"
    with pytest.raises(common.InputError, match="expected an ALARM -> OK change, got OK -> ALARM"):
        handler.handler(backwards, None)
    assert inbox.take() == []
    monkeypatch.delenv("ALARM_PREFIX")
    monkeypatch.delenv("REMIND_MINUTES")
    with pytest.raises(common.InputError, match="sends no recovery notices"):
        load_handler("health_check").handler(event, None)


def test_the_rule_passes_exactly_the_recoveries_of_this_modules_alarms(load_event: Callable[[str], Any]) -> None:
    pattern = tftemplate.render_json(PATTERN, alarm_prefix=PREFIX)
    event = load_event("health_check/alarm-recovered.json")
    assert eventpattern.matches(pattern, event)
    other = copy.deepcopy(event)
    other["detail"]["alarmName"] = "opskit-restart-web-1-cpu"
    alarm_now = copy.deepcopy(event)
    alarm_now["detail"]["state"]["value"], alarm_now["detail"]["previousState"]["value"] = "ALARM", "OK"
    from_nothing = copy.deepcopy(event)
    from_nothing["detail"]["previousState"]["value"] = "INSUFFICIENT_DATA"  # a new alarm's first OK
    assert not any(eventpattern.matches(pattern, e) for e in (other, alarm_now, from_nothing))
