"""The architecture rules that hold the modules together, read from the HCL itself:
one internal lambda-function module owns every function; feature modules call it and never each other;
the root composes every feature module behind an enable flag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opskit_tools import hcl
from opskit_tools.hcl import unquote

REPO = Path(__file__).resolve().parents[1]
MODULES = REPO / "modules"
FEATURES = sorted(p.name for p in MODULES.iterdir() if p.is_dir() and p.name != "lambda-function")
FUNCTIONS = sorted(p.name for p in (REPO / "functions").iterdir() if (p / "handler.py").is_file())


def _blocks(directory: Path, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """(label path, body) of every `kind` block in the directory's .tf files."""
    found = []
    for path in sorted(directory.glob("*.tf")):
        for block in hcl.load(path).get(kind, []):
            for label, body in block.items():
                if kind in ("resource", "data"):
                    for name, inner in body.items():
                        found.append((f"{unquote(label)}.{unquote(name)}", inner))
                else:
                    found.append((unquote(label), body))
    return found


def test_there_are_six_feature_modules_and_six_functions() -> None:
    assert FEATURES == [
        "asg-backup",
        "health-check",
        "instance-protect",
        "owner-tagger",
        "restart-workflow",
        "scheduler",
    ]
    assert len(FUNCTIONS) == 6


@pytest.mark.parametrize("module", FEATURES)
def test_feature_module_uses_lambda_function_and_no_other_module(module: str) -> None:
    resources = [label for label, _ in _blocks(MODULES / module, "resource")]
    assert not [r for r in resources if r.startswith("aws_lambda_function.")], (
        "declare functions via ../lambda-function"
    )
    assert "archive_file" not in " ".join(label for label, _ in _blocks(MODULES / module, "data"))
    calls = _blocks(MODULES / module, "module")
    assert calls, f"{module} calls no module"
    for name, body in calls:
        assert unquote(body["source"]) == "../lambda-function", f"{module}: module {name} calls {body['source']}"
        assert unquote(body["package"]) in FUNCTIONS


def test_every_function_is_deployed_by_exactly_one_module() -> None:
    packages = [unquote(body["package"]) for module in FEATURES for _, body in _blocks(MODULES / module, "module")]
    assert sorted(packages) == FUNCTIONS


def test_lambda_function_module_owns_packaging_logging_and_failure_handling() -> None:
    lf = MODULES / "lambda-function"
    resources = dict(_blocks(lf, "resource"))
    data = dict(_blocks(lf, "data"))
    archive = data["archive_file.package"]
    assert unquote(archive["output_file_mode"]) == "0644"
    assert "local.build_root" in archive["output_path"] and "path.module" not in archive["output_path"]
    function = resources["aws_lambda_function.this"]
    assert function["logging_config"][0]["log_format"] == '"JSON"'
    assert "aws_cloudwatch_log_group.this" in function["depends_on"][0]
    assert "aws_lambda_function_event_invoke_config.this" in resources
    assert "aws_sqs_queue.dlq" in resources
    assert resources["aws_sqs_queue.dlq"]["sqs_managed_sse_enabled"] != "false"
    everything = "\n".join(p.read_text() for p in lf.glob("*.tf"))
    assert "AWSLambdaBasicExecutionRole" not in everything
    assert "aws_iam_role_policy_attachment" not in everything


def test_root_composes_every_feature_module_behind_a_flag() -> None:
    calls = dict(_blocks(REPO, "module"))
    assert sorted(unquote(body["source"]).removeprefix("./modules/") for body in calls.values()) == FEATURES
    variables = {name for name, _ in _blocks(REPO, "variable")}
    for name, body in calls.items():
        assert body["count"] == f"${{var.enable_{name} ? 1 : 0}}"
        assert f"enable_{name}" in variables and name in variables
