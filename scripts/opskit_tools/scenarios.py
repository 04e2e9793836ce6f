"""Discovery and reporting for `make demo` and `make bench` scenarios.

A scenario is a module in scripts/demo_scenarios/ (or scripts/bench_scenarios/) that defines
`ORDER: int`, `TITLE: str` and `run(report: Report) -> None`. Each demo scenario starts its own moto
mock, so scenarios are independent. `report.check()` records an expectation; any failed check makes
the whole run exit non-zero, so the demo doubles as an end-to-end smoke test.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
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


def run_all(folder: str, only: list[str] | None = None) -> int:
    report = Report()
    started = time.perf_counter()
    for module in discover(folder):
        name = Path(module.__file__ or "").stem
        if only and name not in only:
            continue
        report.heading(module.TITLE)
        try:
            module.run(report)
        except Exception:  # a crashing scenario is a failed check, and the others still run
            traceback.print_exc()
            report.failures.append(f"{name}: crashed")
    elapsed = time.perf_counter() - started
    print(f"\n{len(report.failures)} failed check(s) in {elapsed:.1f}s", file=report.out)
    for failure in report.failures:
        print(f"  FAIL {failure}", file=report.out)
    return 1 if report.failures else 0
