"""The guard's claim: one DynamoDB transaction over the instance's lock item and the fleet's budget item.

Instance item (key `instance_id` = the instance id):
  restarts        epoch seconds of restarts claimed within the window (failed ones count too)
  lock_owner      execution name holding the instance; removed by the state machine when it ends
  lock_until      epoch seconds after which a lock left by a dead execution is ignored
  last_execution  execution name of the latest claim (re-delivery of that alarm is "already handled")
  version         optimistic-concurrency counter the transaction checks
  expires_at      DynamoDB TTL

Fleet item (key `instance_id` = FLEET_KEY, which no instance id can equal):
  running         map of execution name -> epoch seconds its slot lasts (the instance lock's lock_until);
                  the state machine removes its own entry (and adds 1 to version) when it ends
  starts          epoch seconds of the claims of the last hour
  version         optimistic-concurrency counter
  expires_at      DynamoDB TTL

Cooldown, cap, lock and the fleet budget are decided from one consistent read of both items and written
with one TransactWriteItems whose two conditions check both versions: two alarms for different instances
that read the same fleet item cannot both take its last slot (the second transaction is cancelled, the
guard reads again and refuses over budget).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import opskit_common as common
from botocore.exceptions import ClientError
from guard_config import Config

FLEET_KEY = "opskit:fleet"
HOUR = 3600


@dataclass(frozen=True)
class Claim:
    restarts: tuple[int, ...]
    lock_owner: str | None
    lock_until: int
    last_execution: str | None
    version: int


@dataclass(frozen=True)
class Fleet:
    running: Mapping[str, int]  # execution name -> slot expiry (epoch seconds)
    starts: tuple[int, ...]
    version: int

    def active(self, now: int) -> dict[str, int]:
        """Slots still held: an execution that died without releasing its slot frees it at lock expiry."""
        return {name: until for name, until in self.running.items() if until > now}

    def recent(self, now: int) -> list[int]:
        return [t for t in self.starts if t > now - HOUR]


def _get(table: str, key: str) -> Mapping[str, Any]:
    try:
        return (
            common.client("dynamodb")
            .get_item(TableName=table, Key={"instance_id": {"S": key}}, ConsistentRead=True)
            .get("Item", {})
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":  # before any claim is written
            raise common.ConfigError(f"LOCK_TABLE={common.clip(table)!r} does not exist") from None
        raise


def _number(value: Any) -> int:
    """An N attribute the guard or the state machine wrote; anything else counts as 0 (expired)."""
    try:
        return int(value["N"])
    except (KeyError, TypeError, ValueError):
        return 0


def read_claim(table: str, instance_id: str) -> Claim:
    item = _get(table, instance_id)
    return Claim(
        restarts=tuple(_number(v) for v in item.get("restarts", {}).get("L", [])),
        lock_owner=item.get("lock_owner", {}).get("S"),
        lock_until=_number(item.get("lock_until", {"N": "0"})),
        last_execution=item.get("last_execution", {}).get("S"),
        version=_number(item.get("version", {"N": "0"})),
    )


def read_fleet(table: str) -> Fleet:
    item = _get(table, FLEET_KEY)
    return Fleet(
        running={name: _number(until) for name, until in item.get("running", {}).get("M", {}).items()},
        starts=tuple(_number(v) for v in item.get("starts", {}).get("L", [])),
        version=_number(item.get("version", {"N": "0"})),
    )


def refusal_for_claim(claim: Claim, now: int, cfg: Config) -> tuple[str, str] | None:
    """(reason code, reason) when the instance's own lock, cooldown or cap refuses a restart."""
    if claim.lock_owner and claim.lock_until > now:
        return "InProgress", f"restart {claim.lock_owner} is still in progress"
    recent = [t for t in claim.restarts if t > now - cfg.window_seconds]
    if recent and now - max(recent) < cfg.cooldown_seconds:
        return "Cooldown", f"in cooldown for {cfg.cooldown_seconds - (now - max(recent))} more seconds"
    if len(recent) >= cfg.max_restarts:
        return "Cap", f"restart cap reached: {len(recent)} restarts in the last {cfg.window_seconds} seconds"
    return None


def refusal_for_budget(fleet: Fleet, now: int, cfg: Config) -> tuple[str, str] | None:
    """("OverBudget", reason) when the fleet-wide budget has no slot left."""
    active = fleet.active(now)
    if len(active) >= cfg.max_concurrent_restarts:
        return "OverBudget", (
            f"over budget: {len(active)} restarts running fleet-wide (max_concurrent_restarts "
            f"{cfg.max_concurrent_restarts}): {common.clip(', '.join(sorted(active)), 400)}"
        )
    recent = fleet.recent(now)
    if len(recent) >= cfg.max_restarts_per_hour:
        return "OverBudget", (
            f"over budget: {len(recent)} restarts started fleet-wide in the last hour "
            f"(max_restarts_per_hour {cfg.max_restarts_per_hour})"
        )
    return None


def _version_check(version: int, values: dict[str, Any]) -> str:
    if version:
        values[":version"] = {"N": str(version)}
        return "#version = :version"
    return "attribute_not_exists(#version)"


def write_claim(
    table: str, instance_id: str, claim: Claim, fleet: Fleet, name: str, alarm: str, now: int, cfg: Config
) -> str:
    """One transaction: the instance's lock and restart history, and a slot in the fleet budget. Each half
    succeeds only if nobody changed its item since it was read. Returns "claimed", or which item changed
    under the claim: "instance" (another alarm claimed this instance) or "fleet" (read again and decide)."""
    until = now + cfg.lock_seconds
    instance_values: dict[str, Any] = {
        ":restarts": {"L": [{"N": str(t)} for t in claim.restarts if t > now - cfg.window_seconds] + [{"N": str(now)}]},
        ":owner": {"S": name},
        ":until": {"N": str(until)},
        ":alarm": {"S": alarm},
        ":next": {"N": str(claim.version + 1)},
        # TTL only after the item stops mattering: past the window, the cooldown and the lock.
        ":expires": {"N": str(now + max(cfg.window_seconds + cfg.cooldown_seconds, cfg.lock_seconds))},
    }
    running = {**fleet.active(now), name: until}
    fleet_values: dict[str, Any] = {
        ":running": {"M": {execution: {"N": str(expiry)} for execution, expiry in sorted(running.items())}},
        ":starts": {"L": [{"N": str(t)} for t in fleet.recent(now)] + [{"N": str(now)}]},
        ":next": {"N": str(fleet.version + 1)},
        ":expires": {"N": str(now + max(HOUR, cfg.lock_seconds))},
    }
    names = {"#version": "version"}
    try:
        common.client("dynamodb").transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"instance_id": {"S": instance_id}},
                        "UpdateExpression": (
                            "SET #restarts = :restarts, lock_owner = :owner, lock_until = :until, "
                            "last_execution = :owner, last_alarm = :alarm, #version = :next, expires_at = :expires"
                        ),
                        "ConditionExpression": _version_check(claim.version, instance_values),
                        "ExpressionAttributeNames": {**names, "#restarts": "restarts"},
                        "ExpressionAttributeValues": instance_values,
                    }
                },
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"instance_id": {"S": FLEET_KEY}},
                        "UpdateExpression": (
                            "SET #running = :running, #starts = :starts, #version = :next, expires_at = :expires"
                        ),
                        "ConditionExpression": _version_check(fleet.version, fleet_values),
                        "ExpressionAttributeNames": {**names, "#running": "running", "#starts": "starts"},
                        "ExpressionAttributeValues": fleet_values,
                    }
                },
            ]
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "TransactionCanceledException":
            raise
        reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
        if reasons[:1] not in ([], ["None"]):
            return "instance"  # ConditionalCheckFailed (or a concurrent transaction) on the instance's item
        return "fleet"
    return "claimed"
