"""The tcp and dns checks. tcp: a connection to host:port within timeout_seconds (connection failures retried
connect_retries times), optionally a TLS handshake verified against the public roots (certifi) or the target's
ca_bundle, with the certificate's days left. dns: the name resolves (A and AAAA) within timeout_seconds and,
with expected_addresses, every address it resolves to lies within that set. Never raise."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from typing import Any

import certifi
import opskit_common as common
from hc_config import Config
from hc_results import REASON_LIMIT, Result
from hc_targets import Target


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _tls_context(target: Target) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=target.ca_bundle or certifi.where())


def _cert_days(sock: ssl.SSLSocket, now: float) -> int | None:
    cert = sock.getpeercert()
    if not cert or "notAfter" not in cert:
        return None
    return int((ssl.cert_time_to_seconds(str(cert["notAfter"])) - now) // 86400)


def _connect(target: Target, retries: int) -> tuple[socket.socket | None, tuple[str, str] | None]:
    """A connected socket, or the reason none could be made (after `retries` more attempts)."""
    where = f"{target.host}:{target.port}"
    problem: tuple[str, str] = ("connection", f"connection to {where} failed")
    for _ in range(retries + 1):
        try:
            return socket.create_connection((target.host, target.port), timeout=target.timeout_seconds), None
        except socket.gaierror:
            problem = ("dns", f"DNS lookup failed for {target.host}")
        except ConnectionRefusedError:
            problem = ("connection", f"connection to {where} refused")
        except TimeoutError:
            problem = ("timeout", f"connection to {where} timed out after {_seconds(target.timeout_seconds)}")
        except OSError as exc:
            problem = ("connection", f"connection to {where} failed: {type(exc).__name__}")
    return None, problem


def check_tcp(target: Target, cfg: Config) -> Result:
    result = Result(name=target.name, url=target.address)
    started = time.perf_counter()
    sock, problem = _connect(target, cfg.connect_retries)
    if sock is None:
        result.failures.append(problem or ("connection", "no connection"))
        return result
    try:
        if target.tls:
            remaining = max(0.05, target.timeout_seconds - (time.perf_counter() - started))
            sock.settimeout(remaining)
            wrapped = _tls_context(target).wrap_socket(sock, server_hostname=target.host)
            sock = wrapped
            result.cert_days = _cert_days(wrapped, time.time())
        result.latency_ms = round((time.perf_counter() - started) * 1000)
    except ssl.SSLCertVerificationError as exc:
        result.failures.append(("tls", f"TLS error: {exc.verify_message or exc.reason}"))
    except ssl.SSLError as exc:
        result.failures.append(("tls", f"TLS error: {exc.reason or type(exc).__name__}"))
    except TimeoutError:
        result.failures.append(("timeout", f"TLS handshake not complete within {_seconds(target.timeout_seconds)}"))
    except OSError as exc:
        result.failures.append(("connection", f"connection closed during the TLS handshake: {type(exc).__name__}"))
    finally:
        sock.close()
    if result.latency_ms is not None:
        result.check_limits(target.max_latency_ms, target.min_cert_days)
    result.failures = [(c, common.clip(r, REASON_LIMIT)) for c, r in result.failures]
    result.ok = not result.failures
    return result


def _lookup(host: str, timeout: float) -> list[Any]:
    """getaddrinfo, bounded by `timeout` (a lookup still running then is left to finish on its own thread)."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["answer"] = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except Exception as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=work, daemon=True, name=f"dns-{host}")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError
    if "error" in box:
        raise box["error"]
    return list(box["answer"])


def _address(info: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(str(info[4][0]).partition("%")[0])
    except (ValueError, IndexError, TypeError):
        return None


def check_dns(target: Target, cfg: Config) -> Result:
    host = target.host or ""
    result = Result(name=target.name, url=target.address)
    started = time.perf_counter()
    answer: list[Any] | None = None
    for _ in range(cfg.connect_retries + 1):
        try:
            answer = _lookup(host, target.timeout_seconds)
            break
        except TimeoutError:
            result.failures = [
                ("timeout", f"DNS lookup for {host} took longer than {_seconds(target.timeout_seconds)}")
            ]
        except socket.gaierror as exc:
            result.failures = [("dns", f"DNS lookup failed for {host}: {exc.strerror or type(exc).__name__}")]
        except Exception as exc:  # UnicodeError for odd names, OSError: a check never takes the run down
            result.failures = [("dns", f"DNS lookup failed for {host}: {type(exc).__name__}")]
    if answer is not None:
        result.failures = []
        result.latency_ms = round((time.perf_counter() - started) * 1000)
        found = sorted({a for a in map(_address, answer) if a is not None}, key=lambda a: (a.version, int(a)))
        if not found:
            result.failures.append(("dns", f"{host} resolved to no address"))
        elif target.expected_addresses is not None:
            outside = [a for a in found if not any(a in net for net in target.expected_addresses)]
            if outside:
                wanted = ", ".join(str(n) for n in target.expected_addresses)
                shown = ", ".join(str(a) for a in outside)
                result.failures.append(("dns", f"{host} resolved to {shown}, outside the expected {wanted}"))
        result.check_limits(target.max_latency_ms, target.min_cert_days)
    result.failures = [(c, common.clip(r, REASON_LIMIT)) for c, r in result.failures]
    result.ok = not result.failures
    return result
