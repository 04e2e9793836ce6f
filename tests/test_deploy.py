"""make plan/apply/destroy ENV=...: one state per environment (scripts/opskit_tools/deploy.py), proven with
real Terraform on a configuration of built-in `terraform_data` resources (no provider needed)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from opskit_tools import deploy, tfgate

TERRAFORM, WHY = tfgate.find_terraform()
pytestmark = pytest.mark.skipif(TERRAFORM is None, reason=f"no Terraform >= 1.9: {WHY}")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", os.devnull)
    (tmp_path / "main.tf").write_text(
        'variable "environment" {\n  type = string\n}\n\n'
        'resource "terraform_data" "app" {\n  triggers_replace = "app-${var.environment}"\n}\n'
    )
    (tmp_path / "environments").mkdir()
    for env in ("dev", "prod"):
        (tmp_path / "environments" / f"{env}.tfvars").write_text(f'environment = "{env}"\n')
    return tmp_path


def _summary(output: str) -> dict[str, int]:
    for line in output.splitlines():
        if line.startswith("{") and '"change_summary"' in line:
            return json.loads(line)["changes"]
    raise AssertionError(f"no change summary in:\n{output[-2000:]}")


def test_switching_env_never_plans_a_destroy_of_the_other_environment(
    root: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert TERRAFORM
    assert deploy.run(TERRAFORM, "apply", "dev", root, ["-auto-approve", "-input=false"]) == 0
    capfd.readouterr()
    assert deploy.run(TERRAFORM, "plan", "prod", root, ["-json", "-input=false"]) == 0
    prod = _summary(capfd.readouterr().out)
    assert prod["remove"] == 0 and prod["add"] == 1, prod
    assert deploy.run(TERRAFORM, "plan", "dev", root, ["-json", "-input=false"]) == 0
    dev = _summary(capfd.readouterr().out)
    assert dev == {**dev, "add": 0, "change": 0, "remove": 0}, dev
    assert (root / "terraform.tfstate.d" / "dev" / "terraform.tfstate").is_file()
    assert not (root / "terraform.tfstate").exists()


def test_without_it_one_shared_state_would_replace_dev_with_prod(root: Path) -> None:
    """The hazard the per-environment state removes: plain init/apply/plan in one directory."""
    assert TERRAFORM
    env = dict(os.environ)

    def terraform(*args: str) -> str:
        completed = subprocess.run([TERRAFORM, *args], cwd=root, env=env, capture_output=True, text=True, check=True)
        return completed.stdout

    terraform("init", "-input=false")
    terraform("apply", "-auto-approve", "-input=false", "-var-file=environments/dev.tfvars")
    changes = _summary(terraform("plan", "-json", "-input=false", "-var-file=environments/prod.tfvars"))
    assert changes["remove"] == 1


def test_backend_files_and_bad_input(root: Path) -> None:
    (root / "environments" / "prod.s3.tfbackend").write_text('bucket = "opskit-state-prod"\nuse_lockfile = true\n')
    init, workspace, action = deploy.commands("terraform", "apply", "prod", root, [])
    assert init == ["terraform", "init", "-input=false", f"-backend-config={root}/environments/prod.s3.tfbackend"]
    assert workspace == ["terraform", "workspace", "select", "-or-create", "prod"]
    assert action == ["terraform", "apply", f"-var-file={root}/environments/prod.tfvars"]
    assert deploy.commands("terraform", "plan", "dev", root, [])[0] == ["terraform", "init", "-input=false"]
    with pytest.raises(ValueError, match=r"no environments/stage\.tfvars"):
        deploy.commands("terraform", "plan", "stage", root, [])
    with pytest.raises(ValueError, match="action must be one of"):
        deploy.commands("terraform", "import", "dev", root, [])
