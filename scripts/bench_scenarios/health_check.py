"""health-check: 20 targets that each answer after 300 ms, checked concurrently vs one after another.

Both runs go through the real handler (the sequential baseline is the same code with MAX_WORKERS=1, which is
how the original blueprint's single loop behaves). Target: one run takes at most 2x one target's latency.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opskit_tools.loader import load_handler
from opskit_tools.scenarios import Report, environment

ORDER = 30
TITLE = "health-check: 20 targets x 300 ms, concurrent vs sequential"

TARGETS = 20
DELAY = 0.3


class _Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        time.sleep(DELAY)
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog (5) would drop simultaneous connections


@contextlib.contextmanager
def _server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Slow)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def _run(targets: list[dict[str, Any]], workers: int) -> tuple[float, dict[str, Any]]:
    values = {"TARGETS": json.dumps(targets), "MAX_WORKERS": str(workers), "NO_PROXY": "127.0.0.1"}
    root = logging.getLogger()
    level = root.level
    try:
        with environment(values):
            handler = load_handler("health_check")
            root.setLevel(logging.WARNING)  # one INFO line per target would bury the table
            with contextlib.redirect_stdout(io.StringIO()):
                started = time.perf_counter()
                outcome = handler.handler({}, None)
                elapsed = time.perf_counter() - started
    finally:
        root.setLevel(level)
    return elapsed, outcome


def run(report: Report) -> None:
    with _server() as httpd:
        targets = [
            {"name": f"site-{i:02d}", "url": f"http://127.0.0.1:{httpd.server_port}/{i}", "expected_text": "ok"}
            for i in range(TARGETS)
        ]
        one, _ = _run(targets[:1], 1)
        concurrent, outcome = _run(targets, 32)
        sequential, baseline = _run(targets, 1)

    latencies = sorted(r["latency_ms"] for r in outcome["results"])
    report.kv("targets", f"{TARGETS}, each answering after {DELAY * 1000:.0f} ms")
    report.table(
        ["run", "wall time", "x one target"],
        [
            ["one target alone", f"{one * 1000:.0f} ms", "1.0"],
            ["20 targets, concurrent (handler default)", f"{concurrent * 1000:.0f} ms", f"{concurrent / one:.2f}"],
            ["20 targets, sequential (MAX_WORKERS=1)", f"{sequential * 1000:.0f} ms", f"{sequential / one:.2f}"],
        ],
    )
    report.kv("per-target latency (concurrent)", f"min {latencies[0]} ms, max {latencies[-1]} ms")
    report.kv("speed-up", f"{sequential / concurrent:.1f}x")
    report.check(outcome["failed"] == 0 and baseline["failed"] == 0, "every target passed in both runs")
    report.check(concurrent <= 2 * one, f"concurrent run <= 2x one target's latency ({concurrent / one:.2f}x)")
