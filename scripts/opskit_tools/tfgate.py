"""Real Terraform over every configuration: `fmt -check`, `init`, `validate`, and the native
`*.tftest.hcl` suites (plan and apply runs against `mock_provider`), with findings as `file:line: message`.

Where the providers come from (printed as the schema source):
- default: opskit's schema-only stand-in (`tfprovider.py`), laid out as a filesystem mirror for
  `terraform init -plugin-dir`, then served once per gate run and reattached (`TF_REATTACH_PROVIDERS`),
  so Terraform does not start a plugin process for every plan of every run;
- `OPSKIT_TF_PLUGIN_DIR=<dir>`: real providers from a local mirror or plugin cache (no stand-in);
- `OPSKIT_TF_PROVIDERS=registry`: real providers from the registry or the CLI configuration's mirrors.

Everything runs on a copy of the tree under build/terraform/, so a developer's own `.terraform/` and
lock files are never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import tfprovider
from .paths import BUILD, REPO

MIN_VERSION = (1, 9)  # native tests use override_during; modules use cross-object validations
SKIP_PARTS = {".git", ".venv", ".venv-scan", "build", "__pycache__", ".terraform", ".pytest_cache", ".ruff_cache"}
SKIP_PARTS |= {".mypy_cache", "node_modules"}
# The root's suite run once per environments/*.tfvars and per tests/environments/*.tfvars (-var-file).
ENV_SUITE = Path("tests") / "environments"
TIMEOUT = 900


@dataclass
class Result:
    findings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    passed: int = 0
    failed: int = 0
    configurations: int = 0


def terraform_binaries() -> Iterator[tuple[str, tuple[int, ...]]]:
    """Every terraform binary (OPSKIT_TERRAFORM first, then PATH), with its version."""
    seen: set[str] = set()
    candidates = [os.environ.get("OPSKIT_TERRAFORM", "")]
    candidates += [str(Path(d) / "terraform") for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    for candidate in candidates:
        real = os.path.realpath(candidate) if candidate else ""
        if candidate and os.access(candidate, os.X_OK) and real not in seen:
            seen.add(real)
            yield candidate, _version(candidate)


def _version(binary: str) -> tuple[int, ...]:
    try:
        completed = subprocess.run(
            [binary, "version", "-json"], capture_output=True, text=True, timeout=60, env=terraform_env()
        )
        version = json.loads(completed.stdout)["terraform_version"]
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
        return ()
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def find_terraform() -> tuple[str | None, str]:
    """(path of the first terraform >= 1.9, description) or (None, why there is none)."""
    found = list(terraform_binaries())
    for binary, version in found:
        if version >= MIN_VERSION:
            return binary, f"{binary} {'.'.join(map(str, version))}"
    seen = ", ".join(f"{b} {'.'.join(map(str, v)) or '?'}" for b, v in found) or "none on PATH"
    return None, f"needs Terraform >= 1.9 on PATH or in OPSKIT_TERRAFORM (found: {seen})"


def terraform_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every Terraform command of the gate and the tests runs with."""
    env = dict(os.environ, CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_INPUT="0")
    # Go's collector at its default (GOGC=100) takes about a fifth of Terraform's CPU time over the native
    # suites; at 400 a test command peaks at a few hundred MB. A GOGC set by the caller wins.
    env.setdefault("GOGC", "400")
    if not Path(env.get("TF_CLI_CONFIG_FILE", "") or "/nonexistent").is_file():
        env["TF_CLI_CONFIG_FILE"] = os.devnull  # a configured-but-missing file only produces a warning
    env.pop("TF_REATTACH_PROVIDERS", None)
    env.update(extra or {})
    return env


# --- where the providers come from -----------------------------------------------------------------------


@dataclass
class Providers:
    description: str
    init_args: list[str]
    env: dict[str, str] = field(default_factory=dict)


def write_mirror(directory: Path, platform: str) -> Path:
    """The stand-in as a filesystem mirror: <dir>/registry.terraform.io/hashicorp/<name>/<version>/<platform>/
    terraform-provider-<name>_v<version>, each a two-line launcher of tfprovider.py."""
    for name, version in tfprovider.versions().items():
        target = directory / "registry.terraform.io" / "hashicorp" / name / version / platform
        target.mkdir(parents=True, exist_ok=True)
        launcher = target / f"terraform-provider-{name}_v{version}"
        script = Path(tfprovider.__file__).resolve()
        launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" serve {name} "$@"\n', encoding="utf-8")
        launcher.chmod(0o755)
    return directory


# A block that names a resource or data source type: in configurations, check blocks, test and mock files.
_TYPE_LABEL = re.compile(r'^\s*(?:resource|data|mock_resource|mock_data)\s+"([A-Za-z0-9_]+)"', re.MULTILINE)


def named_types(tree: Path) -> set[str]:
    """Every resource and data source type the tree's .tf, .tftest.hcl and .tfmock.hcl files name."""
    found: set[str] = set()
    for pattern in ("*.tf", "*.tftest.hcl", "*.tfmock.hcl"):
        for path in tree.rglob(pattern):
            found.update(_TYPE_LABEL.findall(path.read_text(encoding="utf-8", errors="replace")))
    return found


def _serve(name: str, types_file: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    script = str(Path(tfprovider.__file__).resolve())
    process = subprocess.Popen(
        [sys.executable, script, "serve", name, "--dev"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=dict(os.environ, **{tfprovider.ONLY_TYPES_ENV: str(types_file)}),
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        match = re.search(r"TF_REATTACH_PROVIDERS='(.*)'", line)
        if match:
            return process, json.loads(match.group(1))
    process.kill()
    error = process.stderr.read() if process.stderr else ""
    raise RuntimeError(f"the schema stand-in for {name} did not start: {error.strip()[-500:]}")


@contextmanager
def providers(terraform: str, work: Path, tree: Path) -> Iterator[Providers]:
    real_dir = os.environ.get("OPSKIT_TF_PLUGIN_DIR")
    if real_dir:
        yield Providers(f"real providers from {real_dir}", [f"-plugin-dir={real_dir}"])
        return
    if os.environ.get("OPSKIT_TF_PROVIDERS") == "registry":
        yield Providers("real providers from the registry / CLI configuration", [])
        return
    version = subprocess.run([terraform, "version", "-json"], capture_output=True, text=True, env=terraform_env())
    platform = json.loads(version.stdout)
    mirror = write_mirror(work / "mirror", platform["platform"])
    versions = ", ".join(f"{k} {v}" for k, v in tfprovider.versions().items())
    # Terraform decodes every served schema in every command: serving the ~45 types the tree names
    # instead of the provider's ~2,000 changes no result (a type the tree does not name is never looked
    # up; a misspelt one is unknown either way) and makes each command several times cheaper.
    types_file = work / "schema-types.txt"
    types_file.write_text("\n".join(sorted(named_types(tree))) + "\n", encoding="utf-8")
    servers = [_serve(name, types_file) for name in tfprovider.versions()]
    reattach: dict[str, Any] = {}
    for _, entry in servers:
        reattach.update(entry)
    try:
        yield Providers(
            f"opskit schema stand-in ({versions}; scripts/tfschema/{tfprovider.SCHEMA_FILE.name})",
            [f"-plugin-dir={mirror}"],
            {"TF_REATTACH_PROVIDERS": json.dumps(reattach)},
        )
    finally:
        # Killed, not interrupted: the server's main thread waits in gRPC, and a SIGINT that the kernel hands
        # to one of gRPC's threads left it running until a 10 s timeout (seen in about one gate run in three).
        # The server keeps no state; its socket directory is removed here.
        for process, entry in servers:
            process.kill()
            process.wait()
            for provider in entry.values():
                socket = Path(provider["Addr"]["String"])  # <temporary directory>/py-tf-plugin.sock
                if socket.name == "py-tf-plugin.sock" and socket.parent.parent == Path(tempfile.gettempdir()):
                    shutil.rmtree(socket.parent, ignore_errors=True)


# --- the tree, the configurations, the runs ----------------------------------------------------------


def copy_tree(source: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)

    def ignore(directory: str, names: list[str]) -> set[str]:
        return {n for n in names if n in SKIP_PARTS or n.endswith(".tfstate") or n == ".terraform.lock.hcl"}

    shutil.copytree(source, target, ignore=ignore, symlinks=True)
    return target


def configurations(tree: Path) -> list[Path]:
    """The root, examples/*, modules/* (each directory holding .tf files), relative to the tree."""
    found = [Path(".")] if any(tree.glob("*.tf")) else []
    for parent in ("examples", "modules"):
        found += [p.relative_to(tree) for p in sorted((tree / parent).glob("*")) if any(p.glob("*.tf"))]
    return found


_RUN = re.compile(r'^run\s+"', re.MULTILINE)
_LOCAL_SOURCE = re.compile(r'^\s*source\s*=\s*"(\.\.?/[^"]*)"', re.MULTILINE)


def _hcl_bytes(directory: Path, seen: set[Path]) -> int:
    """Bytes of the .tf files of a configuration and of every local module it calls (each counted once)."""
    if directory in seen:
        return 0
    seen.add(directory)
    total = 0
    for path in directory.glob("*.tf"):
        text = path.read_text(encoding="utf-8", errors="replace")
        total += len(text)
        total += sum(_hcl_bytes((directory / source).resolve(), seen) for source in _LOCAL_SOURCE.findall(text))
    return total


def weight(tree: Path, config: Path) -> int:
    """A rough cost of checking a configuration: its native runs (plus validate) times the HCL each run
    plans. The gate starts the root first (every environment plans and applies every module) and then the
    heaviest, so that no worker is left alone with a long suite at the end."""
    if config == Path("."):
        return sys.maxsize
    runs = sum(len(_RUN.findall(p.read_text(encoding="utf-8"))) for p in (tree / config / "tests").glob("*.tftest.hcl"))
    return (runs + 1) * _hcl_bytes((tree / config).resolve(), set())


def start_order(tree: Path, configs: list[Path]) -> list[Path]:
    """The order the gate's workers take the configurations in: heaviest first."""
    return sorted(configs, key=lambda c: weight(tree, c), reverse=True)


def _location(config: Path, diagnostic: dict, tree: Path) -> str:
    where = diagnostic.get("range") or {}
    filename = where.get("filename")
    if not filename:
        return f"{config / 'main.tf' if config != Path('.') else 'main.tf'}:1"
    path = Path(filename)
    if path.is_absolute():
        path = path.relative_to(tree) if path.is_relative_to(tree) else path
    else:
        path = Path(os.path.normpath(config / path))
    return f"{path}:{where.get('start', {}).get('line', 1)}"


def _message(diagnostic: dict) -> str:
    detail = " ".join((diagnostic.get("detail") or "").split())
    text = diagnostic.get("summary", "error") + (f": {detail}" if detail else "")
    return text if len(text) <= 600 else text[:600] + "..."


def _run(terraform: str, args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([terraform, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(exc.cmd, 124, "", f"timed out after {TIMEOUT}s")


def _test(terraform: str, args: list[str], config: Path, tree: Path, env: dict[str, str], result: Result) -> None:
    completed = _run(terraform, ["test", "-json", *args], tree / config, env)
    summary = None
    for line in completed.stdout.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        diagnostic = entry.get("diagnostic")
        if diagnostic and diagnostic.get("severity") == "error":
            where = f" (run {entry['@testrun']})" if entry.get("@testrun") else ""
            result.findings.append(f"{_location(config, diagnostic, tree)}: {_message(diagnostic)}{where}")
        if entry.get("type") == "test_summary":
            summary = entry["test_summary"]
    if summary is None:
        result.findings.append(f"{config}:1: terraform test {' '.join(args)} failed: {completed.stderr.strip()[-500:]}")
        return
    result.passed += summary.get("passed", 0)
    result.failed += summary.get("failed", 0) + summary.get("errored", 0)
    if summary.get("status") not in ("pass", "pending") and not result.findings:
        result.findings.append(f"{config}:1: terraform test {' '.join(args)}: {summary}")


def check_configuration(terraform: str, config: Path, tree: Path, source: Providers, suites: bool = True) -> Result:
    result = Result(configurations=1)
    cwd = tree / config
    init = _run(
        terraform, ["init", "-backend=false", "-input=false", "-no-color", *source.init_args], cwd, terraform_env()
    )
    if init.returncode != 0:
        result.findings.append(f"{config}:1: terraform init failed: {' '.join(init.stderr.split())[-600:]}")
        return result
    env = terraform_env(source.env)
    validate = _run(terraform, ["validate", "-json", "-no-color"], cwd, env)
    try:
        diagnostics = json.loads(validate.stdout).get("diagnostics", [])
    except json.JSONDecodeError:
        diagnostics = [{"summary": "terraform validate failed", "detail": validate.stderr}]
    errors = [d for d in diagnostics if d.get("severity", "error") == "error"]
    result.findings += [f"{_location(config, d, tree)}: {_message(d)}" for d in errors]
    if errors or not suites:
        return result  # a configuration that does not validate cannot be tested
    if any((cwd / "tests").glob("*.tftest.hcl")):
        _test(terraform, [], config, tree, env, result)
    suite = cwd / ENV_SUITE
    if any(suite.glob("*.tftest.hcl")):
        for tfvars in sorted((cwd / "environments").glob("*.tfvars")) + sorted(suite.glob("*.tfvars")):
            _test(terraform, [f"-test-directory={ENV_SUITE}", f"-var-file={tfvars}"], config, tree, env, result)
    return result


def fmt_findings(terraform: str, tree: Path) -> list[str]:
    completed = _run(terraform, ["fmt", "-check", "-recursive", "-list=true"], tree, terraform_env())
    if completed.returncode == 0:
        return []
    files = [line.strip() for line in completed.stdout.splitlines() if line.strip()]
    return [f"{name}:1: not formatted (run make fmt)" for name in files] or [f".:1: terraform fmt: {completed.stderr}"]


def run(
    source: Path = REPO,
    work: Path = BUILD / "terraform",
    only: list[str] | None = None,
    workers: int | None = None,
    suites: bool = True,
) -> tuple[Result, str | None]:
    """Copy `source` to `work`/tree and check every configuration (or those in `only`); `suites=False`
    stops after `validate` (no native test runs).
    Returns (result, None) or (empty result, why it was skipped)."""
    terraform, description = find_terraform()
    if terraform is None:
        return Result(), description
    tree = copy_tree(source, work / "tree")
    result = Result(findings=fmt_findings(terraform, tree))
    selected = [c for c in configurations(tree) if not only or str(c) in only]
    heaviest_first = start_order(tree, selected)
    pool = ThreadPoolExecutor(workers or os.cpu_count() or 2)
    with providers(terraform, work, tree) as source_of_schema, pool:
        checked = pool.map(lambda c: check_configuration(terraform, c, tree, source_of_schema, suites), heaviest_first)
        results = dict(zip(heaviest_first, checked, strict=True))
        for part in (results[c] for c in selected):  # findings in configuration order
            result.findings += [f for f in part.findings if f not in result.findings]  # modules repeat via the root
            result.passed += part.passed
            result.failed += part.failed
            result.configurations += part.configurations
        result.notes.append(f"{description}; schema source: {source_of_schema.description}")
    return result, None
