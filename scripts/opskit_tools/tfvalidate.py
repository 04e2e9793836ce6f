"""Offline Terraform validation: as strict as `terraform validate` can be without the providers installed.

Every `.tf` file is parsed with python-hcl2 (its raw Lark tree, which keeps line numbers) and checked against
the vendored provider schema (`opskit_tools.tfschema`):

- resource/data types exist; arguments and nested blocks exist (also inside `dynamic` blocks); arguments are
  not written as blocks nor blocks as arguments; read-only attributes are not set; required arguments and
  blocks are present; statically repeated blocks respect `max_items`; meta-arguments are allowed where
  Terraform allows them; literal values convert to the argument's type (`timeout = "soon"` does not);
- every `var.`, `local.`, `module.`, `data.`, resource, `each.`, `count.`, `self.`, `path.` and `terraform.`
  reference resolves (attribute names of resources/data sources checked at the top level; `module.X.Y`
  checked against the outputs of a local module; `var.X.a.b` against the variable's object type);
  for-expression, template `for` and `dynamic` iterator variables are in scope where they are declared;
  interpolations inside strings and heredocs are scanned;
- only Terraform built-in functions are called, and `file()`/`templatefile()`/... of a static path (literal
  apart from `${path.module}`) read a file that exists;
- the `terraform` block uses only known settings;
- what Terraform itself rejects while loading a module: an argument set twice in any block; duplicate
  resources, data sources, modules, variables, outputs, locals, checks, provider configurations and
  required_providers/backend blocks (across files); names that are not identifiers and reserved variable names;
  two lifecycle/connection blocks; depends_on that is not a static list of references to whole objects;
  literal count/for_each values Terraform refuses (a tuple for for_each, a fraction for count); non-bool
  `sensitive`/`nullable`/`ephemeral`/lifecycle flags; variable defaults that do not convert to the type;
  ignore_changes entries the resource type does not have; moved/import/removed/check block arguments;
  conditions that refer to nothing; an index on a resource without count/for_each; the argument count of
  built-in functions; attributes of string variables and of object-literal locals that do not exist;
- provider aliases: `provider = aws.x` and providers-map values in the root module name a configured alias; a
  module call passes every alias its child declares in configuration_aliases; `version` only on non-local
  sources; ephemeral outputs only outside the root module;
- every variable has a type and a description, a literal default and validations that refer to itself; every
  output has a value and a description;
- module calls with a local source pass only declared inputs and every required one (and literal objects only
  the attributes the input's object type declares, which Terraform would silently drop); a call of
  modules/lambda-function names an existing functions/<package>/handler.py, and a literal `source_dir` of an
  `archive_file` exists;
- `environments/*.tfvars` set only declared root variables, with literal values; object-typed values use only
  declared attributes and give every required (non-optional) one.

Each problem is a `Finding`, printed as `file:line: message` with the file relative to the repository root.
Precision over recall: anything that cannot be decided statically (computed keys, non-local module sources,
provisioner arguments, attributes below the top level of a resource) is left alone rather than guessed at.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from lark import Token, Tree
from lark.exceptions import LarkError

from .tfschema import Schema, load_schema


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


# --------------------------------------------------------------------------------------------------------------
# HCL parsing: a line-preserving view of python-hcl2's raw Lark tree
# --------------------------------------------------------------------------------------------------------------


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


def parse_expression(text: str, line: int) -> Tree:
    """Parse one expression whose text starts on `line` (heredoc template interpolations)."""
    expr = parse_text(f"x = ({text})").attrs[0].expr
    shift = line - 1
    if shift:
        for node in expr.iter_subtrees():
            if not node.meta.empty:
                node.meta.line += shift
            for child in node.children:
                if isinstance(child, Token) and child.line is not None:
                    child.line += shift
    return expr


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


# --------------------------------------------------------------------------------------------------------------
# Terraform language facts
# --------------------------------------------------------------------------------------------------------------

BUILTIN_FUNCTIONS = frozenset(
    """
    abs ceil floor log max min parseint pow signum
    chomp endswith format formatlist indent join lower regex regexall replace split startswith strcontains
    strrev substr templatestring title trim trimprefix trimsuffix trimspace upper
    alltrue anytrue chunklist coalesce coalescelist compact concat contains distinct element flatten index keys
    length lookup matchkeys merge one range reverse setintersection setproduct setsubtract setunion slice sort
    sum transpose values zipmap
    base64decode base64encode base64gzip csvdecode jsondecode jsonencode textdecodebase64 textencodebase64
    urlencode yamldecode yamlencode
    abspath dirname pathexpand basename file fileexists fileset filebase64 templatefile
    formatdate plantimestamp timeadd timecmp timestamp
    base64sha256 base64sha512 bcrypt filebase64sha256 filebase64sha512 filemd5 filesha1 filesha256 filesha512
    md5 rsadecrypt sha1 sha256 sha512 uuid uuidv5
    cidrhost cidrnetmask cidrsubnet cidrsubnets
    can ephemeralasnull issensitive nonsensitive sensitive tobool tolist tomap tonumber toset tostring try type
    """.split()  # noqa: SIM905
)

# (minimum, maximum) argument counts of built-in functions (None: no maximum); Terraform rejects other counts
# ("Not enough/Too many function arguments") when it evaluates the call, even with unknown arguments. Each
# bound was checked against `terraform validate` (1.11) with unknown arguments; coalesce() is left out because
# Terraform accepts it with no arguments.
_ARITY_GROUPS: dict[tuple[int, int | None], str] = {
    (0, 0): "plantimestamp timestamp uuid",
    (1, 1): """abs ceil floor signum chomp lower upper strrev title trimspace base64decode base64encode base64gzip
        csvdecode jsondecode jsonencode urlencode yamldecode yamlencode abspath dirname pathexpand basename file
        fileexists filebase64 base64sha256 base64sha512 filebase64sha256 filebase64sha512 filemd5 filesha1
        filesha256 filesha512 md5 sha1 sha256 sha512 cidrnetmask alltrue anytrue distinct flatten keys length one
        reverse sort sum transpose values can ephemeralasnull issensitive nonsensitive sensitive tobool tolist tomap
        tonumber toset tostring compact""",
    (2, 2): """log pow parseint endswith regex regexall split startswith strcontains trimprefix trimsuffix trim
        chunklist contains element index zipmap formatdate timeadd timecmp cidrhost fileset templatefile uuidv5
        textdecodebase64 textencodebase64 rsadecrypt templatestring""",
    (3, 3): "replace substr cidrsubnet matchkeys slice",
    (2, None): "lookup",
    (1, None): "format formatlist join try coalescelist cidrsubnets range",
}
FUNCTION_ARITY = {name: bounds for bounds, names in _ARITY_GROUPS.items() for name in names.split()}

# Functions whose first argument is a file that must exist when the path is static (apart from path.module).
FILE_FUNCTIONS = frozenset(
    {
        "file",
        "templatefile",
        "filebase64",
        "filemd5",
        "filesha1",
        "filesha256",
        "filesha512",
        "filebase64sha256",
        "filebase64sha512",
    }
)
PRIMITIVE_TYPES = frozenset({"string", "number", "bool", "any"})
TYPE_CONSTRUCTORS = frozenset({"list", "set", "map", "object", "tuple", "optional"})
TOP_LEVEL_BLOCKS = {
    "terraform": 0,
    "provider": 1,
    "variable": 1,
    "locals": 0,
    "output": 1,
    "module": 1,
    "resource": 2,
    "data": 2,
    "moved": 0,
    "import": 0,
    "removed": 0,
    "check": 1,
}
TERRAFORM_BLOCK_ARGS = frozenset({"required_version", "experiments", "language"})
TERRAFORM_BLOCK_BLOCKS = frozenset({"required_providers", "backend", "cloud", "provider_meta"})
VARIABLE_ARGS = frozenset({"type", "description", "default", "sensitive", "nullable", "ephemeral"})
OUTPUT_ARGS = frozenset({"value", "description", "sensitive", "depends_on", "ephemeral"})
MODULE_META_ARGS = frozenset({"source", "version", "count", "for_each", "providers", "depends_on"})
RESOURCE_META_ARGS = frozenset({"count", "for_each", "depends_on", "provider"})
LIFECYCLE_ARGS = frozenset({"create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by"})
CONDITION_ARGS = frozenset({"condition", "error_message"})
PATH_ATTRS = frozenset({"module", "root", "cwd"})
TERRAFORM_ATTRS = frozenset({"workspace", "applying"})
TRAVERSALS = frozenset({"get_attr_expr_term", "index_expr_term", "attr_splat_expr_term", "full_splat_expr_term"})
# Legacy SDK blocks that Terraform also accepts in attribute syntax (`ingress = [...]`).
ATTRIBUTES_AS_BLOCKS = {
    "aws_security_group": {"ingress", "egress"},
    "aws_default_security_group": {"ingress", "egress"},
    "aws_network_acl": {"ingress", "egress"},
    "aws_default_network_acl": {"ingress", "egress"},
    "aws_route_table": {"route"},
    "aws_default_route_table": {"route"},
}
LAMBDA_FUNCTION_MODULE = "lambda-function"
SKIP_DIRS = frozenset({".terraform", ".git"})
NAMED_BLOCKS = frozenset({"variable", "output", "module", "resource", "data", "check"})
RESERVED_VARIABLE_NAMES = frozenset(
    {"source", "version", "providers", "count", "for_each", "lifecycle", "depends_on", "locals"}
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


# --------------------------------------------------------------------------------------------------------------
# Module model
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Module:
    """One Terraform module (a directory of .tf files) and its declarations."""

    dir: Path
    files: list[tuple[Path, Body]] = field(default_factory=list)
    variables: dict[str, tuple[Path, Block]] = field(default_factory=dict)
    locals: dict[str, tuple[Path, Attr]] = field(default_factory=dict)
    outputs: dict[str, tuple[Path, Block]] = field(default_factory=dict)
    calls: dict[str, tuple[Path, Block]] = field(default_factory=dict)
    resources: dict[tuple[str, str], tuple[Path, Block]] = field(default_factory=dict)
    data: dict[tuple[str, str], tuple[Path, Block]] = field(default_factory=dict)
    checks: dict[str, tuple[Path, Block]] = field(default_factory=dict)
    providers: dict[str, tuple[Path, Block]] = field(default_factory=dict)  # "aws" or "aws.alias"
    settings: dict[str, tuple[Path, Block]] = field(default_factory=dict)  # required_providers, backend, cloud
    errors: list[tuple[Path, int, str]] = field(default_factory=list)


def load_module(directory: Path) -> Module:
    module = Module(dir=directory)
    for path in sorted(directory.glob("*.tf")):
        try:
            body = parse_file(path)
        except HclSyntaxError as exc:
            module.errors.append((path, exc.line, str(exc)))
            continue
        except UnicodeDecodeError:
            module.errors.append((path, 1, "file is not UTF-8"))
            continue
        module.files.append((path, body))
        _duplicate_arguments(module, path, body.blocks)
        for attr in body.attrs:
            module.errors.append((path, attr.line, f'unexpected argument "{attr.name}" outside of any block'))
        for block in body.blocks:
            _declare(module, path, block)
    return module


def _declare(module: Module, path: Path, block: Block) -> None:
    kind, labels = block.type, block.labels
    expected = TOP_LEVEL_BLOCKS.get(kind)
    if expected is None:
        module.errors.append((path, block.line, f'unsupported block type "{kind}"'))
        return
    if len(labels) != expected:
        module.errors.append((path, block.line, f'a "{kind}" block takes {expected} label(s), got {len(labels)}'))
        return
    if kind in NAMED_BLOCKS and not _NAME.match(labels[-1]):
        module.errors.append(
            (
                path,
                block.line,
                f'invalid {kind} name "{labels[-1]}": a name starts with a letter or underscore and has only '
                "letters, digits, underscores and dashes",
            )
        )
    if kind == "variable" and labels[0] in RESERVED_VARIABLE_NAMES:
        module.errors.append(
            (path, block.line, f'variable name "{labels[0]}" is reserved (it is a meta-argument of module blocks)')
        )
    table: dict[Any, Any] | None = {
        "variable": module.variables,
        "output": module.outputs,
        "module": module.calls,
        "resource": module.resources,
        "data": module.data,
    }.get(kind)
    if kind == "locals":
        for attr in block.body.attrs:
            if attr.name in module.locals:
                module.errors.append((path, attr.line, f'duplicate local value "{attr.name}"'))
            module.locals[attr.name] = (path, attr)
        for nested in block.body.blocks:
            module.errors.append((path, nested.line, f'blocks are not allowed in locals (found "{nested.type}")'))
        return
    if kind == "terraform":
        for nested in block.body.blocks:
            if nested.type in ("required_providers", "backend", "cloud"):
                setting = "backend" if nested.type == "cloud" else nested.type
                if setting in module.settings:
                    first_path, first = module.settings[setting]
                    module.errors.append(
                        (path, nested.line, f"duplicate {nested.type} block{_first_at(first_path, first.line, path)}")
                    )
                else:
                    module.settings[setting] = (path, nested)
        return
    if kind == "provider":
        alias = block.body.attr("alias")
        alias_name = string_value(alias.expr) if alias is not None else None
        if alias is not None and alias_name is None:
            return  # not a literal: reported nowhere, Terraform requires a literal alias name
        config = labels[0] + (f".{alias_name}" if alias_name else "")
        if config in module.providers:
            first_path, first = module.providers[config]
            module.errors.append(
                (
                    path,
                    block.line,
                    f'duplicate provider configuration "{config}"{_first_at(first_path, first.line, path)}',
                )
            )
        else:
            module.providers[config] = (path, block)
        return
    if kind == "check":
        table = module.checks
    if table is None:
        return
    key = tuple(labels) if kind in ("resource", "data") else labels[0]
    if key in table:
        name = ".".join(labels)
        first_path, first = table[key]
        module.errors.append((path, block.line, f'duplicate {kind} "{name}"{_first_at(first_path, first.line, path)}'))
        return
    table[key] = (path, block)


def _first_at(first_path: Path, first_line: int, path: Path) -> str:
    where = f"line {first_line}" if first_path == path else f"{first_path.name}:{first_line}"
    return f" (first declared at {where})"


def _duplicate_arguments(module: Module, path: Path, blocks: list[Block]) -> None:
    """HCL rejects an argument set twice in one body, in every block at every depth."""
    for block in blocks:
        if block.type == "locals":
            continue  # reported as duplicate local values
        seen: set[str] = set()
        for attr in block.body.attrs:
            if attr.name in seen:
                module.errors.append((path, attr.line, f'argument "{attr.name}" is set more than once'))
            seen.add(attr.name)
        _duplicate_arguments(module, path, block.body.blocks)


def _is_multi(block: Block) -> bool:
    return block.body.attr("count") is not None or block.body.attr("for_each") is not None


# --------------------------------------------------------------------------------------------------------------
# Types (for variables' type constraints and the object-attribute check of tfvars/module inputs)
# --------------------------------------------------------------------------------------------------------------


def parse_type(node: Tree) -> tuple[Any, ...]:
    """A type constraint as ("prim", name) | ("list"|"set"|"map", T) | ("object", {k: T}, required keys)
    | ("tuple", [T]) | ("any",)."""
    node = unwrap(node)
    name = bare_identifier(node)
    if name is not None:
        return ("prim", name) if name in PRIMITIVE_TYPES else ("any",)
    if isinstance(node, Tree) and node.data == "function_call":
        fn = token_text(node.children[0])
        args = _call_args(node)
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


def _has_expansion(call: Tree) -> bool:
    """Whether the last argument is expanded with `...` (the argument count is then unknown)."""
    for child in call.children:
        if isinstance(child, Tree) and child.data == "arguments":
            return any(isinstance(c, Token) and str(c) == "..." for c in child.children)
    return False


def _call_args(call: Tree) -> list[Tree]:
    for child in call.children:
        if isinstance(child, Tree) and child.data == "arguments":
            return [c for c in child.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]
    return []


def _type_errors(node: Tree, fallback: int) -> Iterator[tuple[int, str]]:
    """Unknown primitive types or constructors in a type constraint."""
    node = unwrap(node)
    name = bare_identifier(node)
    if name is not None:
        if name not in PRIMITIVE_TYPES:
            yield line_of(node, fallback), f'unknown type "{name}" (use string, number, bool, any, or a constructor)'
        return
    if isinstance(node, Tree) and node.data == "function_call":
        fn = token_text(node.children[0])
        if fn not in TYPE_CONSTRUCTORS:
            yield line_of(node, fallback), f'unknown type constructor "{fn}"'
            return
        args = _call_args(node)
        if fn == "object":
            for _, value, line in object_items(args[0]) if args else []:
                yield from _type_errors(value, line or fallback)
        elif fn == "tuple":
            for item in (tuple_items(args[0]) if args else None) or []:
                yield from _type_errors(item, fallback)
        elif args:
            yield from _type_errors(args[0], fallback)
        return
    yield line_of(node, fallback), "a type constraint must be a type such as string, list(string) or object({...})"


def _extra_attributes(value: Tree, type_: tuple[Any, ...], where: str, fallback: int) -> Iterator[tuple[int, str]]:
    """Attributes of an object literal that its object type does not declare (recursively)."""
    kind = type_[0]
    if kind == "object":
        items = object_items(value)
        if items is None:
            return
        declared, required = type_[1], type_[2]
        keys = {key for key, _, _ in items}
        if None not in keys:  # every key is literal: a missing required attribute is certain
            for missing in sorted(required - keys):
                yield line_of(value, fallback), f'{where} is missing required attribute "{missing}"'
        for key, item, line in items:
            if key is None:
                continue
            if key not in declared:
                yield (
                    line or fallback,
                    f'{where} has no attribute "{key}" (its object type declares: {", ".join(sorted(declared))})',
                )
            else:
                yield from _extra_attributes(item, declared[key], f"{where}.{key}", line or fallback)
    elif kind == "map":
        for key, item, line in object_items(value) or []:
            yield from _extra_attributes(item, type_[1], f'{where}["{key}"]', line or fallback)
    elif kind in ("list", "set"):
        for n, item in enumerate(tuple_items(value) or []):
            yield from _extra_attributes(item, type_[1], f"{where}[{n}]", line_of(item, fallback))
    elif kind == "tuple":
        for n, (item, item_type) in enumerate(zip(tuple_items(value) or [], type_[1], strict=False)):
            yield from _extra_attributes(item, item_type, f"{where}[{n}]", line_of(item, fallback))


# --------------------------------------------------------------------------------------------------------------
# Expressions: references, functions, scopes
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ctx:
    """Where an expression sits: what each/count/self may mean there, and which names are local."""

    path: Path
    line: int
    count: bool = False
    each: bool = False
    self_: bool = False
    literal: str | None = None  # set for variable defaults and tfvars: no references or calls allowed
    scope: tuple[tuple[str, str], ...] = ()  # (name, "for" | "iterator")

    def with_scope(self, *names: tuple[str, str]) -> Ctx:
        return Ctx(self.path, self.line, self.count, self.each, self.self_, self.literal, self.scope + names)

    def kind_of(self, name: str) -> str | None:
        for scoped, kind in reversed(self.scope):
            if scoped == name:
                return kind
        return None


class Validator:
    def __init__(self, repo: Path, schema: Schema) -> None:
        self.repo = Path(repo).resolve()
        self.schema = schema
        self.modules: dict[Path, Module] = {}
        self.findings: set[Finding] = set()

    # ---- plumbing

    def module(self, directory: Path) -> Module:
        directory = directory.resolve()
        if directory not in self.modules:
            self.modules[directory] = load_module(directory)
        return self.modules[directory]

    def report(self, path: Path, line: int, message: str) -> None:
        try:
            name = path.resolve().relative_to(self.repo).as_posix()
        except ValueError:
            name = path.as_posix()
        self.findings.add(Finding(name, max(int(line), 1), message))

    # ---- modules

    def validate_module(self, directory: Path) -> None:
        mod = self.module(directory)
        for path, line, message in mod.errors:
            self.report(path, line, message)
        for path, body in mod.files:
            for block in body.blocks:
                if block.type not in TOP_LEVEL_BLOCKS or len(block.labels) != TOP_LEVEL_BLOCKS[block.type]:
                    continue
                handler = getattr(self, f"_top_{block.type}", None)
                if handler is not None:
                    handler(mod, path, block)
        self._local_cycles(mod)

    def _local_cycles(self, mod: Module) -> None:
        """Terraform rejects a local value that refers to itself, directly or through other locals."""
        edges = {
            name: sorted(
                {
                    steps[0][1]
                    for root, steps, _ in _references(attr.expr)
                    if root == "local" and steps and steps[0][0] == "attr" and steps[0][1] in mod.locals
                }
            )
            for name, (_, attr) in mod.locals.items()
        }
        reported: set[frozenset[str]] = set()
        for start in sorted(edges):
            path = _cycle_from(start, edges)
            if path is None or frozenset(path) in reported:
                continue
            reported.add(frozenset(path))
            file, attr = mod.locals[start]
            if len(path) == 1:
                self.report(file, attr.line, f"local.{start} refers to itself")
            else:
                chain = " -> ".join(f"local.{n}" for n in [*path, start])
                self.report(file, attr.line, f"local values form a cycle: {chain}")

    def _top_variable(self, mod: Module, path: Path, block: Block) -> None:
        name = block.labels[0]
        body = block.body
        self._duplicate_args(path, body)
        for attr in body.attrs:
            if attr.name not in VARIABLE_ARGS:
                self.report(path, attr.line, f'variable "{name}": unsupported argument "{attr.name}"')
        for nested in body.blocks:
            if nested.type != "validation":
                self.report(path, nested.line, f'variable "{name}": unsupported block "{nested.type}"')
        type_attr = body.attr("type")
        if type_attr is None:
            self.report(path, block.line, f'variable "{name}" has no type')
        else:
            for line, message in _type_errors(type_attr.expr, type_attr.line):
                self.report(path, line, f'variable "{name}": {message}')
        if body.attr("description") is None:
            self.report(path, block.line, f'variable "{name}" has no description')
        for setting in ("sensitive", "nullable", "ephemeral"):
            self._bool_setting(path, body, setting, f'variable "{name}"')
        default_attr = body.attr("default")
        if type_attr is not None and default_attr is not None:
            where = f'the default of variable "{name}"'
            for line, message in _conversion_errors(
                default_attr.expr, parse_type(type_attr.expr), where, default_attr.line
            ):
                self.report(path, line, message)
            for line, message in _extra_attributes(
                default_attr.expr, parse_type(type_attr.expr), where, default_attr.line
            ):
                self.report(path, line, message)
        plain = Ctx(path, block.line)
        for attr in body.attrs:
            if attr.name == "default":
                self.expr(mod, attr.expr, Ctx(path, attr.line, literal=f'the default of variable "{name}"'))
            elif attr.name in ("description", "sensitive", "nullable", "ephemeral"):
                self.expr(mod, attr.expr, Ctx(path, attr.line, literal=f'"{attr.name}" of variable "{name}"'))
        for validation in (b for b in body.blocks if b.type == "validation"):
            self._condition_block(mod, path, validation, plain, f'variable "{name}" validation', constant_check=False)
            condition = validation.body.attr("condition")
            if condition is not None and not any(
                root == "var" and steps[:1] == [("attr", name)] for root, steps, _ in _references(condition.expr)
            ):
                self.report(
                    path, condition.line, f'variable "{name}": the validation condition must refer to var.{name}'
                )

    def _top_output(self, mod: Module, path: Path, block: Block) -> None:
        name = block.labels[0]
        body = block.body
        self._duplicate_args(path, body)
        for attr in body.attrs:
            if attr.name not in OUTPUT_ARGS:
                self.report(path, attr.line, f'output "{name}": unsupported argument "{attr.name}"')
            else:
                self.expr(mod, attr.expr, Ctx(path, attr.line))
        for setting in ("sensitive", "ephemeral"):
            self._bool_setting(path, body, setting, f'output "{name}"')
        ephemeral = body.attr("ephemeral")
        if (
            ephemeral is not None
            and _literal_kind(ephemeral.expr) == ("bool", "true")
            and mod.dir.resolve() == self.repo
        ):
            self.report(path, ephemeral.line, f'output "{name}": the root module cannot have ephemeral outputs')
        if (depends_on := body.attr("depends_on")) is not None:
            self._depends_on(path, depends_on, f'output "{name}"')
        for nested in body.blocks:
            if nested.type == "precondition":
                self._condition_block(mod, path, nested, Ctx(path, nested.line), f'output "{name}" precondition')
            else:
                self.report(path, nested.line, f'output "{name}": unsupported block "{nested.type}"')
        if body.attr("value") is None:
            self.report(path, block.line, f'output "{name}" has no value')
        if body.attr("description") is None:
            self.report(path, block.line, f'output "{name}" has no description')

    def _top_terraform(self, mod: Module, path: Path, block: Block) -> None:
        for attr in block.body.attrs:
            if attr.name not in TERRAFORM_BLOCK_ARGS:
                self.report(path, attr.line, f'terraform block: unsupported argument "{attr.name}"')
        for nested in block.body.blocks:
            if nested.type not in TERRAFORM_BLOCK_BLOCKS:
                self.report(path, nested.line, f'terraform block: unsupported block "{nested.type}"')
            elif nested.type == "required_providers":
                for provider in nested.body.attrs:
                    for key, _, line in object_items(provider.expr) or []:
                        if key not in ("source", "version", "configuration_aliases"):
                            self.report(
                                path,
                                line or provider.line,
                                f'required_providers.{provider.name}: unsupported attribute "{key}"',
                            )

    def _top_locals(self, mod: Module, path: Path, block: Block) -> None:
        for attr in block.body.attrs:
            self.expr(mod, attr.expr, Ctx(path, attr.line))

    def _top_provider(self, mod: Module, path: Path, block: Block) -> None:
        name = block.labels[0]
        schema = self.schema.providers.get(name)
        plain = Body([a for a in block.body.attrs if a.name not in ("alias", "version")], block.body.blocks, block.line)
        for attr in block.body.attrs:
            if attr.name in ("alias", "version"):
                self.expr(mod, attr.expr, Ctx(path, attr.line))
        if schema is None:
            self._walk_body_exprs(mod, plain, Ctx(path, block.line))
        else:
            self.schema_body(mod, path, plain, schema, Ctx(path, block.line), f'provider "{name}"')

    def _top_check(self, mod: Module, path: Path, block: Block) -> None:
        for attr in block.body.attrs:
            self.report(path, attr.line, f'check "{block.labels[0]}": unsupported argument "{attr.name}"')
        # A data source nested in a check block is visible only inside that check.
        scoped = [(f"data.{b.labels[0]}.{b.labels[1]}", "check-data") for b in block.body.blocks if b.type == "data"]
        if not any(b.type == "assert" for b in block.body.blocks):
            self.report(path, block.line, f'check "{block.labels[0]}" needs at least one assert block')
        for nested in block.body.blocks:
            if nested.type == "assert":
                ctx = Ctx(path, nested.line).with_scope(*scoped)
                self._condition_block(mod, path, nested, ctx, f'check "{block.labels[0]}" assert')
            elif nested.type == "data" and len(nested.labels) == 2:
                self._top_data(mod, path, nested)
            else:
                self.report(path, nested.line, f'check "{block.labels[0]}": unsupported block "{nested.type}"')

    def _top_moved(self, mod: Module, path: Path, block: Block) -> None:
        self._address_block(path, block, required=("from", "to"), allowed=frozenset({"from", "to"}), blocks=())

    def _top_removed(self, mod: Module, path: Path, block: Block) -> None:
        self._address_block(
            path,
            block,
            required=("from",),
            allowed=frozenset({"from"}),
            blocks=("lifecycle", "provisioner", "connection"),
        )
        for nested in block.body.blocks:
            if nested.type == "lifecycle":
                for attr in nested.body.attrs:
                    if attr.name != "destroy":
                        self.report(path, attr.line, f'removed block lifecycle: unsupported argument "{attr.name}"')
                self._bool_setting(path, nested.body, "destroy", "removed block lifecycle")

    def _top_import(self, mod: Module, path: Path, block: Block) -> None:
        allowed = frozenset({"to", "id", "identity", "provider", "for_each"})
        self._address_block(path, block, required=("to",), allowed=allowed, blocks=())
        if block.body.attr("id") is None and block.body.attr("identity") is None:
            self.report(path, block.line, 'import block: missing required argument "id"')
        ctx = Ctx(path, block.line, each=block.body.attr("for_each") is not None)
        for attr in block.body.attrs:
            if attr.name in ("id", "identity"):
                self.expr(mod, attr.expr, ctx)
            elif attr.name == "for_each":
                self.expr(mod, attr.expr, Ctx(path, attr.line))

    def _address_block(
        self, path: Path, block: Block, *, required: tuple[str, ...], allowed: frozenset[str], blocks: tuple[str, ...]
    ) -> None:
        """moved/removed/import: known arguments, required ones present, addresses written as references."""
        where = f"{block.type} block"
        for attr in block.body.attrs:
            if attr.name not in allowed:
                self.report(
                    path, attr.line, f'{where}: unsupported argument "{attr.name}"{_suggest(attr.name, allowed)}'
                )
            elif attr.name in ("from", "to") and _static_traversal(attr.expr, any_index=block.type == "import") is None:
                self.report(
                    path, attr.line, f'{where}: "{attr.name}" must be an address such as aws_s3_bucket.x or module.y'
                )
        for arg in required:
            if block.body.attr(arg) is None:
                self.report(path, block.line, f'{where}: missing required argument "{arg}"')
        for nested in block.body.blocks:
            if nested.type not in blocks:
                self.report(path, nested.line, f'{where}: unsupported block "{nested.type}"')

    def _bool_setting(self, path: Path, body: Body, name: str, where: str) -> None:
        attr = body.attr(name)
        if attr is not None:
            for line, message in _value_errors(attr.expr, {"type": "bool"}, name, attr.line):
                self.report(path, line, f"{where}: {message}")

    def _count_for_each(self, path: Path, body: Body, where: str) -> None:
        """Literal count/for_each values Terraform rejects when it evaluates them during validation."""
        count = body.attr("count")
        if count is not None:
            for line, message in _value_errors(count.expr, {"type": "number"}, "count", count.line):
                self.report(path, line, f"{where}: {message}")
            literal = _literal_kind(count.expr)
            if literal is not None and literal[1] is not None and _NUMBER.match(literal[1]) and float(literal[1]) % 1:
                self.report(path, count.line, f'{where}: "count" must be a whole number, got {literal[1]}')
        for_each = body.attr("for_each")
        literal = _literal_kind(for_each.expr) if for_each is not None else None
        if for_each is not None and literal is not None and literal[0] != "object":
            self.report(
                path,
                for_each.line,
                f'{where}: "for_each" must be a map or a set of strings, got a {literal[0]} literal'
                + (" (wrap a list in toset(...))" if literal[0] == "tuple" else ""),
            )

    def _depends_on(self, path: Path, attr: Attr, where: str) -> None:
        """depends_on is a static list of references to whole objects (Terraform rejects expressions and
        references to attributes; quoted references are still accepted by Terraform's compatibility shim)."""
        items = tuple_items(attr.expr)
        if items is None:
            self.report(path, attr.line, f"{where}: depends_on must be a list of references, e.g. [aws_sqs_queue.x]")
            return
        for item in items:
            if string_value(item) is not None:
                continue
            line = line_of(item, attr.line)
            traversal = _static_traversal(item)
            if traversal is None:
                self.report(
                    path, line, f"{where}: a depends_on entry must be a plain reference (no calls or expressions)"
                )
                continue
            root, steps = traversal
            text = root + "".join(f".{v}" if k == "attr" else "[...]" for k, v in steps)
            consumed = _address_length(root, steps)
            if consumed is not None and len(steps) > consumed:
                self.report(
                    path,
                    line,
                    f"{where}: depends_on must name a whole object, not an attribute ({text})",
                )

    def _provider_reference(self, mod: Module, path: Path, node: Tree, line: int, where: str) -> None:
        """`provider = aws.alias` (and providers-map values) in the root module need a configuration with
        that alias; a child module may receive it from its caller, so only the root is checked."""
        if string_value(node) is not None:
            return  # legacy quoted form, still accepted
        traversal = _static_traversal(node)
        if traversal is None or len(traversal[1]) > 1 or any(k != "attr" for k, _ in traversal[1]):
            self.report(path, line, f"{where}: a provider must be written as <name> or <name>.<alias>")
            return
        root, steps = traversal
        if not steps or mod.dir.resolve() != self.repo:
            return
        config = f"{root}.{steps[0][1]}"
        if config not in mod.providers:
            configured = sorted(k for k in mod.providers if "." in k)
            self.report(
                path,
                line,
                f'{where}: provider configuration "{config}" is not declared in this module '
                f'(add provider "{root}" {{ alias = "{steps[0][1]}" ... }})'
                + (f"; declared aliases: {', '.join(configured)}" if configured else ""),
            )

    def _top_module(self, mod: Module, path: Path, block: Block) -> None:
        name = block.labels[0]
        body = block.body
        self._duplicate_args(path, body)
        ctx = self._meta_ctx(path, block)
        for nested in body.blocks:
            self.report(
                path, nested.line, f'module "{name}": blocks are not allowed in a module call ("{nested.type}")'
            )
        if body.attr("count") is not None and body.attr("for_each") is not None:
            self.report(path, body.attr("for_each").line, f'module "{name}": count and for_each cannot both be set')
        source_attr = body.attr("source")
        if source_attr is None:
            self.report(path, block.line, f'module "{name}" has no source')
            return
        source = string_value(source_attr.expr)
        if source is None:
            self.report(path, source_attr.line, f'module "{name}": source must be a literal string')
            return
        self._count_for_each(path, body, f'module "{name}"')
        if (depends_on := body.attr("depends_on")) is not None:
            self._depends_on(path, depends_on, f'module "{name}"')
        if (providers := body.attr("providers")) is not None:
            items = object_items(providers.expr)
            if items is None:
                self.report(path, providers.line, f'module "{name}": providers must be a map such as {{ aws = aws.x }}')
            for _, value, item_line in items or []:
                self._provider_reference(mod, path, value, item_line or providers.line, f'module "{name}" providers')
        if (version := body.attr("version")) is not None and source.startswith(("./", "../")):
            self.report(path, version.line, f'module "{name}": version cannot be used with a local source ("{source}")')
        for attr in body.attrs:
            if attr.name in ("source", "providers"):
                continue
            self.expr(mod, attr.expr, ctx if attr.name not in ("count", "for_each") else Ctx(path, attr.line))
        if not source.startswith(("./", "../")):
            return  # a registry/remote module: its inputs are not known offline
        target_dir = (path.parent / source).resolve()
        if not target_dir.is_dir() or not any(target_dir.glob("*.tf")):
            self.report(path, source_attr.line, f'module "{name}": source "{source}" is not a directory of .tf files')
            return
        target = self.module(target_dir)
        if target.errors:
            return  # its own syntax errors are reported where it is validated; its inputs are not known
        for attr in body.attrs:
            if attr.name in MODULE_META_ARGS:
                continue
            declared = target.variables.get(attr.name)
            if declared is None:
                self.report(path, attr.line, f'module "{name}" ({source}) has no input variable "{attr.name}"')
                continue
            type_attr = declared[1].body.attr("type")
            if type_attr is not None:
                where = f'module "{name}" input "{attr.name}"'
                type_ = parse_type(type_attr.expr)
                for line, message in _extra_attributes(attr.expr, type_, where, attr.line):
                    self.report(path, line, message)
                for line, message in _conversion_errors(attr.expr, type_, where, attr.line):
                    self.report(path, line, message)
        given = {a.name for a in body.attrs}
        for var_name, (_, var_block) in sorted(target.variables.items()):
            if var_block.body.attr("default") is None and var_name not in given:
                self.report(path, block.line, f'module "{name}" ({source}) is missing required input "{var_name}"')
        providers_attr = body.attr("providers")
        passed = _providers_map_keys(providers_attr.expr) if providers_attr else set()
        for alias in sorted(_configuration_aliases(target)):
            if alias not in passed and alias not in target.providers:
                self.report(
                    path,
                    block.line,
                    f'module "{name}" ({source}) declares configuration_aliases {alias}: pass it in providers = '
                    f"{{ {alias} = ... }}",
                )
        if target_dir.name == LAMBDA_FUNCTION_MODULE and (package_attr := body.attr("package")) is not None:
            package = string_value(package_attr.expr)
            if package is not None and not (self.repo / "functions" / package / "handler.py").is_file():
                self.report(
                    path,
                    package_attr.line,
                    f'module "{name}": package "{package}" has no functions/{package}/handler.py',
                )

    def _top_resource(self, mod: Module, path: Path, block: Block) -> None:
        self._resource_like(mod, path, block, "resource")

    def _top_data(self, mod: Module, path: Path, block: Block) -> None:
        self._resource_like(mod, path, block, "data")

    def _resource_like(self, mod: Module, path: Path, block: Block, kind: str) -> None:
        type_, name = block.labels
        address = f"{'data.' if kind == 'data' else ''}{type_}.{name}"
        body = block.body
        ctx = self._meta_ctx(path, block)
        schema = self.schema.block(kind, type_)
        noun = "resource" if kind == "resource" else "data source"
        if schema is None:
            if self.schema.exists(kind, type_):
                self.report(
                    path,
                    block.line,
                    f'{noun} type "{type_}" is not in the vendored provider schema subset: run `make schema`',
                )
            else:
                hint = _suggest(type_, self.schema.all_types[kind])
                self.report(path, block.line, f'unknown {noun} type "{type_}"{hint}')
        if body.attr("count") is not None and body.attr("for_each") is not None:
            self.report(path, body.attr("for_each").line, f"{address}: count and for_each cannot both be set")
        self._count_for_each(path, body, address)
        if (depends_on := body.attr("depends_on")) is not None:
            self._depends_on(path, depends_on, address)
        singletons = ("lifecycle", "connection") if kind == "resource" else ("lifecycle",)
        for singleton in singletons:
            repeated = [b for b in body.blocks if b.type == singleton][1:]
            for extra in repeated:
                self.report(path, extra.line, f"{address}: duplicate {singleton} block (only one is allowed)")
        meta_attrs = [a for a in body.attrs if a.name in RESOURCE_META_ARGS]
        for attr in meta_attrs:
            if attr.name == "provider":
                self._provider_reference(mod, path, attr.expr, attr.line, address)
                continue
            self.expr(mod, attr.expr, Ctx(path, attr.line) if attr.name in ("count", "for_each") else ctx)
        meta_blocks = {"lifecycle", "provisioner", "connection"} if kind == "resource" else {"lifecycle"}
        for nested in body.blocks:
            if nested.type in meta_blocks:
                self._meta_block(mod, path, nested, ctx, kind, address)
        plain = Body(
            [a for a in body.attrs if a.name not in RESOURCE_META_ARGS],
            [b for b in body.blocks if b.type not in meta_blocks],
            body.line,
        )
        if schema is None:
            self._walk_body_exprs(mod, plain, ctx)
            return
        self.schema_body(mod, path, plain, schema, ctx, address, type_=type_, top=True)
        source_dir = plain.attr("source_dir")
        if kind == "data" and type_ == "archive_file" and source_dir is not None:
            literal = _static_path(source_dir.expr, path.parent)
            if literal is not None and not literal.is_dir():
                shown = _relative(literal, self.repo)
                self.report(path, source_dir.line, f"{address}: source_dir {shown} does not exist")

    def _meta_ctx(self, path: Path, block: Block) -> Ctx:
        return Ctx(
            path, block.line, count=block.body.attr("count") is not None, each=block.body.attr("for_each") is not None
        )

    def _meta_block(self, mod: Module, path: Path, block: Block, ctx: Ctx, kind: str, address: str) -> None:
        if block.type == "lifecycle":
            allowed_args = LIFECYCLE_ARGS if kind == "resource" else frozenset()
            for attr in block.body.attrs:
                if attr.name not in allowed_args:
                    self.report(path, attr.line, f'{address}: unsupported lifecycle argument "{attr.name}"')
                elif attr.name == "replace_triggered_by":
                    self.expr(mod, attr.expr, ctx)
                elif attr.name == "ignore_changes":
                    self._ignore_changes(path, attr, address)
                else:
                    self.expr(mod, attr.expr, Ctx(path, attr.line))
                    self._bool_setting(path, block.body, attr.name, f"{address} lifecycle")
            for nested in block.body.blocks:
                if nested.type == "precondition":
                    self._condition_block(mod, path, nested, ctx, f"{address} precondition")
                elif nested.type == "postcondition":
                    self._condition_block(mod, path, nested, _with_self(ctx), f"{address} postcondition")
                else:
                    self.report(path, nested.line, f'{address}: unsupported lifecycle block "{nested.type}"')
            return
        # provisioner "type" { ... connection { ... } } and connection { ... }: provisioner-specific arguments
        # are not in the provider schema; check their references with self in scope.
        self._walk_body_exprs(mod, block.body, _with_self(ctx))

    def _ignore_changes(self, path: Path, attr: Attr, address: str) -> None:
        """Each ignore_changes entry must start with an argument or block of the resource type."""
        type_ = address.split(".")[0]
        schema = self.schema.block("resource", type_)
        items = tuple_items(attr.expr)
        if items is None:
            if "all" not in (bare_identifier(attr.expr), string_value(attr.expr)):
                self.report(path, attr.line, f"{address}: ignore_changes must be a list of attribute names, or all")
            return
        if schema is None:
            return
        known = set(schema.get("arguments", {})) | set(schema.get("blocks", {})) | set(schema.get("computed", {}))
        known.add("id")
        for item in items:
            line = line_of(item, attr.line)
            text = string_value(item)
            if text is not None:
                first = re.split(r"[.\[]", text, maxsplit=1)[0]
            else:
                traversal = _static_traversal(item)
                if traversal is None:
                    self.report(path, line, f"{address}: an ignore_changes entry must be an attribute name")
                    continue
                first = traversal[0]
            if first not in known:
                self.report(
                    path,
                    line,
                    f'{address}: ignore_changes names "{first}", which {type_} does not have{_suggest(first, known)}',
                )

    def _condition_block(
        self, mod: Module, path: Path, block: Block, ctx: Ctx, where: str, *, constant_check: bool = True
    ) -> None:
        for attr in block.body.attrs:
            if attr.name not in CONDITION_ARGS:
                self.report(path, attr.line, f'{where}: unsupported argument "{attr.name}"')
            self.expr(mod, attr.expr, ctx)
        for arg in sorted(CONDITION_ARGS):
            if block.body.attr(arg) is None:
                self.report(path, block.line, f'{where}: missing required argument "{arg}"')
        condition = block.body.attr("condition")
        if (
            constant_check
            and condition is not None
            and not any(
                kind == "ref" and inner.kind_of(payload[0]) is None
                for kind, payload, _, inner in _scan(condition.expr, ctx)
            )
        ):
            self.report(
                path,
                condition.line,
                f"{where}: the condition must refer to something (a variable, resource, ...), "
                "or its result is a constant",
            )
        for nested in block.body.blocks:
            self.report(path, nested.line, f'{where}: unsupported block "{nested.type}"')

    def _walk_body_exprs(self, mod: Module, body: Body, ctx: Ctx) -> None:
        for attr in body.attrs:
            self.expr(mod, attr.expr, ctx)
        for nested in body.blocks:
            if nested.type == "dynamic" and nested.labels:
                iterator = _iterator_name(nested)
                for attr in nested.body.attrs:
                    if attr.name != "iterator":
                        self.expr(mod, attr.expr, ctx)
                for content in nested.body.blocks:
                    self._walk_body_exprs(mod, content.body, ctx.with_scope((iterator, "iterator")))
            else:
                self._walk_body_exprs(mod, nested.body, ctx)

    def _duplicate_args(self, path: Path, body: Body) -> None:
        seen: set[str] = set()
        for attr in body.attrs:
            if attr.name in seen:
                self.report(path, attr.line, f'argument "{attr.name}" is set more than once')
            seen.add(attr.name)

    # ---- schema-checked bodies

    def schema_body(
        self,
        mod: Module,
        path: Path,
        body: Body,
        schema: dict[str, Any],
        ctx: Ctx,
        where: str,
        *,
        type_: str | None = None,
        top: bool = False,
    ) -> None:
        arguments: dict[str, Any] = schema.get("arguments", {})
        blocks: dict[str, Any] = schema.get("blocks", {})
        computed: dict[str, Any] = schema.get("computed", {})
        as_blocks = ATTRIBUTES_AS_BLOCKS.get(type_ or "", set()) if top else set()
        # Attributes-as-blocks may also be written as (dynamic) blocks; their nested attributes form the body.
        pseudo = {
            name: {"arguments": arguments[name].get("attributes", {}).get("arguments", {})}
            for name in as_blocks
            if name in arguments and name not in blocks and arguments[name].get("nested_attribute")
        }
        if pseudo:
            blocks = {**blocks, **pseudo}
        self._duplicate_args(path, body)
        for attr in body.attrs:
            if attr.name in arguments:
                for line, message in _value_errors(attr.expr, arguments[attr.name], attr.name, attr.line):
                    self.report(path, line, f"{where}: {message}")
            elif attr.name in as_blocks:
                pass
            elif attr.name in blocks:
                self.report(
                    path,
                    attr.line,
                    f'{where}: "{attr.name}" is a block; write {attr.name} {{ ... }}, not {attr.name} = ...',
                )
            elif attr.name in computed:
                self.report(
                    path, attr.line, f'{where}: "{attr.name}" is read-only (computed by the provider) and cannot be set'
                )
            else:
                hint = _suggest(attr.name, set(arguments) | set(blocks))
                self.report(path, attr.line, f'{where}: unsupported argument "{attr.name}"{hint}')
            self.expr(mod, attr.expr, ctx)
        counts: dict[str, int] = {}
        dynamic_names: set[str] = set()
        for nested in body.blocks:
            if nested.type == "dynamic":
                dyn_name = nested.labels[0] if len(nested.labels) == 1 else None
                if dyn_name is None:
                    self.report(path, nested.line, f"{where}: a dynamic block takes exactly one label (the block type)")
                    continue
                dynamic_names.add(dyn_name)
                self._dynamic(mod, path, nested, dyn_name, blocks, arguments, ctx, where)
                continue
            if nested.labels:
                self.report(path, nested.line, f'{where}: block "{nested.type}" takes no labels')
            sub = blocks.get(nested.type)
            if sub is None:
                if nested.type in arguments:
                    self.report(
                        path,
                        nested.line,
                        f'{where}: "{nested.type}" is an argument; write {nested.type} = ..., not a block',
                    )
                else:
                    hint = _suggest(nested.type, set(blocks) | set(arguments))
                    self.report(path, nested.line, f'{where}: unsupported block type "{nested.type}"{hint}')
                self._walk_body_exprs(mod, nested.body, ctx)
                continue
            counts[nested.type] = counts.get(nested.type, 0) + 1
            max_items = sub.get("max_items")
            if max_items and counts[nested.type] == max_items + 1:
                self.report(path, nested.line, f'{where}: too many "{nested.type}" blocks (at most {max_items})')
            self.schema_body(mod, path, nested.body, sub, ctx, f"{where}.{nested.type}")
        given = {a.name for a in body.attrs}
        for arg_name, arg in sorted(arguments.items()):
            if arg.get("required") and arg_name not in given:
                self.report(
                    path,
                    body.line,
                    f'{where}: missing required argument "{arg_name}"',
                )
        for block_name, sub in sorted(blocks.items()):
            if (
                sub.get("required")
                and block_name not in counts
                and block_name not in dynamic_names
                and block_name not in given
            ):
                self.report(path, body.line, f'{where}: missing required block "{block_name}"')

    def _dynamic(
        self,
        mod: Module,
        path: Path,
        block: Block,
        name: str,
        blocks: dict[str, Any],
        arguments: dict[str, Any],
        ctx: Ctx,
        where: str,
    ) -> None:
        sub = blocks.get(name)
        if sub is None:
            if name in arguments:
                self.report(path, block.line, f'{where}: "{name}" is an argument, not a block; it cannot be dynamic')
            else:
                hint = _suggest(name, set(blocks))
                self.report(path, block.line, f'{where}: unsupported block type "{name}" in dynamic block{hint}')
        iterator = _iterator_name(block)
        for attr in block.body.attrs:
            if attr.name == "iterator":
                if bare_identifier(attr.expr) is None:
                    self.report(path, attr.line, f'{where}: dynamic "{name}": iterator must be a bare name')
            elif attr.name in ("for_each", "labels"):
                self.expr(mod, attr.expr, ctx)
            else:
                self.report(path, attr.line, f'{where}: dynamic "{name}": unsupported argument "{attr.name}"')
        if block.body.attr("for_each") is None:
            self.report(path, block.line, f'{where}: dynamic "{name}" has no for_each')
        contents = [b for b in block.body.blocks if b.type == "content"]
        for nested in block.body.blocks:
            if nested.type != "content":
                self.report(path, nested.line, f'{where}: dynamic "{name}": unsupported block "{nested.type}"')
        if len(contents) != 1:
            self.report(path, block.line, f'{where}: dynamic "{name}" needs exactly one content block')
        inner = ctx.with_scope((iterator, "iterator"))
        for content in contents:
            if sub is not None:
                content_body = Body(content.body.attrs, content.body.blocks, content.line)
                self.schema_body(mod, path, content_body, sub, inner, f"{where}.{name}")
            else:
                self._walk_body_exprs(mod, content.body, inner)

    # ---- expressions

    def expr(self, mod: Module, node: Tree, ctx: Ctx) -> None:
        for kind, payload, line, scope_ctx in _scan(node, ctx):
            if kind == "call":
                self._call(mod, payload, line, scope_ctx)
            elif kind == "error":
                self.report(ctx.path, line, "invalid template interpolation in heredoc")
            else:
                root, steps = payload
                self._reference(mod, root, steps, line, scope_ctx)

    def _call(self, mod: Module, call: Tree, line: int, ctx: Ctx) -> None:
        name = token_text(call.children[0])
        if ctx.literal is not None:
            self.report(ctx.path, line, f"{ctx.literal} must be a literal value: it calls {name}()")
        elif name not in BUILTIN_FUNCTIONS:
            hint = _suggest(name, BUILTIN_FUNCTIONS)
            self.report(ctx.path, line, f'call to unknown function "{name}"{hint}')
            return
        if (bounds := FUNCTION_ARITY.get(name)) is not None and not _has_expansion(call):
            given = len(_call_args(call))
            low, high = bounds
            if given < low or (high is not None and given > high):
                wanted = f"{low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}"
                self.report(ctx.path, line, f"{name}() takes {wanted} argument(s), got {given}")
        if name in FILE_FUNCTIONS and (args := _call_args(call)):
            target = _static_path(args[0], ctx.path.parent)
            if target is not None and not target.is_file():
                shown = _relative(target, self.repo)
                self.report(ctx.path, line, f"{name}() reads {shown}, which does not exist")

    def _reference(self, mod: Module, root: str, steps: list[tuple[str, Any]], line: int, ctx: Ctx) -> None:
        text = root + "".join(f".{s[1]}" if s[0] == "attr" else "[...]" for s in steps[:3])
        scoped = ctx.kind_of(root)
        if scoped is not None:
            if scoped == "iterator" and steps[:1] and steps[0][0] == "attr" and steps[0][1] not in ("key", "value"):
                self.report(
                    ctx.path, line, f'"{root}" is a dynamic-block iterator: use {root}.key or {root}.value, not {text}'
                )
            return
        if ctx.literal is not None:
            self.report(ctx.path, line, f"{ctx.literal} must be a literal value: it refers to {text}")
            return
        first = steps[0][1] if steps and steps[0][0] == "attr" else None
        if root in ("var", "local", "module", "path", "terraform", "count", "each", "data") and first is None:
            self.report(ctx.path, line, f'invalid reference "{root}": it must be followed by an attribute name')
            return
        if root == "var":
            if first not in mod.variables:
                self.report(
                    ctx.path, line, f'reference to undeclared input variable "{first}"{_suggest(first, mod.variables)}'
                )
            elif (type_attr := mod.variables[first][1].body.attr("type")) is not None:
                message = _object_attribute_error(parse_type(type_attr.expr), steps[1:], f"var.{first}")
                if message:
                    self.report(ctx.path, line, message)
        elif root == "local":
            if first not in mod.locals:
                self.report(
                    ctx.path, line, f'reference to undeclared local value "{first}"{_suggest(first, mod.locals)}'
                )
            elif len(steps) > 1 and steps[1][0] == "attr":
                items = object_items(mod.locals[first][1].expr)
                keys = {key for key, _, _ in items or []}
                if items is not None and None not in keys and steps[1][1] not in keys:
                    shown = ", ".join(sorted(k for k in keys if k is not None))
                    self.report(
                        ctx.path,
                        line,
                        f'local.{first} has no attribute "{steps[1][1]}" (its object literal has: {shown})',
                    )
        elif root == "module":
            self._module_reference(mod, first, steps[1:], line, ctx)
        elif root == "path":
            if first not in PATH_ATTRS:
                self.report(ctx.path, line, f'invalid reference "{text}": path has module, root and cwd')
        elif root == "terraform":
            if first not in TERRAFORM_ATTRS:
                self.report(ctx.path, line, f'invalid reference "{text}": terraform has workspace and applying')
        elif root == "count":
            if first != "index":
                self.report(ctx.path, line, f'invalid reference "{text}": count has only count.index')
            elif not ctx.count:
                self.report(
                    ctx.path, line, "count.index is only valid in a resource, data or module block that sets count"
                )
        elif root == "each":
            if first not in ("key", "value"):
                self.report(ctx.path, line, f'invalid reference "{text}": each has each.key and each.value')
            elif not ctx.each:
                self.report(
                    ctx.path, line, f"each.{first} is only valid in a resource, data or module block that sets for_each"
                )
        elif root == "self":
            if not ctx.self_:
                self.report(ctx.path, line, "self is only valid in provisioner, connection and postcondition blocks")
        elif root == "data":
            name = steps[1][1] if len(steps) > 1 and steps[1][0] == "attr" else None
            if name is None:
                self.report(ctx.path, line, f'invalid reference "{text}": use data.<type>.<name>')
                return
            self._resource_reference(mod, "data", first, name, steps[2:], line, ctx)
        else:
            if first is None:
                self.report(ctx.path, line, f'invalid reference "{root}": a resource reference needs <type>.<name>')
                return
            self._resource_reference(mod, "resource", root, first, steps[1:], line, ctx)

    def _module_reference(self, mod: Module, name: str, rest: list[tuple[str, Any]], line: int, ctx: Ctx) -> None:
        if name not in mod.calls:
            self.report(ctx.path, line, f'reference to undeclared module "{name}"{_suggest(name, mod.calls)}')
            return
        call_path, call = mod.calls[name]
        if rest and rest[0][0] == "attr" and _is_multi(call):
            self.report(
                ctx.path,
                line,
                f'module "{name}" has count or for_each: index it (module.{name}[...]) or splat it '
                f"before reading .{rest[0][1]}",
            )
            return
        while rest and rest[0][0] in ("index", "splat"):
            rest = rest[1:]
        if not rest or rest[0][0] != "attr":
            return
        output = rest[0][1]
        source_attr = call.body.attr("source")
        source = string_value(source_attr.expr) if source_attr else None
        if not source or not source.startswith(("./", "../")):
            return
        target_dir = (call_path.parent / source).resolve()
        if not target_dir.is_dir():
            return
        target = self.module(target_dir)
        if target.errors:
            return
        if output not in target.outputs:
            self.report(
                ctx.path,
                line,
                f'module "{name}" ({source}) has no output "{output}"{_suggest(output, target.outputs)}',
            )

    def _resource_reference(
        self, mod: Module, kind: str, type_: str, name: str, rest: list[tuple[str, Any]], line: int, ctx: Ctx
    ) -> None:
        table = mod.resources if kind == "resource" else mod.data
        address = f"{'data.' if kind == 'data' else ''}{type_}.{name}"
        if kind == "data" and ctx.kind_of(address) == "check-data":
            table = {(type_, name): (ctx.path, Block("data", [type_, name], Body([], [], line), line))}
        declared = table.get((type_, name))
        if declared is None:
            candidates = {f"{t}.{n}" for t, n in table}
            noun = "resource" if kind == "resource" else "data source"
            hint = _suggest(f"{type_}.{name}", candidates)
            self.report(
                ctx.path,
                line,
                f'reference to undeclared {noun} "{address}"{hint}',
            )
            return
        if not rest:
            return
        if rest[0][0] == "index" and not _is_multi(declared[1]):
            self.report(
                ctx.path,
                line,
                f"{address} has neither count nor for_each: refer to it without an index ({address}[...] is invalid)",
            )
            return
        if rest[0][0] == "attr" and _is_multi(declared[1]):
            self.report(
                ctx.path,
                line,
                f"{address} has count or for_each: index it ({address}[...]) or splat it before reading .{rest[0][1]}",
            )
            return
        while rest and rest[0][0] in ("index", "splat"):
            rest = rest[1:]
        if not rest or rest[0][0] != "attr":
            return
        attribute = rest[0][1]
        schema = self.schema.block(kind, type_)
        if schema is None:
            return
        known = set(schema.get("arguments", {})) | set(schema.get("blocks", {})) | set(schema.get("computed", {}))
        known.add("id")
        if attribute not in known:
            self.report(ctx.path, line, f'{address} has no attribute "{attribute}"{_suggest(attribute, known)}')


def _static_traversal(node: Tree, *, any_index: bool = False) -> tuple[str, list[tuple[str, Any]]] | None:
    """(root, steps) of a plain reference with only attribute steps and literal indexes (any index expression
    with any_index, as in an import block's `to = aws_x.y[each.key]`), else None."""
    node = unwrap(node)
    if not isinstance(node, Tree):
        return None
    if node.data == "identifier":
        return token_text(node), []
    if node.data not in TRAVERSALS:
        return None
    base, steps = _flatten(node)
    base = unwrap(base)
    if not isinstance(base, Tree) or base.data != "identifier":
        return None
    for kind, payload in steps:
        if kind == "splat":
            return None
        if kind == "index" and not any_index:
            index = [c for c in payload.children if isinstance(c, Tree)] if isinstance(payload, Tree) else []
            if len(index) != 1 or _literal_kind(index[0]) is None:
                return None
    return token_text(base), steps


def _address_length(root: str, steps: list[tuple[str, Any]]) -> int | None:
    """How many steps of a depends_on reference name the object itself (the rest are its attributes)."""

    def indexed(at: int) -> int:
        return at + 1 if len(steps) > at and steps[at][0] == "index" else at

    if root in ("var", "local"):
        return 1
    if root == "module":
        after = indexed(1)
        return after + 1 if len(steps) > after and steps[after][0] == "attr" else after  # an output is allowed
    if root == "data":
        return indexed(2)
    if root in ("path", "terraform", "count", "each", "self"):
        return None
    return indexed(1)  # a managed resource


def _conversion_errors(node: Tree, type_: tuple[Any, ...], where: str, line: int) -> Iterator[tuple[int, str]]:
    """Literal parts of a value that cannot convert to a type constraint (as Terraform checks a default)."""
    literal = _literal_kind(node)
    if literal is None:
        return
    kind, value = literal
    line = line_of(node, line) or line
    shown = f'"{value}"' if kind == "string" and value is not None else f"a {kind}"
    base = type_[0]
    if base == "prim":
        if type_[1] in ("string", "number", "bool") and any(_value_errors(node, {"type": type_[1]}, "x", line)):
            yield line, f"{where} is not compatible with its type: {type_[1]} required, got {shown}"
        return
    required = {"list": "list", "set": "set", "map": "map", "object": "object", "tuple": "tuple"}.get(base)
    if required is None:
        return
    fits = {"list": ("tuple",), "set": ("tuple",), "tuple": ("tuple",), "map": ("object",), "object": ("object",)}
    if kind not in fits[base]:
        yield line, f"{where} is not compatible with its type: {required} required, got {shown}"
        return
    if base in ("list", "set"):
        for n, item in enumerate(tuple_items(node) or []):
            yield from _conversion_errors(item, type_[1], f"{where}[{n}]", line)
    elif base == "tuple":
        items = tuple_items(node) or []
        if len(items) != len(type_[1]):
            yield line, f"{where} is not compatible with its type: a tuple of {len(type_[1])} element(s) required"
            return
        for n, (item, item_type) in enumerate(zip(items, type_[1], strict=True)):
            yield from _conversion_errors(item, item_type, f"{where}[{n}]", line)
    elif base == "map":
        for key, item, item_line in object_items(node) or []:
            yield from _conversion_errors(item, type_[1], f'{where}["{key}"]', item_line or line)
    else:
        for key, item, item_line in object_items(node) or []:
            if key is not None and key in type_[1]:
                yield from _conversion_errors(item, type_[1][key], f"{where}.{key}", item_line or line)


def _providers_map_keys(node: Tree) -> set[str]:
    """The keys of a module call's providers map: `aws` or `aws.alias` (a dotted key is a traversal)."""
    node = unwrap(node)
    keys: set[str] = set()
    if not isinstance(node, Tree) or node.data != "object":
        return keys
    for elem in node.children:
        if isinstance(elem, Tree) and elem.data == "object_elem":
            key_node = elem.children[0].children[0]
            if not isinstance(key_node, Tree):
                continue
            traversal = _static_traversal(key_node)
            if traversal is not None:
                keys.add(".".join([traversal[0], *(str(v) for _, v in traversal[1])]))
            elif (text := string_value(key_node)) is not None:
                keys.add(text)
    return keys


def _configuration_aliases(module: Module) -> set[str]:
    """`aws.replica` for each entry of configuration_aliases in the module's required_providers."""
    setting = module.settings.get("required_providers")
    aliases: set[str] = set()
    if setting is None:
        return aliases
    for provider in setting[1].body.attrs:
        for key, value, _ in object_items(provider.expr) or []:
            if key == "configuration_aliases":
                for item in tuple_items(value) or []:
                    traversal = _static_traversal(item)
                    if traversal is not None and len(traversal[1]) == 1:
                        aliases.add(f"{traversal[0]}.{traversal[1][0][1]}")
    return aliases


def _cycle_from(start: str, edges: dict[str, list[str]]) -> list[str] | None:
    """The path of a cycle that leads back to `start` (start first), else None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for target in edges.get(node, []):
            if target == start:
                return path
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def _literal_kind(node: Tree) -> tuple[str, Any] | None:
    """("string"|"number"|"bool"|"tuple"|"object", literal) of a literal expression, else None."""
    node = unwrap(node)
    if not isinstance(node, Tree):
        return None
    if node.data == "string":
        return "string", string_value(node)
    if node.data in ("heredoc_template", "heredoc_template_trim"):
        return "string", None
    if node.data in ("int_lit", "float_lit"):
        return "number", token_text(node)
    if node.data == "literal_value":
        text = token_text(node)
        return ("bool", text) if text in ("true", "false") else None
    if node.data in ("tuple", "object"):
        return node.data, None
    return None


_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$")


def _value_errors(node: Tree, argument: dict[str, Any], name: str, line: int) -> Iterator[tuple[int, str]]:
    """Literal values that cannot convert to the argument's type (Terraform's own conversion rules), and
    attributes of literal objects given to nested-attribute arguments that the schema does not declare."""
    literal = _literal_kind(node)
    if literal is None:
        return
    kind, value = literal
    type_ = str(argument.get("type", ""))
    base = type_.split("(", 1)[0]
    expected = {"string": "a string", "number": "a number", "bool": "a bool"}.get(base)
    shown = f'"{value}"' if kind == "string" and value is not None else kind
    bad = False
    if base == "string":
        bad = kind in ("tuple", "object")
    elif base == "number":
        bad = kind in ("tuple", "object", "bool") or (
            kind == "string" and value is not None and not _NUMBER.match(value)
        )
    elif base == "bool":
        bad = kind in ("tuple", "object", "number") or (
            kind == "string" and value is not None and value not in ("true", "false")
        )
    elif base in ("list", "set"):
        bad = kind in ("string", "number", "bool") or (kind == "object" and not argument.get("nested_attribute"))
        expected = f"a {base}"
    elif base == "map":
        bad = kind in ("string", "number", "bool", "tuple")
        expected = "a map"
    if bad:
        yield line, f'"{name}" expects {expected} ({type_}), got {shown}'
        return
    nested = argument.get("attributes", {}).get("arguments") if argument.get("nested_attribute") else None
    if nested is None:
        return
    objects = [node] if kind == "object" else (tuple_items(node) or []) if kind == "tuple" else []
    for obj in objects:
        for key, item, item_line in object_items(obj) or []:
            if key is None:
                continue
            if key not in nested:
                hint = _suggest(key, nested)
                yield item_line or line, f'"{name}" has no attribute "{key}"{hint}'
            else:
                yield from _value_errors(item, nested[key], f"{name}.{key}", item_line or line)


def _object_attribute_error(type_: tuple[Any, ...], steps: list[tuple[str, Any]], where: str) -> str | None:
    """Follow attribute/index steps through a variable's type; report an attribute its object type lacks."""
    for kind, payload in steps:
        if type_[0] == "prim" and type_[1] != "any" and kind == "attr":
            return f'{where} is a {type_[1]}: it has no attribute "{payload}"'
        if type_[0] == "object" and kind == "attr":
            if payload not in type_[1]:
                declared = ", ".join(sorted(type_[1]))
                return f'{where} has no attribute "{payload}" (its object type declares: {declared})'
            type_ = type_[1][payload]
            where = f"{where}.{payload}"
        elif type_[0] in ("map", "list", "set") and kind == "index":
            type_ = type_[1]
            where = f"{where}[...]"
        else:
            return None  # any, splats, tuples, or a step Terraform would reject for other reasons
    return None


def _relative(path: Path, repo: Path) -> str:
    try:
        return path.resolve().relative_to(repo).as_posix()
    except ValueError:
        return path.as_posix()


def _with_self(ctx: Ctx) -> Ctx:
    return Ctx(ctx.path, ctx.line, ctx.count, ctx.each, True, ctx.literal, ctx.scope)


def _iterator_name(block: Block) -> str:
    attr = block.body.attr("iterator")
    name = bare_identifier(attr.expr) if attr is not None else None
    return name or (block.labels[0] if block.labels else "")


def _static_path(node: Tree, module_dir: Path) -> Path | None:
    """The path a string denotes when it is literal apart from ${path.module}; else None."""
    node = unwrap(node)
    if not isinstance(node, Tree) or node.data != "string":
        return None
    out = []
    for part in node.children:
        if isinstance(part, Token):
            continue
        for piece in part.children:
            if isinstance(piece, Token):
                out.append(_unescape(str(piece)))
                continue
            if piece.data != "interpolation":
                return None
            inner = [c for c in piece.children if isinstance(c, Tree)]
            refs = list(_references(inner[0])) if inner else []
            if (
                len(refs) == 1
                and refs[0][0] == "path"
                and refs[0][1] == [("attr", "module")]
                and unwrap(inner[0]).data in TRAVERSALS
            ):
                out.append(str(module_dir))
            else:
                return None
    text = "".join(out)
    path = Path(text)
    return path if path.is_absolute() else module_dir / path


def _references(node: Tree) -> Iterator[tuple[str, list[tuple[str, Any]], int]]:
    """(root, steps, line) of every traversal in an expression, ignoring scopes (for simple questions)."""
    for kind, payload, line, _ in _scan(node, Ctx(Path("."), 1)):
        if kind == "ref":
            yield payload[0], payload[1], line


def _scan(node: Tree | Token, ctx: Ctx) -> Iterator[tuple[str, Any, int, Ctx]]:
    """Walk an expression; yield ("ref", (root, steps), line, ctx) and ("call", name, line, ctx)."""
    if isinstance(node, Token):
        if node.type in ("HEREDOC_TEMPLATE", "HEREDOC_TEMPLATE_TRIM"):
            yield from _scan_heredoc(node, ctx)
        return
    data = node.data
    if data in TRAVERSALS or (data == "expr_term" and _is_bare(node)):
        base, steps = _flatten(node)
        base_node = unwrap(base)
        if isinstance(base_node, Tree) and base_node.data == "identifier":
            yield "ref", (token_text(base_node), steps), line_of(base_node, ctx.line), ctx
        else:
            yield from _scan(base, ctx)
        for _, payload in steps:
            if isinstance(payload, Tree):
                yield from _scan(payload, ctx)
        return
    if data == "function_call":
        has_namespace = any(isinstance(c, Token) and c.type == "COLONS" for c in node.children)
        if not has_namespace:
            yield "call", node, line_of(node, ctx.line), ctx
        for child in node.children[1:]:
            if isinstance(child, Tree):
                yield from _scan(child, ctx)
        return
    if data in ("for_tuple_expr", "for_object_expr"):
        intro = next(c for c in node.children if isinstance(c, Tree) and c.data == "for_intro")
        names = [token_text(c) for c in intro.children if isinstance(c, Tree) and c.data == "identifier"]
        collection = [
            c for c in intro.children if isinstance(c, Tree) and c.data not in ("identifier", "new_line_or_comment")
        ]
        for child in collection:
            yield from _scan(child, ctx)
        inner = ctx.with_scope(*((n, "for") for n in names))
        for child in node.children:
            if isinstance(child, Tree) and child.data != "for_intro":
                yield from _scan(child, inner)
        return
    if data == "object_elem_key":
        if bare_identifier(node.children[0]) is not None:
            return  # a literal key
        yield from _scan(node.children[0], ctx)
        return
    if data == "string":
        names = []
        for part in node.children:
            if isinstance(part, Tree):
                for piece in part.children:
                    if isinstance(piece, Tree) and piece.data == "template_for_start":
                        names += [
                            token_text(c) for c in piece.children if isinstance(c, Tree) and c.data == "identifier"
                        ]
        inner = ctx.with_scope(*((n, "for") for n in names)) if names else ctx
        for part in node.children:
            if isinstance(part, Tree):
                yield from _scan(part, inner)
        return
    if data == "identifier":
        return
    for child in node.children:
        yield from _scan(child, ctx)


def _is_bare(node: Tree) -> bool:
    inner = [c for c in node.children if isinstance(c, Tree)]
    return len(node.children) == 1 and len(inner) == 1 and inner[0].data == "identifier"


def _flatten(node: Tree) -> tuple[Tree, list[tuple[str, Any]]]:
    steps: list[tuple[str, Any]] = []
    while True:
        if node.data == "expr_term":
            inner = [c for c in node.children if isinstance(c, Tree)]
            if (
                len(node.children) == 1
                and len(inner) == 1
                and (inner[0].data in TRAVERSALS or inner[0].data == "identifier")
            ):
                node = inner[0]
                continue
            return node, steps
        if node.data == "get_attr_expr_term":
            base, get_attr = node.children
            steps.insert(0, ("attr", _attr_name(get_attr)))
            node = base
        elif node.data == "index_expr_term":
            base, index = node.children
            steps.insert(0, ("index", index))
            node = base
        elif node.data in ("attr_splat_expr_term", "full_splat_expr_term"):
            base, splat = node.children
            splat_steps: list[tuple[str, Any]] = [("splat", None)]
            for child in splat.children:
                if isinstance(child, Tree):
                    splat_steps.append(("attr", _attr_name(child)) if child.data == "get_attr" else ("index", child))
            steps[:0] = splat_steps
            node = base
        else:
            return node, steps


def _attr_name(get_attr: Tree) -> str:
    for child in get_attr.children:
        if isinstance(child, Tree):
            return token_text(child)
    return ""


_TEMPLATE_START = re.compile(r"(?<![$%])[$%]\{")
_FOR_DIRECTIVE = re.compile(r"for\s+([A-Za-z_][\w-]*)\s*(?:,\s*([A-Za-z_][\w-]*)\s*)?in\s+(.*)$", re.S)


def _scan_heredoc(token: Token, ctx: Ctx) -> Iterator[tuple[str, Any, int, Ctx]]:
    text = str(token)
    start_line = token.line or ctx.line
    pieces: list[tuple[str, str, int]] = []
    pos = 0
    while (match := _TEMPLATE_START.search(text, pos)) is not None:
        begin = match.start()
        end = _closing_brace(text, match.end())
        if end is None:
            break
        inner = text[match.end() : end].strip().strip("~").strip()
        line = start_line + text.count("\n", 0, begin)
        pieces.append((text[begin], inner, line))
        pos = end + 1
    names = [
        n
        for sigil, inner, _ in pieces
        if sigil == "%" and (m := _FOR_DIRECTIVE.match(inner))
        for n in m.group(1, 2)
        if n
    ]
    inner_ctx = ctx.with_scope(*((n, "for") for n in names)) if names else ctx
    for sigil, inner, line in pieces:
        expression = inner
        if sigil == "%":
            if intro := _FOR_DIRECTIVE.match(inner):
                expression = intro.group(3)
            elif inner.startswith("if "):
                expression = inner[3:]
            else:
                continue  # else / endif / endfor
        try:
            tree = parse_expression(expression, line)
        except HclSyntaxError:
            yield "error", None, line, ctx
            continue
        yield from _scan(tree, inner_ctx)


def _closing_brace(text: str, pos: int) -> int | None:
    depth = 0
    quote = False
    i = pos
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                quote = False
        elif ch == '"':
            quote = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return None


def _suggest(name: str | None, candidates: Iterable[str]) -> str:
    import difflib

    if not name:
        return ""
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.65)
    return f' (did you mean "{close[0]}"?)' if close else ""


# --------------------------------------------------------------------------------------------------------------
# tfvars
# --------------------------------------------------------------------------------------------------------------


def validate_tfvars(path: Path, root: Module, validator: Validator) -> None:
    """Every key of a .tfvars file must be a declared root variable; object-typed values may only use the
    attributes their type declares. Terraform itself silently drops undeclared object attributes when it
    converts the value to the variable's type, so a misspelled optional attribute would fall back to its
    default without a word; this check is deliberately stricter than Terraform."""
    try:
        body = parse_file(path)
    except HclSyntaxError as exc:
        validator.report(path, exc.line, str(exc))
        return
    for block in body.blocks:
        validator.report(path, block.line, f'blocks are not allowed in a .tfvars file ("{block.type}")')
    validator._duplicate_args(path, body)
    for attr in body.attrs:
        declared = root.variables.get(attr.name)
        if declared is None:
            hint = _suggest(attr.name, root.variables)
            validator.report(path, attr.line, f'"{attr.name}" is not a variable declared by the root module{hint}')
            continue
        validator.expr(root, attr.expr, Ctx(path, attr.line, literal=f'the value of "{attr.name}"'))
        type_attr = declared[1].body.attr("type")
        if type_attr is not None:
            type_ = parse_type(type_attr.expr)
            for line, message in _extra_attributes(attr.expr, type_, f"var.{attr.name}", attr.line):
                validator.report(path, line, message)
            for line, message in _conversion_errors(attr.expr, type_, f"the value of var.{attr.name}", attr.line):
                validator.report(path, line, message)


# --------------------------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------------------------


def _has_tf(directory: Path) -> bool:
    return directory.is_dir() and any(directory.glob("*.tf"))


def module_dirs(repo: Path) -> list[Path]:
    """The root (when it has .tf files), every modules/*/ and every examples/*/ holding .tf files."""
    repo = Path(repo)
    dirs = [repo] if _has_tf(repo) else []
    for parent in ("modules", "examples"):
        folder = repo / parent
        if folder.is_dir():
            dirs += [d for d in sorted(folder.iterdir()) if _has_tf(d) and d.name not in SKIP_DIRS]
    return dirs


def validate_dirs(dirs: list[Path], repo: Path, schema: Schema | None = None) -> list[Finding]:
    """Validate each directory as a Terraform module; findings sorted by file and line."""
    validator = Validator(repo, schema or load_schema())
    for directory in dirs:
        validator.validate_module(Path(directory))
    return sorted(validator.findings)


def validate_repo(repo: Path, schema: Schema | None = None) -> list[Finding]:
    """The root module, every modules/*/, every examples/*/, and environments/*.tfvars (against the root)."""
    repo = Path(repo)
    validator = Validator(repo, schema or load_schema())
    for directory in module_dirs(repo):
        validator.validate_module(directory)
    tfvars = sorted((repo / "environments").glob("*.tfvars"))
    if tfvars:
        root = validator.module(repo)
        for path in tfvars:
            validate_tfvars(path, root, validator)
    return sorted(validator.findings)


def main(argv: list[str] | None = None) -> int:
    """`python -m opskit_tools.tfvalidate [REPO]`: print every finding; exit 1 when there is one."""
    import sys

    from .paths import REPO

    args = sys.argv[1:] if argv is None else argv
    findings = validate_repo(Path(args[0]) if args else REPO)
    for finding in findings:
        print(finding)
    print(f"{len(findings)} finding(s)", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
