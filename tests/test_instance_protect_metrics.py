"""instance_protect handler: every decision writes exactly one CloudWatch EMF line, its one metric named by
the decision's reason (functions/instance_protect/instance_protect_metrics.py), and the module's dashboard
and README list exactly those metrics.

EC2 and SNS run on moto. moto cannot interrupt a Spot Instance, make StartInstances/DeleteTags/
DescribeInstances fail, or change an instance's state between the describe and the start, so those paths
use botocore's Stubber on the ec2 client only (SNS stays on moto)."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import opskit_common
import pytest
from botocore.stub import Stubber
from opskit_tools import hcl
from test_instance_protect import aws as aws  # the fixtures, re-exported for pytest
from test_instance_protect import launch, stopped_event
from test_instance_protect import protect as protect

MODULE = Path(__file__).resolve().parents[1] / "modules/instance-protect"
STUB_ID = "i-0a1b2c3d4e5f60718"
OTHER_STATES = ("pending", "stopping", "shutting-down", "terminated")


def emf_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The EMF documents the handler printed to stdout since the last call."""
    lines = capsys.readouterr().out.splitlines()
    return [doc for doc in map(json.loads, filter(None, lines)) if "_aws" in doc]


def only_metric(capsys: pytest.CaptureFixture[str], event_state: str = "stopped") -> tuple[str, dict[str, Any]]:
    """(metric name, document) of the one EMF line written, after checking its shape."""
    (doc,) = emf_lines(capsys)
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "opskit"
    assert directive["Dimensions"] == [["Event", "Module"]]
    (metric,) = directive["Metrics"]
    assert metric["Unit"] == "Count"
    assert (doc["Module"], doc["Event"], doc[metric["Name"]]) == ("instance-protect", event_state, 1)
    return metric["Name"], doc


def metrics_module() -> Any:
    return sys.modules["instance_protect_metrics"]


# --- stopped events, moto ----------------------------------------------------------------------------


def _stopped(ec2: Any, tags: dict[str, str]) -> str:
    iid = launch(ec2, tags)
    ec2.stop_instances(InstanceIds=[iid])
    return iid


def _terminated(ec2: Any) -> str:
    iid = _stopped(ec2, {"Protected": "true"})
    ec2.terminate_instances(InstanceIds=[iid])
    return iid


def _capped(ec2: Any) -> str:
    now = int(time.time())
    return _stopped(ec2, {"Protected": "true", "opskit:protect-restarts": f"{now - 30} {now - 20} {now - 10}"})


STOPPED_CASES: dict[str, tuple[Callable[[Any], str], str, str]] = {
    # name: (instance set-up, metric, reason)
    "unplanned stop": (lambda ec2: _stopped(ec2, {"Protected": "true", "Name": "web-1"}), "Started", "unplanned-stop"),
    "no protect tag": (lambda ec2: _stopped(ec2, {"Name": "scratch"}), "NotOptedIn", "not-protected"),
    "gone": (lambda ec2: "i-0123456789abcdef0", "NotFound", "instance-not-found"),
    "terminated": (_terminated, "Terminating", "terminating"),
    "running again": (lambda ec2: launch(ec2, {"Protected": "true"}), "NotStopped", "not-stopped"),
    "scheduler stop": (
        lambda ec2: _stopped(ec2, {"Protected": "true", "opskit:stopped-by": "scheduler:manual"}),
        "StoppedByOpskit",
        "stopped-by-opskit",
    ),
    "on hold": (lambda ec2: _stopped(ec2, {"Protected": "true", "opskit:hold": "INC-1"}), "Held", "held"),
    "crash loop": (_capped, "Cap", "restart-cap-reached"),
}


@pytest.mark.parametrize("case", STOPPED_CASES)
def test_each_stopped_decision_writes_one_metric_named_by_its_reason(aws, protect, load_event, capsys, case):
    setup, metric, reason = STOPPED_CASES[case]
    iid = setup(aws["ec2"])
    fn = protect()
    capsys.readouterr()

    result = fn.handler(stopped_event(load_event, iid), None)

    name, doc = only_metric(capsys)
    assert (result["reason"], name) == (reason, metric)
    assert (doc["InstanceId"], doc["Decision"], doc["Reason"]) == (iid, result["decision"], reason)
    assert "InstanceId" not in doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]  # a property, not a dimension
    if case == "unplanned stop":
        assert (doc["InstanceName"], doc["RestartsInWindow"]) == ("web-1", 1)


def test_a_restart_whose_notice_failed_still_counts_as_started(aws, protect, load_event, capsys):
    iid = _stopped(aws["ec2"], {"Protected": "true"})
    fn = protect(TOPIC_ARN="arn:aws:sns:eu-central-1:123456789012:does-not-exist")
    capsys.readouterr()

    with pytest.raises(opskit_common.PartialFailure):
        fn.handler(stopped_event(load_event, iid), None)

    name, doc = only_metric(capsys)
    assert (name, doc["Decision"], doc["RestartsInWindow"]) == ("Started", "started", 1)


def test_a_hold_whose_notice_failed_is_still_counted_as_held(aws, protect, load_event, capsys):
    iid = _stopped(aws["ec2"], {"Protected": "true", "opskit:hold": "INC-2"})
    fn = protect(TOPIC_ARN="arn:aws:sns:eu-central-1:123456789012:does-not-exist")
    capsys.readouterr()

    with pytest.raises(fn.ClientError):
        fn.handler(stopped_event(load_event, iid), None)

    assert only_metric(capsys)[0] == "Held"


# --- stopped events, Stubber -------------------------------------------------------------------------


def _describe(stub: Stubber, state: str, tags: dict[str, str], **extra: Any) -> None:
    instance = {
        "InstanceId": STUB_ID,
        "State": {"Code": 80 if state == "stopped" else 16, "Name": state},
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        **extra,
    }
    stub.add_response("describe_instances", {"Reservations": [{"Instances": [instance]}]}, {"InstanceIds": [STUB_ID]})


def test_spot_interruption_writes_spot(aws, protect, load_event, capsys):
    """Stubber: moto cannot interrupt a Spot Instance."""
    fn = protect()
    capsys.readouterr()
    with Stubber(opskit_common.client("ec2")) as stub:
        _describe(
            stub,
            "stopped",
            {"Protected": "true"},
            InstanceLifecycle="spot",
            StateReason={"Code": "Server.SpotInstanceShutdown", "Message": "Spot instance shutdown"},
        )
        fn.handler(stopped_event(load_event, STUB_ID), None)

    assert only_metric(capsys)[0] == "Spot"


def test_start_refused_as_incorrect_state_writes_not_stopped(aws, protect, load_event, capsys):
    """Stubber: moto starts an instance in any state."""
    fn = protect()
    capsys.readouterr()
    with Stubber(opskit_common.client("ec2")) as stub:
        _describe(stub, "stopped", {"Protected": "true"})
        stub.add_response("create_tags", {})
        stub.add_client_error("start_instances", "IncorrectInstanceState", "not in a state to be started")
        fn.handler(stopped_event(load_event, STUB_ID), None)

    name, doc = only_metric(capsys)
    assert (name, doc["Decision"], doc["RestartsInWindow"]) == ("NotStopped", "skipped", 0)


@pytest.mark.parametrize("failing", ["create_tags", "start_instances"])
def test_failed_start_writes_start_failed_then_raises(aws, protect, load_event, capsys, failing):
    """Stubber: moto cannot make CreateTags or StartInstances fail. Never Started for a start that failed."""
    fn = protect()
    capsys.readouterr()
    with Stubber(opskit_common.client("ec2")) as stub:
        _describe(stub, "stopped", {"Protected": "true"})
        if failing == "start_instances":
            stub.add_response("create_tags", {})
        stub.add_client_error(failing, "UnauthorizedOperation", "not allowed", 403)
        with pytest.raises(fn.ClientError, match="UnauthorizedOperation"):
            fn.handler(stopped_event(load_event, STUB_ID), None)

    name, doc = only_metric(capsys)
    assert (name, doc["Decision"], doc["Reason"]) == ("StartFailed", "failed", "start-failed")
    assert "RestartsInWindow" not in doc  # whether the history tag was written is not known here


@pytest.mark.parametrize("state", ["stopped", "running"])
def test_no_decision_no_metric_when_describe_fails(aws, protect, load_event, capsys, state):
    """Stubber: moto cannot make DescribeInstances fail. An error before any decision shows in the
    function's Errors metric only."""
    fn = protect()
    capsys.readouterr()
    with Stubber(opskit_common.client("ec2")) as stub:
        stub.add_client_error("describe_instances", "RequestLimitExceeded", "slow down", 503)
        with pytest.raises(fn.ClientError):
            fn.handler(stopped_event(load_event, STUB_ID, state), None)

    assert emf_lines(capsys) == []


def test_refused_event_or_environment_writes_no_metric(aws, protect, load_event, capsys, monkeypatch):
    fn = protect()
    capsys.readouterr()
    with pytest.raises(opskit_common.InputError):
        fn.handler({**stopped_event(load_event, STUB_ID), "source": "aws.autoscaling"}, None)
    monkeypatch.setenv("MAX_RESTARTS", "21")
    fn.config.cache_clear()
    with pytest.raises(opskit_common.ConfigError):
        fn.handler(stopped_event(load_event, STUB_ID), None)

    assert emf_lines(capsys) == []


# --- running events and other states ---------------------------------------------------------------


RUNNING_CASES: dict[str, tuple[Callable[[Any], str], str]] = {
    "marked": (
        lambda ec2: launch(ec2, {"Protected": "true", "opskit:stopped-by": "scheduler:x"}),
        "StaleMarkerCleared",
    ),
    "unmarked": (lambda ec2: launch(ec2, {"Protected": "true"}), "NoStaleMarker"),
    "stopped again": (lambda ec2: _stopped(ec2, {"Protected": "true", "opskit:stopped-by": "x"}), "NotRunning"),
    "no protect tag": (lambda ec2: launch(ec2, {"opskit:stopped-by": "scheduler:x"}), "NotOptedIn"),
    "gone": (lambda ec2: "i-0123456789abcdef0", "NotFound"),
}


@pytest.mark.parametrize("case", RUNNING_CASES)
def test_each_running_decision_writes_one_metric_named_by_its_reason(aws, protect, load_event, capsys, case):
    setup, metric = RUNNING_CASES[case]
    iid = setup(aws["ec2"])
    fn = protect()
    capsys.readouterr()

    result = fn.handler(stopped_event(load_event, iid, "running"), None)

    name, doc = only_metric(capsys, "running")
    assert name == metric == metrics_module().metric_name("running", result["reason"])
    assert (doc["InstanceId"], doc["Reason"]) == (iid, result["reason"])


def test_failed_marker_delete_writes_marker_clear_failed_then_raises(aws, protect, load_event, capsys):
    """Stubber: moto cannot make DeleteTags fail."""
    fn = protect()
    capsys.readouterr()
    with Stubber(opskit_common.client("ec2")) as stub:
        _describe(stub, "running", {"Protected": "true", "opskit:stopped-by": "scheduler:x"})
        stub.add_client_error("delete_tags", "UnauthorizedOperation", "not allowed", 403)
        with pytest.raises(fn.ClientError):
            fn.handler(stopped_event(load_event, STUB_ID, "running"), None)

    name, doc = only_metric(capsys, "running")
    assert (name, doc["Decision"], doc["Reason"]) == ("MarkerClearFailed", "failed", "marker-clear-failed")


@pytest.mark.parametrize("state", OTHER_STATES)
def test_other_states_write_state_not_handled_with_their_state(protect, load_event, capsys, state):
    fn = protect()
    capsys.readouterr()

    fn.handler(stopped_event(load_event, STUB_ID, state), None)

    assert only_metric(capsys, state)[0] == "StateNotHandled"


# --- the lists the module and the README show ---------------------------------------------------------


def handler_metrics(load_handler: Callable[[str], Any]) -> dict[str, dict[str, str]]:
    load_handler("instance_protect")
    module = metrics_module()
    return {"stopped": module.STOPPED, "running": module.RUNNING, "other": module.OTHER}


def test_names_are_camel_case_and_shared_with_restart_workflow_where_they_apply(load_handler):
    tables = handler_metrics(load_handler)
    names = {name for table in tables.values() for name in table.values()}
    assert all(re.fullmatch(r"(?:[A-Z][a-z]+)+", name) for name in names), names
    shared = {"Started", "Cap", "Spot", "Held", "NotOptedIn"}  # the list: Started, Cooldown, Cap, ...
    assert shared <= names
    assert {tables["stopped"][r] for r in ("unplanned-stop", "restart-cap-reached", "spot-interruption", "held")} == {
        "Started",
        "Cap",
        "Spot",
        "Held",
    }
    assert tables["stopped"]["not-protected"] == tables["running"]["not-protected"] == "NotOptedIn"


def test_dashboard_lists_exactly_the_metrics_the_handler_writes(load_handler):
    tables = handler_metrics(load_handler)
    dashboard = hcl.load_unquoted(MODULE / "dashboard.tf")["locals"][0]["decision_metrics"]

    assert sorted(dashboard["stopped"]) == sorted(tables["stopped"].values())
    assert sorted(dashboard["running"]) == sorted(tables["running"].values())
    assert dashboard["stopped"][0] == "Started"


def test_readme_documents_every_metric_with_its_event_and_reason(load_handler):
    tables = handler_metrics(load_handler)
    text = (MODULE / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([A-Za-z]+)` \| ([a-z, -]+) \| `([a-z-]+)` \|", text, flags=re.MULTILINE)
    documented = {
        (metric, event if event in ("stopped", "running") else "other", reason) for metric, event, reason in rows
    }
    expected = {(metric, event, reason) for event, table in tables.items() for reason, metric in table.items()}
    assert documented == expected
