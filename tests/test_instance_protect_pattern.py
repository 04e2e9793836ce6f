"""The EventBridge pattern modules/instance-protect deploys, rendered as Terraform renders it (templatefile
with the deploying account) and matched against AWS's documented events. The same template is checked
by Terraform itself in modules/instance-protect/tests/pattern.tftest.hcl."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from opskit_tools.eventpattern import matches
from opskit_tools.tftemplate import render_json

PATTERN_FILE = Path(__file__).resolve().parents[1] / "modules/instance-protect/patterns/instance-state.json"
ACCOUNT = "123456789012"  # the fixtures' account


@pytest.fixture(scope="module")
def pattern() -> dict:
    return render_json(PATTERN_FILE, account_id=ACCOUNT)


@pytest.mark.parametrize("state", ["stopped", "running"])
def test_stopped_and_running_instances_trigger_the_function(pattern, load_event, state):
    """stopped: maybe restart it; running: clear a stop marker that outlived its stop."""
    event = load_event(f"instance_protect/instance-{state}.json")
    assert event["detail"]["state"] == state
    assert matches(pattern, event)


@pytest.mark.parametrize("state", ["pending", "stopping", "shutting-down", "terminated"])
def test_other_state_changes_do_not(pattern, load_event, state):
    event = load_event(f"instance_protect/instance-{state}.json")
    assert event["detail"]["state"] == state
    assert not matches(pattern, event)


def test_spot_interruption_warnings_do_not(pattern, load_event):
    """The two-minute warning precedes a Spot stop; the stop itself is decided on in the handler."""
    assert not matches(pattern, load_event("instance_protect/spot-interruption-warning.json"))


@pytest.mark.parametrize("state", ["stopped", "running"])
def test_look_alike_events_from_other_sources_do_not(pattern, load_event, state):
    event = copy.deepcopy(load_event(f"instance_protect/instance-{state}.json"))
    event["source"] = "custom.ec2"  # anyone may put events on the default bus, but not with an aws.* source
    assert not matches(pattern, event)


@pytest.mark.parametrize("state", ["stopped", "running"])
def test_events_of_other_accounts_on_a_shared_bus_do_not(pattern, load_event, state):
    """An organization bus or a cross-account rule delivers other accounts' aws.ec2 events too."""
    event = copy.deepcopy(load_event(f"instance_protect/instance-{state}.json"))
    event["account"] = "210987654321"
    assert not matches(pattern, event)
    assert pattern["account"] == [ACCOUNT]
