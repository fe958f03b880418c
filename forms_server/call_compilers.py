"""Compiled forms of the commonest library functions, for compiler.py.

Each computes what the library function (functions.py) computes from the same
evaluated arguments, in the same order, but skips the argument list and works out
once what depends only on constant arguments (a format, a pattern, a position).
One that does not apply to a call returns None, and the call runs the library
function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime

from forms_server.expressions import Compiled, Context
from forms_server.functions import (
    _tokens,
    arity_ok,
    compile_regex,
    format_moment,
    format_parts,
    new_uuid,
    round_whole,
)
from forms_server.parser import Node
from forms_server.values import (
    DateValue,
    Value,
    date_value,
    to_boolean,
    to_date,
    to_number,
    to_string,
    wall_clock,
)

__all__ = ["CALL_COMPILERS", "returns_boolean"]

#: Whether an argument always has the same value, and that value.
Constant = Callable[[Node], tuple[bool, Value]]
CallCompiler = Callable[[Node, list[Compiled], Constant], Compiled | None]

_BOOLEAN_OPERATORS = frozenset({"=", "!=", "<", "<=", ">", ">=", "and", "or"})
_BOOLEAN_FUNCTIONS = frozenset(
    {"not", "boolean", "true", "false", "selected", "contains", "starts-with", "ends-with", "regex"}
)
_XML_SPACE = " \t\r\n"
#: How many results a call keeps for its arguments' values.
_KEPT = 256
#: The last clock today() was asked about and its date, shared by every today().
_today_cache: list[tuple[datetime | None, DateValue]] = [(None, DateValue("", 0.0))]


def returns_boolean(node: Node) -> bool:
    """Whether the value of ``node``, when it has one, is always a boolean."""
    tag = node[0]
    if tag in _BOOLEAN_OPERATORS:
        return True
    return tag == "call" and node[1] in _BOOLEAN_FUNCTIONS and arity_ok(node[1], len(node) - 2)


def _today(ctx: Context) -> Value:
    now = ctx.now
    last = _today_cache[0]
    if last[0] is now:
        return last[1]
    value = date_value(now.date())
    _today_cache[0] = (now, value)
    return value


def _c_today(node: Node, args: list[Compiled], constant: Constant) -> Compiled | None:
    return _today


def _c_uuid(node: Node, args: list[Compiled], constant: Constant) -> Compiled | None:
    return new_uuid


def _c_not(node: Node, args: list[Compiled], constant: Constant) -> Compiled | None:
    (a,) = args
    if returns_boolean(node[2]):
        return lambda ctx: not a(ctx)
    return lambda ctx: not to_boolean(a(ctx))


def _c_boolean(node: Node, args: list[Compiled], constant: Constant) -> Compiled | None:
    (a,) = args
    return lambda ctx: to_boolean(a(ctx))


def _c_selected(node: Node, args: list[Compiled], constant: Constant) -> Compiled | None:
    known, value = constant(node[3])
    if not known:
        return None
    answer = args[0]
    needle = to_string(value).strip(_XML_SPACE)
    if not needle:
        return None

    def selected(ctx: Context) -> Value:
        v = answer(ctx)
        if type(v) is str and "\t" not in v and "\n" not in v and "\r" not in v:
            return needle in v.split(" ")  # the needle is no empty token
        return needle in _tokens(v)

    return selected


def _c_count_selected(node: Node, args: list[Compiled], constant: Constant) -> Compiled | None:
    (a,) = args
    return lambda ctx: float(len(_tokens(a(ctx))))


def _c_string_length(node: Node, args: list[Compiled], constant: Constant) -> Compiled | None:
    (a,) = args

    def string_length(ctx: Context) -> Value:
        v = a(ctx)
        return float(len(v if type(v) is str else to_string(v)))

    return string_length


def _c_regex(node: Node, args: list[Compiled], constant: Constant) -> Compiled | None:
    known, value = constant(node[3])
    if not known:
        return None
    text = args[0]
    pattern = compile_regex(to_string(value))
    if pattern is None:

        def never(ctx: Context) -> Value:
            text(ctx)
            return False

        return never
    match = pattern.fullmatch
    return lambda ctx: match(to_string(text(ctx))) is not None


def _c_concat(node: Node, args: list[Compiled], constant: Constant) -> Compiled | None:
    parts: list[str | Compiled] = []
    for arg, compiled in zip(node[2:], args, strict=True):
        known, value = constant(arg)
        parts.append(to_string(value) if known else compiled)

    def concat(ctx: Context) -> Value:
        texts: list[str] = []
        for part in parts:
            if isinstance(part, str):
                texts.append(part)
                continue
            v = part(ctx)
            if type(v) is str:
                texts.append(v)
            elif isinstance(v, tuple):  # a node-set: each of its values
                texts.extend([to_string(item) for item in v])
            else:
                texts.append(to_string(v))
        return "".join(texts)

    return concat


def _c_substr(node: Node, args: list[Compiled], constant: Constant) -> Compiled | None:
    """Positions that are constant and not negative: Python's slice clamps them alike."""
    positions: list[int] = []
    for position in node[3:]:
        known, value = constant(position)
        number = to_number(value) if known else math.nan
        if not (math.isfinite(number) and number >= 0):
            return None
        positions.append(int(number))
    text = args[0]
    start = positions[0]
    end = positions[1] if len(positions) > 1 else None

    def substr(ctx: Context) -> Value:
        v = text(ctx)
        return (v if type(v) is str else to_string(v))[start:end]

    return substr


def _c_format_date(node: Node, args: list[Compiled], constant: Constant) -> Compiled | None:
    known, fmt = constant(node[3])
    if not known:
        return None
    parts = format_parts(to_string(fmt))
    value = args[0]
    done: dict[tuple[str, float], str] = {}  # a date value always gives the same text

    def format_date(ctx: Context) -> Value:
        v = value(ctx)
        found = v if type(v) is DateValue else to_date(v)
        if found is None:
            return ""
        key = (found.iso, found.days)
        text = done.get(key)
        if text is None:
            text = format_moment(wall_clock(found), parts)
            if len(done) >= _KEPT:
                done.clear()
            done[key] = text
        return text

    return format_date


def _c_sum(node: Node, args: list[Compiled], constant: Constant) -> Compiled | None:
    (a,) = args

    def sum_(ctx: Context) -> Value:
        v = a(ctx)
        total = 0.0
        for item in v if isinstance(v, tuple) else (v,):
            n = to_number(item)
            if n == n:  # plain left-to-right addition, as JavaScript's loop does
                total += n
        return total

    return sum_


def _c_count(node: Node, args: list[Compiled], constant: Constant) -> Compiled | None:
    (a,) = args

    def count(ctx: Context) -> Value:
        v = a(ctx)
        return float(len(v)) if isinstance(v, tuple) else 1.0

    return count


def _c_int(node: Node, args: list[Compiled], constant: Constant) -> Compiled | None:
    (a,) = args

    def int_(ctx: Context) -> Value:
        x = a(ctx)
        x = x if type(x) is float else to_number(x)
        return math.copysign(float(math.trunc(x)), x) if math.isfinite(x) else x

    return int_


def _c_round(node: Node, args: list[Compiled], constant: Constant) -> Compiled | None:
    """round(x) and round(x, 0): as `functions._round` does it for a whole number of places."""
    if len(args) == 2:
        known, places = constant(node[3])
        if not (known and to_number(places) == 0):
            return None
    x_of = args[0]

    def round_(ctx: Context) -> Value:
        x = to_number(x_of(ctx))
        return round_whole(x) if math.isfinite(x) and abs(x) < 2.0**52 else x

    return round_


def _c_choice_name(node: Node, args: list[Compiled], constant: Constant) -> Compiled | None:
    known, question = constant(node[3])
    if not known:
        return None
    value_of = args[0]
    name = to_string(question)

    def choice_name(ctx: Context) -> Value:
        value = to_string(value_of(ctx))
        if not value or ctx.choice_label is None:
            return ""
        return ctx.choice_label(name, value)

    return choice_name


CALL_COMPILERS: Mapping[str, CallCompiler] = {
    "int": _c_int,
    "round": _c_round,
    "jr:choice-name": _c_choice_name,
    "today": _c_today,
    "uuid": _c_uuid,
    "not": _c_not,
    "boolean": _c_boolean,
    "selected": _c_selected,
    "count-selected": _c_count_selected,
    "string-length": _c_string_length,
    "regex": _c_regex,
    "concat": _c_concat,
    "substr": _c_substr,
    "format-date": _c_format_date,
    "sum": _c_sum,
    "count": _c_count,
}
