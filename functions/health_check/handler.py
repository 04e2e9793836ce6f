"""Website health checks: every target checked concurrently, one metric set and one log line per target.

Configuration (environment, built once per container):
  TARGETS           JSON list of target objects (see `Target`); when absent, the single-site variables
                    `site` (URL) and `expected` (text) of the original canary blueprint are used.
  METRIC_NAMESPACE  CloudWatch namespace of the Embedded Metric Format lines (default opskit/HealthCheck).
  MAX_WORKERS       Targets checked at the same time (default 32).
  CONNECT_RETRIES   Extra attempts, within the run, when a connection cannot be established (default 1).
  MAX_BODY_BYTES    Body bytes read for the text checks (default 2 MiB); the rest is not downloaded.

Per target the function prints an EMF document (dimension Target; Success, LatencyMs, StatusCode and, for
https, CertDaysRemaining) and logs one line with the reason of a failure. When any target failed it
raises `PartialFailure` after all targets were checked, so the function's Errors metric still reflects
a failed run. A target still running shortly before the invocation's own timeout is reported as timed out
(metrics included) instead of being lost with the whole run. Values of headers read from
`headers_secret_arn` never reach a log line or the result.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import math
import os
import re
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import opskit_common as common
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import DecodeError, NameResolutionError, ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry

LOG = common.get_logger(__name__)
# botocore logs response bodies at DEBUG, and GetSecretValue's body is the headers secret: keep it out of the
# function's log whatever log level is configured.
logging.getLogger("botocore").setLevel(logging.INFO)

USER_AGENT = "opskit-health-check/1.0"
DEFAULT_NAMESPACE = "opskit/HealthCheck"
NAMESPACE = re.compile(r"[A-Za-z0-9 ._/#:-]{1,255}")
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
MAX_LATENCY_MS = 600_000
MAX_CERT_DAYS = 3650
MAX_TIMEOUT_SECONDS = 120
MAX_REDIRECTS = 10
REASON_LIMIT = 300  # characters of one failure reason (logs, results, the PartialFailure message)
MESSAGE_LIMIT = 1500  # characters of the names and reasons listed in the PartialFailure message
DEADLINE_RESERVE_SECONDS = 2.0
TASK_ROOT = Path(__file__).resolve().parent


# --- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    expected_status: tuple[int, ...] = (200,)
    expected_text: str | None = None
    unexpected_text: str | None = None
    regex: re.Pattern[str] | None = None
    max_latency_ms: float | None = None
    min_cert_days: int | None = None
    timeout_seconds: float = 10.0
    follow_redirects: bool = True
    headers_secret_arn: str | None = None
    ca_bundle: str | None = None

    @property
    def reads_body(self) -> bool:
        return any(v is not None for v in (self.expected_text, self.unexpected_text, self.regex))


TARGET_FIELDS = frozenset(f.name for f in fields(Target))  # what a TARGETS entry may hold


def _fail(where: str, message: str) -> common.ConfigError:
    return common.ConfigError(f"{where}: {message}")


def _text(value: Any, where: str, key: str, max_length: int = 4096) -> str:
    """A non-empty string of valid Unicode, at most max_length characters, else ConfigError."""
    try:
        text = common.require_str(value, f"{where}: {key}", max_length=max_length)
    except common.InputError as exc:
        raise common.ConfigError(str(exc)) from None
    if text == "":
        raise _fail(where, f"{key} must not be empty (leave it out instead)")
    return text


def _optional_text(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    return None if value is None else _text(value, where, key)


def _optional_number(
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
        raise _fail(where, f"{key} must be {kind} between {minimum:g} and {maximum:g}, got {common.clip(value)}")
    return float(value)


def _printable(text: str) -> str:
    """Text for a message: non-printable characters (lone surrogates, controls) escaped, length bounded."""
    return common.clip(text.encode("ascii", "backslashreplace").decode("ascii"))


def parse_url(value: Any, where: str) -> str:
    """An absolute http(s) URL with a host, a valid port, no credentials and no spaces or control characters."""
    url = _text(value, where, "url", max_length=2048)
    shown = repr(_printable(redact_url(url)))
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed IPv6 bracket ("http://[::1"), an invalid bracketed host
        raise _fail(where, f"url {shown} is not a valid URL ({common.clip(str(exc))})") from None
    if not url.startswith(("http://", "https://")) or not parts.hostname:
        raise _fail(where, f"url {shown} must be an absolute http:// or https:// URL")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or not HOST_PORT.fullmatch(parts.netloc.rpartition("@")[2]):
        raise _fail(where, f"url {shown} has an invalid port (1-65535)")
    if CONTROL_OR_SPACE.search(url):
        raise _fail(where, f"url {shown} contains spaces or control characters (percent-encode them)")
    if "@" in parts.netloc:
        raise _fail(
            where,
            f"url {shown} must not contain credentials (user:password@); put them into a headers secret "
            "(headers_secret_arn) instead",
        )
    return url


def _header_value_ok(value: str) -> bool:
    """HTTP sends header values as Latin-1; a line break or NUL would end the header early, and requests
    refuses a value that starts with whitespace."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return not any(c in value for c in "\r\n\0") and not value[:1].isspace()


def _headers(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise _fail(where, f"headers must be an object of header name to string value, got {common.clip(value)}")
    bad = [k for k in value if not HEADER_NAME.fullmatch(k)]
    if bad:
        raise _fail(where, f"invalid header name(s) {common.clip(bad)}")
    bad = [k for k, v in value.items() if not _header_value_ok(v)]
    if bad:
        rule = "must be Latin-1 text without line breaks, NUL or leading whitespace"
        raise _fail(where, f"header value(s) of {common.clip(bad)} {rule}")
    secret = [k for k in value if CREDENTIAL_HEADER.search(k)]
    if secret:
        raise _fail(
            where,
            f"headers {common.clip(secret)} look like credentials; TARGETS is readable configuration, so put them "
            "into a headers secret (headers_secret_arn) instead",
        )
    return dict(value)


def _regex(pattern: str | None, where: str) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise _fail(where, f"regex {common.clip(pattern)!r} does not compile: {common.clip(str(exc))}") from None


def _ca_bundle(value: str | None, where: str) -> str | None:
    if value is None:
        return None
    path = Path(value) if os.path.isabs(value) else TASK_ROOT / value
    try:
        found = "\0" not in value and path.is_file()
    except (OSError, ValueError):  # a name too long for the file system
        found = False
    if not found:
        shown = common.clip(value)
        raise _fail(where, f"ca_bundle {shown!r} is not a file (relative paths are read from {TASK_ROOT})")
    return str(path)


def parse_target(raw: Any, where: str) -> Target:
    """One TARGETS entry → Target, or ConfigError naming the target and the field."""
    if not isinstance(raw, Mapping):
        raise _fail(where, f"a target must be a JSON object, got {type(raw).__name__}")
    name = raw.get("name")
    if name is None:
        raise _fail(where, "name is required")
    if not isinstance(name, str) or not TARGET_NAME.fullmatch(name):
        shown = repr(_printable(name)) if isinstance(name, str) else common.clip(name)
        raise _fail(where, f"name must be 1-64 letters, digits, dots, hyphens or underscores, got {shown}")
    where = f"target {name!r}"
    unknown = sorted(str(k) for k in set(raw) - TARGET_FIELDS)
    if unknown:
        allowed = ", ".join(sorted(TARGET_FIELDS))
        raise _fail(where, f"unknown field(s) {_printable(', '.join(unknown))}; allowed: {allowed}")

    if raw.get("url") is None:
        raise _fail(where, "url is required")
    url = parse_url(raw["url"], where)
    https = urlsplit(url).scheme == "https"

    method = raw.get("method", "GET")
    if method not in METHODS:
        raise _fail(where, f"method {common.clip(method)!r} is not one of {', '.join(METHODS)} (upper case)")

    headers = _headers(raw.get("headers"), where)

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
        raise _fail(
            where, f"expected_status must be a non-empty list of HTTP status codes, got {common.clip(statuses)}"
        )

    expected_text = _optional_text(raw, "expected_text", where)
    unexpected_text = _optional_text(raw, "unexpected_text", where)
    regex = _regex(_optional_text(raw, "regex", where), where)
    if method == "HEAD" and (expected_text or unexpected_text or regex):
        raise _fail(where, "text and regex checks need a body; HEAD responses have none")

    max_latency_ms = _optional_number(raw, "max_latency_ms", where, 1, MAX_LATENCY_MS)
    min_cert_days = _optional_number(raw, "min_cert_days", where, 0, MAX_CERT_DAYS, whole=True)
    if min_cert_days is not None and not https:
        raise _fail(where, "min_cert_days needs an https:// url")
    timeout = _optional_number(raw, "timeout_seconds", where, 0.1, MAX_TIMEOUT_SECONDS)

    follow = raw.get("follow_redirects", True)
    if not isinstance(follow, bool):
        raise _fail(where, f"follow_redirects must be true or false, got {common.clip(follow)}")

    secret_arn = _optional_text(raw, "headers_secret_arn", where)
    if secret_arn is not None and not (SECRET_ARN.fullmatch(secret_arn) or PARAMETER_ARN.fullmatch(secret_arn)):
        raise _fail(
            where,
            f"headers_secret_arn {common.clip(secret_arn)!r} must be a full Secrets Manager secret ARN "
            "(…:secret:<name>-<6 characters>) or an SSM parameter ARN (…:parameter/<name>)",
        )
    if secret_arn is not None and not https:
        raise _fail(where, "headers_secret_arn needs an https:// url (secret headers are never sent in clear text)")

    return Target(
        name=name,
        url=url,
        method=method,
        headers=headers,
        body=body,
        expected_status=tuple(statuses),
        expected_text=expected_text,
        unexpected_text=unexpected_text,
        regex=regex,
        max_latency_ms=max_latency_ms,
        min_cert_days=None if min_cert_days is None else int(min_cert_days),
        timeout_seconds=10.0 if timeout is None else timeout,
        follow_redirects=follow,
        headers_secret_arn=secret_arn,
        ca_bundle=_ca_bundle(_optional_text(raw, "ca_bundle", where), where),
    )


def _env_count(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    """A whole number from the environment within [minimum, maximum], the default when unset or empty
    (ConfigError with a clipped value otherwise)."""
    value = int(common.env_match({name: env.get(name) or str(default)}, name, re.compile(r"[0-9]{1,9}")))
    if not minimum <= value <= maximum:
        raise common.ConfigError(f"environment variable {name}={value} must be between {minimum} and {maximum}")
    return value


def _legacy_targets(env: Mapping[str, str]) -> list[dict[str, Any]]:
    """The original blueprint's single-site variables `site` and `expected` as one target."""
    site = env.get("site")
    if not site:
        raise common.ConfigError("TARGETS is not set (nor the single-site variables site/expected)")
    try:
        host = urlsplit(site).hostname or ""
    except ValueError:
        host = ""
    name = host if TARGET_NAME.fullmatch(host) else "site"
    return [{"name": name, "url": site, "expected_text": env.get("expected") or None}]


@dataclass(frozen=True)
class Config:
    targets: tuple[Target, ...]
    namespace: str
    max_workers: int
    connect_retries: int
    max_body_bytes: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        raw = env.get("TARGETS")
        if raw is None or raw.strip() == "":
            raw_targets: Any = _legacy_targets(env)
        else:
            try:
                raw_targets = common.loads_json(raw, "environment variable TARGETS")
            except common.InputError as exc:
                raise common.ConfigError(str(exc)) from None
        if not isinstance(raw_targets, list) or not raw_targets:
            raise common.ConfigError("TARGETS must be a non-empty JSON list of target objects")
        targets = tuple(parse_target(raw, f"TARGETS[{i}]") for i, raw in enumerate(raw_targets))
        names = [t.name for t in targets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise common.ConfigError(f"TARGETS: duplicate target name(s) {common.clip(', '.join(duplicates))}")
        namespace = env.get("METRIC_NAMESPACE") or DEFAULT_NAMESPACE
        if not NAMESPACE.fullmatch(namespace) or namespace.startswith("AWS/"):
            raise common.ConfigError(
                f"environment variable METRIC_NAMESPACE={_printable(namespace)!r} must be 1-255 letters, digits, "
                "spaces or . _ / # : - and must not start with AWS/"
            )
        return cls(
            targets=targets,
            namespace=namespace,
            max_workers=_env_count(env, "MAX_WORKERS", 32, 1, 128),
            connect_retries=_env_count(env, "CONNECT_RETRIES", 1, 0, 3),
            max_body_bytes=_env_count(env, "MAX_BODY_BYTES", 2 * 1024 * 1024, 1024, 64 * 1024 * 1024),
        )


@functools.cache
def config() -> Config:
    return Config.from_env(os.environ)


# --- secrets -----------------------------------------------------------------------------------------


class SecretHeadersError(Exception):
    """The headers secret could not be read or is not a JSON object of header strings."""


def read_secret_headers(arn: str) -> dict[str, str]:
    """Headers from a Secrets Manager secret or an SSM SecureString parameter holding a JSON object.
    Error messages name the ARN and the problem, never the content."""
    try:
        if SECRET_ARN.fullmatch(arn):
            raw = common.client("secretsmanager").get_secret_value(SecretId=arn).get("SecretString")
        else:
            raw = common.client("ssm").get_parameter(Name=arn, WithDecryption=True)["Parameter"]["Value"]
    except Exception as exc:  # botocore ClientError, endpoint errors: the target fails, the others run
        error = getattr(exc, "response", None)
        code = error.get("Error", {}).get("Code") if isinstance(error, dict) else None
        raise SecretHeadersError(
            f"could not read headers secret {arn}: {common.clip(code or type(exc).__name__)}"
        ) from None
    try:
        headers = common.loads_json(raw, "headers secret", max_length=65536)
    except common.InputError:  # its message would quote the content
        raise SecretHeadersError(f"headers secret {arn} is not JSON (or too large or deeply nested)") from None
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise SecretHeadersError(f"headers secret {arn} must be a JSON object of header name to string value")
    for key, value in headers.items():
        if not HEADER_NAME.fullmatch(key) or not _header_value_ok(value):
            raise SecretHeadersError(f"headers secret {arn}: header {_printable(key)!r} has an invalid name or value")
    return headers


def load_secrets(targets: Iterable[Target]) -> dict[str, dict[str, str] | SecretHeadersError]:
    """Each distinct headers_secret_arn read once per run (rotation is picked up on the next run)."""
    loaded: dict[str, dict[str, str] | SecretHeadersError] = {}
    for arn in dict.fromkeys(t.headers_secret_arn for t in targets if t.headers_secret_arn):
        try:
            loaded[arn] = read_secret_headers(arn)
        except SecretHeadersError as exc:
            loaded[arn] = exc
    return loaded


# --- one check ---------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    url: str
    ok: bool = False
    status: int | None = None
    latency_ms: int | None = None
    cert_days: int | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)  # (category, reason)

    @property
    def reason(self) -> str | None:
        return "; ".join(reason for _, reason in self.failures) or None

    @property
    def category(self) -> str | None:
        return self.failures[0][0] if self.failures else None

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "reason": self.reason,
        }


class _DeadlineExceeded(Exception):
    pass


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


def shown_url(url: str) -> str:
    """The URL as it may appear in logs, metrics and results: without credentials, bounded."""
    return common.clip(redact_url(url))


def _url_credential(url: str) -> str:
    try:
        parts = urlsplit(url)
        return parts.password if parts.password is not None else parts.username or ""
    except ValueError:
        return ""


def redact(text: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        if value:
            text = text.replace(value, "***")
    return text


class _Session(requests.Session):
    """requests drops Authorization when a redirect leaves the origin; this drops every secret header."""

    secret_names: tuple[str, ...] = ()

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        super().rebuild_auth(prepared_request, response)
        if self.secret_names and self.should_strip_auth(response.request.url, prepared_request.url):
            for name in self.secret_names:
                prepared_request.headers.pop(name, None)


def _session(connect_retries: int, secret_names: Iterable[str] = ()) -> requests.Session:
    """A session of its own per target and run: no cookies shared between sites, a fresh TLS handshake
    (so the certificate is really inspected) and connection-level retries only (never a second POST)."""
    session = _Session()
    session.secret_names = tuple(secret_names)
    retry = Retry(
        total=connect_retries,
        connect=connect_retries,
        read=False,
        status=0,
        other=0,
        redirect=False,
        backoff_factor=0,
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=1)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.max_redirects = MAX_REDIRECTS
    session.headers["User-Agent"] = USER_AGENT
    return session


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        nxt = getattr(current, "reason", None)  # urllib3 MaxRetryError
        if not isinstance(nxt, BaseException):
            nxt = next((a for a in current.args if isinstance(a, BaseException)), None)
        if nxt is None:
            nxt = current.__cause__ or current.__context__
        if nxt is None:
            break
        current = nxt
    return current


def _classify(exc: requests.RequestException, target: Target) -> tuple[str, str]:
    host = urlsplit(target.url).hostname
    timeout = f"{target.timeout_seconds:g} s"
    if isinstance(exc, requests.ConnectTimeout):
        return "timeout", f"connection to {host} timed out after {timeout}"
    if isinstance(exc, requests.ReadTimeout):
        return "timeout", f"no response within {timeout}"
    if isinstance(exc, requests.TooManyRedirects):
        return "redirect", f"more than {MAX_REDIRECTS} redirects"
    cause = _root_cause(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        detail = getattr(cause, "verify_message", None) or getattr(cause, "reason", None) or str(cause)
        return "tls", f"TLS error: {detail}"
    if isinstance(cause, NameResolutionError) or "Name or service not known" in str(cause):
        return "dns", f"DNS lookup failed for {host}"
    if isinstance(cause, ConnectionRefusedError) or "Connection refused" in str(cause):
        return "connection", f"connection to {host} refused"
    if isinstance(cause, ConnectionResetError):
        return "connection", f"connection to {host} reset"
    if isinstance(exc, requests.ConnectionError):
        return "connection", f"connection to {host} failed: {type(cause).__name__}"
    return "request", f"request failed: {type(exc).__name__}: {exc}"


def _cert_days(response: requests.Response, now: float) -> int | None:
    """Whole days until the served certificate expires, read from the verified peer certificate of the
    connection that answered (before its body is read, while the connection is still attached)."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if not isinstance(sock, ssl.SSLSocket):
        return None
    cert = sock.getpeercert()
    if not cert or "notAfter" not in cert:
        return None
    return int((ssl.cert_time_to_seconds(str(cert["notAfter"])) - now) // 86400)


def _decode(body: bytes, response: requests.Response) -> str:
    """The body as text: the declared charset, else UTF-8, else a detected encoding (requests would
    otherwise assume ISO-8859-1 for text/* without a charset and garble UTF-8 pages)."""
    content_type = response.headers.get("Content-Type", "")
    declared = response.encoding if "charset=" in content_type.lower() else None
    if declared:
        try:
            return body.decode(declared, errors="replace")
        except LookupError:
            pass
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode(response.apparent_encoding or "utf-8", errors="replace")


def check(target: Target, cfg: Config, secret: dict[str, str] | SecretHeadersError | None = None) -> Result:
    """Check one target; never raises (every problem becomes a failure reason)."""
    result = Result(name=target.name, url=shown_url(target.url))
    if isinstance(secret, SecretHeadersError):
        result.failures.append(("secret", common.clip(str(secret), REASON_LIMIT)))
        return result
    secret_headers = secret or {}
    headers = {**target.headers, **secret_headers}

    session = _session(cfg.connect_retries, secret_headers)
    started = time.perf_counter()
    deadline = started + target.timeout_seconds
    text = ""
    try:
        response = session.request(
            target.method,
            target.url,
            headers=headers,
            data=target.body.encode("utf-8") if target.body is not None else None,
            timeout=(target.timeout_seconds, target.timeout_seconds),
            allow_redirects=target.follow_redirects,
            verify=target.ca_bundle or True,
            stream=True,
        )
        with response:
            result.status = response.status_code
            if urlsplit(response.url).scheme == "https":
                result.cert_days = _cert_days(response, time.time())
            chunks: list[bytes] = []
            size = 0
            while target.method != "HEAD" and size < cfg.max_body_bytes:
                # read1 returns what has arrived (decompressed), so a body that trickles in byte by byte
                # still meets the deadline; each wait is bounded by the read timeout.
                chunk = response.raw.read1(65536, decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if time.perf_counter() > deadline:
                    raise _DeadlineExceeded
            if target.reads_body:
                text = _decode(b"".join(chunks)[: cfg.max_body_bytes], response)
        result.latency_ms = round((time.perf_counter() - started) * 1000)
    except _DeadlineExceeded:
        result.failures.append(("timeout", f"body not complete within {target.timeout_seconds:g} s"))
    except requests.RequestException as exc:
        result.failures.append(_classify(exc, target))
    except ReadTimeoutError:  # while reading the body (urllib3 directly)
        result.failures.append(("timeout", f"body stalled for {target.timeout_seconds:g} s"))
    except (ProtocolError, DecodeError) as exc:
        cause = _root_cause(exc)
        result.failures.append(("connection", f"body not received completely: {type(cause).__name__}"))
    except Exception as exc:  # a check must never take the other targets down
        result.failures.append(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        session.close()

    if result.latency_ms is not None:
        _evaluate(target, result, text)
    # Redact first, then clip: a clipped reason could end inside a secret, which would then not be found.
    hidden = [*secret_headers.values(), _url_credential(target.url)]
    result.failures = [(c, common.clip(redact(r, hidden), REASON_LIMIT)) for c, r in result.failures]
    result.ok = not result.failures
    return result


def _evaluate(target: Target, result: Result, text: str) -> None:
    if result.status not in target.expected_status:
        wanted = ", ".join(str(s) for s in target.expected_status)
        result.failures.append(("status", f"status {result.status} not in [{wanted}]"))
    if target.expected_text is not None and target.expected_text not in text:
        result.failures.append(("text", f"expected text {common.clip(target.expected_text)!r} not found"))
    if target.unexpected_text is not None and target.unexpected_text in text:
        result.failures.append(("text", f"unexpected text {common.clip(target.unexpected_text)!r} found"))
    if target.regex is not None and not target.regex.search(text):
        result.failures.append(("regex", f"regex {common.clip(target.regex.pattern)!r} did not match"))
    if (
        target.max_latency_ms is not None
        and result.latency_ms is not None
        and result.latency_ms > target.max_latency_ms
    ):
        result.failures.append(("latency", f"latency {result.latency_ms} ms over {target.max_latency_ms:g} ms"))
    if target.min_cert_days is not None:
        if result.cert_days is None:
            result.failures.append(("certificate", "certificate expiry could not be read"))
        elif result.cert_days < target.min_cert_days:
            result.failures.append(
                ("certificate", f"certificate expires in {result.cert_days} days (minimum {target.min_cert_days})")
            )


# --- reporting ---------------------------------------------------------------------------------------


def report(result: Result, cfg: Config) -> None:
    """One EMF document and one structured log line for a target."""
    metrics: dict[str, tuple[float, str]] = {"Success": (1 if result.ok else 0, "Count")}
    if result.latency_ms is not None:
        metrics["LatencyMs"] = (result.latency_ms, "Milliseconds")
    if result.status is not None:
        metrics["StatusCode"] = (result.status, "None")
    if result.cert_days is not None:
        metrics["CertDaysRemaining"] = (result.cert_days, "None")
    common.emit_metrics(cfg.namespace, {"Target": result.name}, metrics, properties={"Url": result.url})
    fields = {
        "target": result.name,
        "url": result.url,
        "ok": result.ok,
        "status": result.status,
        "latency_ms": result.latency_ms,
        "cert_days_remaining": result.cert_days,
        "failure": result.category,
        "reason": result.reason,
    }
    if result.ok:
        LOG.info("health check passed: %s", result.name, extra=fields)
    else:
        LOG.warning("health check failed: %s: %s", result.name, result.reason, extra=fields)


def select_targets(event: Any, cfg: Config) -> tuple[Target, ...]:
    """All targets, or the subset named by {"targets": [...]} in a manual invocation."""
    if not isinstance(event, Mapping) or "targets" not in event:
        return cfg.targets
    names = event["targets"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise common.InputError(f'"targets" must be a non-empty list of target names, got {common.clip(names)}')
    known = {t.name for t in cfg.targets}
    unknown = [n for n in names if n not in known]
    if unknown:
        configured = common.clip(", ".join(sorted(known)))
        raise common.InputError(f"unknown target(s) {_printable(', '.join(unknown))}; configured: {configured}")
    return tuple(t for t in cfg.targets if t.name in names)


def run_checks(targets: tuple[Target, ...], cfg: Config, deadline: float | None = None) -> list[Result]:
    """Check every target concurrently; report each as soon as it finishes; results in config order.

    `deadline` (time.monotonic()) is when the run must stop waiting: targets still running then are reported
    as timed out, so their metrics are written before Lambda ends the invocation (which would write none)."""
    secrets = load_secrets(targets)
    by_name: dict[str, Result] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(cfg.max_workers, len(targets)))
    futures = [
        pool.submit(check, t, cfg, secrets.get(t.headers_secret_arn) if t.headers_secret_arn else None) for t in targets
    ]
    wait = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        for future in concurrent.futures.as_completed(futures, timeout=wait):
            result = future.result()
            report(result, cfg)
            by_name[result.name] = result
    except concurrent.futures.TimeoutError:
        for target in targets:
            if target.name not in by_name:
                result = Result(name=target.name, url=shown_url(target.url))
                result.failures.append(
                    ("timeout", "check still running when the function had to report (raise the function timeout)")
                )
                report(result, cfg)
                by_name[target.name] = result
    finally:
        # Never wait for a check that overran: its thread ends with its own socket timeouts.
        pool.shutdown(wait=False, cancel_futures=True)
    return [by_name[t.name] for t in targets]


def run_deadline(context: Any) -> float | None:
    """When to stop waiting for checks: the invocation's remaining time minus a reserve for reporting
    (2 s, or a fifth of a shorter remaining time). None outside Lambda (no context)."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return None
    remaining = remaining_ms() / 1000
    return time.monotonic() + remaining - min(DEADLINE_RESERVE_SECONDS, remaining / 5)


def handler(event: Any, context: Any) -> dict[str, Any]:
    deadline = run_deadline(context)
    cfg = config()
    targets = select_targets(event, cfg)
    results = run_checks(targets, cfg, deadline)
    failed = [r for r in results if not r.ok]
    outcome = {"results": [r.public() for r in results], "failed": len(failed)}
    LOG.info("health check run finished", extra={"checked": len(results), "failed": len(failed)})
    if failed:
        names = common.clip(", ".join(f"{r.name} ({r.reason})" for r in failed), MESSAGE_LIMIT)
        raise common.PartialFailure(f"{len(failed)} of {len(results)} health checks failed: {names}", outcome)
    return outcome
