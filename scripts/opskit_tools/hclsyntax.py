"""A line-preserving view of HCL for the checks Terraform does not make (tfvars attribute typos, README
tables): python-hcl2's raw Lark tree reduced to blocks, attributes and expressions with line numbers,
plus the type constraints of variables."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from lark import Token, Tree
from lark.exceptions import LarkError

PRIMITIVE_TYPES = frozenset({"string", "number", "bool", "any"})
_TEMPLATE_START = re.compile(r"(?<![$%])[$%]\{")


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class HclSyntaxError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class Attr:
    name: str
    expr: Tree
    line: int


@dataclass
class Block:
    type: str
    labels: list[str]
    body: Body
    line: int


@dataclass
class Body:
    attrs: list[Attr]
    blocks: list[Block]
    line: int

    def attr(self, name: str) -> Attr | None:
        return next((a for a in self.attrs if a.name == name), None)


def parse_text(text: str) -> Body:
    """Parse HCL text into a Body; raises HclSyntaxError(line, message)."""
    try:
        tree = hcl2.parses_to_tree(text)
    except LarkError as exc:
        line = getattr(exc, "line", None) or 1
        raise HclSyntaxError(max(int(line), 1), f"syntax error: {_describe_syntax_error(exc)}") from None
    return _body(tree.children[0], 1)


def _describe_syntax_error(exc: LarkError) -> str:
    token = getattr(exc, "token", None)
    column = getattr(exc, "column", None)
    at = f" at column {column}" if isinstance(column, int) and column > 0 else ""
    if token is not None:
        if token.type == "$END":
            return "unexpected end of file (an unclosed block, bracket or string?)"
        value = str(token).strip().splitlines()[0] if str(token).strip() else repr(str(token))
        return f"unexpected {value[:30]!r}{at}"
    char = getattr(exc, "char", None)
    if char is not None:
        return f"unexpected character {char!r}{at}"
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


_PARSED: dict[Path, tuple[tuple[int, int], Body]] = {}


def parse_file(path: Path) -> Body:
    """Parse a file, reusing the previous result while its size and mtime are unchanged (validation and the
    docs check read the same files in one process). Bodies are never mutated, so sharing them is safe."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _PARSED.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    body = parse_text(path.read_text(encoding="utf-8"))
    _PARSED[path] = (key, body)
    return body


def _body(tree: Tree, fallback_line: int) -> Body:
    attrs: list[Attr] = []
    blocks: list[Block] = []
    for child in tree.children:
        if not isinstance(child, Tree):
            continue
        if child.data == "attribute":
            name_node = child.children[0]
            attrs.append(Attr(token_text(name_node), child.children[-1], line_of(name_node, fallback_line)))
        elif child.data == "block":
            blocks.append(_block(child, fallback_line))
    return Body(attrs, blocks, fallback_line)  # a body's line is its block's line (1 for a file)


def _block(tree: Tree, fallback_line: int) -> Block:
    children = [c for c in tree.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]
    head, *rest = children
    line = line_of(head, fallback_line)
    labels = [(string_value(n) if n.data == "string" else token_text(n)) or "" for n in rest[:-1]]
    return Block(type=token_text(head), labels=labels, body=_body(rest[-1], line), line=line)


def token_text(node: Tree | Token) -> str:
    """The text of an identifier/keyword/literal node (its first token)."""
    if isinstance(node, Token):
        return str(node)
    for child in node.children:
        text = token_text(child)
        if text:
            return text
    return ""


def line_of(node: Tree | Token, fallback: int) -> int:
    """The first line of a node; `fallback` (the enclosing block's line) when it has none."""
    if isinstance(node, Token):
        return node.line or fallback
    if not node.meta.empty:
        return node.meta.line
    for child in node.children:
        line = line_of(child, 0)
        if line:
            return line
    return fallback


def unwrap(node: Tree) -> Tree:
    """Strip expr_term wrappers (and parentheses) around a single sub-expression."""
    while isinstance(node, Tree) and node.data == "expr_term":
        inner = [c for c in node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]
        if len(inner) != 1:
            break
        node = inner[0]
    return node


def string_value(node: Tree) -> str | None:
    """The value of a quoted string without interpolations or directives, else None."""
    node = unwrap(node)
    if not isinstance(node, Tree) or node.data != "string":
        return None
    out = []
    for part in node.children:
        if isinstance(part, Token):
            continue  # the quotes
        for piece in part.children:
            if not isinstance(piece, Token):
                return None
            text = str(piece)
            out.append(_unescape(text) if piece.type == "STRING_CHARS" else text[1:])
    return "".join(out)


def text_value(node: Tree) -> str | None:
    """The value of a quoted string or heredoc without interpolations or directives, else None."""
    value = string_value(node)
    if value is not None:
        return value
    node = unwrap(node)
    tokens = [c for c in node.children if isinstance(c, Token)] if isinstance(node, Tree) else []
    if len(tokens) != 1 or tokens[0].type not in ("HEREDOC_TEMPLATE", "HEREDOC_TEMPLATE_TRIM"):
        return None
    lines = str(tokens[0]).split("\n")[1:-2]  # drop the <<EOT line, the terminator line and the final newline
    text = "\n".join(lines) + "\n"
    if _TEMPLATE_START.search(text):
        return None
    if tokens[0].type == "HEREDOC_TEMPLATE_TRIM":
        text = textwrap.dedent(text)
    return text.replace("$${", "${").replace("%%{", "%{")


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), text)


def bare_identifier(node: Tree) -> str | None:
    node = unwrap(node)
    if isinstance(node, Tree) and node.data in ("identifier", "keyword"):
        return token_text(node)
    return None


def object_items(node: Tree) -> list[tuple[str | None, Tree, int]] | None:
    """(key, value, line) of an object literal (key None when it is computed), else None."""
    node = unwrap(node)
    if not isinstance(node, Tree) or node.data != "object":
        return None
    items = []
    for elem in node.children:
        if isinstance(elem, Tree) and elem.data == "object_elem":
            key_node = elem.children[0].children[0]
            key = bare_identifier(key_node) if isinstance(key_node, Tree) else str(key_node)
            if key is None and isinstance(key_node, Tree):
                key = string_value(key_node)
            items.append((key, elem.children[-1], line_of(elem, 0)))
    return items


def tuple_items(node: Tree) -> list[Tree] | None:
    node = unwrap(node)
    if not isinstance(node, Tree) or node.data != "tuple":
        return None
    return [c for c in node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]


def call_args(call: Tree) -> list[Tree]:
    for child in call.children:
        if isinstance(child, Tree) and child.data == "arguments":
            return [c for c in child.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]
    return []


def parse_type(node: Tree) -> tuple[Any, ...]:
    """A type constraint as ("prim", name) | ("list"|"set"|"map", T) | ("object", {k: T}, required keys)
    | ("tuple", [T]) | ("any",)."""
    node = unwrap(node)
    name = bare_identifier(node)
    if name is not None:
        return ("prim", name) if name in PRIMITIVE_TYPES else ("any",)
    if isinstance(node, Tree) and node.data == "function_call":
        fn = token_text(node.children[0])
        args = call_args(node)
        if fn == "optional" and args:
            return parse_type(args[0])
        if fn in ("list", "set", "map") and len(args) == 1:
            return (fn, parse_type(args[0]))
        if fn == "object" and len(args) == 1:
            items = [(k, v) for k, v, _ in object_items(args[0]) or [] if k is not None]
            required = frozenset(k for k, v in items if not _is_optional(v))
            return ("object", {k: parse_type(v) for k, v in items}, required)
        if fn == "tuple" and len(args) == 1:
            return ("tuple", [parse_type(t) for t in tuple_items(args[0]) or []])
    return ("any",)


def _is_optional(node: Tree) -> bool:
    node = unwrap(node)
    return isinstance(node, Tree) and node.data == "function_call" and token_text(node.children[0]) == "optional"


@dataclass
class Module:
    """The variables and outputs of one directory of .tf files (what the README tables and tfvars need)."""

    dir: Path
    files: list[tuple[Path, Body]] = field(default_factory=list)
    variables: dict[str, tuple[Path, Block]] = field(default_factory=dict)
    outputs: dict[str, tuple[Path, Block]] = field(default_factory=dict)
    errors: list[tuple[Path, int, str]] = field(default_factory=list)


def load_module(directory: Path) -> Module:
    module = Module(dir=directory)
    for path in sorted(Path(directory).glob("*.tf")):
        try:
            body = parse_file(path)
        except (HclSyntaxError, UnicodeDecodeError) as exc:
            module.errors.append((path, getattr(exc, "line", 1), str(exc)))
            continue
        module.files.append((path, body))
        for block in body.blocks:
            if block.type in ("variable", "output") and block.labels:
                target = module.variables if block.type == "variable" else module.outputs
                target.setdefault(block.labels[0], (path, block))
    return module
