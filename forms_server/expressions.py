"""Evaluation of expressions: a parsed expression and a `Context` in, a value out.

`evaluate` computes an `Expression` (or its JSON AST) against a submission's
answers; `Field` and `Context` are what it can see. The tree walker here is the
reference; an `Expression` runs as closures built by compiler.py (`compile_node`).
Parsing lives in parser.py (and lexer.py), values and their conversions in
values.py, the function library in functions.py; this module re-exports what the
rest of the server uses of them, so that `forms_server.expressions` stays the
language's one front door. docs/expressions.md specifies the language.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeAlias

from forms_server.functions import FUNCTIONS, LIBRARY, arity_ok
from forms_server.parser import (
    Expression,
    ExpressionError,
    Node,
    check_calls,
    parse,
    references,
)
from forms_server.values import (
    NAN,
    DateValue,
    Scalar,
    Value,
    answer_value,
    to_boolean,
    to_number,
    to_string,
)

__all__ = [
    "FUNCTIONS",
    "Context",
    "DateValue",
    "Expression",
    "ExpressionError",
    "Field",
    "Node",
    "Value",
    "check_calls",
    "compile_node",
    "evaluate",
    "parse",
    "references",
    "to_boolean",
    "to_number",
    "to_string",
]

_UNSET: Final[Any] = object()
_set = object.__setattr__


@dataclass(frozen=True)
class Field:
    """What the evaluator needs to know of a question, group or repeat."""

    type: str
    repeats: tuple[str, ...] = ()  # enclosing repeats, outermost first (not itself)


@dataclass(frozen=True, init=False)
class Context:
    """Everything an expression can see: answers, the form's fields, the clock, its place."""

    answers: Mapping[str, Any]
    fields: Mapping[str, Field]
    now: datetime
    here: str | None = None
    index: tuple[int, ...] = ()
    dot: Any = _UNSET
    choice: Mapping[str, str] | None = None
    choice_label: Callable[[str, str], str] | None = None
    #: Makes uuid()'s values. The server derives them from the submission's id, so a
    #: resent submission computes the same answers; the default is a random UUID4.
    make_uuid: Callable[[], str] | None = None

    def __init__(
        self,
        answers: Mapping[str, Any],
        fields: Mapping[str, Field],
        now: datetime,
        here: str | None = None,
        index: tuple[int, ...] = (),
        dot: Any = _UNSET,
        choice: Mapping[str, str] | None = None,
        choice_label: Callable[[str, str], str] | None = None,
        make_uuid: Callable[[], str] | None = None,
    ) -> None:
        # The fields in one store, not one frozen-dataclass store each: validation
        # makes contexts by the dozen for every submission.
        _set(
            self,
            "__dict__",
            {
                "answers": answers,
                "fields": fields,
                "now": now,
                "here": here,
                "index": index,
                "dot": dot,
                "choice": choice,
                "choice_label": choice_label,
                "make_uuid": make_uuid,
            },
        )

    def but(self, **changes: Any) -> Context:
        """``dataclasses.replace(self, **changes)``, made quicker."""
        changed = object.__new__(type(self))
        _set(changed, "__dict__", {**self.__dict__, **changes})
        return changed


Compiled: TypeAlias = Callable[[Context], Value]


def compile_node(
    node: Node, fields: Mapping[str, Field] | None = None, here: str | None = None
) -> Compiled:
    """A function computing `evaluate(node, ctx)` without walking the AST (see compiler.py).

    With `fields`, the function is bound to them and to the question `here`: it
    evaluates as if the context's fields were `fields` and its `here` were `here`.
    """
    from forms_server.compiler import compile_node as compile_bound

    return compile_bound(node, fields, here)


def evaluate(expr: Expression | Node, ctx: Context) -> Value:
    """The value of an expression; never raises for an AST that passed check_calls.

    An `Expression` runs as closures compiled once (`Expression.compiled`); a bare
    AST is walked.
    """
    if isinstance(expr, Expression):
        return expr.compiled(ctx)
    return _ev(expr, ctx)


def _ev(node: Node, ctx: Context) -> Value:
    handler = _HANDLERS.get(node[0])
    if handler is None:
        raise ExpressionError("E501", f"not an expression node: {node[0]!r}", 0)
    return handler(node, ctx)


def _lookup(name: str, ctx: Context, wanted: Mapping[str, int] | None = None) -> Value:
    """A question's answer in the entry of each repeat that the context (or `wanted`) fixes.

    A repeat level that is neither fixed by `wanted` nor shared with the current
    question contributes every entry, which makes the result a node-set.
    """
    field = ctx.fields.get(name)
    if field is None:
        return answer_value(ctx.answers.get(name), "")
    if not field.repeats and field.type != "repeat":
        return answer_value(ctx.answers.get(name), field.type)
    here = ctx.fields.get(ctx.here) if ctx.here is not None else None
    scope = here.repeats if here is not None else ()
    return lookup_in(field, name, scope, ctx.answers, ctx.index, wanted)


def lookup_in(
    field: Field,
    name: str,
    scope: tuple[str, ...],
    answers: Mapping[str, Any],
    index: tuple[int, ...],
    wanted: Mapping[str, int] | None,
) -> Value:
    """`_lookup` of the question `field` (named `name`) from a question inside `scope`."""
    is_repeat = field.type == "repeat"
    levels = (*field.repeats, name) if is_repeat else field.repeats
    fixed: list[int | None] = []
    shared = True
    for k, level in enumerate(levels):
        shared = shared and k < len(scope) and scope[k] == level and k < len(index)
        if wanted is not None and level in wanted:
            fixed.append(wanted[level])
            shared = False  # inner levels now belong to another entry than the context's
        elif shared and not (is_repeat and k == len(levels) - 1):
            fixed.append(index[k])
        else:
            fixed.append(None)
    found: list[Scalar] = []
    _collect(answers, levels, fixed, 0, name, "" if is_repeat else field.type, found)
    if None in fixed:
        return tuple(found)
    return found[0] if found else ""


def _collect(
    level: Mapping[str, Any],
    levels: tuple[str, ...],
    fixed: list[int | None],
    k: int,
    name: str,
    type_: str,
    found: list[Scalar],
) -> None:
    if k == len(levels):
        # A repeat's entry stands for itself: only its number matters (count()).
        found.append(answer_value(level.get(name), type_) if type_ else "")
        return
    entries = level.get(levels[k])
    if not isinstance(entries, list | tuple):
        return
    i = fixed[k]
    chosen = entries if i is None else entries[i : i + 1] if i >= 0 else ()
    for entry in chosen:
        if type(entry) is dict or isinstance(entry, Mapping):
            _collect(entry, levels, fixed, k + 1, name, type_, found)


def _dot_value(ctx: Context) -> Value:
    if ctx.dot is not _UNSET:
        here = ctx.fields.get(ctx.here) if ctx.here is not None else None
        return answer_value(ctx.dot, here.type if here is not None else "")
    return _lookup(ctx.here, ctx) if ctx.here is not None else ""


def _attr(node: Node, ctx: Context) -> Value:
    if ctx.choice is None:
        return ""
    name: str = node[1]
    if name == "name":  # in XLSForm the choice's value is its 'name' column
        return answer_value(ctx.choice.get("value", ctx.choice.get("name")), "")
    return answer_value(ctx.choice.get(name), "")


def _equal(a: Value, b: Value) -> bool:
    if isinstance(a, tuple):
        a = a[0] if a else ""
    if isinstance(b, tuple):
        b = b[0] if b else ""
    if isinstance(a, bool) or isinstance(b, bool):
        return to_boolean(a) == to_boolean(b)
    if isinstance(a, float) or isinstance(b, float):
        return to_number(a) == to_number(b)
    if isinstance(a, DateValue) and isinstance(b, DateValue):
        return a.days == b.days
    return to_string(a) == to_string(b)


def _divide(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or a != a:
            return NAN
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _modulo(a: float, b: float) -> float:
    try:
        return math.fmod(a, b)  # XPath's mod keeps the sign of the dividend, like fmod
    except ValueError:  # x mod 0, Infinity mod x
        return NAN


#: The arithmetic operators as functions of two numbers (compiler.py uses them too).
_ARITHMETIC: Mapping[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "div": _divide,
    "mod": _modulo,
}
#: The comparisons as functions of two numbers (compiler.py uses them too).
_RELATIONS: Mapping[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _arithmetic(node: Node, ctx: Context) -> Value:
    a, b = to_number(_ev(node[1], ctx)), to_number(_ev(node[2], ctx))
    return _ARITHMETIC[node[0]](a, b)


def _relation(node: Node, ctx: Context) -> Value:
    return _RELATIONS[node[0]](to_number(_ev(node[1], ctx)), to_number(_ev(node[2], ctx)))


def _call(node: Node, ctx: Context) -> Value:
    name: str = node[1]
    if name not in FUNCTIONS or not arity_ok(name, len(node) - 2):
        expr = Expression("", node, (), ((name, len(node) - 2, 0),), (), False)
        raise check_calls(expr)[0]
    special = _SPECIAL.get(name)
    if special is not None:
        return special(node, ctx)
    return LIBRARY[name]([_ev(arg, ctx) for arg in node[2:]], ctx)


def _if(node: Node, ctx: Context) -> Value:
    return _ev(node[3] if to_boolean(_ev(node[2], ctx)) else node[4], ctx)


def _once(node: Node, ctx: Context) -> Value:
    current = _dot_value(ctx)
    return current if to_string(current) != "" else _ev(node[2], ctx)


def _position(node: Node, ctx: Context) -> Value:
    here = ctx.fields.get(ctx.here) if ctx.here is not None else None
    depth = len(here.repeats) if here is not None else 0
    if depth == 0:
        return 1.0  # the parent of a question outside repeats is the form itself: first
    return float(ctx.index[depth - 1] + 1) if len(ctx.index) >= depth else NAN


def _indexed_repeat(node: Node, ctx: Context) -> Value:
    target, pairs = node[2], node[3:]
    if target[0] != "ref":
        return ""
    wanted: dict[str, int] = {}
    for repeat, position in zip(pairs[::2], pairs[1::2], strict=True):
        n = to_number(_ev(position, ctx))
        if repeat[0] != "ref" or not (n >= 1 and n.is_integer()):
            return ""
        wanted[repeat[1]] = int(n) - 1
    return _lookup(target[1], ctx, wanted)


_SPECIAL: Mapping[str, Callable[[Node, Context], Value]] = {
    "if": _if,
    "once": _once,
    "position": _position,
    "indexed-repeat": _indexed_repeat,
}


def _text(node: Node, ctx: Context) -> Value:
    text: str = node[1]
    return text


_HANDLERS: Mapping[str, Callable[[Node, Context], Value]] = {
    "num": lambda node, ctx: float(node[1]),
    "str": _text,
    "qname": _text,
    "ref": lambda node, ctx: _lookup(node[1], ctx),
    "dot": lambda node, ctx: _dot_value(ctx),
    "parent": lambda node, ctx: "",
    "attr": _attr,
    "neg": lambda node, ctx: -to_number(_ev(node[1], ctx)),
    "or": lambda node, ctx: to_boolean(_ev(node[1], ctx)) or to_boolean(_ev(node[2], ctx)),
    "and": lambda node, ctx: to_boolean(_ev(node[1], ctx)) and to_boolean(_ev(node[2], ctx)),
    "=": lambda node, ctx: _equal(_ev(node[1], ctx), _ev(node[2], ctx)),
    "!=": lambda node, ctx: not _equal(_ev(node[1], ctx), _ev(node[2], ctx)),
    **{op: _relation for op in _RELATIONS},
    **{op: _arithmetic for op in _ARITHMETIC},
    "call": _call,
}
