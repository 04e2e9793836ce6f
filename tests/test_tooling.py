"""The shared test/validation tooling: pattern validity, template renderer, sample rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opskit_tools import checks, eventpattern, tftemplate


def test_pattern_problems_are_the_rule_engines() -> None:
    assert eventpattern.problems({"source": ["aws.ec2"]}) == []
    assert eventpattern.problems({"source": "aws.ec2"}) == [
        "Event pattern is not valid. Reason: 'source' must be an object or an array"
    ]
    assert eventpattern.problems(["aws.ec2"]) == ["a pattern must be a JSON object, got list"]


def test_template_renderer_matches_terraform_syntax() -> None:
    text = '{"names": ${jsonencode(names)}, "wait": ${seconds}, "arn": "${topic}", "literal": "$${keep}"}'
    rendered = tftemplate.render(text, {"names": ["a", "b"], "seconds": 15, "topic": "arn:aws:sns:x"})
    assert json.loads(rendered) == {"names": ["a", "b"], "wait": 15, "arn": "arn:aws:sns:x", "literal": "${keep}"}
    with pytest.raises(KeyError, match="'missing'"):
        tftemplate.render("${missing}", {})
    with pytest.raises(ValueError, match="unsupported template expression"):
        tftemplate.render("${upper(x)}", {"x": "a"})


def test_sample_rendering_keeps_templates_parseable() -> None:
    text = '{"a": ${jsonencode(names)}, "b": "prefix-${name}", "c": ${seconds}, "d": "\\"${x}\\""}'
    as_pattern = json.loads(checks.render_sample(text, list_values=True))
    as_asl = json.loads(checks.render_sample(text, list_values=False))
    assert as_pattern == {"a": ["opskit-sample"], "b": "prefix-opskit-sample", "c": 1, "d": '"opskit-sample"'}
    assert as_asl["a"] == "opskit-sample"


def test_statelint_findings_name_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "modules" / "demo"
    module.mkdir(parents=True)
    (module / "bad.asl.json").write_text(json.dumps({"StartAt": "Missing", "States": {"A": {"Type": "Succeed"}}}))
    (module / "good.asl.json").write_text(
        '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": ${wait}, "Next": "D"}, "D": {"Type": "Succeed"}}}'
    )
    monkeypatch.setattr(checks, "REPO", tmp_path)
    outcome = checks.check_state_machines()
    assert outcome.findings
    assert all(
        f.startswith(str(module / "bad.asl.json")) or f.startswith("modules/demo/bad.asl.json")
        for f in outcome.findings
    )
    assert any("Missing" in f for f in outcome.findings)
