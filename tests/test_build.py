"""scripts/build.py packaging: deterministic staging, vendoring, cache, and loud failures."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
import zipfile
from pathlib import Path

import pytest
from opskit_tools import packaging
from opskit_tools.paths import SHARED


def _function(root: Path, name: str, body: str = "def handler(event, context):\n    return event\n") -> Path:
    directory = root / name
    directory.mkdir(parents=True)
    (directory / "handler.py").write_text(body)
    (directory / "helpers").mkdir()
    (directory / "helpers" / "util.py").write_text("VALUE = 1\n")
    return directory


def _wheel(directory: Path, project: str, version: str, requires: list[str] | None = None) -> Path:
    """A minimal pure-Python wheel, so vendoring is exercised offline with --no-index."""
    module = project.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist_info}/METADATA": "Metadata-Version: 2.1\nName: {}\nVersion: {}\n{}".format(
            project, version, "".join(f"Requires-Dist: {r}\n" for r in requires or [])
        ),
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    path = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def _offline(wheels: Path) -> list[str]:
    return ["--no-index", "--find-links", str(wheels)]


def test_staging_is_byte_identical_across_build_roots(tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    _function(functions, "alpha")
    first = packaging.package("alpha", tmp_path / "b1", functions)
    # A different checkout: other mtimes and modes on the sources must not change the result.
    os.utime(functions / "alpha" / "handler.py", (1_700_000_000, 1_700_000_000))
    (functions / "alpha" / "handler.py").chmod(0o600)
    second = packaging.package("alpha", tmp_path / "b2", functions)
    assert first.sha256 == second.sha256
    for root in (tmp_path / "b1" / "alpha", tmp_path / "b2" / "alpha"):
        entries = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
        assert entries == ["handler.py", "helpers", "helpers/util.py", "opskit_common.py"]
        for path in root.rglob("*"):
            info = path.stat()
            assert info.st_mtime == packaging.FIXED_MTIME
            assert stat.S_IMODE(info.st_mode) == (0o755 if path.is_dir() else 0o644)
    assert (tmp_path / "b1" / "alpha" / "opskit_common.py").read_bytes() == (SHARED / "opskit_common.py").read_bytes()


def test_unchanged_package_is_served_from_cache_and_a_change_rebuilds(tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    _function(functions, "alpha")
    build = tmp_path / "build"
    assert packaging.package("alpha", build, functions).status == "built"
    again = packaging.package("alpha", build, functions)
    assert again.status == "cached"
    (functions / "alpha" / "helpers" / "util.py").write_text("VALUE = 2\n")
    rebuilt = packaging.package("alpha", build, functions)
    assert rebuilt.status == "built"
    assert rebuilt.sha256 != again.sha256
    assert (build / "alpha" / "helpers" / "util.py").read_text() == "VALUE = 2\n"


def test_manifest_lists_every_packaged_function(tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    _function(functions, "alpha")
    _function(functions, "beta", "def handler(event, context):\n    return 2\n")
    lines: list[str] = []
    results = packaging.package_all(["alpha", "beta"], tmp_path / "build", functions, progress=lines.append)
    manifest = json.loads((tmp_path / "build" / "manifest.json").read_text())
    assert manifest == {
        r.name: {"sha256": r.sha256, "files": r.files, "bytes": r.bytes, "zip_bytes": r.zip_bytes} for r in results
    }
    assert manifest["alpha"]["sha256"] != manifest["beta"]["sha256"]
    assert [line.split()[0] for line in lines] == ["[1/2]", "[2/2]"]
    assert all("zip" in line for line in lines)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "handler.py is missing"),
        ("def main(event, context):\n    pass\n", "does not define handler(event, context)"),
        ("def handler(event):\n    pass\n", "handler must take (event, context)"),
        ("def handler(event, context)\n", "does not compile"),
    ],
)
def test_bad_function_fails_naming_it(tmp_path: Path, body: str | None, message: str) -> None:
    functions = tmp_path / "functions"
    (functions / "broken").mkdir(parents=True)
    if body is not None:
        (functions / "broken" / "handler.py").write_text(body)
    with pytest.raises(packaging.BuildError, match=rf"^broken: .*{re.escape(message)}"):
        packaging.package("broken", tmp_path / "build", functions)


def test_missing_source_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(packaging.BuildError, match=r"^ghost: source directory .* does not exist"):
        packaging.package("ghost", tmp_path / "build", tmp_path / "functions")


def test_one_failure_does_not_stop_the_others(tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    _function(functions, "good")
    (functions / "bad").mkdir()
    lines: list[str] = []
    with pytest.raises(packaging.BuildError, match="bad: "):
        packaging.package_all(["bad", "good"], tmp_path / "build", functions, progress=lines.append)
    assert (tmp_path / "build" / "good" / "handler.py").exists()
    assert "FAILED" in lines[0] and "built" in lines[1]


def test_unpinned_requirement_is_rejected_before_pip_runs(tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    _function(functions, "alpha")
    (functions / "alpha" / "requirements.txt").write_text("# pinned please\nrequests>=2\n")
    with pytest.raises(packaging.BuildError, match=r"alpha: requirements.txt:2: 'requests>=2' is not pinned"):
        packaging.package("alpha", tmp_path / "build", functions)


def test_vendors_pinned_requirements_for_the_lambda_platform(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "tinylib", "1.2.3", requires=["tinydep==0.1"])
    _wheel(wheels, "tinydep", "0.1")
    functions = tmp_path / "functions"
    _function(functions, "alpha")
    (functions / "alpha" / "requirements.txt").write_text("tinylib==1.2.3\ntinydep==0.1\n")
    result = packaging.package("alpha", tmp_path / "build", functions, pip_args=_offline(wheels))
    staged = tmp_path / "build" / "alpha"
    assert result.vendored == ["tinydep==0.1", "tinylib==1.2.3"]
    assert (staged / "tinylib" / "__init__.py").read_text() == "VERSION = '1.2.3'\n"
    assert not (staged / "requirements.txt").exists()
    assert not list(staged.rglob("RECORD")) and not list(staged.rglob("__pycache__"))
    again = packaging.package("alpha", tmp_path / "build2", functions, pip_args=_offline(wheels))
    assert again.sha256 == result.sha256


def test_unpinned_transitive_dependency_is_named(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "tinylib", "1.2.3", requires=["tinydep"])
    _wheel(wheels, "tinydep", "0.1")
    functions = tmp_path / "functions"
    _function(functions, "alpha")
    (functions / "alpha" / "requirements.txt").write_text("tinylib==1.2.3\n")
    with pytest.raises(packaging.BuildError, match=r"alpha: requirements.txt does not pin .*tinydep==0.1"):
        packaging.package("alpha", tmp_path / "build", functions, pip_args=_offline(wheels))


def test_missing_requirement_fails_naming_the_function(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    functions = tmp_path / "functions"
    _function(functions, "alpha")
    (functions / "alpha" / "requirements.txt").write_text("not-a-real-package==9.9.9\n")
    with pytest.raises(packaging.BuildError, match=r"alpha: vendoring requirements.txt failed: .*not-a-real-package"):
        packaging.package("alpha", tmp_path / "build", functions, pip_args=_offline(wheels))
    assert not (tmp_path / "build" / "alpha").exists()
