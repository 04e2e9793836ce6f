"""One TARGETS entry → Target (ConfigError naming the target and the field otherwise), and the checks across
targets (duplicate names, dependencies on unknown targets, dependency cycles).

Kinds: `http` (url, the default), `tcp` (host and port, optional tls) and `dns` (host, optional
expected_addresses). Every kind takes timeout_seconds, max_latency_ms, maintenance and depends_on; a field of
another kind is refused, so a typo in `kind` cannot silently drop a check.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

import hc_fields as f
import opskit_common as common
from hc_windows import Window, parse_windows


@dataclass(frozen=True)
class Target:
    name: str
    kind: str = "http"
    url: str | None = None
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    expected_status: tuple[int, ...] = (200,)
    expected_text: str | None = None
    unexpected_text: str | None = None
    regex: re.Pattern[str] | None = None
    json_pointer: tuple[str, ...] | None = None  # the pointer's reference tokens
    json_equals: Any = None  # the expected value (decoded), when json_pointer is set
    max_latency_ms: float | None = None
    min_cert_days: int | None = None
    timeout_seconds: float = 10.0
    follow_redirects: bool = True
    headers_secret_arn: str | None = None
    ca_bundle: str | None = None
    host: str | None = None
    port: int | None = None
    tls: bool = False
    expected_addresses: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None = None
    maintenance: tuple[Window, ...] = ()
    depends_on: tuple[str, ...] = ()

    @property
    def reads_body(self) -> bool:
        return any(v is not None for v in (self.expected_text, self.unexpected_text, self.regex, self.json_pointer))

    @property
    def address(self) -> str:
        """What is checked, as logs and messages show it (never with credentials)."""
        if self.kind == "tcp":
            host = f"[{self.host}]" if self.host and ":" in self.host else self.host
            return f"{'tls' if self.tls else 'tcp'}://{host}:{self.port}"
        if self.kind == "dns":
            return f"dns:{self.host}"
        return common.clip(f.redact_url(self.url or ""))


TARGET_FIELDS = frozenset(x.name for x in fields(Target))  # what a TARGETS entry may hold
COMMON_FIELDS = frozenset({"name", "kind", "timeout_seconds", "max_latency_ms", "maintenance", "depends_on"})
KIND_FIELDS = {
    "http": COMMON_FIELDS
    | {
        "url",
        "method",
        "headers",
        "body",
        "expected_status",
        "expected_text",
        "unexpected_text",
        "regex",
        "json_pointer",
        "json_equals",
        "min_cert_days",
        "follow_redirects",
        "headers_secret_arn",
        "ca_bundle",
    },
    "tcp": COMMON_FIELDS | {"host", "port", "tls", "min_cert_days", "ca_bundle"},
    "dns": COMMON_FIELDS | {"host", "expected_addresses"},
}


def _name(raw: Mapping[str, Any], where: str) -> str:
    name = raw.get("name")
    if name is None:
        raise f.fail(where, "name is required")
    if not isinstance(name, str) or not f.TARGET_NAME.fullmatch(name):
        shown = repr(f.printable(name)) if isinstance(name, str) else common.clip(name)
        raise f.fail(where, f"name must be 1-64 letters, digits, dots, hyphens or underscores, got {shown}")
    return name


def _depends_on(value: Any, name: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(n, str) and f.TARGET_NAME.fullmatch(n) for n in value):
        raise f.fail(where, f"depends_on must be a list of target names, got {common.clip(value)}")
    if name in value:
        raise f.fail(where, "depends_on must not name the target itself")
    return tuple(dict.fromkeys(value))


def _http(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    if raw.get("url") is None:
        raise f.fail(where, "url is required for http targets (tcp and dns targets take host instead)")
    url = f.parse_url(raw["url"], where)
    https = urlsplit(url).scheme == "https"
    method = raw.get("method", "GET")
    if method not in f.METHODS:
        raise f.fail(where, f"method {common.clip(method)!r} is not one of {', '.join(f.METHODS)} (upper case)")
    body = raw.get("body")
    if body is not None:
        try:
            body = common.require_str(body, f"{where}: body", max_length=65536)
        except common.InputError as exc:
            raise common.ConfigError(str(exc)) from None
    statuses = raw.get("expected_status", [200])
    if isinstance(statuses, int) and not isinstance(statuses, bool):
        statuses = [statuses]
    if (
        not isinstance(statuses, list)
        or not statuses
        or not all(isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in statuses)
    ):
        raise f.fail(
            where, f"expected_status must be a non-empty list of HTTP status codes, got {common.clip(statuses)}"
        )
    expected_text = f.optional_text(raw, "expected_text", where)
    unexpected_text = f.optional_text(raw, "unexpected_text", where)
    pattern = f.regex(f.optional_text(raw, "regex", where), where)
    pointer, equals = f.json_pointer(raw, where)
    if method == "HEAD" and (expected_text or unexpected_text or pattern or pointer is not None):
        raise f.fail(where, "text, regex and JSON checks need a body; HEAD responses have none")
    secret_arn = f.optional_text(raw, "headers_secret_arn", where)
    if secret_arn is not None and not (f.SECRET_ARN.fullmatch(secret_arn) or f.PARAMETER_ARN.fullmatch(secret_arn)):
        raise f.fail(
            where,
            f"headers_secret_arn {common.clip(secret_arn)!r} must be a full Secrets Manager secret ARN "
            "(…:secret:<name>-<6 characters>) or an SSM parameter ARN (…:parameter/<name>)",
        )
    if secret_arn is not None and not https:
        raise f.fail(where, "headers_secret_arn needs an https:// url (secret headers are never sent in clear text)")
    return {
        "url": url,
        "method": method,
        "headers": f.headers(raw.get("headers"), where),
        "body": body,
        "expected_status": tuple(statuses),
        "expected_text": expected_text,
        "unexpected_text": unexpected_text,
        "regex": pattern,
        "json_pointer": pointer,
        "json_equals": equals,
        "follow_redirects": f.optional_bool(raw, "follow_redirects", where, True),
        "headers_secret_arn": secret_arn,
        "ca_bundle": f.ca_bundle(f.optional_text(raw, "ca_bundle", where), where),
        "tls": https,  # for min_cert_days below
    }


def _tcp(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    tls = f.optional_bool(raw, "tls", where, False)
    bundle = f.optional_text(raw, "ca_bundle", where)
    if bundle is not None and not tls:
        raise f.fail(where, "ca_bundle needs tls = true on a tcp target")
    return {"host": f.host(raw, where), "port": f.port(raw, where), "tls": tls, "ca_bundle": f.ca_bundle(bundle, where)}


def _dns(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    expected = raw.get("expected_addresses")
    return {
        "host": f.host(raw, where),
        "expected_addresses": None if expected is None else f.addresses(expected, where),
    }


def parse_target(raw: Any, where: str) -> Target:
    """One TARGETS entry → Target, or ConfigError naming the target and the field."""
    if not isinstance(raw, Mapping):
        raise f.fail(where, f"a target must be a JSON object, got {type(raw).__name__}")
    name = _name(raw, where)
    where = f"target {name!r}"
    unknown = sorted(str(k) for k in set(raw) - TARGET_FIELDS)
    if unknown:
        allowed = ", ".join(sorted(TARGET_FIELDS))
        raise f.fail(where, f"unknown field(s) {f.printable(', '.join(unknown))}; allowed: {allowed}")
    kind = raw.get("kind", "http")
    kind = "http" if kind is None else kind
    if kind not in f.KINDS:
        raise f.fail(where, f"kind {common.clip(kind)!r} is not one of {', '.join(f.KINDS)}")
    foreign = sorted(k for k, v in raw.items() if v is not None and k not in KIND_FIELDS[kind])
    if foreign:
        raise f.fail(where, f"field(s) {', '.join(foreign)} do not apply to {kind} targets")

    parts = {"http": _http, "tcp": _tcp, "dns": _dns}[kind](raw, where)
    min_cert_days = f.optional_number(raw, "min_cert_days", where, 0, f.MAX_CERT_DAYS, whole=True)
    if min_cert_days is not None and not parts.get("tls"):
        raise f.fail(where, "min_cert_days needs an https:// url, or tls = true on a tcp target")
    if kind == "http":
        parts["tls"] = False  # tls is a tcp field; https is in the url
    timeout = f.optional_number(raw, "timeout_seconds", where, 0.1, f.MAX_TIMEOUT_SECONDS)
    return Target(
        name=name,
        kind=kind,
        max_latency_ms=f.optional_number(raw, "max_latency_ms", where, 1, f.MAX_LATENCY_MS),
        min_cert_days=None if min_cert_days is None else int(min_cert_days),
        timeout_seconds=10.0 if timeout is None else timeout,
        maintenance=parse_windows(raw.get("maintenance"), where),
        depends_on=_depends_on(raw.get("depends_on"), name, where),
        **parts,
    )


def check_targets(targets: Iterable[Target]) -> None:
    """Names are unique; dependencies name configured targets and form no cycle (ConfigError otherwise)."""
    targets = list(targets)
    names = [t.name for t in targets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise common.ConfigError(f"TARGETS: duplicate target name(s) {common.clip(', '.join(duplicates))}")
    known = set(names)
    for target in targets:
        unknown = [d for d in target.depends_on if d not in known]
        if unknown:
            raise common.ConfigError(
                f"target {target.name!r}: depends_on names unknown target(s) {common.clip(', '.join(unknown))}"
            )
    graph = {t.name: t.depends_on for t in targets}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in graph:
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            node, index = stack.pop()
            if index == 0:
                if state.get(node) == 2:
                    continue
                if state.get(node) == 1:
                    cycle = [*path[path.index(node) :], node]
                    raise common.ConfigError(f"TARGETS: depends_on forms a cycle: {common.clip(' -> '.join(cycle))}")
                state[node] = 1
                path.append(node)
            if index < len(graph[node]):
                stack.append((node, index + 1))
                stack.append((graph[node][index], 0))
            else:
                state[node] = 2
                path.pop()
