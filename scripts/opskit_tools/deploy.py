"""`make plan|apply|destroy ENV=<env>`: Terraform against one environment's own state.

Each environment gets
- its own Terraform data directory (`.terraform/environments/<env>`), so backend settings and installed
  providers of one environment never leak into another;
- its own backend settings when `environments/<env>.s3.tfbackend` (or any `environments/<env>.*.tfbackend`)
  exists, passed with `-backend-config` (the root then needs an empty `backend "s3" {}` block, for example
  in a `backend.tf` you keep out of git);
- its own workspace, named after the environment (`terraform workspace select -or-create <env>`), so even
  with the default local backend the state lives in `terraform.tfstate.d/<env>/` and with a shared S3
  backend under `env:/<env>/`.

Switching ENV therefore never plans the destruction of the other environment's resources.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ACTIONS = ("plan", "apply", "destroy")


def commands(terraform: str, action: str, env: str, root: Path, extra: list[str]) -> list[list[str]]:
    """The terraform invocations for one action, in order (no side effects; see run())."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    tfvars = root / "environments" / f"{env}.tfvars"
    if not tfvars.is_file():
        raise ValueError(f"no environments/{env}.tfvars")
    backend = [f"-backend-config={p}" for p in sorted((root / "environments").glob(f"{env}.*.tfbackend"))]
    return [
        [terraform, "init", "-input=false", *backend],
        [terraform, "workspace", "select", "-or-create", env],
        [terraform, action, f"-var-file={tfvars}", *extra],
    ]


def run(terraform: str, action: str, env: str, root: Path, extra: list[str] | None = None) -> int:
    environ = dict(os.environ, TF_DATA_DIR=str(root / ".terraform" / "environments" / env))
    environ.pop("TF_WORKSPACE", None)  # the workspace is chosen from ENV, never inherited
    for command in commands(terraform, action, env, root, list(extra or [])):
        print("+ " + " ".join(command), flush=True)
        completed = subprocess.run(command, cwd=root, env=environ, check=False)
        if completed.returncode != 0:
            return completed.returncode
    return 0
