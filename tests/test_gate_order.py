"""The gate starts the heaviest configurations first: the root, then by native runs times the HCL planned."""

from __future__ import annotations

from pathlib import Path

from opskit_tools import tfgate
from opskit_tools.paths import REPO


def _module(tree: Path, name: str, body: str, runs: int = 0) -> None:
    (tree / "modules" / name / "tests").mkdir(parents=True)
    (tree / "modules" / name / "main.tf").write_text(body)
    run_blocks = "".join(f'run "r{i}" {{\n  command = plan\n}}\n' for i in range(runs))
    (tree / "modules" / name / "tests" / "a.tftest.hcl").write_text(run_blocks)


def test_weight_counts_runs_and_each_local_module_once(tmp_path: Path) -> None:
    shared = "# " + "x" * 98 + "\n"  # 101 bytes
    _module(tmp_path, "shared", shared)
    caller = 'module "a" {\n  source = "../shared"\n}\nmodule "b" {\n  source = "../shared"\n}\n'
    _module(tmp_path, "caller", caller, runs=3)
    (tmp_path / "main.tf").write_text('module "c" {\n  source = "./modules/caller"\n}\n')

    assert tfgate.weight(tmp_path, Path("modules/shared")) == 1 * 101
    assert tfgate.weight(tmp_path, Path("modules/caller")) == 4 * (len(caller) + 101)
    assert tfgate.weight(tmp_path, Path(".")) > tfgate.weight(tmp_path, Path("modules/caller"))


def test_the_root_first_and_every_configuration_with_native_runs_before_those_without() -> None:
    order = tfgate.start_order(REPO, tfgate.configurations(REPO))
    with_runs = [c != Path(".") and any((REPO / c / "tests").glob("*.tftest.hcl")) for c in order]
    assert order[0] == Path(".")
    assert with_runs[1:] == sorted(with_runs[1:], reverse=True), order
    assert True in with_runs and False in with_runs  # the repo has both kinds, so the order is tested
