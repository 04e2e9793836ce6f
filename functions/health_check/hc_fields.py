"""Field-level rules of a TARGETS entry: each parser returns the value or raises ConfigError naming the target and
the field. modules/health-check/variables.tf applies the same rules at plan time (the patterns below are spelled
the same there; tests/test_health_check_terraform.py holds a table of values both sides must judge alike).
"""

from __future__ import annotations

import decimal
import ipaddress
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import opskit_common as common

KINDS = ("http", "tcp", "dns")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SECRET_ARN = common.arn_pattern("secretsmanager", r"secret:.+-[A-Za-z0-9]{6}")
PARAMETER_ARN = common.arn_pattern("ssm", r"parameter/.+")
# Target names become the metric dimension Target and part of an alarm name (the map keys in variables.tf).
TARGET_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Headers that carry credentials never go into TARGETS: the Lambda environment is readable with
# lambda:GetFunctionConfiguration and sits in the Terraform state. They belong in headers_secret_arn.
# variables.tf refuses the same names with the same pattern (searched, case-insensitive).
CREDENTIAL_HEADER = re.compile(r"(?i)^(proxy-)?authorization$|^cookie$|token|secret|passw|api[-_]?key|credential")
CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
HOST_PORT = re.compile(r"(?:\[[^\]]*\]|[^:\[\]]*)(?::[1-9][0-9]{0,4})?")  # no empty port, no leading zero
# tcp/dns hosts: DNS names (labels of letters, digits, hyphens and underscores, an optional final dot) or, for
# tcp, an IPv6 literal without brackets. IPv4 literals are names of this shape too.
HOSTNAME = re.compile(
    r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)
# IPv4 in expected_addresses: no leading zeros (Python refuses them; Terraform's cidrhost would read them).
IPV4_OR_CIDR = re.compile(
    r"((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    r"(/([0-9]|[12][0-9]|3[0-2]))?"
)
IPV6 = re.compile(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]*")  # hex groups only (no embedded IPv4, no zone)
IPV6_OR_CIDR = re.compile(IPV6.pattern + r"(/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8]))?")
JSON_POINTER = re.compile(r"(/([^~/]|~[01])*)*")  # RFC 6901: "" is the whole document
MAX_LATENCY_MS = 600_000
MAX_CERT_DAYS = 3650
MAX_TIMEOUT_SECONDS = 120
MAX_HOST_LENGTH = 253
MAX_ADDRESSES = 32
TASK_ROOT = Path(__file__).resolve().parent


def fail(where: str, message: str) -> common.ConfigError:
    return common.ConfigError(f"{where}: {message}")


def printable(text: str) -> str:
    """Text for a message: non-printable characters (lone surrogates, controls) escaped, length bounded."""
    return common.clip(text.encode("ascii", "backslashreplace").decode("ascii"))


def text(value: Any, where: str, key: str, max_length: int = 4096) -> str:
    """A non-empty string of valid Unicode, at most max_length characters, else ConfigError."""
    try:
        result = common.require_str(value, f"{where}: {key}", max_length=max_length)
    except common.InputError as exc:
        raise common.ConfigError(str(exc)) from None
    if result == "":
        raise fail(where, f"{key} must not be empty (leave it out instead)")
    return result


def optional_text(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    return None if value is None else text(value, where, key)


def optional_number(
    raw: Mapping[str, Any], key: str, where: str, minimum: float, maximum: float, whole: bool = False
) -> float | None:
    """A finite JSON number in [minimum, maximum] (NaN and Infinity, which json accepts, are refused)."""
    value = raw.get(key)
    if value is None:
        return None
    kind = "a whole number" if whole else "a number"
    valid = not isinstance(value, bool) and isinstance(value, int | float)
    # ints first: a huge int is in range or not without the float conversion that isfinite() would overflow in
    valid = valid and (isinstance(value, int) or math.isfinite(value)) and minimum <= value <= maximum
    if not valid or (whole and value != int(value)):
        raise fail(where, f"{key} must be {kind} between {minimum:g} and {maximum:g}, got {common.clip(value)}")
    return float(value)


def optional_bool(raw: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = raw.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise fail(where, f"{key} must be true or false, got {common.clip(value)}")
    return value


def redact_url(url: str) -> str:
    """The URL without the credential in its user-info part: user:password → user:***, a lone token → ***.
    Text only (no URL parsing), so it works on URLs that do not parse."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    userinfo, at, host = rest[:end].rpartition("@")
    if not at:
        return url
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{f'{user}:***' if colon else '***'}@{host}{rest[end:]}"


def parse_url(value: Any, where: str) -> str:
    """An absolute http(s) URL with a host, a valid port, no credentials and no spaces or control characters."""
    url = text(value, where, "url", max_length=2048)
    shown = repr(printable(redact_url(url)))
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed IPv6 bracket ("http://[::1"), an invalid bracketed host
        raise fail(where, f"url {shown} is not a valid URL ({common.clip(str(exc))})") from None
    if not url.startswith(("http://", "https://")) or not parts.hostname:
        raise fail(where, f"url {shown} must be an absolute http:// or https:// URL")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or not HOST_PORT.fullmatch(parts.netloc.rpartition("@")[2]):
        raise fail(where, f"url {shown} has an invalid port (1-65535)")
    if CONTROL_OR_SPACE.search(url):
        raise fail(where, f"url {shown} contains spaces or control characters (percent-encode them)")
    if "@" in parts.netloc:
        raise fail(
            where,
            f"url {shown} must not contain credentials (user:password@); put them into a headers secret "
            "(headers_secret_arn) instead",
        )
    return url


def header_value_ok(value: str) -> bool:
    """HTTP sends header values as Latin-1; a line break or NUL would end the header early, and requests
    refuses a value that starts with whitespace."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return not any(c in value for c in "\r\n\0") and not value[:1].isspace()


def headers(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise fail(where, f"headers must be an object of header name to string value, got {common.clip(value)}")
    bad = [k for k in value if not HEADER_NAME.fullmatch(k)]
    if bad:
        raise fail(where, f"invalid header name(s) {common.clip(bad)}")
    bad = [k for k, v in value.items() if not header_value_ok(v)]
    if bad:
        rule = "must be Latin-1 text without line breaks, NUL or leading whitespace"
        raise fail(where, f"header value(s) of {common.clip(bad)} {rule}")
    secret = [k for k in value if CREDENTIAL_HEADER.search(k)]
    if secret:
        raise fail(
            where,
            f"headers {common.clip(secret)} look like credentials; TARGETS is readable configuration, so put them "
            "into a headers secret (headers_secret_arn) instead",
        )
    return dict(value)


def regex(pattern: str | None, where: str) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise fail(where, f"regex {common.clip(pattern)!r} does not compile: {common.clip(str(exc))}") from None


def ca_bundle(value: str | None, where: str) -> str | None:
    if value is None:
        return None
    path = Path(value) if os.path.isabs(value) else TASK_ROOT / value
    try:
        found = "\0" not in value and path.is_file()
    except (OSError, ValueError):  # a name too long for the file system
        found = False
    if not found:
        shown = common.clip(value)
        raise fail(where, f"ca_bundle {shown!r} is not a file (relative paths are read from {TASK_ROOT})")
    return str(path)


def ipv6_literal(value: str) -> bool:
    """An IPv6 address of hex groups, without brackets, prefix, zone or embedded IPv4."""
    if not IPV6.fullmatch(value):
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def host(raw: Mapping[str, Any], where: str) -> str:
    value = raw.get("host")
    if value is None:
        raise fail(where, "host is required for tcp and dns targets")
    name = text(value, where, "host", max_length=MAX_HOST_LENGTH)
    if not (HOSTNAME.fullmatch(name) or ipv6_literal(name)):
        raise fail(
            where,
            f"host {printable(name)!r} must be a DNS name (letters, digits, hyphens, underscores, dots; at most "
            f"{MAX_HOST_LENGTH} characters) or an IPv6 address without brackets",
        )
    return name


def port(raw: Mapping[str, Any], where: str) -> int:
    value = optional_number(raw, "port", where, 1, 65535, whole=True)
    if value is None:
        raise fail(where, "port is required for tcp targets")
    return int(value)


def addresses(value: Any, where: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """expected_addresses: IP addresses or CIDR blocks (a host's bits in a CIDR are ignored)."""
    if not isinstance(value, list) or not value or len(value) > MAX_ADDRESSES:
        raise fail(where, f"expected_addresses must be a list of 1-{MAX_ADDRESSES} addresses, got {common.clip(value)}")
    networks = []
    for entry in value:
        valid = isinstance(entry, str) and (IPV4_OR_CIDR.fullmatch(entry) or IPV6_OR_CIDR.fullmatch(entry))
        try:
            if not valid:
                raise ValueError
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise fail(
                where, f"expected_addresses entry {common.clip(entry)!r} is not an IP address or CIDR block"
            ) from None
    return tuple(networks)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_value(text_value: str) -> Any:
    """JSON with exact numbers (Decimal, so 1e400 stays a number as in Terraform's jsondecode) and without the
    NaN/Infinity extension; ValueError/RecursionError otherwise."""
    return json.loads(text_value, parse_float=decimal.Decimal, parse_constant=_no_constant)


def json_pointer(raw: Mapping[str, Any], where: str) -> tuple[tuple[str, ...] | None, Any]:
    """(pointer tokens, expected value) from json_pointer and json_equals (JSON text), or (None, None)."""
    pointer, equals = raw.get("json_pointer"), raw.get("json_equals")
    if pointer is None and equals is None:
        return None, None
    if pointer is None or equals is None:
        raise fail(where, "json_pointer and json_equals go together (the value the pointed-to JSON must equal)")
    try:
        pointer = common.require_str(pointer, f"{where}: json_pointer", max_length=1024)
    except common.InputError as exc:
        raise common.ConfigError(str(exc)) from None
    if not JSON_POINTER.fullmatch(pointer):
        raise fail(
            where,
            f'json_pointer {printable(pointer)!r} is not an RFC 6901 JSON Pointer ("" or /a/0/b; ~0 is ~, ~1 is /)',
        )
    equals = text(equals, where, "json_equals", max_length=4096)
    try:
        expected = json_value(equals)
    except (ValueError, RecursionError):
        raise fail(where, f"json_equals {printable(equals)!r} is not JSON (write it with jsonencode())") from None
    if common.json_depth(expected) > common.MAX_JSON_DEPTH:
        raise fail(where, f"json_equals is nested deeper than {common.MAX_JSON_DEPTH} levels")
    tokens = tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:])
    return tokens, expected
