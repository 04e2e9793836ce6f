"""Generate the Inputs/Outputs tables of module READMEs from the Terraform source, and detect stale ones.

The tables live between `<!-- BEGIN_TF_DOCS -->` and `<!-- END_TF_DOCS -->`. Every modules/*/README.md must
have the markers; an examples/*/README.md gets tables only when it has them. Rows are sorted by name; types
and defaults are the HCL source text normalised to one line (comments dropped, elements comma-separated).
"""

from __future__ import annotations

from pathlib import Path

from lark import Tree

from .hclsyntax import Body, Finding, Module, load_module, text_value

BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"
_OPEN = "{[("
_CLOSE = "}])"


def render(module: Module) -> str:
    """The markdown placed between the markers (without the markers)."""
    sources = {path: path.read_text(encoding="utf-8") + "\n" for path, _ in module.files}
    lines = ["## Inputs", ""]
    if module.variables:
        lines += [
            "| Name | Description | Type | Default | Required |",
            "|------|-------------|------|---------|:--------:|",
        ]
        for name, (path, block) in sorted(module.variables.items()):
            body = block.body
            type_attr, default_attr = body.attr("type"), body.attr("default")
            type_text = _code(one_line(_source(sources[path], type_attr.expr))) if type_attr else "n/a"
            default = _code(one_line(_source(sources[path], default_attr.expr))) if default_attr else "n/a"
            required = "no" if default_attr else "yes"
            lines.append(f"| `{name}` | {_description(body)} | {type_text} | {default} | {required} |")
    else:
        lines.append("No inputs.")
    lines += ["", "## Outputs", ""]
    if module.outputs:
        lines += ["| Name | Description |", "|------|-------------|"]
        for name, (_, block) in sorted(module.outputs.items()):
            lines.append(f"| `{name}` | {_description(block.body)} |")
    else:
        lines.append("No outputs.")
    return "\n".join(lines)


def updated_text(text: str, module: Module) -> str | None:
    """The README text with fresh tables, or None when it has no (well-ordered) markers."""
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < begin:
        return None
    return text[: begin + len(BEGIN)] + "\n" + render(module) + "\n" + text[end:]


def readmes(repo: Path) -> list[tuple[Path, bool]]:
    """(README path, markers required) for every module and example directory holding .tf files. A
    module's README is listed even when it does not exist yet (check() reports it)."""
    out = []
    for parent, required in (("modules", True), ("examples", False)):
        folder = Path(repo) / parent
        if not folder.is_dir():
            continue
        for directory in sorted(folder.iterdir()):
            readme = directory / "README.md"
            if directory.is_dir() and any(directory.glob("*.tf")) and (readme.is_file() or required):
                out.append((readme, required))
    return out


def update(repo: Path) -> list[Path]:
    """Rewrite the tables in every README that has the markers; return the files that changed."""
    changed = []
    for readme, _ in readmes(repo):
        if not readme.is_file():
            continue
        module = load_module(readme.parent)
        if module.errors:
            continue  # never write tables from a half-read module (terraform validate reports the error)
        text = readme.read_text(encoding="utf-8")
        new = updated_text(text, module)
        if new is not None and new != text:
            readme.write_text(new, encoding="utf-8")
            changed.append(readme)
    return changed


def check(repo: Path) -> list[Finding]:
    """One finding per module README without markers and per README whose tables are stale."""
    findings = []
    for readme, required in readmes(repo):
        relative = readme.relative_to(repo).as_posix()
        if not readme.is_file():
            findings.append(Finding(relative, 1, "module has no README.md (describe it; `make docs` adds the tables)"))
            continue
        text = readme.read_text(encoding="utf-8")
        module = load_module(readme.parent)
        new = updated_text(text, module)
        if new is None:
            if required:
                findings.append(Finding(relative, 1, f"README has no {BEGIN} / {END} markers for the generated tables"))
            continue
        if module.errors:
            continue
        if new != text:
            line = text[: text.find(BEGIN)].count("\n") + 1
            findings.append(
                Finding(relative, line, "inputs/outputs tables are stale (differ from the .tf files): run `make docs`")
            )
    return findings


def _description(body: Body) -> str:
    attr = body.attr("description")
    text = text_value(attr.expr) if attr else None
    if not text:
        return ""
    return _cell(" ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _source(text: str, node: Tree) -> str:
    return text[node.meta.start_pos : node.meta.end_pos]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    return f"{fence}{_cell(text)}{fence}"


def one_line(source: str) -> str:
    """HCL expression source on one line: comments dropped, newline-separated elements joined with ", "."""
    out: list[str] = []
    stack: list[str] = []
    newline = space = False
    i = 0
    while i < len(source):
        ch = source[i]
        if ch == '"':
            end = _string_end(source, i)
            _separate(out, stack, ch, newline, space)
            out.append(source[i:end])
            newline = space = False
            i = end
            continue
        if ch == "#" or source.startswith("//", i):
            while i < len(source) and source[i] != "\n":
                i += 1
            continue
        if source.startswith("/*", i):
            end = source.find("*/", i + 2)
            i = len(source) if end < 0 else end + 2
            continue
        if ch in " \t\r\n":
            newline = newline or ch == "\n"
            space = True
            i += 1
            continue
        _separate(out, stack, ch, newline, space)
        newline = space = False
        if ch in _OPEN:
            stack.append(ch)
        elif ch in _CLOSE and stack:
            stack.pop()
        out.append(ch)
        i += 1
    return "".join(out).strip()


def _separate(out: list[str], stack: list[str], next_char: str, newline: bool, space: bool) -> None:
    """What whitespace before `next_char` becomes: ", " for a line break between elements of an object or
    tuple, nothing inside (), [] edges, otherwise one space."""
    if not out or not (newline or space):
        return
    last = out[-1][-1]
    if newline and next_char in _CLOSE and last == ",":
        out[-1] = out[-1][:-1]  # a trailing comma
        last = out[-1][-1] if out[-1] else ""
    if last in "([" or next_char in ")]":
        return
    in_collection = bool(stack) and stack[-1] in "{["
    if newline and in_collection and last not in _OPEN + ",=:?" and next_char not in _CLOSE + ",?:":
        out.append(", ")
    else:
        out.append(" ")


def _string_end(source: str, start: int) -> int:
    """Index just past the quoted string starting at `start` (interpolations may nest quotes)."""
    i, depth = start + 1, 0
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            i += 2
            continue
        if source.startswith("${", i) or source.startswith("%{", i):
            depth += 1
            i += 2
            continue
        if ch == "}" and depth:
            depth -= 1
        elif ch == '"' and not depth:
            return i + 1
        i += 1
    return len(source)
