"""health-check: 100 targets that each answer after 300 ms, in one run of the real handler.

The sites run in a process of their own (as remote sites would), so the interpreter lock measured is the
handler's alone.

Wall time as a multiple of one target alone (the handler's default of 32 workers, and 128, the module's maximum
max_concurrency), and memory: the peak of Python allocations during a run (tracemalloc, in a run of its own) and
the process's peak resident set (resource.getrusage) before and after. Targets: 20 targets take at most 2x one
target; 100 targets with 128 workers at most 3x (each check costs a few milliseconds of CPU in requests, and the
threads share one interpreter lock, so 100 of them cannot all finish within one target's 300 ms).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import multiprocessing
import resource
import time
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opskit_tools.loader import load_handler
from opskit_tools.scenarios import Report, environment

ORDER = 30
TITLE = "health-check: 100 targets x 300 ms in one run (time and memory)"

TARGETS = 100
DELAY = 0.3


class _Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        time.sleep(DELAY)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog (5) would drop simultaneous connections


def _serve(ports: Any) -> None:
    httpd = _Server(("127.0.0.1", 0), _Slow)
    ports.put(httpd.server_port)
    httpd.serve_forever()


@contextlib.contextmanager
def _server() -> Iterator[int]:
    """The port of the sites, served by a child process until the block ends."""
    context = multiprocessing.get_context("fork")
    ports = context.Queue()
    process = context.Process(target=_serve, args=(ports,), daemon=True)
    process.start()
    try:
        yield ports.get(timeout=30)
    finally:
        process.terminate()
        process.join(10)


def _run(targets: list[dict[str, Any]], workers: int, trace: bool = False) -> tuple[float, dict[str, Any], int]:
    """(wall seconds, outcome, peak bytes allocated by Python during the run when traced)."""
    values = {"TARGETS": json.dumps(targets), "MAX_WORKERS": str(workers), "NO_PROXY": "127.0.0.1"}
    root = logging.getLogger()
    level = root.level
    peak = 0
    try:
        with environment(values):
            handler = load_handler("health_check")
            root.setLevel(logging.WARNING)  # one INFO line per target would bury the table
            with contextlib.redirect_stdout(io.StringIO()):
                if trace:
                    tracemalloc.start()
                started = time.perf_counter()
                outcome = handler.handler({}, None)
                elapsed = time.perf_counter() - started
                if trace:
                    peak = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()
    finally:
        root.setLevel(level)
    return elapsed, outcome, peak


def run(report: Report) -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with _server() as port:
        url = f"http://127.0.0.1:{port}"
        targets = [
            {"name": f"site-{i:03d}", "url": f"{url}/{i}", "json_pointer": "/status", "json_equals": '"ok"'}
            for i in range(TARGETS)
        ]
        _run(targets[:1], 1)  # warm-up: imports, the first connection
        one, _, _ = _run(targets[:1], 1)
        twenty, _, _ = _run(targets[:20], 32)
        default, by_default, _ = _run(targets, 32)
        wide, outcome, _ = _run(targets, 128)
        _, _, peak = _run(targets, 128, trace=True)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    latencies = sorted(r["latency_ms"] for r in outcome["results"])
    report.kv("targets", f"{TARGETS}, each answering after {DELAY * 1000:.0f} ms (JSON pointer check)")
    report.table(
        ["run", "wall time", "x one target"],
        [
            ["one target alone", f"{one * 1000:.0f} ms", "1.00"],
            ["20 targets, 32 workers (handler default)", f"{twenty * 1000:.0f} ms", f"{twenty / one:.2f}"],
            ["100 targets, 32 workers (4 rounds)", f"{default * 1000:.0f} ms", f"{default / one:.2f}"],
            ["100 targets, 128 workers (max_concurrency)", f"{wide * 1000:.0f} ms", f"{wide / one:.2f}"],
        ],
    )
    report.kv("per-target latency (128)", f"min {latencies[0]} ms, max {latencies[-1]} ms")
    report.kv("Python allocations, peak", f"{peak / 2**20:.1f} MiB during one 100-target run (tracemalloc)")
    report.kv("process peak RSS", f"{rss_before / 1024:.0f} MiB before, {rss_after / 1024:.0f} MiB after (getrusage)")
    report.check(outcome["failed"] == 0 and by_default["failed"] == 0, "every target passed in both runs")
    report.check(twenty <= 2 * one, f"20 targets <= 2x one target ({twenty / one:.2f}x)")
    report.check(wide <= 3 * one, f"100 targets with 128 workers <= 3x one target ({wide / one:.2f}x)")
