"""CloudWatch alarms tagged <TAG_KEY>=<schedule>: muted while their resources are stopped.

A stop disables their actions BEFORE anything is stopped; each alarm it mutes is first tagged
`opskit:muted-by = scheduler:<schedule>`, so a start enables only what the scheduler muted (an alarm
someone disabled on purpose stays disabled). A start enables them AFTER everything else, and only when
nothing failed: otherwise they stay muted and the run's failure says so."""

from __future__ import annotations

from typing import Any

import opskit_common as common
from scheduler_base import AWS_ERRORS, MUTED_BY_TAG, Run, bisect, error_text, tagged_resources

log = common.get_logger(__name__)

ALARM_NAMES_MAX = 100  # DescribeAlarms, DisableAlarmActions and EnableAlarmActions take up to 100 names


def _alarms(run: Run) -> dict[str, tuple[str, dict[str, str], bool]]:
    """{name: (ARN, tags, actions enabled)} of the schedule's alarms (metric and composite): one paginated
    GetResources, then DescribeAlarms per 100 names for the ActionsEnabled flag."""
    found: dict[str, tuple[str, dict[str, str]]] = {}
    for arn, tags in tagged_resources(run, "cloudwatch:alarm"):
        _, sep, name = arn.partition(":alarm:")
        if sep and name:
            found[name] = (arn, tags)
    cloudwatch = common.client("cloudwatch")
    alarms: dict[str, tuple[str, dict[str, str], bool]] = {}
    for chunk in common.chunked(sorted(found), ALARM_NAMES_MAX):
        answer = cloudwatch.describe_alarms(AlarmNames=chunk, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        for alarm in answer.get("MetricAlarms", []) + answer.get("CompositeAlarms", []):
            name = alarm["AlarmName"]
            if name in found:  # deleted since it was indexed: nothing to do
                alarms[name] = (*found[name], bool(alarm.get("ActionsEnabled")))
    return alarms


def mute(run: Run) -> None:
    outcome = run.outcome
    try:
        alarms = _alarms(run)
    except AWS_ERRORS as exc:
        outcome.fail("alarms", f"could not read the schedule's alarms: {error_text(exc)}")
        return
    to_mute: list[str] = []
    for name, (_, tags, enabled) in sorted(alarms.items()):
        label = f"alarm/{name}"
        if not enabled and MUTED_BY_TAG in tags:
            outcome.skip(label, "actions already disabled by the scheduler")
        elif not enabled:
            outcome.skip(label, "actions disabled, not by the scheduler: left as they are")
        elif run.request.dry_run:
            outcome.planned.append(label)
        else:
            to_mute.append(name)
    if not to_mute:
        return
    cloudwatch = common.client("cloudwatch")
    marked: list[str] = []
    for name in to_mute:  # TagResource takes one ARN
        try:
            cloudwatch.tag_resource(
                ResourceARN=alarms[name][0], Tags=[{"Key": MUTED_BY_TAG, "Value": run.request.marker}]
            )
        except AWS_ERRORS as exc:
            outcome.fail(f"alarm/{name}", f"not muted: could not tag {MUTED_BY_TAG}: {error_text(exc)}")
            continue
        marked.append(name)

    def disable(batch: list[str]) -> None:
        cloudwatch.disable_alarm_actions(AlarmNames=batch)
        outcome.succeeded.extend(f"alarm/{n}" for n in batch)

    def failed(name: str, exc: Exception) -> None:
        outcome.fail(f"alarm/{name}", f"not muted: {error_text(exc)}")
        _unmark(cloudwatch, alarms[name][0])

    for batch in common.chunked(marked, ALARM_NAMES_MAX):
        bisect(batch, disable, failed)
    log.info("alarms muted", extra={"alarms": len(marked), "schedule": run.request.schedule})


def unmute(run: Run) -> None:
    """Enable what the scheduler muted, unless something in this start failed."""
    outcome = run.outcome
    failures = [f["id"] for f in outcome.failed]
    try:
        alarms = _alarms(run)
    except AWS_ERRORS as exc:
        outcome.fail("alarms", f"could not read the schedule's alarms: {error_text(exc)}")
        return
    muted = sorted(name for name, (_, tags, _) in alarms.items() if MUTED_BY_TAG in tags)
    if failures:
        names = ", ".join(common.clip(f, 60) for f in failures[:5]) + (" ..." if len(failures) > 5 else "")
        for name in muted:
            outcome.skip(f"alarm/{name}", f"kept muted: the start failed for {len(failures)} resource(s): {names}")
            outcome.kept_muted.append(f"alarm/{name}")
        return
    if run.request.dry_run:
        outcome.planned.extend(f"alarm/{n}" for n in muted)
        return
    cloudwatch = common.client("cloudwatch")
    enabled: list[str] = []

    def enable(batch: list[str]) -> None:
        cloudwatch.enable_alarm_actions(AlarmNames=batch)
        enabled.extend(batch)

    def failed(name: str, exc: Exception) -> None:
        outcome.fail(f"alarm/{name}", f"still muted: {error_text(exc)}")

    for batch in common.chunked(muted, ALARM_NAMES_MAX):
        bisect(batch, enable, failed)
    for name in enabled:
        outcome.succeeded.append(f"alarm/{name}")
        _unmark(cloudwatch, alarms[name][0])
    log.info("alarms enabled again", extra={"alarms": len(enabled), "schedule": run.request.schedule})


def _unmark(cloudwatch: Any, arn: str) -> None:
    try:
        cloudwatch.untag_resource(ResourceARN=arn, TagKeys=[MUTED_BY_TAG])
    except AWS_ERRORS as exc:  # the alarm's actions are in the state we wanted; a stale marker is harmless
        log.error("could not remove the muted-by marker", extra={"alarm": arn, "error": error_text(exc)})
