"""Shared by the test_health_check*.py files (no tests of its own): routable HTTP(S) servers on 127.0.0.1
(http.server + threads, a trustme CA), and `run`, which invokes the handler with a TARGETS list.

TLS: the handler trusts a private CA through the per-target `ca_bundle` field (a PEM path), the same
mechanism a deployment uses for endpoints behind a private CA; the tests write trustme's CA there.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import opskit_common as common
import pytest
import trustme

SECRET_TOKEN = "Bearer s3cr3t-9f8e7d6c5b4a"


@dataclass
class Route:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/plain; charset=utf-8"})
    delay: float = 0.0  # seconds before the status line
    drip: float = 0.0  # seconds between body chunks (one byte per chunk)
    drop: bool = False  # close the connection without answering
    barrier: threading.Barrier | None = None  # every request waits for its peers (proves concurrency)
    require_header: tuple[str, str] | None = None  # else 401
    chunked: bool = False  # Transfer-Encoding: chunked, in 7-byte chunks


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out and hang up are part of the tests


class Server:
    """A tiny routable HTTP(S) server; records every request it receives."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.routes: dict[str, Route] = {}
        self.requests: list[dict[str, Any]] = []
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                route = server.routes.get(self.path.split("?")[0], Route(status=404, body=b"not found"))
                if route.drop:
                    self.close_connection = True
                    return
                if route.barrier is not None:
                    try:
                        route.barrier.wait()
                        status = route.status
                    except threading.BrokenBarrierError:
                        status = 500
                else:
                    status = route.status
                if route.require_header and self.headers.get(route.require_header[0]) != route.require_header[1]:
                    status = 401
                if route.delay:
                    server.stop.wait(route.delay)
                self.send_response(status)
                for key, value in route.headers.items():
                    self.send_header(key, value)
                payload = b"" if self.command == "HEAD" else route.body
                if route.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(payload), 7):
                        piece = payload[start : start + 7]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                if route.drip:
                    for byte in payload:
                        if server.stop.wait(route.drip):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                else:
                    self.wfile.write(payload)

            do_GET = do_HEAD = do_POST = _serve

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.httpd.server_port}{path}"

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def http() -> Iterator[Server]:
    server = Server()
    yield server
    server.close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_server(ca: trustme.CA, not_after: dt.datetime, names: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Server:
    cert = ca.issue_cert(*names, not_after=not_after)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return Server(tls=context)


CERT_DAYS = 20


@pytest.fixture(scope="module")
def https(ca: trustme.CA) -> Iterator[Server]:
    # An hour past whole days, so "whole days remaining" is CERT_DAYS however long the tests take.
    server = _tls_server(ca, dt.datetime.now(dt.UTC) + dt.timedelta(days=CERT_DAYS, hours=1))
    server.routes["/"] = Route(body=b"secure hello")
    yield server
    server.close()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, load_handler: Callable[[str], Any]) -> Callable[..., dict[str, Any]]:
    """run(targets, event=None, **env) → the handler's result; a PartialFailure's result is returned with
    `raised` set, so every test sees both."""

    def _run(targets: list[dict[str, Any]], event: Any = None, context: Any = None, **env: str) -> dict[str, Any]:
        monkeypatch.setenv("TARGETS", json.dumps(targets))
        for key in ("NO_PROXY", "no_proxy"):  # a proxy configured for the machine must not see 127.0.0.1
            monkeypatch.setenv(key, "127.0.0.1,localhost")
        monkeypatch.setenv("CONNECT_RETRIES", env.pop("CONNECT_RETRIES", "0"))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        module = load_handler("health_check")
        try:
            outcome = module.handler(event if event is not None else {}, context)
            outcome["raised"] = None
        except common.PartialFailure as exc:
            outcome = dict(exc.result)
            outcome["raised"] = str(exc)
        return outcome

    return _run


def by_name(outcome: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in outcome["results"]}


def emf_lines(out: str) -> dict[str, dict[str, Any]]:
    docs = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    return {d["Target"]: d for d in docs}


def all_output(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    captured = capsys.readouterr()
    records = [json.dumps(vars(r), default=str) for r in caplog.records]
    return captured.out + captured.err + caplog.text + "\n".join(records)
