"""The Terraform gate of `make test` (scripts/opskit_tools/tfgate.py) with real Terraform: errors planted in a
copy of the repository must each come out as a finding naming the file and line.

Two gate runs: one over a tree where every module or example holds one planted error that `terraform validate`
finds (one per configuration, so none masks another), and one over the root whose plans must find the rest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from opskit_tools import checks, tfgate, tfvars
from opskit_tools.paths import REPO

TERRAFORM, WHY = tfgate.find_terraform()
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason=f"no Terraform >= 1.9: {WHY}")

# (configuration, file, text appended to it, expected message start). The line marked `# <-` is the one the
# finding must name. Found by `terraform validate` of the configuration:
PLANTED = {
    "misspelt argument": (
        "modules/scheduler",
        "modules/scheduler/main.tf",
        'resource "aws_sqs_queue" "planted" {\n  name                      = "planted"\n'
        "  visibilty_timeout_seconds = 30 # <-\n}\n",
        "Unsupported argument",
    ),
    "missing required block": (
        "modules/s3-bucket",
        "modules/s3-bucket/main.tf",
        'resource "aws_s3_bucket_versioning" "planted" { # <-\n  bucket = "planted"\n}\n',
        "Insufficient versioning_configuration blocks",
    ),
    "unknown resource type": (
        "modules/owner-tagger",
        "modules/owner-tagger/main.tf",
        'resource "aws_lambda_functoin" "planted" { # <-\n}\n',
        "Invalid resource type",
    ),
    "undeclared variable": (
        "modules/instance-protect",
        "modules/instance-protect/main.tf",
        "locals {\n  planted = var.not_declared # <-\n}\n",
        "Reference to undeclared input variable",
    ),
    "bad module input": (
        "examples/scheduler",
        "examples/scheduler/main.tf",
        'module "planted" {\n  source       = "../../modules/scheduler"\n  name_prefix  = "planted"\n'
        "  not_an_input = true # <-\n}\n",
        "Unsupported argument",
    ),
}
# Found only by planning (the root's environment suite plans every module with every tfvars file):
PLANTED_IN_PLANS = {
    "for_each known only after apply": (
        ".",
        "modules/lambda-function/main.tf",
        'resource "aws_sqs_queue" "planted_source" {\n  name = "planted"\n}\n\n'
        'resource "aws_sqs_queue" "planted" {\n  for_each = toset([aws_sqs_queue.planted_source.arn]) # <-\n'
        "  name     = each.key\n}\n",
        "Invalid for_each argument",
    ),
}
PLANTED["template variable not passed"] = (
    "modules/restart-workflow",
    "modules/restart-workflow/main.tf",
    'locals {\n  planted = templatefile("${path.module}/patterns/alarm-state-change.json", {}) # <-\n}\n',
    "Invalid function argument",
)
PLANTED_IN_PLANS |= {
    "tfvars value that fails a validation": (
        ".",
        "environments/dev.tfvars",
        'name_prefix = "Not_Valid" # <-\n',
        "Invalid value for variable",
    ),
}


def _copy_repo(target: Path) -> Path:
    def ignore(directory: str, names: list[str]) -> set[str]:
        return {n for n in names if n in tfgate.SKIP_PARTS}

    shutil.copytree(REPO, target, ignore=ignore)
    return target


def _plant(tree: Path, relative: str, text: str) -> int:
    path = tree / relative
    existing = path.read_text(encoding="utf-8")
    if not existing.endswith("\n"):
        existing += "\n"
    offset = next(n for n, line in enumerate(text.splitlines()) if line.endswith("# <-"))
    path.write_text(existing + "\n" + text, encoding="utf-8")
    return existing.count("\n") + 2 + offset


def _gate(tmp_path_factory: pytest.TempPathFactory, planted: dict, suites: bool) -> tuple[list[str], dict[str, int]]:
    tree = _copy_repo(tmp_path_factory.mktemp("planted") / "repo")
    # Keeps the run short: the planted errors are elsewhere, and the root's plans need one environment.
    (tree / "tests" / "root.tftest.hcl").unlink()
    (tree / "environments" / "prod.tfvars").unlink()
    (tree / "tests" / "environments" / "all-routes.tfvars").unlink()
    lines = {name: _plant(tree, file, text) for name, (_, file, text, _) in planted.items()}
    only = sorted({config for config, *_ in planted.values()})
    result, skipped = tfgate.run(source=tree, work=tree.parent / "work", only=only, suites=suites)
    assert skipped is None, skipped
    return result.findings, lines


@pytest.fixture(scope="module")
def validate_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict[str, int]]:
    return _gate(tmp_path_factory, PLANTED, suites=False)


@pytest.fixture(scope="module")
def plan_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict[str, int]]:
    return _gate(tmp_path_factory, PLANTED_IN_PLANS, suites=True)


def _assert_found(planted: dict, name: str, run: tuple[list[str], dict[str, int]]) -> None:
    findings, lines = run
    _, file, _, message = planted[name]
    expected = f"{file}:{lines[name]}: {message}"
    assert any(f.startswith(expected) for f in findings), f"{expected!r} not among:\n" + "\n".join(findings)


@needs_terraform
@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_error_fails_validate_naming_file_and_line(name: str, validate_run: tuple) -> None:
    _assert_found(PLANTED, name, validate_run)


@needs_terraform
@pytest.mark.parametrize("name", sorted(PLANTED_IN_PLANS))
def test_planted_error_fails_the_plans_naming_file_and_line(name: str, plan_run: tuple) -> None:
    _assert_found(PLANTED_IN_PLANS, name, plan_run)


def test_tfvars_attribute_typo_names_file_and_line(tmp_path: Path) -> None:
    """Terraform drops a misspelt optional attribute silently; the tfvars check must not."""
    tree = tmp_path / "repo"
    shutil.copytree(REPO / "environments", tree / "environments")
    shutil.copy(REPO / "variables.tf", tree)
    line = _plant(
        tree, "environments/dev.tfvars", 'scheduler = {\n  schedules = {\n    x = { timezon = "UTC" } # <-\n  }\n}\n'
    )
    findings = [str(f) for f in tfvars.check(tree)]
    assert f'environments/dev.tfvars:{line}: var.scheduler.schedules["x"] has no attribute "timezon" (did you mean' in (
        "\n".join(findings)
    )


def test_tfvars_undeclared_variable_is_a_finding(tmp_path: Path) -> None:
    tree = tmp_path / "repo"
    tree.mkdir()
    shutil.copy(REPO / "variables.tf", tree)
    (tree / "environments").mkdir()
    (tree / "environments" / "x.tfvars").write_text('environment = "x"\nenviroment = "y"\n')
    findings = [str(f) for f in tfvars.check(tree)]
    assert findings == [
        'environments/x.tfvars:2: "enviroment" is not a variable of the root module (did you mean "environment"?)'
    ]


def test_the_repository_tfvars_are_clean() -> None:
    assert [str(f) for f in tfvars.check(REPO)] == []


def test_without_terraform_the_gate_says_it_was_skipped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("OPSKIT_TERRAFORM", raising=False)
    monkeypatch.delenv("OPSKIT_REQUIRE_TERRAFORM", raising=False)
    outcome = checks.check_terraform()
    assert outcome.skipped and "Terraform >= 1.9" in outcome.skipped and not outcome.findings
    monkeypatch.setenv("OPSKIT_REQUIRE_TERRAFORM", "1")
    outcome = checks.check_terraform()
    assert not outcome.skipped and outcome.findings and "required" in outcome.findings[0]
