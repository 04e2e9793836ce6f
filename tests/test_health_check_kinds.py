"""health_check beyond http: tcp targets against real listeners on 127.0.0.1 (plain, and TLS with a trustme CA as
the target's ca_bundle), dns targets against a patched resolver (socket.getaddrinfo replaced by a table), and
the JSON-pointer assertion of http targets against a real HTTP server.
"""

# The fixtures come from test_health_check_support: imported once, then named as test parameters.
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme
from test_health_check_support import Route, Server, by_name, ca, ca_file, emf_lines, http, run  # noqa: F401

# --- tcp ---------------------------------------------------------------------------------------------------


class Listener:
    """A TCP listener that accepts connections; with `tls`, it completes a TLS handshake (or, with `mute`, never
    answers the client's hello)."""

    def __init__(self, tls: ssl.SSLContext | None = None, mute: bool = False):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = threading.Event()
        self.tls, self.mute = tls, mute
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.mute:
                self.stop.wait(5)
            elif self.tls is not None:
                conn.settimeout(5)
                with self.tls.wrap_socket(conn, server_side=True) as wrapped:
                    wrapped.recv(1)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Callable[..., Listener]]:
    made: list[Listener] = []

    def make(**kwargs: Any) -> Listener:
        made.append(Listener(**kwargs))
        return made[-1]

    yield make
    for item in made:
        item.close()


def _tls(ca: trustme.CA, days: int, names: tuple[str, ...] = ("127.0.0.1", "localhost")) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names, not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=days, hours=1)).configure_cert(context)
    return context


def _free_port() -> int:
    with socket.socket() as sock:  # free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_tcp_connects_and_reports_latency(
    listener: Callable[..., Listener], run: Callable[..., dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    open_port = listener()
    closed = _free_port()
    outcome = run(
        [
            {"name": "db", "kind": "tcp", "host": "127.0.0.1", "port": open_port.port, "max_latency_ms": 5000},
            {"name": "gone", "kind": "tcp", "host": "127.0.0.1", "port": closed, "timeout_seconds": 2},
        ]
    )
    results = by_name(outcome)
    assert results["db"]["ok"] is True and results["db"]["latency_ms"] is not None and results["db"]["status"] is None
    assert results["gone"]["reason"] == f"connection to 127.0.0.1:{closed} refused"
    assert outcome["raised"] == f"1 of 2 health checks failed: gone (connection to 127.0.0.1:{closed} refused)"
    emf = emf_lines(capsys.readouterr().out)
    assert (emf["db"]["Success"], emf["db"]["Failed"], emf["gone"]["Failed"]) == (1, 0, 1)
    assert "StatusCode" not in emf["db"] and emf["db"]["Url"] == f"tcp://127.0.0.1:{open_port.port}"


def test_tcp_connection_failures_are_retried(
    run: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[tuple[str, int]] = []
    real = socket.create_connection

    def counting(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        attempts.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", counting)
    port = _free_port()
    outcome = run([{"name": "db", "kind": "tcp", "host": "127.0.0.1", "port": port}], CONNECT_RETRIES="2")
    assert attempts == [("127.0.0.1", port)] * 3
    assert by_name(outcome)["db"]["reason"] == f"connection to 127.0.0.1:{port} refused"


def test_tcp_with_tls_reads_the_certificate(
    ca: trustme.CA, ca_file: str, listener: Callable[..., Listener], run: Callable[..., dict[str, Any]]
) -> None:
    secure = listener(tls=_tls(ca, days=20))
    wrong_name = listener(tls=_tls(ca, days=90, names=("smtp.example.com",)))
    mute = listener(mute=True)
    target = {"kind": "tcp", "host": "127.0.0.1", "tls": True, "ca_bundle": ca_file, "timeout_seconds": 2}
    outcome = run(
        [
            {"name": "enough", "port": secure.port, "min_cert_days": 14, **target},
            {"name": "too-few", "port": secure.port, "min_cert_days": 30, **target},
            {"name": "public-roots", "kind": "tcp", "host": "127.0.0.1", "port": secure.port, "tls": True},
            {"name": "wrong-name", "port": wrong_name.port, **target},
            {"name": "mute", "port": mute.port, **target, "timeout_seconds": 0.3},
        ]
    )
    results = by_name(outcome)
    assert results["enough"]["ok"] is True
    assert results["too-few"]["reason"] == "certificate expires in 20 days (minimum 30)"
    assert results["public-roots"]["reason"].startswith("TLS error: ")
    assert "certificate is not valid for '127.0.0.1'" in results["wrong-name"]["reason"]
    assert results["mute"]["reason"] == "TLS handshake not complete within 0.3 s"


def test_tcp_name_that_does_not_resolve(run: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_name(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    outcome = run([{"name": "db", "kind": "tcp", "host": "db.internal", "port": 5432}])
    assert by_name(outcome)["db"]["reason"] == "DNS lookup failed for db.internal"


# --- dns -----------------------------------------------------------------------------------------------------


class Resolver:
    """A patched resolver: `answer(name, *responses)`; each lookup takes the next response (the last one
    repeats): a list of addresses, an exception to raise, or ("slow", seconds, addresses)."""

    def __init__(self) -> None:
        self.responses: dict[str, list[Any]] = {}
        self.calls: list[str] = []

    def answer(self, host: str, *responses: Any) -> None:
        self.responses[host] = list(responses)

    def getaddrinfo(self, host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        self.calls.append(host)
        queue = self.responses.get(host, [socket.gaierror(socket.EAI_NONAME, "Name or service not known")])
        response = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(response, BaseException):
            raise response
        if isinstance(response, tuple):
            threading.Event().wait(response[1])
            response = response[2]
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, 0, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0))
            for a in response
        ]


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    stub = Resolver()
    monkeypatch.setattr(socket, "getaddrinfo", stub.getaddrinfo)
    return stub


def test_dns_resolves_within_the_expected_set(resolver: Resolver, run: Callable[..., dict[str, Any]]) -> None:
    resolver.answer("api.example.com", ["192.0.2.10", "192.0.2.11", "2001:db8::10"])
    resolver.answer("moved.example.com", ["198.51.100.7", "192.0.2.10"])
    resolver.answer("any.example.com", ["203.0.113.5"])
    expected = ["192.0.2.0/24", "2001:db8::/32"]
    outcome = run(
        [
            {"name": "api", "kind": "dns", "host": "api.example.com", "expected_addresses": expected},
            {"name": "exact", "kind": "dns", "host": "any.example.com", "expected_addresses": ["203.0.113.5"]},
            {"name": "moved", "kind": "dns", "host": "moved.example.com", "expected_addresses": expected},
            {"name": "resolves", "kind": "dns", "host": "any.example.com"},
            {"name": "missing", "kind": "dns", "host": "nope.example.com"},
        ]
    )
    results = by_name(outcome)
    assert [results[n]["ok"] for n in ("api", "exact", "resolves")] == [True, True, True]
    assert results["moved"]["reason"] == (
        "moved.example.com resolved to 198.51.100.7, outside the expected 192.0.2.0/24, 2001:db8::/32"
    )
    assert results["missing"]["reason"] == "DNS lookup failed for nope.example.com: Name or service not known"


def test_dns_lookups_are_bounded_and_retried(resolver: Resolver, run: Callable[..., dict[str, Any]]) -> None:
    """A lookup hanging past timeout_seconds fails the target; a transient failure is tried again
    (CONNECT_RETRIES), and the answer of the second attempt passes."""
    resolver.answer("slow.example.com", ("slow", 2.0, ["192.0.2.1"]))
    resolver.answer(
        "flaky.example.com", socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), ["192.0.2.2"]
    )
    outcome = run(
        [
            {"name": "slow", "kind": "dns", "host": "slow.example.com", "timeout_seconds": 0.3},
            {"name": "flaky", "kind": "dns", "host": "flaky.example.com"},
        ],
        CONNECT_RETRIES="1",
    )
    results = by_name(outcome)
    assert results["slow"]["reason"] == "DNS lookup for slow.example.com took longer than 0.3 s"
    assert results["flaky"]["ok"] is True
    assert resolver.calls.count("flaky.example.com") == 2


# --- JSON pointer ----------------------------------------------------------------------------------------------

DOCUMENT = b'{"status": {"db/primary": "up", "a~b": false}, "items": [1, 2.0, true, {"x": null}], "count": 3}'


def test_json_pointer_assertions(http: Server, run: Callable[..., dict[str, Any]]) -> None:
    http.routes["/health.json"] = Route(body=DOCUMENT, headers={"Content-Type": "application/json"})
    http.routes["/not-json"] = Route(body=b"<html>oops</html>", headers={"Content-Type": "text/html"})
    url = http.url("/health.json")
    cases = {
        "db-up": ("/status/db~1primary", '"up"'),
        "escaped-tilde": ("/status/a~0b", "false"),
        "float-equals-int": ("/items/1", "2"),
        "object": ("/items/3", '{"x": null}'),
        "whole": ("", DOCUMENT.decode()),
        "true-is-not-1": ("/items/2", "1"),
        "wrong-value": ("/status/db~1primary", '"down"'),
        "missing": ("/status/cache", '"up"'),
        "leading-zero": ("/items/01", "2"),
        "past-the-end": ("/items/-", "1"),
    }
    targets = [{"name": n, "url": url, "json_pointer": p, "json_equals": v} for n, (p, v) in cases.items()]
    targets.append({"name": "not-json", "url": http.url("/not-json"), "json_pointer": "/a", "json_equals": "1"})
    results = by_name(run(targets))
    assert [n for n, r in results.items() if r["ok"]] == [
        "db-up",
        "escaped-tilde",
        "float-equals-int",
        "object",
        "whole",
    ]
    assert results["true-is-not-1"]["reason"] == "JSON pointer '/items/2' is true, expected 1"
    assert results["wrong-value"]["reason"] == 'JSON pointer \'/status/db~1primary\' is "up", expected "down"'
    assert results["missing"]["reason"] == "JSON pointer '/status/cache' not found"
    assert results["leading-zero"]["reason"] == "JSON pointer '/items/01' not found"
    assert results["past-the-end"]["reason"] == "JSON pointer '/items/-' not found"
    assert results["not-json"]["reason"] == "body is not JSON (JSON pointer '/a')"
