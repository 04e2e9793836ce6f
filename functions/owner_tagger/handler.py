"""owner-tagger: give every resource a canonical Owner tag, taken from the CloudTrail record that created it.

Two modes, one function:

- An EventBridge "AWS API Call via CloudTrail" event of a successful create call of events.json (37 calls of
  18 services). The handler parses it without any AWS call (failed, DryRun, unknown and unconfigured calls are
  logged and ignored; malformed times and group names are InputErrors naming the field), resolves one owner
  from `detail.userIdentity` (owner_identity.py), finds the created resources with the table
  (owner_tagger_table.py; RunInstances adds the instances' volumes and network interfaces) and adds only the
  missing Owner / CreatedBy / CreatedAt / CreatedVia tags (owner_tagger_tags.py). A redelivery changes
  nothing; a resource that cannot be tagged is named in a PartialFailure after the others are tagged.
- `{"mode": "sweep"}` from the daily schedule: backfill resources that lack the owner tag (owner_tagger_sweep.py).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

import opskit_common as common
import owner_tagger_sweep as sweep
import owner_tagger_tags as tags
from owner_identity import Caller as Caller
from owner_identity import resolve_caller as resolve_caller
from owner_identity import sanitise as sanitise
from owner_identity import sanitise_arn as sanitise_arn
from owner_tagger_config import MAX_MESSAGE, METRIC_NAMESPACE, dimensions
from owner_tagger_config import RESERVED_PREFIXES as RESERVED_PREFIXES
from owner_tagger_config import Config as Config
from owner_tagger_events import Creation as Creation
from owner_tagger_events import desired_tags, expand_launch
from owner_tagger_events import parse_event as parse_event

LOG = common.get_logger(__name__)


@functools.cache
def config() -> Config:
    return Config.from_env(os.environ)


def _ignored(reason: str, **extra: Any) -> dict[str, Any]:
    LOG.info("ignored: %s", reason, extra={"reason": reason, **extra})
    return {"owner": None, "tagged": [], "skipped": [], "failed": [], "ignored": reason}


def handler(event: Any, context: Any) -> dict[str, Any]:
    cfg = config()
    if isinstance(event, Mapping) and "detail" not in event and "mode" in event:
        if event.get("mode") != "sweep":
            raise common.InputError(f"event.mode {common.clip(repr(event.get('mode')))} is not valid (only 'sweep')")
        return sweep.run(cfg, context)

    parsed = parse_event(event)
    if isinstance(parsed, str):
        return _ignored(parsed)
    if parsed.key not in cfg.event_keys:
        return _ignored(f"{parsed.key} is not one of this deployment's event_names", event_id=parsed.event_id)
    caller = resolve_caller(parsed.identity, parsed.event_account)
    if caller is None:
        reason = f"userIdentity of type {common.clip(repr(parsed.identity.get('type')))} names no user, role or service"
        return _ignored(reason, event_id=parsed.event_id)

    resources, groups = list(parsed.targets), list(parsed.asg_names)
    if parsed.key == "ec2:RunInstances":
        resources, groups = expand_launch(parsed)
    owner = caller.owner
    if caller.service and groups:
        group_owner = tags.asg_owner(groups[0], cfg.owner_key)
        owner = group_owner or owner
        LOG.info(
            "service launch",
            extra={"service": caller.service, "auto_scaling_group": groups[0], "group_owner": group_owner},
        )
    desired = desired_tags(cfg, caller, owner, parsed)
    outcome = tags.apply({t: desired for t in resources})
    result = {
        "owner": owner,
        "tagged": outcome.tagged,
        "skipped": outcome.skipped,
        "failed": outcome.failed,
        "ignored": None,
        "created_via": desired.get(cfg.created_via_key or ""),
    }
    common.emit_metrics(
        METRIC_NAMESPACE,
        dimensions(),
        {
            "CreateEvents": (1, "Count"),
            "Tagged": (len(outcome.tagged), "Count"),
            "Skipped": (len(outcome.skipped), "Count"),
            "Failed": (len(outcome.failed), "Count"),
        },
        properties={"event_name": parsed.key, "event_id": parsed.event_id},
    )
    LOG.info(
        "tagged %d, kept %d, failed %d",
        len(outcome.tagged),
        len(outcome.skipped),
        len(outcome.failed),
        extra={"event_name": parsed.key, "event_id": parsed.event_id, "owner": owner, **result},
    )
    if outcome.failed:
        names = ", ".join(f"{f['id']} ({f['error']})" for f in outcome.failed)
        raise common.PartialFailure(
            f"could not tag {len(outcome.failed)} of {len(resources)} resource(s) created by {parsed.event_name}: "
            f"{common.clip(names, MAX_MESSAGE)}",
            result,
        )
    return result
