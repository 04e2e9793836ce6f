"""Mutation tests (tests/fuzz.py) over every asg-backup fixture event and over the function's environment.

moto serves SSM, S3, SNS and EventBridge Scheduler. moto has no DescribeInstanceInformation, no
CompleteLifecycleAction, no RecordLifecycleActionHeartbeat and no instance lifecycle policy: these are answered
by a narrow `before-call` hook (test_asg_backup.fake_operation) on the function's own clients: the instance is
an online Linux node, every completion and heartbeat succeeds, the group does not retain. A botocore Stubber
would need one queued response per call, and whether a mutant completes a lifecycle action is what is being
tested. The function runs with heartbeats on (MAX_BACKUP_SECONDS). For the status and heartbeat fixtures the
command they name is created first (the handler sends it for lifecycle-terminate.json) and the backup object
exists, so a harmless mutant runs the whole path: ListCommands, GetCommandInvocation, HeadObject,
CompleteLifecycleAction, Publish; for the heartbeat the command is still running, so a harmless mutant records
a heartbeat and schedules the next. fuzz.check fails on a leaked exception type, on a refusal after a
mutating call, and on an error message over 2,000 characters.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fuzz
import opskit_common as common
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ssm.models import ssm_backends
from test_asg_backup import ENV, REGION, World, set_env, start_backup, upload_backup, world_context
from test_asg_backup_heartbeat import GROUP, HEARTBEAT_ENV

EVENTS = Path(__file__).resolve().parent / "events" / "asg_backup"
FIXTURES = sorted(path.name for path in EVENTS.glob("*.json"))
SEED = 20261123
MUTATIONS = fuzz.scaled(300)
KMS_KEY = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    set_env(monkeypatch)
    for name, value in HEARTBEAT_ENV.items():
        monkeypatch.setenv(name, value)
    with world_context(monkeypatch, stub=False) as w:
        common.client("scheduler").create_schedule_group(Name=GROUP)
        yield w


def test_every_fixture_is_mutated() -> None:
    """A new fixture joins the mutation tests below by being in tests/events/asg_backup/."""
    assert len(FIXTURES) == 8
    assert {"lifecycle-terminate.json", "command-invocation-success.json", "backup-heartbeat.json"} <= set(FIXTURES)


@pytest.mark.parametrize("fixture", FIXTURES)
def test_mutated_events_are_handled_or_refused_cleanly(
    world: World, load_handler: Callable[[str], Any], load_event: Callable[[str], Any], fixture: str
) -> None:
    handler = load_handler("asg_backup")
    event = load_event(f"asg_backup/{fixture}")
    if fixture.startswith("command-invocation-") or fixture == "backup-heartbeat.json":
        event["detail"]["command-id"] = start_backup(handler, load_event)
        upload_backup(world)
    if fixture == "backup-heartbeat.json":
        ssm_backends[DEFAULT_ACCOUNT_ID][REGION].get_command_by_id(event["detail"]["command-id"]).status = "InProgress"
    handler.handler(json.loads(json.dumps(event)), None)  # the fixture itself is handled
    decisions: dict[str, int] = {}
    for label, mutant in fuzz.mutations(event, seed=SEED, count=MUTATIONS):
        fuzz.check(lambda m=mutant: _count(decisions, handler.handler(m, None)), f"{fixture}: {label}")
    accepted = sum(decisions.values())
    assert 0 < accepted < MUTATIONS, f"{fixture}: {decisions}: mutants must be both accepted and refused"


def _count(decisions: dict[str, int], result: dict[str, Any]) -> None:
    decisions[result["decision"]] = decisions.get(result["decision"], 0) + 1


def _apply(monkeypatch: pytest.MonkeyPatch, names: set[str], environment: dict[str, Any]) -> None:
    """Set the mutated environment as Lambda would: strings only (other JSON values as their JSON text)."""
    for name in names:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        if value is not None:
            monkeypatch.setenv(name, value if isinstance(value, str) else json.dumps(value))


def test_every_environment_variable_mutated(
    world: World,
    load_handler: Callable[[str], Any],
    load_event: Callable[[str], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each variable replaced by every mutant value and removed, then random mutations of the whole
    environment: each invocation either works or fails with ConfigError before any AWS call."""
    base: dict[str, Any] = {**ENV, **HEARTBEAT_ENV, "TOPIC_ARN": os.environ["TOPIC_ARN"], "SSE_KMS_KEY_ID": KMS_KEY}
    mutants = [(f"{name} removed", {k: v for k, v in base.items() if k != name}) for name in base]
    mutants += [
        (f"{name} = {common.clip(value, 40)}", {**base, name: value}) for name in base for value in fuzz.MUTANTS
    ]
    mutants += list(fuzz.mutations(base, seed=SEED, count=MUTATIONS))
    handler = load_handler("asg_backup")
    event = load_event("asg_backup/lifecycle-terminate.json")
    refused = 0
    for label, environment in mutants:
        _apply(monkeypatch, set(base), environment)
        handler.config.cache_clear()
        try:
            handler.config()
        except common.ConfigError:
            refused += 1
        fuzz.check(lambda: handler.handler(event, None), f"environment: {label}")
    assert len(mutants) == len(base) * (1 + len(fuzz.MUTANTS)) + MUTATIONS
    assert 0 < refused < len(mutants), "some mutants must be refused and some accepted, or the test proves nothing"
