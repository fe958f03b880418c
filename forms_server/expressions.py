"""Evaluation of expressions: a parsed expression and a `Context` in, a value out.

`evaluate` computes an `Expression` (or its JSON AST) against a submission's
answers; `Field` and `Context` are what it can see. Parsing lives in parser.py
(and lexer.py), values and their conversions in values.py, the function library
in functions.py; this module re-exports what the rest of the server uses of
them, so that `forms_server.expressions` stays the language's one front door.
docs/expressions.md specifies the language.
"""

from __future__ import annotations

import math
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


@dataclass(frozen=True)
class Field:
    """What the evaluator needs to know of a question, group or repeat."""

    type: str
    repeats: tuple[str, ...] = ()  # enclosing repeats, outermost first (not itself)


@dataclass(frozen=True)
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
    is_repeat = field.type == "repeat"
    if not field.repeats and not is_repeat:
        return answer_value(ctx.answers.get(name), field.type)
    levels = (*field.repeats, name) if is_repeat else field.repeats
    here = ctx.fields.get(ctx.here) if ctx.here is not None else None
    scope = here.repeats if here is not None else ()
    fixed: list[int | None] = []
    shared = True
    for k, level in enumerate(levels):
        shared = shared and k < len(scope) and scope[k] == level and k < len(ctx.index)
        if wanted is not None and level in wanted:
            fixed.append(wanted[level])
            shared = False  # inner levels now belong to another entry than the context's
        elif shared and not (is_repeat and k == len(levels) - 1):
            fixed.append(ctx.index[k])
        else:
            fixed.append(None)
    found: list[Scalar] = []
    _collect(ctx.answers, levels, fixed, 0, name, "" if is_repeat else field.type, found)
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
        if isinstance(entry, Mapping):
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


_ARITHMETIC: Mapping[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "div": _divide,
    "mod": _modulo,
}
_RELATIONS: Mapping[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
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


# -- compilation -----------------------------------------------------------------------
#
# compile_node turns an AST into nested closures that compute exactly what _ev computes
# (the walker stays the reference). Every value is worked out in the same order as the
# walker, so side effects (uuid()) and errors happen alike. A node the compiler does not
# know how to compile, or one that is malformed, is left to the walker, which then
# raises (or not) when and as it would have.

Compiled: TypeAlias = Callable[[Context], Value]


def compile_node(node: Node) -> Compiled:
    """A function computing `evaluate(node, ctx)` for any ctx, without walking the AST."""
    try:
        compiler = _COMPILERS.get(node[0])
        if compiler is not None:
            return compiler(node)
    except Exception:  # malformed: the walker fails exactly as it always has
        pass
    return lambda ctx: _ev(node, ctx)


def _constant(value: Value) -> Compiled:
    return lambda ctx: value


def _c_num(node: Node) -> Compiled:
    value = float(node[1])
    if value != value:  # the walker makes a new NaN each time; so does this
        return lambda ctx: float(node[1])
    return _constant(value)


def _c_text(node: Node) -> Compiled:
    return _constant(node[1])


def _c_ref(node: Node) -> Compiled:
    name: str = node[1]

    def ref(ctx: Context) -> Value:
        field = ctx.fields.get(name)
        if field is None:
            return answer_value(ctx.answers.get(name), "")
        if not field.repeats and field.type != "repeat":
            return answer_value(ctx.answers.get(name), field.type)
        return _lookup(name, ctx)

    return ref


def _c_attr(node: Node) -> Compiled:
    return lambda ctx: _attr(node, ctx)


def _c_neg(node: Node) -> Compiled:
    operand = compile_node(node[1])
    return lambda ctx: -to_number(operand(ctx))


def _c_or(node: Node) -> Compiled:
    left, right = compile_node(node[1]), compile_node(node[2])
    return lambda ctx: to_boolean(left(ctx)) or to_boolean(right(ctx))


def _c_and(node: Node) -> Compiled:
    left, right = compile_node(node[1]), compile_node(node[2])
    return lambda ctx: to_boolean(left(ctx)) and to_boolean(right(ctx))


def _c_equal(node: Node) -> Compiled:
    left, right = compile_node(node[1]), compile_node(node[2])
    negate = node[0] == "!="
    const = node[2]
    if const[0] == "str" and isinstance(const[1], str):
        # text against a text literal: _equal's last rule, to_string(a) == literal
        text: str = const[1]

        def equal_text(ctx: Context) -> bool:
            a = left(ctx)
            return (a == text if type(a) is str else _equal(a, text)) is not negate

        return equal_text
    if negate:
        return lambda ctx: not _equal(left(ctx), right(ctx))
    return lambda ctx: _equal(left(ctx), right(ctx))


def _number(compiled: Compiled) -> Callable[[Context], float]:
    def number(ctx: Context) -> float:
        v = compiled(ctx)
        return v if type(v) is float else to_number(v)

    return number


def _c_binary(node: Node) -> Compiled:
    operator = _RELATIONS.get(node[0]) or _ARITHMETIC[node[0]]
    left, right = _number(compile_node(node[1])), _number(compile_node(node[2]))
    if node[2][0] == "num":
        b = float(node[2][1])
        return lambda ctx: operator(left(ctx), b)
    return lambda ctx: operator(left(ctx), right(ctx))


def _c_call(node: Node) -> Compiled:
    name: str = node[1]
    if name not in FUNCTIONS or not arity_ok(name, len(node) - 2):
        return lambda ctx: _call(node, ctx)  # raises, when (and if) it is reached
    special = _SPECIAL_COMPILERS.get(name)
    if special is not None:
        return special(node)
    function = LIBRARY[name]
    args = [compile_node(arg) for arg in node[2:]]
    if not args:
        return lambda ctx: function([], ctx)
    if len(args) == 1:
        (a,) = args
        return lambda ctx: function([a(ctx)], ctx)
    if len(args) == 2:
        a, b = args
        return lambda ctx: function([a(ctx), b(ctx)], ctx)
    return lambda ctx: function([arg(ctx) for arg in args], ctx)


def _c_if(node: Node) -> Compiled:
    test, then, otherwise = compile_node(node[2]), compile_node(node[3]), compile_node(node[4])
    return lambda ctx: then(ctx) if to_boolean(test(ctx)) else otherwise(ctx)


def _c_once(node: Node) -> Compiled:
    first = compile_node(node[2])

    def once(ctx: Context) -> Value:
        current = _dot_value(ctx)
        return current if to_string(current) != "" else first(ctx)

    return once


def _c_position(node: Node) -> Compiled:
    return lambda ctx: _position(node, ctx)


def _c_indexed_repeat(node: Node) -> Compiled:
    target, pairs = node[2], node[3:]
    if target[0] != "ref":
        return _constant("")
    name: str = target[1]
    steps = [
        (repeat, compile_node(position))
        for repeat, position in zip(pairs[::2], pairs[1::2], strict=True)
    ]

    def indexed_repeat(ctx: Context) -> Value:
        wanted: dict[str, int] = {}
        for repeat, position in steps:
            n = to_number(position(ctx))
            if repeat[0] != "ref" or not (n >= 1 and n.is_integer()):
                return ""
            wanted[repeat[1]] = int(n) - 1
        return _lookup(name, ctx, wanted)

    return indexed_repeat


_SPECIAL_COMPILERS: Mapping[str, Callable[[Node], Compiled]] = {
    "if": _c_if,
    "once": _c_once,
    "position": _c_position,
    "indexed-repeat": _c_indexed_repeat,
}

_COMPILERS: Mapping[str, Callable[[Node], Compiled]] = {
    "num": _c_num,
    "str": _c_text,
    "qname": _c_text,
    "ref": _c_ref,
    "dot": lambda node: _dot_value,
    "parent": lambda node: _constant(""),
    "attr": _c_attr,
    "neg": _c_neg,
    "or": _c_or,
    "and": _c_and,
    "=": _c_equal,
    "!=": _c_equal,
    **{op: _c_binary for op in _RELATIONS},
    **{op: _c_binary for op in _ARITHMETIC},
    "call": _c_call,
}
