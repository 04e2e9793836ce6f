"""Mutation tests of restart_guard (tests/fuzz.py): every fixture event in tests/events/restart_guard/ and the
guard's environment, mutated hundreds of ways under moto with the resources the fixtures name (a running
instance, the alarms in ALARM, the lock table, the state machine, the notice topic).

A mutant may be accepted (started or skipped with a reason) or refused with InputError/ConfigError before any
mutating AWS call; any other exception type, a refusal after a write, or an unbounded message fails the test."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import fuzz
import pytest
from test_restart_guard import FIXTURE_INSTANCE, moto_guard, put_alarm, run_instance

FIXTURES = sorted((Path(__file__).parent / "events" / "restart_guard").glob("*.json"))
MUTATIONS_PER_FIXTURE = fuzz.scaled(200)
ENV_MUTATIONS = fuzz.scaled(300)
OPT_IN = ("opskit:auto-restart", "true")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    yield from moto_guard(monkeypatch)


def fixture_for_moto(aws: dict[str, Any], guard: ModuleType, path: Path) -> dict[str, Any]:
    """The fixture pointed at a running moto instance (tagged for the opt-in tag), with the alarm it names
    created in moto on that instance and in ALARM."""
    iid = run_instance(aws["ec2"], tags={OPT_IN[0]: OPT_IN[1]})
    event = json.loads(path.read_text(encoding="utf-8").replace(FIXTURE_INSTANCE, iid))
    put_alarm(iid, name=guard.parse_alarm(event).name)
    return event


def accepted(result: Any) -> None:
    assert isinstance(result, dict) and result["decision"] in ("started", "skipped"), result
    assert len(result["reason"]) < 2_000


def test_every_fixture_is_mutated() -> None:
    assert len(FIXTURES) >= 6, [p.name for p in FIXTURES]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_mutated_events_never_leak_unexpected_errors(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], path: Path
) -> None:
    guard = load_handler("restart_guard")
    event = fixture_for_moto(aws, guard, path)
    accepted(guard.handler(event, None))  # the fixture itself is handled
    outcomes = {"accepted": 0, "refused": 0}

    def run(mutant: Any) -> None:
        try:
            accepted(guard.handler(mutant, None))
        except guard.common.InputError:
            outcomes["refused"] += 1
            raise
        outcomes["accepted"] += 1

    seed = sum(map(ord, path.stem))  # fixed per fixture
    for label, mutant in fuzz.mutations(event, seed=seed, count=MUTATIONS_PER_FIXTURE):
        fuzz.check(lambda mutant=mutant: run(mutant), f"{path.name}: {label}")
    # the mutations reached both sides: some events were refused, some went on to a decision
    assert outcomes["accepted"] > 0 and outcomes["refused"] > 0, outcomes


def test_mutated_environment_is_refused_at_cold_start_or_works(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType]
) -> None:
    guard = load_handler("restart_guard")
    event = fixture_for_moto(aws, guard, FIXTURES[[p.name for p in FIXTURES].index("eventbridge-alarm.json")])
    base = {
        "STATE_MACHINE_ARN": os.environ["STATE_MACHINE_ARN"],
        "LOCK_TABLE": os.environ["LOCK_TABLE"],
        "COOLDOWN_SECONDS": "0",
        "MAX_RESTARTS": "100",
        "WINDOW_SECONDS": "86400",
        "LOCK_SECONDS": "60",
        "MAX_ALARM_AGE_SECONDS": "3600",
        "DRY_RUN": "false",
        "OPT_IN_TAG": "=".join(OPT_IN),
        "ALLOWED_ALARM_NAMES": json.dumps([guard.parse_alarm(event).name, "opskit-restart-web-2-cpu"]),
        "MAX_CONCURRENT_RESTARTS": "2",
        "MAX_RESTARTS_PER_HOUR": "10",
        "NOTICE_TOPIC_ARN": guard.common.client("sns").create_topic(Name="opskit-restart-workflow")["TopicArn"],
    }
    # one slot of the fleet budget is taken by another instance's run: a mutated MAX_CONCURRENT_RESTARTS of 1
    # takes the over-budget path (and its notice) instead of the claim
    aws["ddb"].put_item(
        TableName=os.environ["LOCK_TABLE"],
        Item={
            "instance_id": {"S": "opskit:fleet"},
            "running": {"M": {"other-run": {"N": "9999999999"}}},
            "version": {"N": "1"},
        },
    )
    outcomes = {"accepted": 0, "refused": 0}

    def run(environment: dict[str, str]) -> None:
        with mock.patch.dict(os.environ, environment):
            for name in set(base) - set(environment):
                os.environ.pop(name, None)
            guard.config.cache_clear()  # a cold start with this environment
            try:
                accepted(guard.handler(event, None))
            except guard.common.ConfigError:
                outcomes["refused"] += 1
                raise
            outcomes["accepted"] += 1

    for label, mutant in fuzz.mutations(base, seed=11, count=ENV_MUTATIONS):
        environment = {k: v if isinstance(v, str) else json.dumps(v) for k, v in mutant.items() if v is not None}
        fuzz.check(lambda environment=environment: run(environment), f"environment: {label}")
    assert outcomes["accepted"] > 0 and outcomes["refused"] > 0, outcomes
