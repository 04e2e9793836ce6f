#!/usr/bin/env python3
"""`make demo` (demo_scenarios: every module's scenario on moto, through the real handlers, no AWS
account needed) and `make bench` (bench_scenarios: measured API calls and wall time; not a test).

Usage: run_scenarios.py demo|bench [scenario ...]"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions" / "_shared"))

from opskit_tools.fastmoto import share_botocore_loader
from opskit_tools.scenarios import run_all

if __name__ == "__main__":
    for key, value in {
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_REGION": "eu-central-1",
    }.items():
        os.environ[key] = value  # moto only: never a real account
    os.environ.pop("AWS_PROFILE", None)
    share_botocore_loader()
    if len(sys.argv) < 2 or sys.argv[1] not in ("demo", "bench"):
        sys.exit("usage: run_scenarios.py demo|bench [scenario ...]")
    sys.exit(run_all(f"{sys.argv[1]}_scenarios", sys.argv[2:] or None))
