"""The function library of the expression language and its table of signatures.

`LIBRARY` holds each function that takes evaluated arguments; `SIGNATURES` (and
`FUNCTIONS`, its arities) names every function a form may call, with an example,
for the loader's checks and its hints. Values and conversions live in values.py,
the portable regex subset in portable_regex.py. Every function is mirrored by the
browser's evaluator (docs/expressions.md states them; the shared vectors in
tests/expressions/ check both).
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import TYPE_CHECKING, TypeAlias

from forms_server.portable_regex import compile_regex
from forms_server.values import (
    NAN,
    DateValue,
    NodeSet,
    Scalar,
    Value,
    answer_value,
    date_value,
    epoch_days,
    first_value,
    number_to_string,
    parse_date_text,
    to_boolean,
    to_date,
    to_number,
    to_string,
    wall_clock,
)

if TYPE_CHECKING:
    from forms_server.expressions import Context

__all__ = [
    "CALLING_CONTEXT",
    "FUNCTIONS",
    "IMPURE",
    "LIBRARY",
    "NAN",
    "SIGNATURES",
    "WITH_EFFECTS",
    "DateValue",
    "Function",
    "NodeSet",
    "Scalar",
    "Value",
    "answer_value",
    "arity_ok",
    "compile_regex",
    "format_moment",
    "format_parts",
    "new_uuid",
    "number_to_string",
    "round_whole",
    "to_boolean",
    "to_number",
    "to_string",
]

Function: TypeAlias = Callable[[list[Value], "Context"], Value]

_XML_SPACE = re.compile(r"[ \t\r\n]+")


def _items(args: Sequence[Value]) -> Iterator[Scalar]:
    """Every value of the arguments, a node-set contributing each of its values."""
    for v in args:
        if isinstance(v, tuple):
            yield from v
        else:
            yield v


def _tokens(v: Value) -> list[str]:
    text = to_string(v)
    if "\t" in text or "\n" in text or "\r" in text:
        return [t for t in _XML_SPACE.split(text) if t]
    return [t for t in text.split(" ") if t]


# -- the functions ---------------------------------------------------------------------
# Each takes its evaluated arguments and the context; arity is checked by the caller.
# `if`, `once`, `position` and `indexed-repeat` need unevaluated arguments and live
# in the evaluator (expressions.py).


def _selected(a: list[Value], ctx: Context) -> Value:
    return to_string(a[1]).strip(" \t\r\n") in _tokens(a[0])


def _count_selected(a: list[Value], ctx: Context) -> Value:
    return float(len(_tokens(a[0])))


def _selected_at(a: list[Value], ctx: Context) -> Value:
    tokens, n = _tokens(a[0]), to_number(a[1])
    if not math.isfinite(n):
        return ""
    i = int(n)
    return tokens[i] if 0 <= i < len(tokens) else ""


def _choice_name(a: list[Value], ctx: Context) -> Value:
    value = to_string(a[0])
    if not value or ctx.choice_label is None:
        return ""
    return ctx.choice_label(to_string(a[1]), value)


def _concat(a: list[Value], ctx: Context) -> Value:
    return "".join(to_string(v) for v in _items(a))


def _join(a: list[Value], ctx: Context) -> Value:
    return to_string(a[0]).join(to_string(v) for v in _items(a[1:]))


def _coalesce(a: list[Value], ctx: Context) -> Value:
    first = first_value(a[0])
    return first if to_string(first) != "" else first_value(a[1])


def _string_length(a: list[Value], ctx: Context) -> Value:
    return float(len(to_string(a[0])))


def _slice_position(x: float, length: int) -> int:
    """A position as JavaScript's String.prototype.slice reads it."""
    if x != x:
        return 0
    if math.isinf(x):
        return length if x > 0 else 0
    i = int(x)
    return max(length + i, 0) if i < 0 else min(i, length)


def _substr(a: list[Value], ctx: Context) -> Value:
    s = to_string(a[0])
    start = _slice_position(to_number(a[1]), len(s))
    end = _slice_position(to_number(a[2]), len(s)) if len(a) > 2 else len(s)
    return s[start:end]


def _contains(a: list[Value], ctx: Context) -> Value:
    return to_string(a[1]) in to_string(a[0])


def _starts_with(a: list[Value], ctx: Context) -> Value:
    return to_string(a[0]).startswith(to_string(a[1]))


def _ends_with(a: list[Value], ctx: Context) -> Value:
    return to_string(a[0]).endswith(to_string(a[1]))


def _regex(a: list[Value], ctx: Context) -> Value:
    pattern = compile_regex(to_string(a[1]))
    return pattern is not None and pattern.fullmatch(to_string(a[0])) is not None


def _today(a: list[Value], ctx: Context) -> Value:
    return date_value(ctx.now.date())


def _now(a: list[Value], ctx: Context) -> Value:
    return DateValue(ctx.now.isoformat(timespec="milliseconds"), epoch_days(ctx.now))


def new_uuid(ctx: Context) -> str:
    """uuid()'s value: from the context's maker, or a random UUID4."""
    return ctx.make_uuid() if ctx.make_uuid else str(uuid.uuid4())


def _date(a: list[Value], ctx: Context) -> Value:
    found = to_date(a[0])
    if found is None:
        return ""
    if len(found.iso) == 10:
        return found
    return date_value(wall_clock(found).date())


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_FORMATS: Mapping[str, Callable[[datetime], str]] = {
    "Y": lambda m: f"{m.year:04d}",
    "y": lambda m: f"{m.year % 100:02d}",
    "m": lambda m: f"{m.month:02d}",
    "n": lambda m: str(m.month),
    "b": lambda m: _MONTHS[m.month - 1],
    "d": lambda m: f"{m.day:02d}",
    "e": lambda m: str(m.day),
    "a": lambda m: _WEEKDAYS[m.weekday()],
    "H": lambda m: f"{m.hour:02d}",
    "h": lambda m: str(m.hour),
    "M": lambda m: f"{m.minute:02d}",
    "S": lambda m: f"{m.second:02d}",
    "3": lambda m: f"{m.microsecond // 1000:03d}",
    "%": lambda m: "%",
}


def _format_date(a: list[Value], ctx: Context) -> Value:
    found = to_date(a[0])
    if found is None:
        return ""
    return format_moment(wall_clock(found), format_parts(to_string(a[1])))


def format_parts(fmt: str) -> list[str | Callable[[datetime], str]]:
    """A format-date() format as its pieces: texts as written, and the codes' functions."""
    parts: list[str | Callable[[datetime], str]] = []
    i = 0
    while i < len(fmt):
        code = fmt[i + 1] if fmt[i] == "%" and i + 1 < len(fmt) else ""
        if code in _FORMATS:
            parts.append(_FORMATS[code])
            i += 2
        else:  # an unknown code stays as written
            parts.append(fmt[i])
            i += 1
    return parts


def format_moment(moment: datetime, parts: list[str | Callable[[datetime], str]]) -> str:
    return "".join([part if isinstance(part, str) else part(moment) for part in parts])


def _decimal_date_time(a: list[Value], ctx: Context) -> Value:
    v = first_value(a[0])
    found = v if isinstance(v, DateValue) else parse_date_text(to_string(v).strip(" \t\r\n"))
    return found.days if found else to_number(v)


def _int(a: list[Value], ctx: Context) -> Value:
    x = to_number(a[0])
    return math.copysign(float(math.trunc(x)), x) if math.isfinite(x) else x


def _round(a: list[Value], ctx: Context) -> Value:
    x = to_number(a[0])
    places = to_number(a[1]) if len(a) > 1 else 0.0
    if places != places:
        return NAN
    if not math.isfinite(x) or places > 400 or (places >= 0 and abs(x) >= 2.0**52):
        return x
    p = -400 if places <= -400 else int(places)
    if p == 0 and abs(x) < 2.0**52:
        return round_whole(x)
    # Half toward +infinity on the shortest decimal form: floor(x * 10^p + 1/2) / 10^p,
    # computed exactly in decimal so that round(2.675, 2) is 2.68.
    step = Decimal(1).scaleb(-p)
    with localcontext() as exact:
        exact.prec = 1000
        rounded = float((Decimal(repr(x)) + step / 2).quantize(step, rounding=ROUND_FLOOR))
    return -0.0 if rounded == 0 and x < 0 else rounded


def round_whole(x: float) -> float:
    """round(x, 0) of a finite x below 2⁵², as the decimal computation in _round gives it.

    x and its shortest decimal form are on the same side of every whole number and
    of every half, which are exact doubles, so comparing x itself gives the same.
    """
    whole = float(math.floor(x))
    rounded = whole + 1.0 if x >= whole + 0.5 else whole
    return -0.0 if rounded == 0 and x < 0 else rounded


def _pow(a: list[Value], ctx: Context) -> Value:
    """Math.pow, whose corner cases differ from Python's."""
    base, exponent = to_number(a[0]), to_number(a[1])
    if exponent != exponent:
        return NAN
    if exponent == 0:
        return 1.0
    if base != base or (abs(base) == 1 and math.isinf(exponent)):
        return NAN
    odd = exponent.is_integer() and abs(exponent) < 2**53 and int(exponent) % 2 == 1
    if base == 0 and exponent < 0:
        return -math.inf if odd and math.copysign(1, base) < 0 else math.inf
    if base.is_integer() and exponent.is_integer() and 0 < exponent <= 64 and abs(base) < 2**53:
        # Exact, then rounded once: the correctly rounded result the browser computes too.
        return (
            float(int(base) ** int(exponent))
            if abs(base) ** exponent < 1e308
            else (-math.inf if odd and base < 0 else math.inf)
        )
    try:
        return math.pow(base, exponent)
    except OverflowError:
        return -math.inf if odd and base < 0 else math.inf
    except ValueError:  # a negative base to a fractional power
        return NAN


def _numbers(a: list[Value]) -> list[float]:
    return [n for n in map(to_number, _items(a)) if n == n]


def _min(a: list[Value], ctx: Context) -> Value:
    numbers = _numbers(a)
    return min(numbers) if numbers else NAN


def _max(a: list[Value], ctx: Context) -> Value:
    numbers = _numbers(a)
    return max(numbers) if numbers else NAN


def _sum(a: list[Value], ctx: Context) -> Value:
    total = 0.0
    for n in _numbers(a):  # plain left-to-right addition, as JavaScript's loop does
        total += n
    return total


def _count(a: list[Value], ctx: Context) -> Value:
    return float(len(a[0])) if isinstance(a[0], tuple) else 1.0


def _count_non_empty(a: list[Value], ctx: Context) -> Value:
    return float(sum(1 for v in _items(a) if to_string(v) != ""))


LIBRARY: Mapping[str, Function] = {
    "selected": _selected,
    "count-selected": _count_selected,
    "selected-at": _selected_at,
    "jr:choice-name": _choice_name,
    "concat": _concat,
    "join": _join,
    "coalesce": _coalesce,
    "string-length": _string_length,
    "substr": _substr,
    "contains": _contains,
    "starts-with": _starts_with,
    "ends-with": _ends_with,
    "regex": _regex,
    "today": _today,
    "now": _now,
    "date": _date,
    "format-date": _format_date,
    "decimal-date-time": _decimal_date_time,
    "int": _int,
    "round": _round,
    "number": lambda a, ctx: to_number(a[0]),
    "string": lambda a, ctx: to_string(a[0]),
    "boolean": lambda a, ctx: to_boolean(a[0]),
    "not": lambda a, ctx: not to_boolean(a[0]),
    "true": lambda a, ctx: True,
    "false": lambda a, ctx: False,
    "abs": lambda a, ctx: abs(to_number(a[0])),
    "pow": _pow,
    "min": _min,
    "max": _max,
    "sum": _sum,
    "count": _count,
    "count-non-empty": _count_non_empty,
    "uuid": lambda a, ctx: new_uuid(ctx),
}

#: Functions with an effect: each call gives a new value (the context's uuid maker).
WITH_EFFECTS: frozenset[str] = frozenset({"uuid"})
#: Functions that call the context's functions: uuid(), and jr:choice-name's labels.
CALLING_CONTEXT: frozenset[str] = WITH_EFFECTS | {"jr:choice-name"}
#: Functions whose value depends on more than their arguments: those, and the clock.
IMPURE: frozenset[str] = CALLING_CONTEXT | {"today", "now"}

#: name -> (fewest arguments, most arguments or None, how to call it)
SIGNATURES: Mapping[str, tuple[int, int | None, str]] = {
    "if": (3, 3, "if(${age} >= 18, 'adult', 'minor')"),
    "selected": (2, 2, "selected(${problems}, 'wage_arrears')"),
    "count-selected": (1, 1, "count-selected(${problems})"),
    "selected-at": (2, 2, "selected-at(${problems}, 0)"),
    "jr:choice-name": (2, 2, "jr:choice-name(${sector}, '${sector}')"),
    "concat": (1, None, "concat(${family_name}, ' ', ${given_name})"),
    "join": (2, None, "join(', ', ${child_name})"),
    "coalesce": (2, 2, "coalesce(${phone}, 'none')"),
    "string-length": (1, 1, "string-length(${family_name})"),
    "substr": (2, 3, "substr(${phone}, 0, 3)"),
    "contains": (2, 2, "contains(${address}, 'Beijing')"),
    "starts-with": (2, 2, "starts-with(${phone}, '1')"),
    "ends-with": (2, 2, "ends-with(${email}, '.cn')"),
    "regex": (2, 2, "regex(${phone}, '1[0-9]{10}')"),
    "today": (0, 0, "today()"),
    "now": (0, 0, "now()"),
    "date": (1, 1, "date('2001-01-01')"),
    "format-date": (2, 2, "format-date(${birth_date}, '%Y-%m')"),
    "decimal-date-time": (1, 1, "decimal-date-time(${visit})"),
    "int": (1, 1, "int(${wage} div 30)"),
    "round": (1, 2, "round(${wage} div 30, 2)"),
    "number": (1, 1, "number(${text})"),
    "string": (1, 1, "string(${age})"),
    "boolean": (1, 1, "boolean(${age})"),
    "not": (1, 1, "not(selected(${problems}, 'none'))"),
    "true": (0, 0, "true()"),
    "false": (0, 0, "false()"),
    "abs": (1, 1, "abs(${difference})"),
    "pow": (2, 2, "pow(${side}, 2)"),
    "min": (1, None, "min(${child_age})"),
    "max": (1, None, "max(${child_age})"),
    "sum": (1, 1, "sum(${child_age})"),
    "count": (1, 1, "count(${children})"),
    "count-non-empty": (1, 1, "count-non-empty(${child_age})"),
    "position": (1, 1, "position(..)"),
    "indexed-repeat": (3, 7, "indexed-repeat(${child_age}, ${children}, 1)"),
    "once": (1, 1, "once(uuid())"),
    "uuid": (0, 0, "uuid()"),
}

FUNCTIONS: Mapping[str, tuple[int, int | None]] = {
    name: (low, high) for name, (low, high, _) in SIGNATURES.items()
}


def arity_ok(name: str, count: int) -> bool:
    """Whether a call of the known function `name` may have `count` arguments."""
    low, high = FUNCTIONS[name]
    if name == "indexed-repeat" and count % 2 == 0:
        return False
    return count >= low and (high is None or count <= high)
