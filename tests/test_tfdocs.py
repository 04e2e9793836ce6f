"""Module README inputs/outputs tables are generated from the .tf files: a stale table is detected, `update`
fixes it, generation is deterministic, and the repository's READMEs are current."""

from __future__ import annotations

import textwrap
from pathlib import Path

from opskit_tools import tfdocs
from opskit_tools.paths import REPO

VARIABLES = """
variable "name_prefix" {
  type        = string
  description = "Prefix of every name."
  default     = "opskit"
}

variable "windows" {
  type = map(object({
    start = string # cron
    stop  = optional(string, "cron(0 18 ? * MON-FRI *)")
  }))
  description = "Windows keyed by a stable name; | is escaped."
}

output "function_arn" {
  description = "ARN of the <function>."
  value       = "arn"
}
"""

README = """# feature

Text the generator must keep.

<!-- BEGIN_TF_DOCS -->
<!-- END_TF_DOCS -->

Trailing text.
"""


def make_module(root: Path, readme: str = README) -> Path:
    module = root / "modules" / "feature"
    module.mkdir(parents=True)
    (module / "main.tf").write_text(textwrap.dedent(VARIABLES).lstrip(), encoding="utf-8")
    (module / "README.md").write_text(readme, encoding="utf-8")
    return module / "README.md"


def test_stale_tables_are_detected_and_update_fixes_them(tmp_path: Path) -> None:
    readme = make_module(tmp_path)
    [finding] = tfdocs.check(tmp_path)
    assert (finding.file, finding.line) == ("modules/feature/README.md", 5)
    assert "stale" in finding.message

    assert tfdocs.update(tmp_path) == [readme]
    assert tfdocs.check(tmp_path) == []
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# feature\n\nText the generator must keep.\n\n<!-- BEGIN_TF_DOCS -->\n## Inputs")
    assert text.endswith("<!-- END_TF_DOCS -->\n\nTrailing text.\n")
    windows_type = 'map(object({ start = string, stop = optional(string, "cron(0 18 ? * MON-FRI *)") }))'
    assert f"| `windows` | Windows keyed by a stable name; \\| is escaped. | `{windows_type}` | n/a | yes |" in text
    assert '| `name_prefix` | Prefix of every name. | `string` | `"opskit"` | no |' in text
    assert "| `function_arn` | ARN of the &lt;function&gt;. |" in text
    # rows sorted by name
    assert text.index("`name_prefix`") < text.index("`windows`")


def test_generation_is_deterministic_and_idempotent(tmp_path: Path) -> None:
    readme = make_module(tmp_path)
    tfdocs.update(tmp_path)
    first = readme.read_text(encoding="utf-8")
    assert tfdocs.update(tmp_path) == []
    assert readme.read_text(encoding="utf-8") == first


def test_a_changed_variable_makes_the_table_stale(tmp_path: Path) -> None:
    make_module(tmp_path)
    tfdocs.update(tmp_path)
    main = tmp_path / "modules" / "feature" / "main.tf"
    main.write_text(
        main.read_text(encoding="utf-8").replace('default     = "opskit"', 'default     = "ops"'), encoding="utf-8"
    )
    assert [f.file for f in tfdocs.check(tmp_path)] == ["modules/feature/README.md"]


def test_module_readme_without_markers(tmp_path: Path) -> None:
    make_module(tmp_path, readme="# feature\n\nNo tables here.\n")
    [finding] = tfdocs.check(tmp_path)
    assert (finding.file, finding.line) == ("modules/feature/README.md", 1)
    assert "no <!-- BEGIN_TF_DOCS --> / <!-- END_TF_DOCS --> markers" in finding.message
    assert tfdocs.update(tmp_path) == []


def test_one_line_keeps_strings_and_drops_comments() -> None:
    source = '{\n  a = "x  # not a comment, ${var.y}" # a comment\n  b = [\n    1,\n    2,\n  ]\n}'
    assert tfdocs.one_line(source) == '{ a = "x  # not a comment, ${var.y}", b = [1, 2] }'


def test_repository_readme_tables_are_current() -> None:
    findings = tfdocs.check(REPO)
    assert findings == [], "\n".join(map(str, findings)) + "\nrun `make docs`"


def test_example_readmes_get_tables_only_when_they_have_markers(tmp_path: Path) -> None:
    make_module(tmp_path)
    example = tmp_path / "examples" / "basic"
    example.mkdir(parents=True)
    (example / "main.tf").write_text(
        'module "feature" {\n  source  = "../../modules/feature"\n  windows = {}\n}\n', encoding="utf-8"
    )
    (example / "README.md").write_text("# basic\n\nNo markers: fine for an example.\n", encoding="utf-8")
    assert [f.file for f in tfdocs.check(tmp_path)] == ["modules/feature/README.md"]
    (example / "README.md").write_text(f"# basic\n\n{tfdocs.BEGIN}\n{tfdocs.END}\n", encoding="utf-8")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tfdocs.update(tmp_path)) == [
        "examples/basic/README.md",
        "modules/feature/README.md",
    ]
    assert "No inputs." in (example / "README.md").read_text(encoding="utf-8")
