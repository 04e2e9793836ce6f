"""The vendored subset of the Terraform provider schema (hashicorp/aws, hashicorp/archive) used by
`opskit_tools.tfvalidate`.

scripts/tfschema/provider-schema.json holds, for every resource and data source type the repository uses
(and every type of the service families opskit builds on, so a new module rarely needs a refresh):
arguments (`required`, `type`), nested blocks (`nesting`, `max_items`, `required`, their own arguments and
blocks) and computed attributes; plus the sorted names of ALL types of both providers, so the validator can
tell a misspelled type from a real one that is simply not vendored yet.

`refresh(source, repo)` re-extracts the subset from the full schema JSON (`make schema SCHEMA_SOURCE=...`).
See scripts/tfschema/PROVENANCE.md for where the data comes from.
"""

from __future__ import annotations

import functools
import json
import os
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .paths import REPO

SCHEMA_DIR = REPO / "scripts" / "tfschema"
SCHEMA_FILE = SCHEMA_DIR / "provider-schema.json"
PROVENANCE_FILE = SCHEMA_DIR / "PROVENANCE.md"

# Type-name prefixes vendored whether or not a module uses them yet: the service families opskit builds on.
FAMILY_PREFIXES: tuple[str, ...] = (
    "archive_",
    "aws_arn",
    "aws_autoscaling_",
    "aws_caller_identity",
    "aws_cloudtrail",
    "aws_cloudwatch_",
    "aws_default_tags",
    "aws_dynamodb_",
    "aws_ebs_",
    "aws_ec2_instance",
    "aws_iam_",
    "aws_instance",
    "aws_kms_",
    "aws_lambda_",
    "aws_launch_template",
    "aws_partition",
    "aws_region",
    "aws_s3_",
    "aws_scheduler_",
    "aws_secretsmanager_",
    "aws_security_group",
    "aws_sfn_",
    "aws_sns_",
    "aws_sqs_",
    "aws_ssm_",
    "aws_subnet",
    "aws_vpc_endpoint",
)

_SECTIONS = {"resource": "resources", "data": "data_sources"}
_BLOCK_LABEL = re.compile(r'^\s*(resource|data)\s+"([A-Za-z0-9_]+)"', re.MULTILINE)
_SKIP_DIRS = {".git", ".venv", ".venv-scan", ".terraform", "build", "node_modules"}


@dataclass(frozen=True)
class Schema:
    """Provider schema: `types[kind][name]` is the block schema of a vendored type ("resource" or "data")."""

    types: dict[str, dict[str, Any]]
    all_types: dict[str, frozenset[str]]
    providers: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def block(self, kind: str, name: str) -> dict[str, Any] | None:
        """The schema of resource/data type `name`, or None when it is not vendored."""
        return self.types[kind].get(name)

    def exists(self, kind: str, name: str) -> bool:
        """True when the provider has this type at all (vendored or not)."""
        return name in self.all_types[kind]


def load_schema(path: Path | None = None) -> Schema:
    """The vendored subset (scripts/tfschema/provider-schema.json unless `path` is given; that one is read
    once per process)."""
    if path is None:
        return _vendored()
    return from_full_json(json.loads(Path(path).read_text(encoding="utf-8")))


@functools.cache
def _vendored() -> Schema:
    return from_full_json(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def from_full_json(data: dict[str, Any]) -> Schema:
    """A Schema from the vendored shape or from the full shared JSON (which has no `all_*` lists)."""
    types = {kind: data.get(section, {}) for kind, section in _SECTIONS.items()}
    all_types = {
        kind: frozenset(data.get(f"all_{section}", data.get(section, {}))) for kind, section in _SECTIONS.items()
    }
    return Schema(types=types, all_types=all_types, providers=data.get("provider", {}), meta=data.get("_meta", {}))


def used_types(repo: Path) -> dict[str, set[str]]:
    """Every `resource "T"` / `data "T"` type named in the repository's .tf files."""
    used: dict[str, set[str]] = {"resource": set(), "data": set()}
    for path in _tf_files(repo):
        for kind, name in _BLOCK_LABEL.findall(path.read_text(encoding="utf-8")):
            used[kind].add(name)
    return used


def select(full: dict[str, Any], used: dict[str, set[str]]) -> dict[str, Any]:
    """The vendored document: used types + family types, all type names, provider config, provenance."""
    out: dict[str, Any] = {}
    for kind, section in _SECTIONS.items():
        names = full[section]
        keep = {n for n in names if n.startswith(FAMILY_PREFIXES)} | (used[kind] & set(names))
        out[section] = {n: names[n] for n in sorted(keep)}
        out[f"all_{section}"] = sorted(names)
    out["provider"] = full.get("provider", {})
    sources = full.get("_meta", [])
    out["_meta"] = {
        "derived_from": [
            {k: m[k] for k in ("provider", "provider_version", "package", "package_version") if k in m} for m in sources
        ],
        "family_prefixes": list(FAMILY_PREFIXES),
        "refresh": "make schema SCHEMA_SOURCE=<full provider schema JSON>",
    }
    return out


def refresh(source: Path, repo: Path) -> Path:
    """Re-extract the subset from the full schema JSON at `source`; write it (deterministically) under
    `repo`/scripts/tfschema/ together with PROVENANCE.md; return the JSON path."""
    full = json.loads(Path(source).read_text(encoding="utf-8"))
    document = select(full, used_types(repo))
    target = Path(repo) / SCHEMA_FILE.relative_to(REPO)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (target.parent / PROVENANCE_FILE.name).write_text(provenance(document), encoding="utf-8")
    return target


def provenance(document: dict[str, Any]) -> str:
    """PROVENANCE.md for a vendored document (deterministic)."""
    derived = document["_meta"]["derived_from"]
    packages = ", ".join(f"`cdktn-provider-{m['package'].rsplit('-', 1)[-1]}=={m['package_version']}`" for m in derived)
    providers = "\n".join(f"- `{m['provider']}` {m['provider_version']}" for m in derived)
    families = ", ".join(f"`{p}*`" for p in FAMILY_PREFIXES)
    counts = ", ".join(
        f"{len(document[s])} of {len(document['all_' + s])} {s.replace('_', ' ')}" for s in _SECTIONS.values()
    )
    paragraphs = [
        "`provider-schema.json` is read by `scripts/opskit_tools/tfvalidate.py` to validate every `.tf` file "
        "offline, the way `terraform validate` would with the providers installed. It is generated by "
        "`make schema`; do not edit it by hand.",
        "Providers:",
        providers,
        f"Derived from the PyPI packages {packages}: the prebuilt provider bindings generated from the providers' "
        "own schemas. Their assembly names every argument (snake_case), marks the optional ones, and describes "
        "nested blocks (nesting, max items, required) and computed attributes.",
        f"Contents: {counts}. That is every type used by a `resource` or `data` block in this repository, plus "
        f"every type whose name starts with one of the families opskit builds on ({families}); and the sorted "
        "names of all types of both providers, so that a misspelled type can be told apart from a real type that "
        "is not vendored yet.",
        "Refresh (after adding a type outside those families): `make schema SCHEMA_SOURCE=<path to the full "
        "schema JSON>`. The output is deterministic (sorted keys, fixed indentation), so a refresh without "
        "upstream changes is a no-op.",
        "Known limits of the source data: provider-side value validators (allowed values, conflicts_with, "
        "exactly_one_of), some required-ness rules that the provider enforces with list validators, and computed "
        "attributes inside nested blocks are not described.",
    ]
    body = "\n\n".join(p if p.startswith("- ") else textwrap.fill(p, width=110) for p in paragraphs)
    return f"# Vendored Terraform provider schema (subset)\n\n{body}\n"


def _tf_files(repo: Path) -> list[Path]:
    """Every .tf file of the repository, without descending into virtualenvs, build output or .git."""
    files = []
    for directory, subdirs, names in os.walk(repo):
        subdirs[:] = sorted(d for d in subdirs if d not in _SKIP_DIRS and not d.startswith(".venv"))
        files += [Path(directory) / n for n in sorted(names) if n.endswith(".tf")]
    return files
