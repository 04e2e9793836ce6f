"""House rule: every `validation` block and every `precondition` is exercised by a native Terraform test
that must fail. Counted statically: for each configuration, the runs in its tests/**/*.tftest.hcl whose
`expect_failures` name `var.<x>` (or the resource/data source/output holding the precondition) must be at
least as many as the rules it declares, and at least one run must expect no failure at all."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from opskit_tools import tfgate
from opskit_tools.hclsyntax import Block, parse_file
from opskit_tools.paths import REPO

CONFIGS = [c for c in tfgate.configurations(REPO) if not str(c).startswith("examples")]


def _rules(config: Path) -> Counter[str]:
    """{"var.x": number of validation blocks, "aws_y.z" / "data.aws_y.z" / "output.o": preconditions}."""
    rules: Counter[str] = Counter()
    for path in sorted((REPO / config).glob("*.tf")):
        for block in parse_file(path).blocks:
            if block.type == "variable":
                rules[f"var.{block.labels[0]}"] += sum(b.type == "validation" for b in block.body.blocks)
            elif block.type in ("resource", "data", "output"):
                address = {"resource": "", "data": "data.", "output": "output."}[block.type] + ".".join(block.labels)
                rules[address] += _preconditions(block)
    return +rules


def _preconditions(block: Block) -> int:
    inner = [b for b in block.body.blocks if b.type == "lifecycle"] + [block]
    return sum(b.type == "precondition" for parent in inner for b in parent.body.blocks)


def _expected_failures(config: Path) -> tuple[Counter[str], int]:
    """How many runs expect each address to fail, and how many runs expect nothing to fail."""
    expected: Counter[str] = Counter()
    clean = 0
    for path in sorted((REPO / config / "tests").rglob("*.tftest.hcl")):
        text = path.read_text(encoding="utf-8")
        for run in (b for b in parse_file(path).blocks if b.type == "run"):
            attr = run.body.attr("expect_failures")
            if attr is None:
                clean += 1
                continue
            source = text[attr.expr.meta.start_pos : attr.expr.meta.end_pos]
            for address in set(re.findall(r"[A-Za-z_][\w.\-]*", source)):
                expected[re.sub(r"\[[^\]]*\]", "", address)] += 1
    return expected, clean


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_every_rule_has_a_run_that_must_fail(config: Path) -> None:
    rules = _rules(config)
    expected, clean = _expected_failures(config)
    missing = {address: count for address, count in rules.items() if expected[address] < count}
    assert not missing, (
        f"{config}: rules without enough expect_failures runs (address: rules declared): {missing}; "
        f"runs expecting failures: {dict(expected)}"
    )
    if rules:
        assert clean, f"{config}: no run that passes every rule"
