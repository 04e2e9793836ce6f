"""What every resource kind of the scheduler shares: the run (config, request, clock, outcome), the tag
keys it writes, AWS errors as bounded text, bisection of refused batches, the Resource Groups Tagging
API lookup, and expiring overrides (the `opskit:override` tag)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import opskit_common as common
from botocore.exceptions import BotoCoreError, ClientError
from scheduler_request import Config, Request, iso

log = common.get_logger(__name__)

STOPPED_BY_TAG = "opskit:stopped-by"  # EC2: who stopped it (read by instance-protect)
SAVED_SIZE_TAG = "opskit:scheduler-saved-size"  # ASG min/max/desired, ECS desired count
OVERRIDE_TAG = "opskit:override"  # <running|stopped>@<ISO-8601 time>: scheduled runs leave it alone until then
MUTED_BY_TAG = "opskit:muted-by"  # CloudWatch alarms whose actions the scheduler disabled
OVERRIDE_STATES = ("running", "stopped")

# An AWS call that failed: an error answer (ClientError) or no answer at all (BotoCoreError: connection,
# timeout, retries exhausted by the client). Either fails the resource, never the rest of the run.
AWS_ERRORS = (ClientError, BotoCoreError)


@dataclass
class Outcome:
    succeeded: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    overrides_cleared: list[str] = field(default_factory=list)
    kept_muted: list[str] = field(default_factory=list)

    def skip(self, resource_id: str, reason: str) -> None:
        self.skipped.append({"id": resource_id, "reason": reason})

    def fail(self, resource_id: str, error: str) -> None:
        self.failed.append({"id": resource_id, "error": error})


@dataclass(frozen=True)
class Run:
    """One invocation: what it was asked, when, how it batches and waits, and what happened so far."""

    cfg: Config
    request: Request
    now: dt.datetime
    outcome: Outcome
    batch_size: int
    page_size: int
    sleep: Callable[[float], None]
    monotonic: Callable[[], float]

    @property
    def start(self) -> bool:
        return self.request.action == "start"


def error_text(exc: Exception) -> str:
    """An AWS failure as bounded text (AWS messages can quote whole requests)."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return common.clip(f"{err.get('Code', 'Error')}: {err.get('Message', '')}".rstrip(": "))
    return common.clip(f"{type(exc).__name__}: {exc}")


def bisect(ids: list[str], act: Callable[[list[str]], None], on_failure: Callable[[str, Exception], None]) -> None:
    """Run `act` on the whole batch; when AWS refuses it, split it until the refused ids are isolated, so
    every healthy resource is still acted on (log2(n) extra calls per failing id). When AWS gives no
    answer at all (BotoCoreError), splitting would only repeat it: the batch fails and the next one runs."""
    try:
        act(ids)
    except BotoCoreError as exc:
        for item in ids:
            on_failure(item, exc)
    except ClientError as exc:
        if len(ids) == 1:
            on_failure(ids[0], exc)
            return
        middle = len(ids) // 2
        bisect(ids[:middle], act, on_failure)
        bisect(ids[middle:], act, on_failure)


def paginate(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def tagged_resources(run: Run, resource_type: str) -> Iterable[tuple[str, dict[str, str]]]:
    """(ARN, tags) of every resource of `resource_type` (e.g. "ecs:service", "cloudwatch:alarm") tagged
    <TAG_KEY>=<schedule>: one paginated GetResources, 100 resources a page. The index is eventually
    consistent, so callers re-check what they act on where the service returns tags itself."""
    tagging = common.client("resourcegroupstaggingapi")
    for item in paginate(
        tagging,
        "get_resources",
        "ResourceTagMappingList",
        TagFilters=[{"Key": run.cfg.tag_key, "Values": [run.request.schedule]}],
        ResourceTypeFilters=[resource_type],
        PaginationConfig={"PageSize": 100},
    ):
        yield item["ResourceARN"], common.tags_to_dict(item.get("Tags"))


# --- expiring overrides ------------------------------------------------------------------------------


class Verdict(enum.Enum):
    ACT = "act"  # no override: act as the schedule says
    CLEAR = "clear"  # an expired override: remove the tag, then act as usual
    LEAVE = "leave"  # an active override (skipped) or a malformed one (failed): do not touch it


@dataclass(frozen=True)
class Override:
    state: str
    until: dt.datetime


def read_override(value: str) -> Override:
    """`running@2026-12-05T18:00:00Z` → Override; ValueError says what is wrong with anything else."""
    state, sep, until = value.partition("@")
    if not sep or state not in OVERRIDE_STATES:
        raise ValueError("expected running@<ISO-8601 time> or stopped@<ISO-8601 time>")
    try:
        return Override(state, common.parse_time(until, "the time after @"))
    except common.InputError as exc:
        raise ValueError(str(exc)) from None


def screen(run: Run, label: str, tags: Mapping[str, str]) -> Verdict:
    """Read the resource's override. Scheduled runs honour it: an active one is reported in `skipped`
    naming the override and its end, a malformed one in `failed` with the offending value (someone meant
    to override the resource: the run raises at the end). Manual runs act as told."""
    value = tags.get(OVERRIDE_TAG)
    if value is None or run.request.manual:
        return Verdict.ACT
    try:
        override = read_override(value)
    except ValueError as exc:
        run.outcome.fail(
            label, f"malformed {OVERRIDE_TAG} tag {common.clip(value, 80)!r} ({common.clip(str(exc), 160)}); left alone"
        )
        return Verdict.LEAVE
    if run.now < override.until:
        run.outcome.skip(
            label, f"override {OVERRIDE_TAG}={value} keeps it {override.state} until {iso(override.until)}"
        )
        return Verdict.LEAVE
    return Verdict.CLEAR


def clear_override(run: Run, label: str, remove: Callable[[], Any]) -> bool:
    """Remove an expired override before acting (not in a dry run). False (and the resource failed, not
    acted on) when the tag could not be removed."""
    if run.request.dry_run:
        return True
    try:
        remove()
    except AWS_ERRORS as exc:
        run.outcome.fail(label, f"could not remove the expired {OVERRIDE_TAG} tag: {error_text(exc)}")
        log.error("expired override not removed", extra={"resource": label, "error": error_text(exc)})
        return False
    run.outcome.overrides_cleared.append(label)
    log.info("expired override removed", extra={"resource": label})
    return True
