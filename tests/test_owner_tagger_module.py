"""modules/owner-tagger and functions/owner_tagger agree: the event names Terraform accepts are exactly
those the handler knows, the CreateTags grant covers exactly the resource types the handler tags, and the
environment Terraform sets is the environment the handler reads."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import hcl2
import pytest
from opskit_tools.paths import MODULES

MODULE = MODULES / "owner-tagger"


def unquote(value: Any) -> Any:
    """python-hcl2 keeps string literals quoted ("\"Owner\"")."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items()}
    return value


@functools.cache
def load(name: str) -> dict[str, Any]:
    with (MODULE / name).open(encoding="utf-8") as handle:
        return unquote(hcl2.load(handle))


@functools.cache
def variables() -> dict[str, Any]:
    return {k: v for block in load("variables.tf")["variable"] for k, v in block.items()}


@pytest.fixture
def handler(load_handler: Callable[[str], ModuleType]) -> ModuleType:
    return load_handler("owner_tagger")


def test_terraform_accepts_exactly_the_event_names_the_handler_tags(handler):
    validations = variables()["event_names"]["validation"]
    allowed = next(re.findall(r'"(\w+)"', v["condition"]) for v in validations if "contains([" in v["condition"])
    assert sorted(allowed) == sorted(handler.SUPPORTED_EVENTS)
    assert variables()["event_names"]["default"] == ["RunInstances"]


def test_create_tags_grant_covers_the_resource_types_the_handler_tags(handler):
    by_event = load("iam.tf")["locals"][0]["resource_types_by_event"]
    assert sorted(by_event) == sorted(handler.SUPPORTED_EVENTS)
    for event_name, (resource_type, _) in handler.SUPPORTED_EVENTS.items():
        assert resource_type in by_event[event_name]
    # RunInstances also tags the attached volumes and network interfaces.
    assert sorted(by_event["RunInstances"]) == ["instance", "network-interface", "volume"]


def test_terraform_sets_the_environment_the_handler_reads(handler):
    environment = load("main.tf")["module"][0]["function"]["environment"]
    source = Path(handler.__file__).read_text(encoding="utf-8")
    read = set(re.findall(r'env_str\(env, "([A-Z_]+)"', source))
    assert set(environment) == read == {"OWNER_TAG_KEY", "CREATED_BY_TAG_KEY", "CREATED_AT_TAG_KEY"}
    defaults = {k: variables()[f"{k.lower()}"]["default"] for k in read}
    assert defaults == {"OWNER_TAG_KEY": "Owner", "CREATED_BY_TAG_KEY": "CreatedBy", "CREATED_AT_TAG_KEY": "CreatedAt"}
    assert handler.Config.from_env({}).keys == ["Owner", "CreatedBy", "CreatedAt"]


def test_async_retries_are_few_and_failures_reach_a_dlq():
    function = load("main.tf")["module"][0]["function"]
    assert function["async_invocation"]["maximum_retry_attempts"] == 2
    assert function["create_dlq"] is True
