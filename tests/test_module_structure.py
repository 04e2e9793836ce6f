"""The architecture rules that hold the modules together, read from the HCL itself:
two internal modules own what every feature repeats (lambda-function every function, s3-bucket every bucket);
feature modules call them and never each other; resources that moved into an internal module keep their
state through moved blocks; the root composes every feature module behind an enable flag."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from opskit_tools import hcl
from opskit_tools.hcl import unquote

REPO = Path(__file__).resolve().parents[1]
MODULES = REPO / "modules"
INTERNAL = ("lambda-function", "s3-bucket")
FEATURES = sorted(p.name for p in MODULES.iterdir() if p.is_dir() and p.name not in INTERNAL)
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


def _calls(module: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(call name, source, body) of every module block of a module."""
    return [(name, unquote(body["source"]), body) for name, body in _blocks(MODULES / module, "module")]


def test_internal_modules_exist_and_call_no_module() -> None:
    for internal in INTERNAL:
        assert (MODULES / internal / "main.tf").is_file(), internal
        assert not _blocks(MODULES / internal, "module"), f"{internal} is internal and calls no module"


@pytest.mark.parametrize("module", FEATURES)
def test_feature_module_calls_lambda_function_once_and_only_internal_modules(module: str) -> None:
    resources = [label for label, _ in _blocks(MODULES / module, "resource")]
    assert not [r for r in resources if r.startswith("aws_lambda_function.")], (
        "declare functions via ../lambda-function"
    )
    assert not [r for r in resources if r.startswith("aws_s3_bucket")], "declare buckets via ../s3-bucket"
    assert "archive_file" not in " ".join(label for label, _ in _blocks(MODULES / module, "data"))
    calls = _calls(module)
    for name, source, _ in calls:
        assert source in {f"../{m}" for m in INTERNAL}, f"{module}: module {name} calls {source}"
    functions = [body for _, source, body in calls if source == "../lambda-function"]
    assert len(functions) == 1, f"{module} must call ../lambda-function exactly once"
    assert unquote(functions[0]["package"]) in FUNCTIONS
    for name, source, body in calls:
        if source == "../s3-bucket":
            assert "package" not in body, f"{module}: module {name}"


def test_every_function_is_deployed_by_exactly_one_module() -> None:
    packages = [
        unquote(body["package"])
        for module in FEATURES
        for _, source, body in _calls(module)
        if source == "../lambda-function"
    ]
    assert sorted(packages) == FUNCTIONS


def test_s3_buckets_are_declared_only_in_the_s3_bucket_module() -> None:
    declared = {
        module: [label for label, _ in _blocks(MODULES / module, "resource") if label.startswith("aws_s3_bucket")]
        for module in [*FEATURES, "lambda-function"]
    }
    assert declared == {module: [] for module in declared}
    bucket = dict(_blocks(MODULES / "s3-bucket", "resource"))
    assert sorted(bucket) == [
        "aws_s3_bucket.this",
        "aws_s3_bucket_lifecycle_configuration.this",
        "aws_s3_bucket_logging.this",
        "aws_s3_bucket_ownership_controls.this",
        "aws_s3_bucket_policy.this",
        "aws_s3_bucket_public_access_block.this",
        "aws_s3_bucket_server_side_encryption_configuration.this",
        "aws_s3_bucket_versioning.this",
    ]
    # A caller may call it more than once (a bucket and the bucket receiving its access logs).
    callers = sorted({module for module in FEATURES for _, source, _ in _calls(module) if source == "../s3-bucket"})
    assert callers == ["asg-backup", "health-check", "owner-tagger", "restart-workflow"]


_ADDRESS = re.compile(r"^(?:module\.(?P<call>\w+)(?:\[\d+\])?\.)?(?P<type>[a-z0-9_]+)\.(?P<name>\w+)(?:\[\d+\])?$")


def _moved(module: str) -> list[tuple[re.Match[str], re.Match[str]]]:
    pairs = []
    for path in sorted((MODULES / module).glob("*.tf")):
        for block in hcl.load_unquoted(path).get("moved", []):
            source, target = (_ADDRESS.match(block[k].removeprefix("${").removesuffix("}")) for k in ("from", "to"))
            assert source and target, f"{module}: unexpected moved addresses {block}"
            pairs.append((source, target))
    return pairs


@pytest.mark.parametrize("module", FEATURES)
def test_moved_blocks_map_a_gone_resource_to_the_same_type_inside_a_called_module(module: str) -> None:
    """A moved block whose source still exists, whose target is another resource type or does not exist in
    the called module, or two blocks with the same source or target, would make Terraform refuse the plan
    or replace the resource."""
    pairs = _moved(module)
    declared = {label for label, _ in _blocks(MODULES / module, "resource")}
    calls = {name: source for name, source, _ in _calls(module)}
    for source, target in pairs:
        assert source["call"] is None and f"{source['type']}.{source['name']}" not in declared, source.string
        assert target["type"] == source["type"], f"{source.string} -> {target.string}"
        assert target["call"] in calls, target.string
        inside = {label for label, _ in _blocks((MODULES / module / calls[target["call"]]).resolve(), "resource")}
        assert f"{target['type']}.{target['name']}" in inside, target.string
    assert len({s.string for s, _ in pairs}) == len({t.string for _, t in pairs}) == len(pairs)


# Resources the s3-bucket module gained after the callers' hand-written buckets moved into it: nothing to move.
NEW_IN_S3_BUCKET = {"aws_s3_bucket_logging.this"}


@pytest.mark.parametrize("module", ["asg-backup", "owner-tagger"])
def test_every_resource_of_the_s3_bucket_module_has_a_moved_block_from_the_old_hand_written_one(module: str) -> None:
    """The two callers declared the seven S3 resources themselves before; each must move into one call of the
    module (a further call, such as a bucket for access logs, is new and has nothing to move)."""
    calls = {name for name, source, _ in _calls(module) if source == "../s3-bucket"}
    (call,) = {t["call"] for _, t in _moved(module) if t["call"] in calls}
    targets = sorted(f"{t['type']}.{t['name']}" for _, t in _moved(module) if t["call"] == call)
    resources = {label for label, _ in _blocks(MODULES / "s3-bucket", "resource")}
    assert resources >= NEW_IN_S3_BUCKET, "a resource listed as new no longer exists"
    assert targets == sorted(resources - NEW_IN_S3_BUCKET)
    assert len(targets) == 7


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


def _terraform_1_9() -> str | None:
    from opskit_tools import tfgate

    return next((binary for binary, version in tfgate.terraform_binaries() if version >= (1, 9)), None)


@pytest.mark.skipif(
    _terraform_1_9() is None, reason="needs Terraform >= 1.9 (variable validations reading path.module)"
)
def test_terraform_validate_of_the_root_rejects_a_package_without_handler(tmp_path: Path) -> None:
    """The rule that `package` names an existing functions/<package>/handler.py lives in lambda-function's
    variable validation (fileexists relative to path.module), so `terraform validate` of the root, which
    calls it through a feature module, fails on a misspelt package, naming the missing file."""
    from opskit_tools import tfgate

    source = tfgate.copy_tree(REPO, tmp_path / "source")
    feature = source / "modules" / "scheduler" / "main.tf"
    text = feature.read_text()
    assert text.count('package     = "scheduler"') == 1
    feature.write_text(text.replace('package     = "scheduler"', 'package     = "schedulr"'))
    result, skipped = tfgate.run(source=source, work=tmp_path / "work", only=["."], workers=1, suites=False)
    assert skipped is None
    assert any("functions/schedulr/handler.py does not exist" in finding for finding in result.findings), (
        result.findings
    )
