"""Mutation tests (tests/fuzz.py) of the instance_protect handler: every fixture event in
tests/events/instance_protect/ and the function's environment, each mutated hundreds of ways.

They run on moto with the instance each fixture names: moto's instance-id generator is pinned to the
fixture's id, and before every mutation the instance is put back into the state the fixture reports
(protected; stopped, or running with a stale stop marker), so mutations that keep the event valid reach
DescribeInstances, CreateTags, StartInstances, DeleteTags and Publish."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import fuzz
import moto.ec2.models.instances
import opskit_common
import pytest
from test_instance_protect import SESSION, launch
from test_instance_protect import aws as aws  # the fixtures, re-exported for pytest
from test_instance_protect import protect as protect

FIXTURES = sorted(p.name for p in (Path(__file__).parent / "events" / "instance_protect").glob("*.json"))
MUTATIONS = fuzz.scaled(200)
MARKER = "opskit:stopped-by"
# Results after which the instance is no longer in the fixture's state (it was started / its marker deleted).
CHANGED = {"unplanned-stop", "cleared-stale-marker"}
# A topic without subscribers: Publish is exercised, moto's delivery to them (slow) is not.
TOPIC_ARN = "arn:aws:sns:eu-central-1:123456789012:fuzz-notices"
# What modules/instance-protect sets (test_instance_protect_module checks the names against the HCL).
ENV = {
    "PROTECT_TAG": "Protected=true",
    "SCHEDULE_TAG_KEY": "Schedule",
    "STOPPED_BY_TAG_KEY": MARKER,
    "RESTARTS_TAG_KEY": "opskit:protect-restarts",
    "HOLD_TAG_KEY": "opskit:hold",
    "MAX_RESTARTS": "3",
    "WINDOW_SECONDS": "3600",
    "TOPIC_ARN": TOPIC_ARN,
}


class Runner:
    """Runs the handler for fuzz.check, counts the reasons of accepted invocations, and resets the fixture's
    instance only after an invocation that changed it (a refusal or a no-op leaves nothing to undo).

    It also holds every invocation to the metrics contract: an accepted event writes exactly one EMF line,
    its metric named by the reason on that event's state; a refused event or environment writes none."""

    def __init__(self, fn: Any, reset: Any) -> None:
        self.fn, self.reset, self.reasons, self.dirty = fn, reset, Counter[str](), True

    def prepare(self) -> None:
        """Called outside fuzz.check, whose recording of mutating calls must see the handler's only."""
        if self.dirty:
            self.reset()

    def __call__(self, event: Any) -> None:
        self.dirty = True  # until the handler says otherwise: an unexpected exception may follow a change
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                reason = self.fn.handler(event, None)["reason"]
        except (opskit_common.InputError, opskit_common.ConfigError):
            self.dirty = False  # fuzz.check fails the test if it came after a mutating call
            assert emf_metrics(out) == [], "a refused invocation wrote a metric"
            raise
        except opskit_common.PartialFailure:
            assert [name for _, name in emf_metrics(out)] == ["Started"], "a started instance must count as Started"
            raise
        ((state, name),) = emf_metrics(out)
        assert state == event["detail"]["state"]
        assert name == sys.modules["instance_protect_metrics"].metric_name(state, reason)
        self.reasons[reason] += 1
        self.dirty = reason in CHANGED


def emf_metrics(out: io.StringIO) -> list[tuple[str, str]]:
    """(Event dimension, metric name) of every EMF line written."""
    found = []
    for line in filter(None, out.getvalue().splitlines()):
        doc = json.loads(line)
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            found.extend((doc["Event"], metric["Name"]) for metric in directive["Metrics"])
    return found


def fixture_instance(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch, event: dict[str, Any]) -> Any:
    """Create the instance the event names; return a function that resets it to the event's state."""
    instance_id = event["detail"]["instance-id"]
    assert SESSION.client("sns").create_topic(Name="fuzz-notices")["TopicArn"] == TOPIC_ARN
    monkeypatch.setattr(moto.ec2.models.instances, "random_instance_id", lambda: instance_id)
    assert launch(aws["ec2"], {"Protected": "true", "Name": "fuzz", "Schedule": "office-hours"}) == instance_id
    ec2 = aws["ec2"]

    def reset() -> None:
        if event["detail"].get("state") == "running":
            ec2.start_instances(InstanceIds=[instance_id])
            ec2.create_tags(Resources=[instance_id], Tags=[{"Key": MARKER, "Value": "scheduler:office-hours"}])
        else:
            ec2.stop_instances(InstanceIds=[instance_id])
            ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": "opskit:protect-restarts"}])

    return reset


@pytest.mark.parametrize("fixture", FIXTURES)
def test_mutated_fixture_events_are_handled_or_refused_cleanly(aws, protect, load_event, monkeypatch, fixture):
    event = load_event(f"instance_protect/{fixture}")
    reset = fixture_instance(aws, monkeypatch, event)
    run = Runner(protect(TOPIC_ARN=TOPIC_ARN), reset)

    for index, (label, mutant) in enumerate(fuzz.mutations(event, seed=len(fixture), count=MUTATIONS)):
        run.prepare()
        fuzz.check(lambda m=mutant: run(m), f"{fixture} #{index}: {label}")

    # The unmutated parts really reached the fixture's instance: valid mutants of a stopped event restarted
    # it, of a running event cleared its marker (so the harness watched mutating calls, not only refusals).
    expected = {
        "instance-stopped.json": "unplanned-stop",
        "instance-running.json": "cleared-stale-marker",
    }.get(fixture, "state-not-handled")
    if fixture != "spot-interruption-warning.json":  # another detail-type: every mutant is refused
        assert run.reasons[expected] > 0, run.reasons


def set_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, Any]) -> None:
    """Environment values are strings: other mutants are given as their JSON text, None unsets."""
    for key in ENV:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        if value is not None:
            monkeypatch.setenv(key, value if isinstance(value, str) else json.dumps(value))


def environments() -> list[tuple[str, dict[str, Any]]]:
    """Random mutations of the whole environment, then every variable with every mutant value."""
    found = list(fuzz.mutations(ENV, seed=23, count=MUTATIONS))
    for key in ENV:
        for value in [*fuzz.MUTANTS, ENV[key] + "\n", " " + ENV[key], ENV[key] * 50, ENV[key] + "\udc80"]:
            found.append((f"{key} = {opskit_common.clip(value, 40)}", {**ENV, key: value}))
    return found


def test_mutated_environments_fail_at_cold_start_or_work_completely(aws, protect, load_event, monkeypatch):
    """Stricter than fuzz.check's default: only ConfigError (before any call) may escape, so an environment
    the function accepts never ends in a PartialFailure or an InputError after it tagged or started."""
    event = load_event("instance_protect/instance-stopped.json")
    reset = fixture_instance(aws, monkeypatch, event)
    run = Runner(protect(TOPIC_ARN=TOPIC_ARN), reset)

    for label, env in environments():
        set_environment(monkeypatch, env)
        run.fn.config.cache_clear()
        run.prepare()
        fuzz.check(lambda: run(event), label, allowed=(opskit_common.ConfigError,))

    assert run.reasons["unplanned-stop"] > 0, run.reasons
