"""A Terraform provider plugin that serves only a provider's schema.

Terraform needs every provider's schema to validate a configuration and to run `terraform test`, even
when the test replaces the provider with `mock_provider`. The real providers cannot be downloaded here,
so this plugin answers GetMetadata / GetProviderSchema from the vendored schema
(scripts/tfschema/, see PROVENANCE.md), accepts the Validate* and ConfigureProvider calls, and refuses
everything that would touch AWS with a diagnostic that says so. The gRPC protocol (tfplugin6), the
go-plugin handshake and its TLS come from the `tf` package; this file only maps the schema.

    tfprovider.py serve NAME [--dev]   NAME is aws or archive; --dev serves on a Unix socket and prints
                                       the TF_REATTACH_PROVIDERS entry instead of the plugin handshake
    OPSKIT_TF_SCHEMA_TYPES=<file>      serve only the resource and data source types listed in the file

Mapping decisions (the vendored schema is derived from generated bindings, not read from the plugin):
- A top-level optional argument is served as optional + computed, because the data does not say which
  ones the provider computes (`arn`, `id`, `name` with `name_prefix`, `tags_all`, a data source's
  `region` ...). Consequence in tests: an unset optional argument is unknown at plan and a mock value
  after apply, never null.
- `dynamic` attributes inside set-nested blocks or objects are served as strings (Terraform rejects
  DynamicPseudoType there); the three self-recursive wafv2 `statement` blocks are left out.

Standalone on purpose (no package-relative imports): the filesystem mirror runs this file directly.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "tfschema" / "aws-6.69.1_archive-2.8.1.json.gz"
REFUSED = (
    "ReadResource",
    "PlanResourceChange",
    "ApplyResourceChange",
    "ImportResourceState",
    "MoveResourceState",
    "ReadDataSource",
    "UpgradeResourceState",
    "CallFunction",
)
# A file naming the resource and data source types to serve (one per line); unset: the whole provider.
ONLY_TYPES_ENV = "OPSKIT_TF_SCHEMA_TYPES"
_COLLECTION = re.compile(r"(list|set|map)\((.*)\)")


@cache
def schema_data(path: Path = SCHEMA_FILE) -> dict[str, Any]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def versions(path: Path = SCHEMA_FILE) -> dict[str, str]:
    """{"aws": "6.69.1", "archive": "2.8.1"}: the provider versions the vendored schema describes."""
    return {meta["provider"].rsplit("/", 1)[1]: meta["provider_version"] for meta in schema_data(path)["_meta"]}


def cty_type(text: str, in_set: bool = False) -> Any:
    """`map(list(string))` → ["map", ["list", "string"]] (cty's JSON type notation)."""
    match = _COLLECTION.fullmatch(text)
    if match:
        return [match.group(1), cty_type(match.group(2), in_set or match.group(1) == "set")]
    if text == "dynamic":
        return "string" if in_set else "dynamic"
    if text == "object":
        return ["object", {}]
    return text


def _pb() -> Any:
    from tf.gen import tfplugin_pb2

    return tfplugin_pb2


def attribute(name: str, spec: dict[str, Any], *, computed: bool = False, top: bool = False, in_set: bool = False):
    pb = _pb()
    fields: dict[str, Any] = {"name": name}
    if "attributes" in spec:  # a nested attribute: list/set/map of objects, or one object
        match = _COLLECTION.fullmatch(spec["type"])
        mode = match.group(1).upper() if match else "SINGLE"
        nested_in_set = in_set or mode == "SET"
        fields["nested_type"] = pb.Schema.Object(
            attributes=[
                attribute(k, v, in_set=nested_in_set) for k, v in sorted(spec["attributes"]["arguments"].items())
            ],
            nesting=getattr(pb.Schema.Object, mode),
        )
    else:
        fields["type"] = json.dumps(cty_type(spec["type"], in_set)).encode()
    if computed:
        fields["computed"] = True
    elif spec.get("required"):
        fields["required"] = True
    else:
        fields["optional"] = True
        fields["computed"] = top
    return pb.Schema.Attribute(**fields)


def block(spec: dict[str, Any], *, top: bool = False, in_set: bool = False):
    pb = _pb()
    arguments = spec.get("arguments", {})
    attributes = [attribute(k, v, top=top, in_set=in_set) for k, v in sorted(arguments.items())]
    attributes += [
        attribute(k, v, computed=True, in_set=in_set)
        for k, v in sorted(spec.get("computed", {}).items())
        if k not in arguments
    ]
    nested = []
    for name, child in sorted(spec.get("blocks", {}).items()):
        if "recursive_ref" in child:
            continue
        mode = child["nesting"].upper()
        least = 1 if child.get("required") else 0
        most = least if mode == "SINGLE" else child.get("max_items") or 0
        nested.append(
            pb.Schema.NestedBlock(
                type_name=name,
                block=block(child, in_set=in_set or mode == "SET"),
                nesting=getattr(pb.Schema.NestedBlock, mode),
                min_items=least,
                max_items=most,
            )
        )
    return pb.Schema.Block(attributes=attributes, block_types=nested)


def _own(data: dict[str, Any], kind: str, name: str, only: frozenset[str] | None) -> dict[str, Any]:
    own = {k: v for k, v in data[kind].items() if k == name or k.startswith(name + "_")}
    return own if only is None else {k: v for k, v in own.items() if k in only}


def provider_schema(name: str, data: dict[str, Any], only: frozenset[str] | None = None):
    """The GetProviderSchema response for provider `name` (aws or archive); with `only`, just those
    resource and data source types (the rest of the provider is left out, as if it did not exist)."""
    pb = _pb()
    if name not in data["provider"]:
        raise SystemExit(f"the vendored schema has no provider {name!r} (it has {', '.join(data['provider'])})")
    return pb.GetProviderSchema.Response(
        provider=pb.Schema(block=block(data["provider"][name])),
        provider_meta=pb.Schema(block=pb.Schema.Block()),
        resource_schemas={
            k: pb.Schema(block=block(v, top=True)) for k, v in _own(data, "resources", name, only).items()
        },
        data_source_schemas={
            k: pb.Schema(block=block(v, top=True)) for k, v in _own(data, "data_sources", name, only).items()
        },
        server_capabilities=pb.ServerCapabilities(get_provider_schema_optional=True),
    )


def servicer(name: str, data: dict[str, Any], only: frozenset[str] | None = None):
    """A tfplugin6 Provider servicer that serves the schema and refuses every operation on real objects."""
    from tf.gen import tfplugin_pb2_grpc

    pb = _pb()
    response = provider_schema(name, data, only)

    def refuse(method: str):
        def call(self, request, context):
            summary = f"opskit's schema-only {name} provider cannot run {method}"
            detail = (
                "It only serves the provider schema so that Terraform can validate and run tests offline. "
                f'Use mock_provider "{name}" in the test, or install the real provider.'
            )
            error = pb.Diagnostic(severity=pb.Diagnostic.ERROR, summary=summary, detail=detail)
            return getattr(pb, method).Response(diagnostics=[error])

        return call

    def ok(method: str):
        return lambda self, request, context: getattr(pb, method).Response()

    methods: dict[str, Any] = {
        "GetMetadata": lambda self, request, context: pb.GetMetadata.Response(
            server_capabilities=response.server_capabilities,
            resources=[pb.GetMetadata.ResourceMetadata(type_name=k) for k in response.resource_schemas],
            data_sources=[pb.GetMetadata.DataSourceMetadata(type_name=k) for k in response.data_source_schemas],
        ),
        "GetProviderSchema": lambda self, request, context: response,
    }
    for method in ("ValidateProviderConfig", "ValidateResourceConfig", "ValidateDataResourceConfig"):
        methods[method] = ok(method)
    methods["ConfigureProvider"] = ok("ConfigureProvider")
    methods["StopProvider"] = ok("StopProvider")
    methods.update({method: refuse(method) for method in REFUSED})
    return type("SchemaOnlyProvider", (tfplugin_pb2_grpc.ProviderServicer,), methods)()


def serve(name: str, argv: list[str]) -> None:
    import tf.provider
    import tf.runner

    listed = os.environ.get(ONLY_TYPES_ENV)
    only = frozenset(Path(listed).read_text(encoding="utf-8").split()) if listed else None
    instance = servicer(name, schema_data(), only)

    class _Named:  # what tf.runner reads in --dev mode
        def full_name(self) -> str:
            return f"registry.terraform.io/hashicorp/{name}"

    # tf.runner builds its servicer from tf.provider.ProviderServicer; hand it ours instead.
    tf.provider.ProviderServicer = lambda _provider: instance  # type: ignore[assignment,misc]
    tf.runner.run_provider(_Named(), argv)  # type: ignore[arg-type]


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "serve":
        print(__doc__, file=sys.stderr)
        return 2
    serve(argv[2], argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
