"""One summary per run: the EMF metrics line, and (with TOPIC_ARN) one SNS message for every run that
acted on, failed or skipped something, with the message attribute `outcome`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import opskit_common as common
from scheduler_base import Outcome, Run
from scheduler_request import iso

METRIC_NAMESPACE = "opskit/scheduler"
MAX_SUBJECT = 99  # SNS: fewer than 100 characters
MAX_MESSAGE_BYTES = 200_000  # SNS takes 256 KiB; the rest of a huge run is in the result and the logs
LISTED = 200  # successes and skips listed by name (failures: all that fit)


def outcome_of(outcome: Outcome, skip_date: bool = False) -> str | None:
    """succeeded | partial | failed | skipped, or None for a run with nothing to report."""
    acted = bool(outcome.succeeded or outcome.planned)
    if outcome.failed:
        return "partial" if acted else "failed"
    if acted:
        return "succeeded"
    if outcome.skipped or skip_date:
        return "skipped"
    return None


def emit(run: Run) -> None:
    outcome = run.outcome
    common.emit_metrics(
        METRIC_NAMESPACE,
        {"Schedule": run.request.schedule, "Action": run.request.action},
        {
            "Succeeded": (len(outcome.succeeded), "Count"),
            "Failed": (len(outcome.failed), "Count"),
            "Skipped": (len(outcome.skipped), "Count"),
        },
        properties={"dry_run": run.request.dry_run},
    )


def subject(run: Run, name: str) -> str:
    o = run.outcome
    dry = " (dry run)" if run.request.dry_run else ""
    counts = f"{len(o.succeeded) + len(o.planned)} ok, {len(o.failed)} failed, {len(o.skipped)} skipped"
    text = f"opskit scheduler: {run.request.action} {run.request.schedule} {name}{dry}: {counts}"
    return text if len(text) <= MAX_SUBJECT else text[: MAX_SUBJECT - 3] + "..."


def message(run: Run, name: str, result: Mapping[str, Any]) -> str:
    """Plain text for e-mail: the counts, then every failure with its reason, then skips and successes,
    cut at MAX_MESSAGE_BYTES with a count of what was left out."""
    o, request = run.outcome, run.request
    zone = f" ({request.timezone})" if not request.manual else ""
    lines = [
        f"Scheduler run: {request.action} of schedule {request.schedule}{zone} at {iso(run.now)}",
        f"Outcome: {name}" + (" (dry run: nothing was changed)" if request.dry_run else ""),
        f"Succeeded: {len(o.succeeded)}, failed: {len(o.failed)}, skipped: {len(o.skipped)}"
        + (f", planned: {len(o.planned)}" if request.dry_run else ""),
    ]
    if "skip_date" in result:
        lines.append(str(result.get("message", "")))
    if o.kept_muted:
        lines.append(f"Alarms kept muted because the start failed: {len(o.kept_muted)}")
    if o.overrides_cleared:
        lines.append(f"Expired overrides removed: {', '.join(o.overrides_cleared[:LISTED])}")
    body = [("Failed", [f"{f['id']}: {f['error']}" for f in o.failed])]
    body.append(("Skipped", [f"{s['id']}: {s['reason']}" for s in o.skipped[:LISTED]]))
    body.append(("Planned" if request.dry_run else "Succeeded", (o.planned or o.succeeded)[:LISTED]))
    for title, items in body:
        if items:
            lines += ["", f"{title}:"] + [f"- {item}" for item in items]
    size, kept = 0, list[str]()
    for line in lines:
        size += len(line.encode("utf-8")) + 1
        if size > MAX_MESSAGE_BYTES:
            kept.append(f"... and {len(lines) - len(kept)} more lines (see the function's result and logs)")
            break
        kept.append(line)
    return "\n".join(kept)


def publish(run: Run, result: Mapping[str, Any]) -> bool:
    """Publish the run's summary when a topic is configured and the run has something to report. True when
    a message was sent; an SNS error propagates (the caller reports it as a failure of the run)."""
    name = outcome_of(run.outcome, "skip_date" in result)
    if run.cfg.topic_arn is None or name is None:
        return False
    common.client("sns").publish(
        TopicArn=run.cfg.topic_arn,
        Subject=subject(run, name),
        Message=message(run, name, result),
        MessageAttributes={
            "outcome": {"DataType": "String", "StringValue": name},
            "action": {"DataType": "String", "StringValue": run.request.action},
            "schedule": {"DataType": "String", "StringValue": run.request.schedule},
        },
    )
    return True
