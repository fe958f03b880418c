"""YAML with positions: compose a form file into nodes that remember line and column.

PyYAML's composed nodes keep their start marks; values are converted on demand
so the loader can point at the exact place of every key and value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from forms_server.errors import Problem

try:  # the C loader is several times faster; fall back when libyaml is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_constructor = yaml.constructor.SafeConstructor()


@dataclass(frozen=True)
class Pos:
    """A 1-based line and column in a file."""

    line: int
    column: int


def pos(node: yaml.Node) -> Pos:
    return Pos(node.start_mark.line + 1, node.start_mark.column + 1)


def value_pos(node: yaml.Node, offset: int) -> Pos:
    """Where character ``offset`` of a scalar's value stands in the file.

    Exact for plain and quoted scalars written on one line; for block scalars and
    scalars that span lines it is the scalar's start, which is still the right line.
    """
    start = pos(node)
    if not isinstance(node, yaml.ScalarNode) or node.start_mark.line != node.end_mark.line:
        return start
    if node.style in ("'", '"'):
        return Pos(start.line, start.column + 1 + offset)
    if not node.style:  # plain: None from PyYAML's Python loader, '' from libyaml
        return Pos(start.line, start.column + offset)
    return start


def plain(node: yaml.Node) -> Any:
    """The Python value of a node (scalars, lists and mappings, recursively)."""
    return _constructor.construct_object(node, deep=True)


def is_mapping(node: yaml.Node) -> bool:
    return isinstance(node, yaml.MappingNode)


def is_sequence(node: yaml.Node) -> bool:
    return isinstance(node, yaml.SequenceNode)


def is_string(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str"


def compose(text: str, path: str) -> tuple[yaml.Node | None, list[Problem]]:
    """Compose ``text`` into a node tree, or report where and why the YAML is broken."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
        return None, [
            Problem(
                "E101",
                f"YAML syntax error: {message}",
                path,
                line,
                column,
                hint=_yaml_hint(text, line, message),
            )
        ]
    except yaml.YAMLError as exc:
        return None, [Problem("E101", f"YAML syntax error: {exc}", path, 1, 1)]
    if node is None:
        return None, [
            Problem(
                "E103",
                "the file is empty",
                path,
                hint="a form is a mapping with id, version, title and questions",
            )
        ]
    return node, list(_duplicate_keys(node, path))


def _yaml_hint(text: str, line: int, message: str) -> str:
    lines = text.splitlines()
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    if "\t" in source or "tab" in message:
        return "indent with spaces, not tabs"
    if "{" in source or "[" in source:
        return (
            "inside a one-line {…} or […], quote any text that contains '?', ': ', '#', "
            "a comma or brackets, e.g. en: 'In school?'"
        )
    if "mapping values are not allowed" in message:
        return "quote the value: it contains ': ', which YAML reads as a new key"
    if "found character '%'" in message or "found character '@'" in message or "`" in message:
        return "quote the value: it starts with a character YAML reserves"
    if "indentation" in message or "expected <block end>" in message:
        return "check the indentation of this line against the lines above it"
    return "check the quoting and indentation on this line"


def _duplicate_keys(node: yaml.Node, path: str) -> list[Problem]:
    problems: list[Problem] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            seen: dict[str, yaml.Node] = {}
            for key, value in current.value:
                name = str(key.value) if isinstance(key, yaml.ScalarNode) else ""
                if name and name in seen:
                    first = pos(seen[name])
                    problems.append(
                        Problem(
                            "E102",
                            f"duplicate key '{name}' (first at line {first.line})",
                            path,
                            *_lc(key),
                            hint="remove one of them or rename it",
                        )
                    )
                seen.setdefault(name, key)
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return problems


def _lc(node: yaml.Node) -> tuple[int, int]:
    p = pos(node)
    return p.line, p.column
