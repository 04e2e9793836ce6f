"""One CloudWatch Embedded Metric Format (EMF) line per decision, its metric named by the decision's reason.

Namespace `opskit`; dimensions `Module` = instance-protect (as every opskit function's EMF) and `Event` = the
state the EC2 event reported, so the dashboard answers "why was this stopped instance not started?" from
the `stopped` metrics alone. The value is 1 (unit Count): the Sum over a period is the number of such
decisions. The instance id, its Name tag, the decision and the reason are properties of the line, never
dimensions: a dimension per instance would be a custom metric per instance (see the module README).

Names follow the list shared with restart-workflow where they apply (Started, Cap, Spot, Held,
NotOptedIn); the others are instance-protect's own. `*Failed` marks a decision whose AWS call failed:
the metric is written, then the error is raised (Lambda retries the event)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import opskit_common as common

NAMESPACE = "opskit"
MODULE = "instance-protect"

# reason in the handler's result -> metric name, for each event state the rule delivers.
STOPPED = {
    "unplanned-stop": "Started",
    "start-failed": "StartFailed",
    "restart-cap-reached": "Cap",
    "held": "Held",
    "spot-interruption": "Spot",
    "stopped-by-opskit": "StoppedByOpskit",
    "not-stopped": "NotStopped",
    "terminating": "Terminating",
    "not-protected": "NotOptedIn",
    "instance-not-found": "NotFound",
}
RUNNING = {
    "cleared-stale-marker": "StaleMarkerCleared",
    "marker-clear-failed": "MarkerClearFailed",
    "no-stale-marker": "NoStaleMarker",
    "not-running": "NotRunning",
    "not-protected": "NotOptedIn",
    "instance-not-found": "NotFound",
}
# Any other state (pending, stopping, shutting-down, terminated): the rule does not send them.
OTHER = {"state-not-handled": "StateNotHandled"}


def metric_name(state: str, reason: str) -> str:
    """The metric of a decision; KeyError for a reason that cannot occur on that event (a bug)."""
    table = STOPPED if state == "stopped" else RUNNING if state == "running" else OTHER
    return table[reason]


def emit(state: str, result: Mapping[str, Any], instance_name: str | None = None, stream: Any = None) -> dict[str, Any]:
    """Print the decision's EMF line (stdout, where Lambda's log agent picks it up) and return it."""
    properties: dict[str, Any] = {
        "InstanceId": result["instance_id"],
        "Decision": result["decision"],
        "Reason": result["reason"],
    }
    if instance_name is not None:
        properties["InstanceName"] = common.clip(instance_name, 100)
    if "restarts_in_window" in result:
        properties["RestartsInWindow"] = result["restarts_in_window"]
    return common.emit_metrics(
        NAMESPACE,
        {"Module": MODULE, "Event": state},
        {metric_name(state, result["reason"]): (1, "Count")},
        properties,
        stream=stream,
    )
