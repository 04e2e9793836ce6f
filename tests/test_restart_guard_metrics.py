"""restart_guard's reasons as metrics (moto): every decision prints exactly one CloudWatch Embedded Metric Format
line with exactly one metric, named by the decision's reason code (handler.REASONS), value 1, in the namespace
and dimensions the module's dashboard reads (opskit; Module, Workflow)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
import time_machine
from test_restart_guard import ALARM_TIME, alarm_event, moto_guard, put_alarm, release_lock, run_instance


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    yield from moto_guard(monkeypatch)


def emf_lines(captured: str) -> list[dict[str, Any]]:
    return [doc for line in captured.splitlines() if line.startswith("{") and "_aws" in (doc := json.loads(line))]


# Each scenario prepares moto and the environment and returns the event of the decision under test.
def _started(aws: dict[str, Any], mp: pytest.MonkeyPatch, guard: ModuleType) -> Any:
    return alarm_event(run_instance(aws["ec2"]))


def _spot(aws: dict[str, Any], mp: pytest.MonkeyPatch, guard: ModuleType) -> Any:
    return alarm_event(run_instance(aws["ec2"], InstanceMarketOptions={"MarketType": "spot"}))


def _asg(aws: dict[str, Any], mp: pytest.MonkeyPatch, guard: ModuleType) -> Any:
    return alarm_event(run_instance(aws["ec2"], tags={"aws:autoscaling:groupName": "web"}))


def _not_opted_in(aws: dict[str, Any], mp: pytest.MonkeyPatch, guard: ModuleType) -> Any:
    mp.setenv("OPT_IN_TAG", "opskit:auto-restart=true")
    return alarm_event(run_instance(aws["ec2"]))


def _not_running(aws: dict[str, Any], mp: pytest.MonkeyPatch, guard: ModuleType) -> Any:
    iid = run_instance(aws["ec2"])
    aws["ec2"].stop_instances(InstanceIds=[iid])
    return alarm_event(iid)


def _not_found(aws: dict[str, Any], mp: pytest.MonkeyPatch, guard: ModuleType) -> Any:
    return alarm_event("i-0123456789abcdef0")


def _stale(aws: dict[str, Any], mp: pytest.MonkeyPatch, guard: ModuleType) -> Any:
    return alarm_event(run_instance(aws["ec2"]), ALARM_TIME - timedelta(hours=2))


def _not_confirmed(aws: dict[str, Any], mp: pytest.MonkeyPatch, guard: ModuleType) -> Any:
    iid = run_instance(aws["ec2"])
    event = alarm_event(iid)
    put_alarm(iid, state="OK")
    return event


def _not_allowed(aws: dict[str, Any], mp: pytest.MonkeyPatch, guard: ModuleType) -> Any:
    mp.setenv("ALLOWED_ALARM_NAMES", json.dumps(["some-other-alarm"]))
    return alarm_event(run_instance(aws["ec2"]))


def _not_in_alarm(aws: dict[str, Any], mp: pytest.MonkeyPatch, guard: ModuleType) -> Any:
    event = alarm_event(run_instance(aws["ec2"]))
    event["detail"]["state"]["value"] = "OK"
    return event


def _not_single_instance(aws: dict[str, Any], mp: pytest.MonkeyPatch, guard: ModuleType) -> Any:
    event = alarm_event(run_instance(aws["ec2"]))
    event["detail"]["configuration"]["metrics"].append(event["detail"]["configuration"]["metrics"][0])
    return event


def _dry_run(aws: dict[str, Any], mp: pytest.MonkeyPatch, guard: ModuleType) -> Any:
    mp.setenv("DRY_RUN", "true")
    return alarm_event(run_instance(aws["ec2"]))


def _in_progress(aws: dict[str, Any], mp: pytest.MonkeyPatch, guard: ModuleType) -> Any:
    mp.setenv("COOLDOWN_SECONDS", "0")
    iid = run_instance(aws["ec2"])
    guard.handler(alarm_event(iid), None)
    return alarm_event(iid, ALARM_TIME + timedelta(seconds=30))


def _cooldown(aws: dict[str, Any], mp: pytest.MonkeyPatch, guard: ModuleType) -> Any:
    iid = run_instance(aws["ec2"])
    guard.handler(alarm_event(iid), None)
    release_lock(aws, iid)
    return alarm_event(iid, ALARM_TIME + timedelta(seconds=30))


def _cap(aws: dict[str, Any], mp: pytest.MonkeyPatch, guard: ModuleType) -> Any:
    mp.setenv("COOLDOWN_SECONDS", "0")
    mp.setenv("MAX_RESTARTS", "1")
    iid = run_instance(aws["ec2"])
    guard.handler(alarm_event(iid), None)
    release_lock(aws, iid)
    return alarm_event(iid, ALARM_TIME + timedelta(seconds=30))


def _already_handled(aws: dict[str, Any], mp: pytest.MonkeyPatch, guard: ModuleType) -> Any:
    event = alarm_event(run_instance(aws["ec2"]))
    guard.handler(event, None)
    return event


def _over_budget(aws: dict[str, Any], mp: pytest.MonkeyPatch, guard: ModuleType) -> Any:
    mp.setenv("MAX_CONCURRENT_RESTARTS", "1")
    guard.handler(alarm_event(run_instance(aws["ec2"]), name="opskit-restart-other-cpu"), None)
    return alarm_event(run_instance(aws["ec2"]))


SCENARIOS: dict[str, Callable[[dict[str, Any], pytest.MonkeyPatch, ModuleType], Any]] = {
    "Started": _started,
    "Spot": _spot,
    "AsgMember": _asg,
    "NotOptedIn": _not_opted_in,
    "NotRunning": _not_running,
    "NotFound": _not_found,
    "Stale": _stale,
    "NotConfirmed": _not_confirmed,
    "NotAllowed": _not_allowed,
    "NotInAlarm": _not_in_alarm,
    "NotSingleInstance": _not_single_instance,
    "DryRun": _dry_run,
    "InProgress": _in_progress,
    "Cooldown": _cooldown,
    "Cap": _cap,
    "AlreadyHandled": _already_handled,
    "OverBudget": _over_budget,
}


@pytest.mark.parametrize("code", SCENARIOS)
def test_each_decision_emits_one_metric_named_by_its_reason(
    aws: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    code: str,
) -> None:
    with time_machine.travel(ALARM_TIME, tick=False):
        # environment first (the config is read at the handler's first call), then the earlier decisions
        setup_guard = load_handler("restart_guard")
        event = SCENARIOS[code](aws, monkeypatch, setup_guard)
        capsys.readouterr()
        guard = load_handler("restart_guard")
        result = guard.handler(event, None)
    assert result["code"] == code, result
    (line,) = emf_lines(capsys.readouterr().out)
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "opskit"
    assert directive["Dimensions"] == [["Module", "Workflow"]]
    assert directive["Metrics"] == [{"Name": code, "Unit": "Count"}]
    assert (line["Module"], line["Workflow"], line[code]) == ("restart-workflow", "opskit-restart-workflow", 1)
    assert line["reason"] == result["reason"] and line["decision"] == result["decision"]


def test_every_reason_code_is_exercised(load_handler: Callable[[str], ModuleType]) -> None:
    """Contended needs a concurrent claim (test_restart_guard.py, test_restart_guard_budget.py)."""
    assert set(SCENARIOS) | {"Contended", "InstanceStore", "FutureTime"} == set(load_handler("restart_guard").REASONS)
