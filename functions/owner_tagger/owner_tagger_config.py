"""owner-tagger configuration: the function's environment, parsed once into a frozen dataclass."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import opskit_common as common
from owner_identity import TAG_PUNCTUATION
from owner_tagger_table import table

MAX_TAG_KEY = 128
# Prefixes no owner-tagger key may use: AWS's own, and opskit's namespace for its cross-module markers.
RESERVED_PREFIXES = ("aws:", "opskit:")
METRIC_NAMESPACE = "opskit"
MAX_MESSAGE = 1000
KEY_VARIABLES = ("OWNER_TAG_KEY", "CREATED_BY_TAG_KEY", "CREATED_AT_TAG_KEY", "CREATED_VIA_TAG_KEY")
PARAMETER_NAME = re.compile(r"/[A-Za-z0-9_.\-/]{1,1000}")


# --- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    owner_key: str
    created_by_key: str | None
    created_at_key: str | None
    created_via_key: str | None = None
    event_keys: tuple[str, ...] = ()  # qualified <service>:<eventName> keys this deployment handles
    state_parameter: str | None = None  # SSM parameter holding the sweep's resume point
    sweep_max_lookups: int = 400
    sweep_max_pages: int = 200
    sweep_budget_seconds: int = 240
    missed_create_hours: int = 24

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        owner_key = common.env_str(env, "OWNER_TAG_KEY", "Owner").strip()
        if not owner_key:
            raise common.ConfigError("OWNER_TAG_KEY must not be empty: the owner tag is what this function writes")
        optional = {
            name: common.env_str(env, name, default).strip() or None
            for name, default in (
                ("CREATED_BY_TAG_KEY", "CreatedBy"),
                ("CREATED_AT_TAG_KEY", "CreatedAt"),
                ("CREATED_VIA_TAG_KEY", "CreatedVia"),
            )
        }
        keys = {"OWNER_TAG_KEY": owner_key, **optional}
        for name, key in keys.items():
            if key is not None:
                _validate_key(name, key)
        present = [k for k in keys.values() if k]
        if len({k.lower() for k in present}) != len(present):
            raise common.ConfigError(f"{', '.join(KEY_VARIABLES)} must differ (ignoring case): {present}")
        parameter = common.env_str(env, "SWEEP_STATE_PARAMETER", "").strip() or None
        if parameter is not None and not PARAMETER_NAME.fullmatch(parameter):
            raise common.ConfigError(f"SWEEP_STATE_PARAMETER={common.clip(parameter)!r} is not an SSM parameter name")
        return cls(
            owner_key=owner_key,
            created_by_key=optional["CREATED_BY_TAG_KEY"],
            created_at_key=optional["CREATED_AT_TAG_KEY"],
            created_via_key=optional["CREATED_VIA_TAG_KEY"],
            event_keys=_event_keys(env),
            state_parameter=parameter,
            sweep_max_lookups=_env_int(env, "SWEEP_MAX_LOOKUPS", 400, 0, 10_000),
            sweep_max_pages=_env_int(env, "SWEEP_MAX_PAGES", 200, 1, 10_000),
            sweep_budget_seconds=_env_int(env, "SWEEP_BUDGET_SECONDS", 240, 1, 900),
            missed_create_hours=_env_int(env, "MISSED_CREATE_HOURS", 24, 1, 168),
        )

    @property
    def keys(self) -> list[str]:
        return [k for k in (self.owner_key, self.created_by_key, self.created_at_key, self.created_via_key) if k]


def _env_int(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    """A whole number in [minimum, maximum]; ConfigError (with the value clipped) otherwise."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"\d{1,6}", raw) or not minimum <= int(raw) <= maximum:
        raise common.ConfigError(f"{name}={common.clip(raw)!r} must be a whole number from {minimum} to {maximum}")
    return int(raw)


def _validate_key(name: str, key: str) -> None:
    if len(key) > MAX_TAG_KEY:
        raise common.ConfigError(f"{name}={common.clip(key)!r} is longer than {MAX_TAG_KEY} characters")
    reserved = next((p for p in RESERVED_PREFIXES if key.lower().startswith(p)), None)
    if reserved:
        raise common.ConfigError(f"{name}={key!r}: the {reserved} prefix is reserved")
    bad = sorted({c for c in key if not (c.isalnum() or c == " " or c in TAG_PUNCTUATION)})
    if bad:
        raise common.ConfigError(f"{name}={key!r} contains characters tags do not allow: {''.join(bad)!r}")


def _event_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """EVENT_NAMES: a JSON list of supported events (<service>:<eventName>, or an event name only one service
    has); unset or empty means every event in the table."""
    raw = env.get("EVENT_NAMES", "").strip()
    if not raw:
        return tuple(table().rows)
    try:
        names = json.loads(raw)
    except (ValueError, RecursionError):
        raise common.ConfigError(f"EVENT_NAMES={common.clip(raw)!r} is not a JSON list") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise common.ConfigError(f"EVENT_NAMES={common.clip(raw)!r} must be a JSON list of event names")
    resolved = [table().resolve(n) for n in names]
    unknown = [n for n, key in zip(names, resolved, strict=True) if key is None]
    if unknown:
        raise common.ConfigError(f"EVENT_NAMES has events this function does not support: {common.clip(unknown)}")
    return tuple(dict.fromkeys(k for k in resolved if k))


def dimensions() -> dict[str, str]:
    """EMF dimensions; the alarms of modules/owner-tagger select the same ones."""
    return {"Module": "owner-tagger", "FunctionName": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "owner-tagger")}
