"""Discovery and reporting for `make demo` and `make bench` scenarios.

A scenario is a module in scripts/demo_scenarios/ (or scripts/bench_scenarios/) that defines
`ORDER: int`, `TITLE: str` and `run(report: Report) -> None`. Each demo scenario starts its own moto
mock, so scenarios are independent. `report.check()` records an expectation; any failed check makes
the whole run exit non-zero, so the demo doubles as an end-to-end smoke test.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .paths import REPO


@dataclass
class Report:
    out: Any = sys.stdout
    failures: list[str] = field(default_factory=list)

    def heading(self, text: str) -> None:
        print(f"\n== {text} " + "=" * max(0, 76 - len(text)), file=self.out)

    def line(self, text: str = "") -> None:
        print(f"  {text}", file=self.out)

    def kv(self, key: str, value: Any) -> None:
        print(f"  {key:<28} {value}", file=self.out)

    def table(self, headers: list[str], rows: list[list[Any]]) -> None:
        cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        for n, row in enumerate(cells):
            print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=self.out)
            if n == 0:
                print("  " + "  ".join("-" * w for w in widths), file=self.out)

    def check(self, ok: bool, text: str) -> bool:
        print(f"  [{'ok' if ok else 'FAIL'}] {text}", file=self.out)
        if not ok:
            self.failures.append(text)
        return ok


@contextlib.contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (None: unset) environment variables for a scenario and restore them afterwards. The handlers
    get fresh boto3 clients on both sides, so a client never outlives the moto mock it was made in."""
    import opskit_common

    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    opskit_common.reset_clients()
    try:
        yield
    finally:
        opskit_common.reset_clients()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _RecordList(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def collect_logs(logger: str = "") -> Iterator[list[logging.LogRecord]]:
    """The log records (INFO and up) a handler writes while the block runs, for a scenario to show."""
    target = logging.getLogger(logger)
    collector = _RecordList()
    saved_level = target.level
    target.addHandler(collector)
    if target.getEffectiveLevel() > logging.INFO:
        target.setLevel(logging.INFO)
    try:
        yield collector.records
    finally:
        target.removeHandler(collector)
        target.setLevel(saved_level)


def discover(folder: str) -> list[ModuleType]:
    directory = REPO / "scripts" / folder
    modules = []
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"{folder}.{path.stem}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


@contextlib.contextmanager
def _captured_output() -> Any:
    """Collect what the handlers print (EMF lines) and log while a scenario runs, so the report stays
    readable; OPSKIT_VERBOSE=1 prints it after the scenario."""
    buffer = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(buffer):
            yield buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def run_all(folder: str, only: list[str] | None = None) -> int:
    report = Report(out=sys.stdout)
    verbose = os.environ.get("OPSKIT_VERBOSE", "") not in ("", "0")
    started = time.perf_counter()
    for module in discover(folder):
        name = Path(module.__file__ or "").stem
        if only and name not in only:
            continue
        report.heading(module.TITLE)
        with _captured_output() as captured:
            try:
                module.run(report)
            except Exception:  # a crashing scenario is a failed check, and the others still run
                report.failures.append(f"{name}: crashed")
                report.line("CRASHED:")
                for line in traceback.format_exc().splitlines():
                    report.line(line)
        lines = captured.getvalue().splitlines()
        emf = sum(1 for line in lines if '"_aws"' in line)
        report.line(
            f"({len(lines) - emf} log lines and {emf} EMF metric lines from the handlers; OPSKIT_VERBOSE=1 shows them)"
        )
        if verbose:
            for line in lines:
                report.line(f"| {line}")
    elapsed = time.perf_counter() - started
    print(f"\n{len(report.failures)} failed check(s) in {elapsed:.1f}s", file=report.out)
    for failure in report.failures:
        print(f"  FAIL {failure}", file=report.out)
    return 1 if report.failures else 0
