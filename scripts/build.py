#!/usr/bin/env python3
"""Package and validate opskit.

  build.py package [--force] [NAME ...]   stage (and vendor) functions into build/, write build/manifest.json
  build.py validate                       Python, tfvars typos, README tables, patterns, statelint, and real
                                          Terraform (fmt, init, validate, native tests) when Terraform >= 1.9 is here
  build.py terraform [CONFIG ...]         only the real-Terraform part, optionally for some configurations
  build.py docs                           regenerate the inputs/outputs tables in module READMEs
  build.py deploy plan|apply|destroy --env ENV   terraform with environments/ENV.tfvars and ENV's own state
  build.py terraform-path                 print the terraform make uses (>= 1.9)

Exit status is non-zero on any finding or build failure; every finding prints as `file:line: message`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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


def _timed(check: Callable[[], checks.Outcome]) -> tuple[checks.Outcome, float]:
    started = time.perf_counter()
    outcome = check()
    return outcome, time.perf_counter() - started


def _report(outcome: checks.Outcome, elapsed: float) -> int:
    """Print one check's status line and findings; the number of findings."""
    if outcome.skipped:
        print(f"SKIP {outcome.name}: {outcome.skipped}")
        return 0
    status = "ok  " if not outcome.findings else "FAIL"
    print(f"{status} {outcome.name} ({'; '.join(outcome.notes)}; {elapsed:.2f}s)")
    for finding in outcome.findings:
        print(f"  {finding}")
    return len(outcome.findings)


def cmd_validate(_: argparse.Namespace) -> int:
    quick = (
        checks.check_python,
        checks.check_tfvars_and_docs,
        checks.check_event_patterns,
        checks.check_state_machines,
    )
    # The Terraform gate takes almost all of the time; the other checks run while it starts up.
    with ThreadPoolExecutor(max_workers=1) as gate:
        terraform = gate.submit(_timed, checks.check_terraform)
        results = [_timed(check) for check in quick] + [terraform.result()]
    total = sum(_report(outcome, elapsed) for outcome, elapsed in results)
    print(f"validation: {total} finding(s)")
    return 1 if total else 0


def cmd_terraform(args: argparse.Namespace) -> int:
    return 1 if _report(*_timed(lambda: checks.check_terraform(only=args.configs or None))) else 0


def cmd_deploy(args: argparse.Namespace) -> int:
    from opskit_tools import deploy, tfgate

    binary, description = tfgate.find_terraform()
    if binary is None:
        print(description, file=sys.stderr)
        return 1
    try:
        return deploy.run(binary, args.action, args.env, paths.REPO, args.extra)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1


def cmd_docs(_: argparse.Namespace) -> int:
    from opskit_tools import tfdocs

    changed = tfdocs.update(paths.REPO)
    for path in changed:
        print(f"updated {path.relative_to(paths.REPO)}")
    print(f"{len(changed)} README(s) updated")
    return 0


def cmd_terraform_path(_: argparse.Namespace) -> int:
    """Print the terraform make uses (the first >= 1.9 on PATH or in OPSKIT_TERRAFORM)."""
    from opskit_tools import tfgate

    binary, description = tfgate.find_terraform()
    if binary is None:
        print(description, file=sys.stderr)
        return 1
    print(binary)
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
    deploy_cmd = sub.add_parser("deploy", help="terraform plan|apply|destroy with one environment's own state")
    deploy_cmd.add_argument("action", choices=["plan", "apply", "destroy"])
    deploy_cmd.add_argument("--env", required=True, help="environment: environments/<env>.tfvars")
    deploy_cmd.add_argument("extra", nargs=argparse.REMAINDER, help="more terraform arguments (after --)")
    deploy_cmd.set_defaults(func=cmd_deploy)
    sub.add_parser("docs", help="regenerate module README tables").set_defaults(func=cmd_docs)
    sub.add_parser("terraform-path", help="print the terraform make uses").set_defaults(func=cmd_terraform_path)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
