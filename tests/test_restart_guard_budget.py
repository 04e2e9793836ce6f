"""restart_guard's claims under concurrency (moto): two alarms for one instance, re-delivery, and the fleet-wide
budget: at most max_concurrent_restarts runs at once and max_restarts_per_hour starts per hour across every
watched instance, claimed in the same DynamoDB transaction as the instance's lock, cooldown and cap; refusals
over budget publish a notice (outcome "over-budget")."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from unittest import mock

import opskit_common
import pytest
import time_machine
from botocore.exceptions import ClientError
from test_restart_guard import ALARM_TIME, TABLE, alarm_event, executions, moto_guard, release_lock, run_instance

FLEET_KEY = "opskit:fleet"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for moto in moto_guard(monkeypatch):
        sns, sqs = opskit_common.client("sns"), opskit_common.client("sqs")
        topic = sns.create_topic(Name="opskit-restart-workflow")["TopicArn"]
        queue = sqs.create_queue(QueueName="notices")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
        monkeypatch.setenv("NOTICE_TOPIC_ARN", topic)
        monkeypatch.setenv("COOLDOWN_SECONDS", "0")
        yield {**moto, "sqs": sqs, "queue": queue, "topic": topic}


def notices(aws: dict[str, Any]) -> list[dict[str, Any]]:
    messages = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def fleet(aws: dict[str, Any]) -> dict[str, Any]:
    return aws["ddb"].get_item(TableName=TABLE, Key={"instance_id": {"S": FLEET_KEY}}).get("Item", {})


def claimed(aws: dict[str, Any], instance_id: str) -> bool:
    return "Item" in aws["ddb"].get_item(TableName=TABLE, Key={"instance_id": {"S": instance_id}})


def at(offset: float) -> datetime:
    return datetime.fromtimestamp(ALARM_TIME.timestamp() + offset, UTC)


def release(aws: dict[str, Any], execution_name: str) -> None:
    """What the state machine's ReleaseFleetSlot step does at the end of a run."""
    aws["ddb"].update_item(
        TableName=TABLE,
        Key={"instance_id": {"S": FLEET_KEY}},
        UpdateExpression="REMOVE #running.#me ADD #version :one",
        ConditionExpression="attribute_exists(#running.#me)",
        ExpressionAttributeNames={"#running": "running", "#me": execution_name, "#version": "version"},
        ExpressionAttributeValues={":one": {"N": "1"}},
    )


def test_two_alarms_for_different_instances_cannot_both_take_the_last_slot(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic interleaving: the first guard reads the fleet item (one slot free), then the second guard
    claims that slot and starts its run, then the first writes. Its transaction is cancelled on the fleet item's
    version, so neither its lock nor its restart is written; it reads again and refuses over budget."""
    monkeypatch.setenv("MAX_CONCURRENT_RESTARTS", "1")
    first_instance, second_instance = run_instance(aws["ec2"]), run_instance(aws["ec2"])
    first, second = load_handler("restart_guard"), load_handler("restart_guard")
    real_read = first.read_fleet
    reads = []

    def read_then_let_the_other_alarm_in(table: str) -> Any:
        budget = real_read(table)
        if not reads:
            other = second.handler(alarm_event(second_instance, name="opskit-restart-web-2-cpu"), None)
            assert other["code"] == "Started"
        reads.append(budget)
        return budget

    with mock.patch.object(first, "read_fleet", read_then_let_the_other_alarm_in):
        result = first.handler(alarm_event(first_instance), None)
    assert len(reads) == 2  # read, cancelled, read again
    assert result["code"] == "OverBudget"
    assert result["reason"].startswith("over budget: 1 restarts running fleet-wide (max_concurrent_restarts 1)")
    assert len(executions(aws)) == 1
    assert not claimed(aws, first_instance)  # the cancelled transaction wrote nothing for the first instance
    assert list(fleet(aws)["running"]["M"]) == [executions(aws)[0]["name"]]
    assert [n["instance"] for n in notices(aws)] == [first_instance]


def test_over_budget_is_refused_with_a_notice_that_pages_a_human(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_CONCURRENT_RESTARTS", "2")
    guard = load_handler("restart_guard")
    instances = [run_instance(aws["ec2"]) for _ in range(3)]
    results = [
        guard.handler(alarm_event(iid, name=f"opskit-restart-web-{i}-cpu"), None) for i, iid in enumerate(instances)
    ]
    assert [r["code"] for r in results] == ["Started", "Started", "OverBudget"]
    assert not claimed(aws, instances[2])
    running = sorted(e["name"] for e in executions(aws))
    (notice,) = notices(aws)
    assert notice == {
        "outcome": "over-budget",
        "instance": instances[2],
        "alarm": "opskit-restart-web-2-cpu",
        "reason": results[2]["reason"],
        "running": running,
        "startedLastHour": 2,
        "maxConcurrentRestarts": 2,
        "maxRestartsPerHour": 10,
    }


def test_a_finished_run_gives_its_slot_back(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_CONCURRENT_RESTARTS", "1")
    guard = load_handler("restart_guard")
    first, second = run_instance(aws["ec2"]), run_instance(aws["ec2"])
    started = guard.handler(alarm_event(first), None)
    assert guard.handler(alarm_event(second, name="opskit-restart-web-2-cpu"), None)["code"] == "OverBudget"
    release(aws, started["execution_arn"].rsplit(":", 1)[-1])
    assert guard.handler(alarm_event(second, at(1), name="opskit-restart-web-2-cpu"), None)["code"] == "Started"


def test_a_release_between_read_and_write_makes_the_guard_read_again(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state machine's release adds 1 to the fleet item's version: a claim on the older read is cancelled
    (its copy of `running` would bring the released slot back) and decided again on a fresh read."""
    monkeypatch.setenv("MAX_CONCURRENT_RESTARTS", "5")
    guard = load_handler("restart_guard")
    first, second = run_instance(aws["ec2"]), run_instance(aws["ec2"])
    name = guard.handler(alarm_event(first), None)["execution_arn"].rsplit(":", 1)[-1]
    real_read = guard.read_fleet
    reads = []

    def read_then_release(table: str) -> Any:
        budget = real_read(table)
        if not reads:
            release(aws, name)
        reads.append(budget)
        return budget

    with mock.patch.object(guard, "read_fleet", read_then_release):
        result = guard.handler(alarm_event(second, name="opskit-restart-web-2-cpu"), None)
    assert result["code"] == "Started"
    assert [sorted(r.running) for r in reads] == [[name], []]
    assert list(fleet(aws)["running"]["M"]) == [result["execution_arn"].rsplit(":", 1)[-1]]


def test_starts_per_hour_are_budgeted_across_the_fleet(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_RESTARTS_PER_HOUR", "2")
    guard = load_handler("restart_guard")
    codes = []
    for offset in (0, 10, 20, 3601):
        iid = run_instance(aws["ec2"])
        with time_machine.travel(at(offset), tick=False):
            result = guard.handler(alarm_event(iid, at(offset), name=f"opskit-restart-{offset}-cpu"), None)
        codes.append(result["code"])
        if result["execution_arn"]:
            release(aws, result["execution_arn"].rsplit(":", 1)[-1])  # the runs end: only the hourly budget binds
        if offset == 20:
            assert (
                result["reason"]
                == "over budget: 2 restarts started fleet-wide in the last hour (max_restarts_per_hour 2)"
            )
    assert codes == ["Started", "Started", "OverBudget", "Started"]
    assert len(fleet(aws)["starts"]["L"]) == 2  # +10 and +3601 (+0 aged out of the hour)


def test_the_slot_of_a_run_that_died_expires_with_its_lock(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_CONCURRENT_RESTARTS", "1")
    monkeypatch.setenv("LOCK_SECONDS", "900")
    guard = load_handler("restart_guard")
    first, second = run_instance(aws["ec2"]), run_instance(aws["ec2"])
    with time_machine.travel(at(0), tick=False):
        dead = guard.handler(alarm_event(first, at(0)), None)  # never released
    codes = []
    for offset in (899, 900):
        with time_machine.travel(at(offset), tick=False):
            codes.append(guard.handler(alarm_event(second, at(offset), name="opskit-restart-web-2-cpu"), None)["code"])
    assert codes == ["OverBudget", "Started"]
    assert dead["execution_arn"].rsplit(":", 1)[-1] not in fleet(aws)["running"]["M"]


def test_instance_refusals_come_before_the_budget(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An instance that could not be restarted anyway (in cooldown) is refused for that, without a page."""
    monkeypatch.setenv("MAX_CONCURRENT_RESTARTS", "1")
    monkeypatch.setenv("COOLDOWN_SECONDS", "600")
    guard = load_handler("restart_guard")
    iid = run_instance(aws["ec2"])
    guard.handler(alarm_event(iid), None)
    aws["ddb"].update_item(
        TableName=TABLE, Key={"instance_id": {"S": iid}}, UpdateExpression="REMOVE lock_owner, lock_until"
    )
    with time_machine.travel(at(60), tick=False):
        assert guard.handler(alarm_event(iid, at(60)), None)["code"] == "Cooldown"
    assert notices(aws) == []


def test_dry_run_decides_the_budget_but_neither_claims_nor_pages(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_CONCURRENT_RESTARTS", "1")
    guard = load_handler("restart_guard")
    guard.handler(alarm_event(run_instance(aws["ec2"])), None)
    monkeypatch.setenv("DRY_RUN", "true")
    dry = load_handler("restart_guard").handler(
        alarm_event(run_instance(aws["ec2"]), name="opskit-restart-2-cpu"), None
    )
    assert dry["code"] == "OverBudget" and dry["reason"].startswith("dry run: over budget")
    assert notices(aws) == []


def test_a_notice_that_cannot_be_published_fails_the_invocation_after_the_refusal(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusal stands (nothing claimed); the page did not go out, so the invocation fails (PartialFailure):
    Lambda retries it and, in the end, the dead-letter queue and the Errors alarm show it."""
    monkeypatch.setenv("MAX_CONCURRENT_RESTARTS", "1")
    guard = load_handler("restart_guard")
    guard.handler(alarm_event(run_instance(aws["ec2"])), None)
    second = run_instance(aws["ec2"])
    denied = ClientError({"Error": {"Code": "AuthorizationError", "Message": "denied"}}, "Publish")
    with (
        mock.patch.object(opskit_common.client("sns"), "publish", side_effect=denied),
        pytest.raises(opskit_common.PartialFailure, match=r"notice .* failed: AuthorizationError") as raised,
    ):
        guard.handler(alarm_event(second, name="opskit-restart-web-2-cpu"), None)
    assert raised.value.result["code"] == "OverBudget"
    assert raised.value.result["notice"]["instance"] == second
    assert not claimed(aws, second)


def test_a_fleet_item_that_keeps_changing_is_given_up_on(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType]
) -> None:
    guard = load_handler("restart_guard")
    iid = run_instance(aws["ec2"])
    with mock.patch.object(guard, "write_claim", return_value="fleet") as write:
        result = guard.handler(alarm_event(iid), None)
    assert write.call_count == guard.FLEET_ATTEMPTS
    assert result["code"] == "Contended"
    assert executions(aws) == []


# --- concurrency and re-delivery ------------------------------------------------------------------


def test_two_alarms_racing_for_one_instance_start_one_execution(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType]
) -> None:
    """Deterministic interleaving: the first invocation reads the lock item, then the second runs to
    completion, then the first attempts its conditional write on the now-stale read."""
    iid = run_instance(aws["ec2"])
    first, second = load_handler("restart_guard"), load_handler("restart_guard")
    real_read = first.read_claim

    def read_then_let_the_other_alarm_in(table: str, instance_id: str) -> Any:
        claim = real_read(table, instance_id)
        other = second.handler(alarm_event(iid, name="opskit-restart-web-1-status"), None)
        assert other["decision"] == "started"
        return claim

    later = datetime.fromtimestamp(ALARM_TIME.timestamp() + 1, UTC)
    with mock.patch.object(first, "read_claim", read_then_let_the_other_alarm_in):
        result = first.handler(alarm_event(iid, later), None)
    assert result["decision"] == "skipped"
    assert result["reason"] == "another alarm claimed this instance at the same moment"
    assert result["code"] == "Contended"
    assert len(executions(aws)) == 1


def test_redelivered_alarm_is_already_handled(aws: dict[str, Any], load_handler: Callable[[str], ModuleType]) -> None:
    iid = run_instance(aws["ec2"])
    guard = load_handler("restart_guard")
    first = guard.handler(alarm_event(iid), None)
    again = guard.handler(alarm_event(iid), None)
    release_lock(aws, iid)  # even after the run ended, the same transition is recognised
    third = load_handler("restart_guard").handler(alarm_event(iid), None)
    assert first["decision"] == "started"
    assert again == {
        **first,
        "decision": "skipped",
        "code": "AlreadyHandled",
        "reason": "already handled: execution exists",
    }
    assert third == again
    assert len(executions(aws)) == 1


def test_claim_without_execution_is_completed_on_retry(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType]
) -> None:
    """A crash between the conditional write and StartExecution: the async retry of the same event
    must start the execution, not be refused by its own lock."""
    iid = run_instance(aws["ec2"])
    guard = load_handler("restart_guard")
    with mock.patch.object(guard, "_start", side_effect=RuntimeError("crash")), pytest.raises(RuntimeError):
        guard.handler(alarm_event(iid), None)
    assert executions(aws) == []
    retried = load_handler("restart_guard").handler(alarm_event(iid), None)
    assert retried["decision"] == "started"
    assert len(executions(aws)) == 1


def test_execution_already_exists_from_step_functions_means_already_handled(
    aws: dict[str, Any], load_handler: Callable[[str], ModuleType]
) -> None:
    """moto accepts duplicate execution names, so StartExecution's ExecutionAlreadyExists (the race
    between two re-deliveries that both found no execution) is raised by a wrapped client."""
    iid = run_instance(aws["ec2"])
    guard = load_handler("restart_guard")
    sfn = opskit_common.client("stepfunctions")
    error = ClientError({"Error": {"Code": "ExecutionAlreadyExists", "Message": "exists"}}, "StartExecution")
    with mock.patch.object(sfn, "start_execution", side_effect=error):
        result = guard.handler(alarm_event(iid), None)
    assert result["decision"] == "skipped"
    assert result["reason"] == "already handled: execution exists"
    assert result["execution_arn"].endswith(f":{iid}-20240514T091241421Z")
