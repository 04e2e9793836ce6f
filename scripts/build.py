#!/usr/bin/env python3
"""Package and validate opskit.

  build.py package [--force] [NAME ...]   stage (and vendor) functions into build/, write build/manifest.json
  build.py validate                       Python, Terraform (offline, provider schema), patterns, statelint,
                                          README tables, terraform fmt, and terraform validate when possible
  build.py docs                           regenerate the inputs/outputs tables in module READMEs
  build.py schema --source FILE           refresh the vendored provider-schema subset from the full schema
  build.py terraform-path                 print a terraform >= 1.5 (for make plan/apply/destroy)

Exit status is non-zero on any finding or build failure; every finding prints as `file:line: message`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from opskit_tools import checks, packaging, paths


def cmd_package(args: argparse.Namespace) -> int:
    names = args.names or paths.function_names()
    unknown = sorted(set(names) - set(paths.function_names()))
    for name in unknown:
        source = paths.FUNCTIONS / name
        print(f"{name}: no function directory with handler.py at {source}", file=sys.stderr)
    if unknown:
        return 1
    started = time.perf_counter()
    try:
        packaging.package_all(names, force=args.force)
    except packaging.BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    print(f"packaged {len(names)} function(s) in {time.perf_counter() - started:.2f}s -> build/manifest.json")
    return 0


def cmd_validate(_: argparse.Namespace) -> int:
    total = 0
    for check in (
        checks.check_python,
        checks.check_terraform_static,
        checks.check_event_patterns,
        checks.check_state_machines,
        checks.check_terraform_fmt,
        checks.check_terraform_validate,
    ):
        started = time.perf_counter()
        outcome = check()
        elapsed = time.perf_counter() - started
        if outcome.skipped:
            print(f"SKIP {outcome.name}: {outcome.skipped}")
            continue
        status = "ok  " if not outcome.findings else "FAIL"
        print(f"{status} {outcome.name} ({'; '.join(outcome.notes)}; {elapsed:.2f}s)")
        for finding in outcome.findings:
            print(f"  {finding}")
        total += len(outcome.findings)
    print(f"validation: {total} finding(s)")
    return 1 if total else 0


def cmd_terraform(args: argparse.Namespace) -> int:
    from opskit_tools import tfgate

    started = time.perf_counter()
    result, skipped = tfgate.run(only=args.configs or None)
    if skipped:
        print(f"SKIP terraform: {skipped}")
        return 0
    for finding in result.findings:
        print(f"  {finding}")
    status = "ok  " if not result.findings else "FAIL"
    print(
        f"{status} terraform: {result.configurations} configurations, {result.passed} test runs passed, "
        f"{result.failed} failed; {'; '.join(result.notes)}; {time.perf_counter() - started:.1f}s"
    )
    return 1 if result.findings else 0


def cmd_docs(_: argparse.Namespace) -> int:
    from opskit_tools import tfdocs

    changed = tfdocs.update(paths.REPO)
    for path in changed:
        print(f"updated {path.relative_to(paths.REPO)}")
    print(f"{len(changed)} README(s) updated")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from opskit_tools import tfschema

    source = Path(args.source)
    if not source.is_file():
        print(f"schema source {source} does not exist (pass SCHEMA_SOURCE=/path/to/full-schema.json)", file=sys.stderr)
        return 1
    written = tfschema.refresh(source, paths.REPO)
    print(f"wrote {written.relative_to(paths.REPO)}")
    return 0


def cmd_terraform_path(_: argparse.Namespace) -> int:
    """Print a terraform >= 1.5 for plan/apply (the one in .venv is 1.0.3, good for fmt only)."""
    modern = checks.modern_terraform()
    if modern is None:
        print(
            "no terraform >= 1.5 found on PATH (the one in .venv is only for fmt); install Terraform >= 1.5 "
            "or set OPSKIT_TERRAFORM=/path/to/terraform",
            file=sys.stderr,
        )
        return 1
    print(modern)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    package = sub.add_parser("package", help="stage and vendor functions into build/")
    package.add_argument("names", nargs="*", help="functions to package (default: all)")
    package.add_argument("--force", action="store_true", help="ignore the cache")
    package.set_defaults(func=cmd_package)
    sub.add_parser("validate", help="run every static check").set_defaults(func=cmd_validate)
    terraform = sub.add_parser("terraform", help="real Terraform: fmt, init, validate, native tests")
    terraform.add_argument("configs", nargs="*", help="configurations to check (., examples/x, modules/y)")
    terraform.set_defaults(func=cmd_terraform)
    sub.add_parser("docs", help="regenerate module README tables").set_defaults(func=cmd_docs)
    schema = sub.add_parser("schema", help="refresh the vendored provider schema subset")
    schema.add_argument("--source", required=True, help="full provider schema JSON")
    schema.set_defaults(func=cmd_schema)
    sub.add_parser("terraform-path", help="print a terraform >= 1.5 for plan/apply").set_defaults(
        func=cmd_terraform_path
    )
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
