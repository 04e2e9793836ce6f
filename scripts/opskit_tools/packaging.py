"""Stage functions/<name>/ into build/<name>/ for `archive_file`, deterministically.

- Sources are copied with a sorted walk; `functions/_shared/*.py` is added to every package.
- `requirements.txt` (every line pinned with ==) is vendored for the Lambda platform with
  `pip install --target --platform manylinux2014_aarch64 --implementation cp --python-version 3.13
  --only-binary=:all: --no-compile`; every installed distribution must be pinned there too, so a
  transitive dependency cannot drift between machines.
- Byte-identical output for identical inputs: `__pycache__`, `*.dist-info/RECORD`, `direct_url.json`
  and pip's `bin/` scripts (which embed the local interpreter path) are dropped; files become 0644,
  directories 0755, and every mtime is 1980-01-01, so `archive_file` hashes are stable across machines.
- A content hash of sources + requirements + this file + the platform settings is the cache key: an
  unchanged package is not rebuilt.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .paths import BUILD, FUNCTIONS, SHARED

PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.13"
FIXED_MTIME = 315532800  # 1980-01-01T00:00:00Z, the earliest time a zip entry can hold
_IGNORED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_IGNORED_SUFFIXES = {".pyc", ".pyo"}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([A-Za-z0-9.+!_-]+)\s*(;.*)?$")


class BuildError(Exception):
    """A function cannot be packaged; the message names the function."""


@dataclass
class PackageResult:
    name: str
    status: str  # "built" or "cached"
    sha256: str
    files: int
    bytes: int
    zip_bytes: int
    seconds: float
    vendored: list[str] = field(default_factory=list)

    def line(self) -> str:
        extra = f", vendored {', '.join(self.vendored)}" if self.vendored else ""
        return (
            f"{self.status:<6} {self.files} files, {self.bytes / 1024:.1f} KiB staged, "
            f"zip {self.zip_bytes / 1024:.1f} KiB, sha256 {self.sha256[:12]}{extra} ({self.seconds:.2f}s)"
        )


def _walk(root: Path) -> Iterator[Path]:
    """Files under root in a stable order, skipping caches."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _IGNORED_DIRS)
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            if path.suffix not in _IGNORED_SUFFIXES:
                yield path


def parse_requirements(name: str, path: Path) -> dict[str, str]:
    """{normalised name: version}; every requirement must be pinned exactly."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _PIN.match(line)
        if not match:
            raise BuildError(f"{name}: {path.name}:{number}: {line!r} is not pinned (use name==version)")
        pins[_normalise(match.group(1))] = match.group(3)
    return pins


def _normalise(project: str) -> str:
    return re.sub(r"[-_.]+", "-", project).lower()


def check_source(name: str, source: Path) -> None:
    if not source.is_dir():
        raise BuildError(f"{name}: source directory {source} does not exist")
    handler = source / "handler.py"
    if not handler.is_file():
        raise BuildError(f"{name}: {handler} is missing (every function needs handler.py)")
    problem = handler_problem(handler)
    if problem:
        raise BuildError(f"{name}: {problem}")


def handler_problem(handler: Path) -> str | None:
    """None when handler.py compiles and defines handler(event, context) at module level."""
    try:
        tree = ast.parse(handler.read_text(encoding="utf-8"), filename=str(handler))
    except SyntaxError as exc:
        return f"{handler.name}:{exc.lineno}: does not compile: {exc.msg}"
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "handler":
            params = [a.arg for a in node.args.posonlyargs + node.args.args]
            if len(params) != 2:
                return f"{handler.name}:{node.lineno}: handler must take (event, context), takes ({', '.join(params)})"
            return None
    return f"{handler.name}:1: does not define handler(event, context)"


def cache_key(name: str, source: Path) -> str:
    digest = hashlib.sha256()
    digest.update(f"{PLATFORM}|{PYTHON_VERSION}|{sys.version_info[:2]}".encode())
    for root in (source, SHARED):
        for path in _walk(root):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


def tree_digest(root: Path) -> tuple[str, int, int]:
    """(sha256 over relative paths and contents, file count, total bytes)."""
    digest = hashlib.sha256()
    files = size = 0
    for path in _walk(root):
        data = path.read_bytes()
        digest.update(str(path.relative_to(root)).encode() + b"\0" + hashlib.sha256(data).digest())
        files += 1
        size += len(data)
    return digest.hexdigest(), files, size


def zip_size(root: Path) -> int:
    """Size of the deployment zip (deflated, fixed timestamps), as archive_file will produce it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in _walk(root):
            info = zipfile.ZipInfo(str(path.relative_to(root)), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getbuffer().nbytes


def _copy_sources(source: Path, staging: Path) -> None:
    for path in _walk(source):
        relative = path.relative_to(source)
        if relative.name == "requirements.txt" and len(relative.parts) == 1:
            continue
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    for path in sorted(SHARED.glob("*.py")):
        if (staging / path.name).exists():
            raise BuildError(f"{source.name}: {path.name} would shadow the shared module of the same name")
        shutil.copyfile(path, staging / path.name)


def _vendor(name: str, requirements: Path, staging: Path, pip_args: Sequence[str]) -> list[str]:
    pins = parse_requirements(name, requirements)
    if not pins:
        return []
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
        "--target", str(staging), "--platform", PLATFORM, "--implementation", "cp",
        "--python-version", PYTHON_VERSION, "--only-binary=:all:", "--no-compile",
        "-r", str(requirements), *pip_args,
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        detail = (completed.stderr or completed.stdout).strip().splitlines()
        raise BuildError(f"{name}: vendoring {requirements.name} failed: {' | '.join(detail[-3:])}")
    installed = {}
    for dist_info in staging.glob("*.dist-info"):
        project, _, version = dist_info.name[: -len(".dist-info")].rpartition("-")
        installed[_normalise(project)] = version
    unpinned = sorted(set(installed) - set(pins))
    if unpinned:
        listed = ", ".join(f"{p}=={installed[p]}" for p in unpinned)
        raise BuildError(f"{name}: {requirements.name} does not pin transitive dependencies: add {listed}")
    return [f"{p}=={v}" for p, v in sorted(installed.items())]


def _normalise_tree(staging: Path) -> None:
    shutil.rmtree(staging / "bin", ignore_errors=True)  # console scripts embed the build machine's python
    for dirpath, dirnames, filenames in os.walk(staging, topdown=False):
        directory = Path(dirpath)
        for filename in filenames:
            path = directory / filename
            if path.suffix in _IGNORED_SUFFIXES or (
                directory.name.endswith(".dist-info") and filename in {"RECORD", "direct_url.json", "INSTALLER"}
            ):
                path.unlink()
                continue
            path.chmod(0o644)
            os.utime(path, (FIXED_MTIME, FIXED_MTIME))
        for dirname in dirnames:
            sub = directory / dirname
            if dirname in _IGNORED_DIRS:
                shutil.rmtree(sub)
                continue
            sub.chmod(0o755)
            os.utime(sub, (FIXED_MTIME, FIXED_MTIME))
    staging.chmod(0o755)
    os.utime(staging, (FIXED_MTIME, FIXED_MTIME))


def package(
    name: str,
    build_root: Path = BUILD,
    functions_root: Path = FUNCTIONS,
    force: bool = False,
    pip_args: Sequence[str] = (),
) -> PackageResult:
    """Stage one function (or reuse the cached stage) and return what was produced."""
    started = time.perf_counter()
    source = functions_root / name
    check_source(name, source)
    requirements = source / "requirements.txt"
    if requirements.exists():
        parse_requirements(name, requirements)  # fail on an unpinned line before any work
    key = cache_key(name, source)
    target = build_root / name
    stamp = build_root / ".cache" / f"{name}.json"
    if not force and target.is_dir() and stamp.is_file():
        cached = json.loads(stamp.read_text(encoding="utf-8"))
        if cached.get("key") == key:
            return PackageResult(**{**cached["result"], "status": "cached", "seconds": time.perf_counter() - started})

    staging = build_root / f".staging-{name}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        _copy_sources(source, staging)
        vendored = _vendor(name, requirements, staging, pip_args) if requirements.exists() else []
        _normalise_tree(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    digest, files, size = tree_digest(target)
    result = PackageResult(name, "built", digest, files, size, zip_size(target), 0.0, vendored)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    record = {k: v for k, v in vars(result).items() if k not in ("status", "seconds")}
    stamp.write_text(json.dumps({"key": key, "result": {**record, "status": "built", "seconds": 0.0}}, indent=1))
    result.seconds = time.perf_counter() - started
    return result


def package_all(
    names: Sequence[str],
    build_root: Path = BUILD,
    functions_root: Path = FUNCTIONS,
    force: bool = False,
    pip_args: Sequence[str] = (),
    progress: Callable[[str], None] = print,
) -> list[PackageResult]:
    """Package every named function, report progress, write build/manifest.json. Raises BuildError
    naming every function that failed (the others are still built)."""
    results, errors = [], []
    for index, name in enumerate(names, start=1):
        try:
            result = package(name, build_root, functions_root, force, pip_args)
        except BuildError as exc:
            errors.append(str(exc))
            progress(f"[{index}/{len(names)}] {name:<18} FAILED: {exc}")
            continue
        results.append(result)
        progress(f"[{index}/{len(names)}] {name:<18} {result.line()}")
    manifest_path = build_root / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    manifest = {k: v for k, v in manifest.items() if (functions_root / k / "handler.py").is_file()}
    for r in results:
        manifest[r.name] = {"sha256": r.sha256, "files": r.files, "bytes": r.bytes, "zip_bytes": r.zip_bytes}
    build_root.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if errors:
        raise BuildError("; ".join(errors))
    return results
