"""Make moto-backed runs (tests, demo, bench) fast without changing what they exercise.

moto resets boto3's default session on every `mock_aws()` start, so each new client re-reads and
re-parses its service model from disk (about 0.1 s per client). Sharing one botocore data loader
across sessions keeps those parsed models in memory; the clients, their credentials and moto's
interception are still created fresh each time.

Each new client also rebuilds one Python method per API operation (EC2 has about 700) with its
docstring object. Those methods depend only on the service model, so they are built once per service
and copied into every new client class, which is still created per client, through botocore's own
`creating-client-class` event.

A new client also builds a fresh ServiceModel from that description (EC2's walks all ~700 operations to
look for endpoint discovery, and every operation's shapes are resolved again on first use) and a fresh
endpoint-rule provider. Both are read-only views of data the shared loader already holds, so they are kept
per description; the clients, their event handlers, credentials and HTTP sessions are still per client.

moto's Step Functions parses a definition with ANTLR and builds its evaluation components twice per
execution (when the state machine is created and when it starts), about 0.8 s for the restart
workflow. Both depend only on the definition text, and the components keep no execution state (that
lives in the Environment moto makes for each execution), so they are kept per text; a definition
that does not parse is parsed (and refused) again on each call.

moto lists a response class's methods with `inspect.getmembers` on every request it dispatches
(about a millisecond for EC2's several hundred). The list is kept per class and per number of
attributes of each class along its MRO, so a method a test patches in (`create=True`) or out is seen
at once; a patch that swaps one function for another leaves the list as it was.

botocore renames every event a client emits or registers through an alias table, caching the result
per event emitter; each new client copies its session's emitter with an empty cache, so the same few
hundred names are worked out again for every client. Emitters with botocore's default table share
one cache.

moto signs each SNS subscription's messages with a 2,048-bit RSA key generated for that
subscription (about 70 ms); one key per process signs them all.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from typing import Any

import botocore.client
import botocore.hooks
import botocore.loaders
import botocore.model
import botocore.regions
import botocore.session
import moto.core.responses
import moto.sns.models
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

_SHARED_LOADER: botocore.loaders.Loader | None = None
_KEPT: dict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = {}
_create_methods = botocore.client.ClientCreator._create_methods
_endpoint_provider = botocore.regions.EndpointProvider
_ASL_PARSED: dict[str, tuple[Any, Any]] = {}
_asl_parse = AmazonStateLanguageParser.parse
_aliaser_init = botocore.hooks.EventAliaser.__init__
_DEFAULT_ALIASES: dict[str, str] = {}
_METHOD_NAMES: dict[tuple[type, tuple[int, ...]], list[str]] = {}


def _kept(kind: str, sources: tuple[Any, ...], build: Callable[[], Any], *qualifiers: Any) -> Any:
    """`build()` once per identity of `sources` (descriptions the shared loader keeps for the process)."""
    key = (kind, *map(id, sources), *qualifiers)
    kept = _KEPT.get(key)
    if kept is None or any(old is not new for old, new in zip(kept[0], sources, strict=True)):
        kept = _KEPT[key] = (sources, build())
    return kept[1]


def _shared_methods(self: botocore.client.ClientCreator, service_model: Any) -> dict[str, Any]:
    description = service_model._service_description
    methods = _kept("methods", (description,), lambda: _create_methods(self, service_model), service_model.service_name)
    return dict(methods)  # the event's handlers may add to it


def _shared_service_model(self: botocore.client.ClientCreator, service_name: str, api_version: Any = None) -> Any:
    description = self._loader.load_service_model(service_name, "service-2", api_version=api_version)
    return _kept("model", (description,), lambda: botocore.model.ServiceModel(description, service_name), service_name)


def _shared_endpoint_provider(ruleset_data: Any, partition_data: Any, excluded_params: Any = None) -> Any:
    return _kept(
        "endpoints",
        (ruleset_data, partition_data),
        lambda: _endpoint_provider(ruleset_data, partition_data, excluded_params),
        tuple(excluded_params or ()),
    )


def _parse_asl(definition: str) -> tuple[Any, Any]:
    if definition not in _ASL_PARSED:
        _ASL_PARSED[definition] = _asl_parse(definition)
    return _ASL_PARSED[definition]


def _method_names(cls: type) -> list[str]:
    key = (cls, tuple(len(vars(klass)) for klass in cls.__mro__))
    if key not in _METHOD_NAMES:
        _METHOD_NAMES[key] = [name for name, _ in inspect.getmembers(cls, predicate=inspect.isfunction)]
    return _METHOD_NAMES[key]


def _aliaser_with_shared_cache(self: Any, event_emitter: Any, event_aliases: Any = None) -> None:
    _aliaser_init(self, event_emitter, event_aliases)
    if self._event_aliases == botocore.hooks.EVENT_ALIASES:
        self._alias_name_cache = _DEFAULT_ALIASES


@functools.cache
def _signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def share_botocore_loader() -> None:
    global _SHARED_LOADER
    if _SHARED_LOADER is None:
        _SHARED_LOADER = botocore.loaders.create_loader()
        botocore.session.create_loader = lambda search_paths_string=None: _SHARED_LOADER
        botocore.client.ClientCreator._create_methods = _shared_methods  # type: ignore[method-assign]
        botocore.client.ClientCreator._load_service_model = _shared_service_model  # type: ignore[method-assign]
        botocore.regions.EndpointProvider = _shared_endpoint_provider  # type: ignore[misc]
        AmazonStateLanguageParser.parse = staticmethod(_parse_asl)  # type: ignore[method-assign]
        moto.core.responses.method_names_from_class = _method_names
        botocore.hooks.EventAliaser.__init__ = _aliaser_with_shared_cache  # type: ignore[method-assign]
        moto.sns.models.Subscription.private_key = lambda self: _signing_key()  # type: ignore[method-assign]
    # moto would otherwise load its catalogue of public AMIs into every fresh EC2 backend.
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
