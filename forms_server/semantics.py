"""What a form's expressions mean together: names resolve, scopes fit, nothing is circular.

Runs after the loader has built the questions. Reports unknown names (with the
closest one), references into a repeat from outside it, ``.`` and bare names where
they mean nothing, and cycles among calculations and relevance; and works out the
order in which relevance and calculations are evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from forms_server.errors import Problem, did_you_mean
from forms_server.expressions import Expression
from forms_server.model import NO_ANSWER_TYPES, Choice, Question, Text
from forms_server.yamlsource import pos, value_pos

#: Functions whose arguments may be every entry of a repeat at once.
AGGREGATES = frozenset({"sum", "count", "max", "min", "join", "count-non-empty", "indexed-repeat"})
#: Expression keys where `.` (the question's own answer) means something.
DOT_KEYS = frozenset({"constraint", "calculation", "default", "required"})
#: Expression keys whose dependencies decide the evaluation order.
ORDER_KEYS = ("relevant", "calculation")
_TEXT_REF = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Located:
    """An expression with the YAML node it came from and the question that owns it."""

    expression: Expression
    key: str
    node: yaml.Node
    owner: str | None


def check(
    path: str,
    questions: tuple[Question, ...],
    exprs: list[Located],
    texts: list[tuple[str | None, Text, yaml.Node]],
    choice_lists: Mapping[str, tuple[Choice, ...]],
    *,
    published: bool = True,
) -> tuple[tuple[str, ...], list[Problem]]:
    """Resolve every reference; return the evaluation order and the problems found."""
    by_name = {q.name: q for top in questions for q in top.walk()}
    checker = _Checker(path, by_name, choice_lists, [], published)
    for located in exprs:
        checker.expression(located)
    for owner, text, node in texts:
        checker.text(owner, text, node)
    order = checker.order(exprs)
    return order, checker.problems


@dataclass
class _Checker:
    path: str
    by_name: dict[str, Question]
    choice_lists: Mapping[str, tuple[Choice, ...]]
    problems: list[Problem]
    published: bool = True

    def add(
        self,
        code: str,
        message: str,
        node: yaml.Node,
        offset: int | None,
        hint: str,
        question: str | None,
    ) -> None:
        p = value_pos(node, offset) if offset is not None else pos(node)
        self.problems.append(Problem(code, message, self.path, p.line, p.column, hint, question))

    def expression(self, located: Located) -> None:
        expr, key, owner = located.expression, located.key, located.owner
        where = f"{key} of '{owner}'" if owner else key
        owner_q = self.by_name.get(owner) if owner else None
        offsets = _first_offsets(expr.refs)
        for name, offset in expr.refs:
            if name not in self.by_name:
                hint = did_you_mean(name, self.by_name) or "check the spelling of the name"
                self.add(
                    "E504",
                    f"unknown question '{name}' in {where}",
                    located.node,
                    offset,
                    hint,
                    owner,
                )
        if expr.uses_dot and key not in DOT_KEYS:
            self.add(
                "E506",
                f"'.' in {where} has no answer to stand for",
                located.node,
                None,
                f"'.' means the question's own answer in constraint, calculation or "
                f"default; in {key} name the question: ${{{owner or 'name'}}}",
                owner,
            )
        if expr.attrs and key != "choice_filter":
            name, offset = expr.attrs[0]
            self.add(
                "E507",
                f"bare name '{name}' in {where}",
                located.node,
                offset,
                f"refer to a question as ${{{name}}}; bare names are choice attributes, "
                "only in choice_filter",
                owner,
            )
        if key == "choice_filter" and owner_q is not None:
            self.choice_attrs(located, owner_q)
        if (
            key == "calculation"
            and self.published
            and owner_q is not None
            and not owner_q.sensitive_stated
        ):
            self.sensitive_source(located, owner_q)
        scope = owner_q.repeats if owner_q else ()
        reported: set[str] = set()
        for name, in_aggregate, is_qname in _refs_in_context(expr.ast, False):
            target = self.by_name.get(name)
            if target is None or name in reported or is_qname:
                continue
            problem = _scope_problem(target, scope, in_aggregate)
            if problem:
                reported.add(name)
                code, message, hint = problem
                self.add(
                    code, f"{message} in {where}", located.node, offsets.get(name), hint, owner
                )

    def sensitive_source(self, located: Located, question: Question) -> None:
        """A published calculation made from a sensitive answer would publish part of it."""
        for name, offset in located.expression.refs:
            source = self.by_name.get(name)
            if source is not None and source.sensitive:
                self.add(
                    "W605",
                    f"'{question.name}' is calculated from the sensitive answer "
                    f"'{name}' but is not sensitive itself",
                    located.node,
                    offset,
                    f"add sensitive: true to '{question.name}', or sensitive: false to "
                    "publish it on purpose",
                    question.name,
                )
                return

    def choice_attrs(self, located: Located, question: Question) -> None:
        known = {"value", "name", "label"}
        for choice in question.choices:
            known.update(choice.attrs)
        for name, offset in located.expression.attrs:
            if name not in known:
                hint = did_you_mean(name, known) or "attributes: " + ", ".join(sorted(known))
                self.add(
                    "E504",
                    f"unknown choice attribute '{name}' in choice_filter of '{question.name}'",
                    located.node,
                    offset,
                    hint,
                    question.name,
                )

    def text(self, owner: str | None, text: Text, node: yaml.Node) -> None:
        for value in text.values.values():
            for match in _TEXT_REF.finditer(value):
                name = match.group(1)
                target = self.by_name.get(name)
                if target is None:
                    hint = did_you_mean(name, self.by_name) or "check the spelling of the name"
                    self.add(
                        "E504",
                        f"unknown question '{name}' in a text of '{owner or 'the form'}'",
                        node,
                        None,
                        hint,
                        owner,
                    )
                elif not target.has_answer:
                    self.add(
                        "E509",
                        f"'{name}' is a {target.type} and has no answer to show",
                        node,
                        None,
                        "name a question that has an answer",
                        owner,
                    )

    def order(self, exprs: list[Located]) -> tuple[str, ...]:
        """Questions in dependency order; reports cycles among relevance and calculations."""
        deps: dict[str, list[str]] = {name: [] for name in self.by_name}
        where: dict[tuple[str, str], Located] = {}
        for located in exprs:
            if located.owner is None or located.key not in ORDER_KEYS:
                continue
            for name, _ in located.expression.refs:
                if name in self.by_name:
                    deps[located.owner].append(name)
                    where.setdefault((located.owner, name), located)
        for cycle in _cycles(deps):
            first, second = cycle[0], cycle[1 % len(cycle)]
            located = where[(first, second)]
            path = " → ".join([*cycle, cycle[0]])
            self.add(
                "E505",
                f"circular reference: {path}",
                located.node,
                _first_offsets(located.expression.refs).get(second),
                "break the cycle: a question's relevance or calculation cannot depend, "
                "even indirectly, on itself",
                first,
            )
        return _topological(deps)


def _first_offsets(refs: tuple[tuple[str, int], ...]) -> dict[str, int]:
    offsets: dict[str, int] = {}
    for name, offset in refs:
        offsets.setdefault(name, offset)
    return offsets


def _refs_in_context(node: Any, in_aggregate: bool) -> Iterator[tuple[str, bool, bool]]:
    """(name, inside an aggregate function's arguments, is a jr:choice-name question name)."""
    if not isinstance(node, list) or not node:
        return
    tag = node[0]
    if tag == "ref":
        yield node[1], in_aggregate, False
    elif tag == "qname":
        yield node[1], in_aggregate, True
    elif tag == "call":
        inner = in_aggregate or node[1] in AGGREGATES
        for arg in node[2:]:
            yield from _refs_in_context(arg, inner)
    else:
        for child in node[1:]:
            yield from _refs_in_context(child, in_aggregate)


def _scope_problem(
    target: Question, scope: tuple[str, ...], in_aggregate: bool
) -> tuple[str, str, str] | None:
    """Why ``target`` cannot be referred to from an expression in ``scope``, if it cannot."""
    if target.type == "repeat":
        if in_aggregate:
            return None
        return (
            "E509",
            f"'{target.name}' is a repeat, not an answer",
            f"count its entries with count(${{{target.name}}})",
        )
    if target.type in NO_ANSWER_TYPES:
        return (
            "E509",
            f"'{target.name}' is a {target.type} and has no answer",
            "name a question that has an answer",
        )
    repeats = target.repeats
    if scope[: len(repeats)] == repeats or in_aggregate:
        return None
    inner = repeats[len(_common_prefix(scope, repeats))]
    return (
        "E508",
        f"'{target.name}' is inside repeat '{inner}', which has one answer per entry",
        f"from outside the repeat use sum(${{{target.name}}}), max(…), min(…), join(…), "
        f"count-non-empty(…) or indexed-repeat(${{{target.name}}}, ${{{inner}}}, n)",
    )


def _common_prefix(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _cycles(deps: Mapping[str, list[str]]) -> list[list[str]]:
    """One cycle per strongly connected component that has one (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        work: list[tuple[str, int]] = [(start, 0)]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, i = work.pop()
            if i < len(deps[node]):
                work.append((node, i + 1))
                nxt = deps[node][i]
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in deps[node]:
                    found.append(_cycle_path(component, deps))

    for name in deps:
        if name not in index:
            visit(name)
    return found


def _cycle_path(component: list[str], deps: Mapping[str, list[str]]) -> list[str]:
    """A readable cycle through the component, starting at its first question."""
    members = set(component)
    order = list(deps)
    start = min(component, key=order.index)
    path = [start]
    while True:
        nxt = next(d for d in deps[path[-1]] if d in members)
        if nxt == start or nxt in path:
            return path
        path.append(nxt)


def _topological(deps: Mapping[str, list[str]]) -> tuple[str, ...]:
    """Dependencies first, document order otherwise; cycle members in document order."""
    done: set[str] = set()
    result: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done or name in visiting:
            return
        visiting.add(name)
        for dep in deps[name]:
            visit(dep)
        visiting.discard(name)
        done.add(name)
        result.append(name)

    for name in deps:
        visit(name)
    return tuple(result)
