"""Make moto-backed runs (tests, demo, bench) fast without changing what they exercise.

moto resets boto3's default session on every `mock_aws()` start, so each new client re-reads and
re-parses its service model from disk (about 0.1 s per client). Sharing one botocore data loader
across sessions keeps those parsed models in memory; the clients, their credentials and moto's
interception are still created fresh each time.
"""

from __future__ import annotations

import os

import botocore.loaders
import botocore.session

_SHARED_LOADER: botocore.loaders.Loader | None = None


def share_botocore_loader() -> None:
    global _SHARED_LOADER
    if _SHARED_LOADER is None:
        _SHARED_LOADER = botocore.loaders.create_loader()
        botocore.session.create_loader = lambda search_paths_string=None: _SHARED_LOADER
    # moto would otherwise load its catalogue of public AMIs into every fresh EC2 backend.
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
