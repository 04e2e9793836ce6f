"""scripts/build.py validate: the Python, event-pattern and state-machine checks (the Terraform gate has its
own tests in test_terraform_gate.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from opskit_tools import checks
from opskit_tools.paths import REPO


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
