"""Make moto-backed runs (tests, demo, bench) fast without changing what they exercise.

moto resets boto3's default session on every `mock_aws()` start, so each new client re-reads and
re-parses its service model from disk (about 0.1 s per client). Sharing one botocore data loader
across sessions keeps those parsed models in memory; the clients, their credentials and moto's
interception are still created fresh each time.

Each new client also rebuilds one Python method per API operation (EC2 has about 700) with its
docstring object. Those methods depend only on the service model, so they are built once per service
and copied into every new client class, which is still created per client, through botocore's own
`creating-client-class` event.
"""

from __future__ import annotations

import os
from typing import Any

import botocore.client
import botocore.loaders
import botocore.session

_SHARED_LOADER: botocore.loaders.Loader | None = None
_METHODS: dict[tuple[str, int], dict[str, Any]] = {}
_create_methods = botocore.client.ClientCreator._create_methods


def _shared_methods(self: botocore.client.ClientCreator, service_model: Any) -> dict[str, Any]:
    # The shared loader hands every session the same parsed service description: its identity is the key.
    key = (service_model.service_name, id(service_model._service_description))
    if key not in _METHODS:
        _METHODS[key] = _create_methods(self, service_model)
    return dict(_METHODS[key])  # the event's handlers may add to it


def share_botocore_loader() -> None:
    global _SHARED_LOADER
    if _SHARED_LOADER is None:
        _SHARED_LOADER = botocore.loaders.create_loader()
        botocore.session.create_loader = lambda search_paths_string=None: _SHARED_LOADER
        botocore.client.ClientCreator._create_methods = _shared_methods  # type: ignore[method-assign]
    # moto would otherwise load its catalogue of public AMIs into every fresh EC2 backend.
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
