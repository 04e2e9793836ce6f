"""The http check: one request (connection-level retries only, never a second POST), the body read within the
target's deadline, then the status, text, regex, JSON-pointer, latency and certificate checks. Never raises:
every problem becomes a failure reason (secrets and URL credentials redacted, bounded)."""

from __future__ import annotations

import decimal
import json
import ssl
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import opskit_common as common
import requests
from hc_config import Config
from hc_fields import json_value, redact_url
from hc_results import REASON_LIMIT, Result
from hc_secrets import SecretHeadersError
from hc_targets import Target
from requests.adapters import HTTPAdapter
from urllib3.exceptions import DecodeError, NameResolutionError, ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry

USER_AGENT = "opskit-health-check/1.0"
MAX_REDIRECTS = 10


class _DeadlineExceeded(Exception):
    pass


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
    host = urlsplit(target.url or "").hostname
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


def check_http(target: Target, cfg: Config, secret: dict[str, str] | SecretHeadersError | None = None) -> Result:
    """Check one http target; never raises (every problem becomes a failure reason)."""
    url = target.url or ""
    result = Result(name=target.name, url=shown_url(url))
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
            url,
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
    hidden = [*secret_headers.values(), _url_credential(url)]
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
    if target.json_pointer is not None:
        problem = json_mismatch(text, target.json_pointer, target.json_equals)
        if problem:
            result.failures.append(("json", problem))
    result.check_limits(target.max_latency_ms, target.min_cert_days)


_MISSING = object()


def _same(actual: Any, expected: Any) -> bool:
    """JSON equality: true is not 1, 1 equals 1.0, objects compare key by key, arrays in order."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and actual == expected
    if isinstance(expected, int | decimal.Decimal) and isinstance(actual, int | decimal.Decimal):
        return decimal.Decimal(actual) == decimal.Decimal(expected)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(_same(actual[k], expected[k]) for k in expected)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(actual) == len(expected) and all(_same(a, e) for a, e in zip(actual, expected, strict=True))
    return type(actual) is type(expected) and actual == expected


def resolve(document: Any, tokens: tuple[str, ...]) -> Any:
    """RFC 6901: the value the pointer's tokens lead to, or _MISSING. Array indices are 0 or digits without a
    leading zero; "-" (past the end) never exists."""
    value = document
    for token in tokens:
        if isinstance(value, dict):
            if token not in value:
                return _MISSING
            value = value[token]
        elif isinstance(value, list):
            if not (token == "0" or (token[:1] in "123456789" and token.isdigit() and token.isascii())):
                return _MISSING
            index = int(token) if len(token) <= 10 else len(value)
            if index >= len(value):
                return _MISSING
            value = value[index]
        else:
            return _MISSING
    return value


def _pointer(tokens: tuple[str, ...]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def json_mismatch(text: str, tokens: tuple[str, ...], expected: Any) -> str | None:
    """Why the body's JSON does not hold `expected` at the pointer, or None when it does."""
    shown = repr(common.clip(_pointer(tokens), 100))
    try:
        document = json_value(text)
    except (ValueError, RecursionError):
        return f"body is not JSON (JSON pointer {shown})"
    found = resolve(document, tokens)
    if found is _MISSING:
        return f"JSON pointer {shown} not found"
    if _same(found, expected):
        return None
    try:
        actual = common.clip(json_text(found), 100)
    except (ValueError, RecursionError):
        actual = "a value"
    return f"JSON pointer {shown} is {actual}, expected {common.clip(json_text(expected), 100)}"


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 10**15 else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def json_text(value: Any) -> str:
    """A decoded JSON value (with Decimal numbers) as compact JSON text for a message."""
    return json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"))
