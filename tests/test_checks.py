"""scripts/build.py validate: the Python checks and the real-terraform orchestration (with a stand-in
terraform binary that records how it was called, since no provider can be downloaded here)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from opskit_tools import checks
from opskit_tools.paths import REPO


def _fake_terraform(directory: Path, version: str, log: Path, fail_validate_in: str = "") -> Path:
    script = directory / "terraform"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = version ]; then echo \'{{"terraform_version": "{version}"}}\'; exit 0; fi\n'
        f'echo "$(pwd) $*" >> "{log}"\n'
        f'if [ "$1" = validate ] && [ -n "{fail_validate_in}" ] && [ "${{PWD##*/}}" = "{fail_validate_in}" ]; then\n'
        '  echo "Error: Unsupported argument" >&2; exit 1\n'
        "fi\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def _plugin_dir(root: Path) -> Path:
    for provider in ("aws", "archive"):
        (root / "registry.terraform.io" / "hashicorp" / provider).mkdir(parents=True)
    return root


@pytest.fixture
def isolated_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    for name in ("OPSKIT_TERRAFORM", "OPSKIT_TF_PLUGIN_DIR", "TF_PLUGIN_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return bin_dir


def test_validate_runs_init_and_validate_on_root_and_every_example(
    tmp_path: Path, isolated_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "calls.log"
    _fake_terraform(isolated_path, "1.9.8", log)
    plugins = _plugin_dir(tmp_path / "plugins")
    monkeypatch.setenv("OPSKIT_TF_PLUGIN_DIR", str(plugins))
    outcome = checks.check_terraform_validate()
    assert outcome.skipped is None and outcome.findings == []
    calls = log.read_text().splitlines()
    examples = sorted(p for p in (REPO / "examples").iterdir() if p.is_dir())
    expected = []
    for directory in [REPO, *examples]:
        expected.append(f"{directory} init -backend=false -input=false -plugin-dir={plugins}")
        expected.append(f"{directory} validate -no-color")
    assert calls == expected


def test_validate_failure_is_a_finding_naming_the_configuration(
    tmp_path: Path, isolated_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_terraform(isolated_path, "1.9.8", tmp_path / "calls.log", fail_validate_in="multi-account")
    monkeypatch.setenv("OPSKIT_TF_PLUGIN_DIR", str(_plugin_dir(tmp_path / "plugins")))
    outcome = checks.check_terraform_validate()
    assert len(outcome.findings) == 1
    assert outcome.findings[0].startswith(
        "examples/multi-account:1: terraform init/validate failed: Error: Unsupported"
    )


def test_validate_is_skipped_with_the_reason(tmp_path: Path, isolated_path: Path) -> None:
    _fake_terraform(isolated_path, "1.0.3", tmp_path / "calls.log")
    outcome = checks.check_terraform_validate()
    assert outcome.skipped and "needs terraform >= 1.5" in outcome.skipped and "1.0.3" in outcome.skipped
    _fake_terraform(isolated_path, "1.11.4", tmp_path / "calls.log")
    outcome = checks.check_terraform_validate()
    assert outcome.skipped and "no hashicorp/aws + hashicorp/archive provider" in outcome.skipped
    assert not (tmp_path / "calls.log").exists(), "nothing may be run (and no registry contacted) when skipping"
    assert checks.modern_terraform() == str(isolated_path / "terraform")


def test_python_check_reports_file_and_line(tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    (functions / "good").mkdir(parents=True)
    (functions / "good" / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    (functions / "nohandler").mkdir()
    (functions / "wrong").mkdir()
    (functions / "wrong" / "handler.py").write_text("import os\n\n\ndef handle(event, context):\n    pass\n")
    (functions / "broken").mkdir()
    (functions / "broken" / "handler.py").write_text("def handler(event, context):\n    return (\n")
    outcome = checks.check_python(functions)
    findings = "\n".join(outcome.findings)
    assert "nohandler:1: function directory has no handler.py" in findings
    assert "wrong/handler.py:1: does not define handler(event, context)" in findings
    assert "broken/handler.py:2: does not compile" in findings or "broken/handler.py:3: does not compile" in findings
    assert not any("/good" in f for f in outcome.findings)


def test_real_patterns_and_state_machines_are_clean() -> None:
    assert checks.check_event_patterns().findings == []
    lint = checks.check_state_machines()
    assert lint.skipped is None and lint.findings == []
    assert lint.notes == [f"{len(list((REPO / 'modules').rglob('*.asl.json')))} definitions linted"]


def test_a_broken_pattern_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    patterns = tmp_path / "modules" / "x" / "patterns"
    patterns.mkdir(parents=True)
    (patterns / "ok.json").write_text('{"source": ["aws.ec2"], "detail": {"names": ${jsonencode(n)}}}')
    (patterns / "bad.json").write_text('{"source": "aws.ec2"}')
    (patterns / "broken.json").write_text('{"source": [\n')
    monkeypatch.setattr(checks, "REPO", tmp_path)
    findings = checks.check_event_patterns().findings
    assert sorted(os.path.basename(f.split(":")[0]) for f in findings) == ["bad.json", "broken.json"]
