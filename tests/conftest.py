"""Shared test fixtures: fake AWS credentials, handler loading, fixture events."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "functions" / "_shared"))

import opskit_common  # noqa: E402
from opskit_tools.fastmoto import share_botocore_loader  # noqa: E402
from opskit_tools.loader import load_event as _load_event  # noqa: E402
from opskit_tools.loader import load_handler as _load_handler  # noqa: E402

share_botocore_loader()

# moto allocates heavily and keeps what it allocates for the whole test: with CPython's default
# thresholds (700, 10, 10) the collector walks that heap thousands of times. Collecting a young generation
# every 200,000 allocations instead costs about 10 % more memory and takes about a tenth off the CPU time
# of the moto-backed tests (a third in one long single-process run). What is imported by now is frozen
# out of every collection.
gc.set_threshold(200_000, 100, 100)
gc.freeze()

REGION = "eu-central-1"
ACCOUNT_ID = "123456789012"  # moto's default account


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Never talk to a real account: fake credentials, a fixed region, fresh boto3 clients."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    opskit_common.reset_clients()
    yield
    opskit_common.reset_clients()


@pytest.fixture
def load_handler() -> Callable[[str], ModuleType]:
    """load_handler("scheduler") → a freshly imported functions/scheduler/handler.py."""
    return _load_handler


@pytest.fixture
def load_event() -> Callable[[str], Any]:
    """load_event("scheduler/office-hours-stop.json") → parsed fixture from tests/events/."""
    return _load_event
