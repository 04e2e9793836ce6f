"""Event-pattern matching for the tests of the pattern files Terraform deploys.

This is moto's EventBridge rule engine (the one that routes `put_events` to rule targets under
`mock_aws`), called directly so a test can ask "does this fixture match this pattern?" without a bus,
a rule and a queue. moto's `test_event_pattern` would be the API for it, but moto 5.2 returns no
`Result` there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from moto.events.exceptions import InvalidEventPatternException
from moto.events.models import EventPattern


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True when `event` matches `pattern` the way the rule engine routes it."""
    return bool(EventPattern.load(json.dumps(pattern)).matches_event(dict(event)))


def problems(pattern: Any) -> list[str]:
    """Why the rule engine refuses `pattern` (empty when it accepts it)."""
    if not isinstance(pattern, Mapping):
        return [f"a pattern must be a JSON object, got {type(pattern).__name__}"]
    try:
        EventPattern.load(json.dumps(pattern))
    except InvalidEventPatternException as exc:
        return [json.loads(exc.description)["message"] if exc.description.startswith("{") else str(exc)]
    return []
