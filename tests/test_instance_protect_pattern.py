"""The EventBridge pattern modules/instance-protect deploys, matched against AWS's documented events."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from opskit_tools.eventpattern import matches

PATTERN_FILE = Path(__file__).resolve().parents[1] / "modules/instance-protect/patterns/instance-state.json"


@pytest.fixture(scope="module")
def pattern() -> dict:
    return json.loads(PATTERN_FILE.read_text(encoding="utf-8"))


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
