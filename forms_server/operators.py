"""Compiled operators, for compiler.py: each computes what the walker's operator does.

The commonest shapes get a closure of their own: a comparison with a constant
number, a difference or a quotient (of dates too), ``X op a and X op b`` with X
evaluated once (it has no effects, so that is the same), an equality with a text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from forms_server.expressions import _ARITHMETIC, _RELATIONS, Compiled, Context, _equal
from forms_server.values import DateValue, Value, to_number

__all__ = [
    "AGAINST_CONSTANT",
    "COMPARISONS",
    "OPERANDS",
    "OPERATORS",
    "between_numbers",
    "between_operands",
    "between_values",
    "divided_by",
    "equal_number",
    "equal_text",
    "with_constant",
]


def _less(left: Compiled, b: float) -> Compiled:
    def less(ctx: Context) -> Value:
        a = left(ctx)
        return (a if type(a) is float else to_number(a)) < b

    return less


def _at_most(left: Compiled, b: float) -> Compiled:
    def at_most(ctx: Context) -> Value:
        a = left(ctx)
        return (a if type(a) is float else to_number(a)) <= b

    return at_most


def _more(left: Compiled, b: float) -> Compiled:
    def more(ctx: Context) -> Value:
        a = left(ctx)
        return (a if type(a) is float else to_number(a)) > b

    return more


def _at_least(left: Compiled, b: float) -> Compiled:
    def at_least(ctx: Context) -> Value:
        a = left(ctx)
        return (a if type(a) is float else to_number(a)) >= b

    return at_least


def _difference(left: Compiled, right: Compiled) -> Compiled:
    def difference(ctx: Context) -> Value:  # of numbers, and often of dates (their days)
        a = left(ctx)
        a = a if type(a) is float else a.days if type(a) is DateValue else to_number(a)
        b = right(ctx)
        return a - (b if type(b) is float else b.days if type(b) is DateValue else to_number(b))

    return difference


def _quotient(left: Compiled, right: Compiled) -> Compiled:
    def quotient(ctx: Context) -> Value:
        a = left(ctx)
        a = a if type(a) is float else to_number(a)
        b = right(ctx)
        b = b if type(b) is float else to_number(b)
        return a / b if b != 0 else _ARITHMETIC["div"](a, b)

    return quotient


def _no_later(left: Compiled, right: Compiled) -> Compiled:
    def no_later(ctx: Context) -> Value:
        a = left(ctx)
        a = a if type(a) is float else to_number(a)
        b = right(ctx)
        return a <= (b if type(b) is float else to_number(b))

    return no_later


def _no_earlier(left: Compiled, right: Compiled) -> Compiled:
    def no_earlier(ctx: Context) -> Value:
        a = left(ctx)
        a = a if type(a) is float else to_number(a)
        b = right(ctx)
        return a >= (b if type(b) is float else to_number(b))

    return no_earlier


#: Operations on two computed operands with a closure of their own.
OPERANDS: Mapping[str, Callable[[Compiled, Compiled], Compiled]] = {
    "-": _difference,
    "div": _quotient,
    "<=": _no_later,
    ">=": _no_earlier,
}

#: Comparisons with a constant number, the commonest kind.
AGAINST_CONSTANT: Mapping[str, Callable[[Compiled, float], Compiled]] = {
    "<": _less,
    "<=": _at_most,
    ">": _more,
    ">=": _at_least,
}

#: The comparisons as functions of two numbers: the walker's own.
COMPARISONS: Mapping[str, Callable[[float, float], bool]] = _RELATIONS
#: Every binary operator on numbers as a function: the walker's comparisons and arithmetic.
OPERATORS: Mapping[str, Callable[[float, float], Value]] = {**_RELATIONS, **_ARITHMETIC}


def divided_by(left: Compiled, b: float) -> Compiled:
    """``left div b`` for a constant b that is not 0: never the special cases of _divide."""

    def divided(ctx: Context) -> Value:
        a = left(ctx)
        return (a if type(a) is float else to_number(a)) / b

    return divided


def with_constant(left: Compiled, function: Callable[[float, float], Value], b: float) -> Compiled:
    def operated(ctx: Context) -> Value:
        a = left(ctx)
        return function(a if type(a) is float else to_number(a), b)

    return operated


def between_operands(
    left: Compiled, function: Callable[[float, float], Value], right: Compiled
) -> Compiled:
    def operated(ctx: Context) -> Value:
        a = left(ctx)
        a = a if type(a) is float else to_number(a)
        b = right(ctx)
        return function(a, b if type(b) is float else to_number(b))

    return operated


def between_numbers(
    x_of: Compiled,
    compare_a: Callable[[float, float], bool],
    low: float,
    compare_b: Callable[[float, float], bool],
    high: float,
) -> Compiled:
    """``X op low and X op high``, X evaluated once."""

    def between(ctx: Context) -> Value:
        v = x_of(ctx)
        n = v if type(v) is float else to_number(v)
        return compare_a(n, low) and compare_b(n, high)

    return between


def between_values(
    x_of: Compiled,
    compare_a: Callable[[float, float], bool],
    a_of: Compiled,
    compare_b: Callable[[float, float], bool],
    b_of: Compiled,
) -> Compiled:
    """``X op A and X op B``, X evaluated once, B only when needed."""

    def between(ctx: Context) -> Value:
        v = x_of(ctx)
        n = v if type(v) is float else to_number(v)
        a = a_of(ctx)
        if not compare_a(n, a if type(a) is float else to_number(a)):
            return False
        b = b_of(ctx)
        return compare_b(n, b if type(b) is float else to_number(b))

    return between


def equal_text(left: Compiled, text: str, negate: bool) -> Compiled:
    """``left = 'text'``: _equal's last rule, to_string(a) == text."""

    def equal(ctx: Context) -> Value:
        a = left(ctx)
        return (a == text if type(a) is str else _equal(a, text)) is not negate

    return equal


def equal_number(left: Compiled, number: float, negate: bool) -> Compiled:
    def equal(ctx: Context) -> Value:
        a = left(ctx)
        return (a == number if type(a) is float else _equal(a, number)) is not negate

    return equal
