"""Values of the expression language, their conversions, and its function library.

Values follow XPath 1.0 as ODK applies it: a number is a float, text a str, a
boolean a bool, a date or datetime a `DateValue`, and the answers of a repeat
question seen from outside its repeat a node-set (a tuple of those). Every rule
here is mirrored by the browser's evaluator, so each one is written to be
reproducible in JavaScript (docs/expressions.md states them; the shared vectors
in tests/expressions/ check both).
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import ROUND_FLOOR, Decimal, localcontext
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from forms_server.expressions import Context


@dataclass(frozen=True, slots=True)
class DateValue:
    """A date or datetime: its ISO 8601 text and its position in days since 1970-01-01.

    A date counts whole calendar days; a datetime counts fractional days from
    1970-01-01T00:00Z, so its UTC offset matters.
    """

    iso: str
    days: float


Scalar: TypeAlias = float | str | bool | DateValue
NodeSet: TypeAlias = tuple[Scalar, ...]
Value: TypeAlias = Scalar | NodeSet
Function: TypeAlias = Callable[[list[Value], "Context"], Value]

NAN = math.nan
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECONDS_PER_DAY = 86_400_000_000
# XPath's number syntax: no exponent, no '+', no 'Infinity'; only XML whitespace around.
_NUMBER = re.compile(r"[ \t\r\n]*(-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))[ \t\r\n]*")
_XML_SPACE = re.compile(r"[ \t\r\n]+")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]+))?)?(Z|[+-][0-9]{2}:?[0-9]{2})?"
)


# -- conversions ---------------------------------------------------------------------


def to_number(v: Value) -> float:
    """XPath number(): text must be a plain decimal number, anything else is NaN."""
    if isinstance(v, float):
        return v
    if isinstance(v, str):
        match = _NUMBER.fullmatch(v)
        return float(match.group(1)) if match else NAN
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, DateValue):
        return v.days
    return to_number(v[0]) if v else NAN


def to_string(v: Value) -> str:
    """XPath string(), with numbers written as JavaScript writes them."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return number_to_string(v)
    if isinstance(v, DateValue):
        return v.iso
    return to_string(v[0]) if v else ""


def to_boolean(v: Value) -> bool:
    """XPath boolean(): false for '', 0 and NaN; a date is true; a node-set if non-empty."""
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        return v != ""
    if isinstance(v, float):
        return not (v == 0 or v != v)
    if isinstance(v, DateValue):
        return True
    return len(v) > 0


def number_to_string(x: float) -> str:
    """JavaScript's Number.prototype.toString(), which the browser evaluator uses as is."""
    if x != x:
        return "NaN"
    if x == 0:
        return "0"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x.is_integer() and abs(x) < 2**53:  # exact, and the shortest digits (beyond: padded)
        return str(int(x))
    # repr gives the shortest round-tripping digits, the same digits JavaScript picks;
    # only the layout (ECMA-262 Number::toString) differs.
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    n = len(whole) + int(exp or 0) - (len(whole + frac) - len(digits))
    digits = digits.rstrip("0")
    k = len(digits)
    sign = "-" if x < 0 else ""
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = f"e{'+' if n >= 1 else '-'}{abs(n - 1)}"
    return sign + (digits if k == 1 else digits[0] + "." + digits[1:]) + e


def _parse_date_text(text: str) -> DateValue | None:
    """`YYYY-MM-DD` or an ISO 8601 datetime (no offset means UTC); None when neither."""
    match = _DATE.fullmatch(text)
    if match:
        try:
            day = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return None
        return DateValue(text, float(day.toordinal() - _EPOCH_ORDINAL))
    match = _DATETIME.fullmatch(text)
    if not match:
        return None
    y, mo, d, h, mi, s, frac, offset = match.groups()
    tz = UTC
    try:
        if offset and offset != "Z":
            sign = -1 if offset[0] == "-" else 1
            hours, minutes = int(offset[1:3]), int(offset[-2:])
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
            if minutes > 59:
                return None
        moment = datetime(
            int(y),
            int(mo),
            int(d),
            int(h),
            int(mi),
            int(s or 0),
            int((frac or "0")[:6].ljust(6, "0")),
            tz,
        )
    except ValueError:
        return None
    return DateValue(text, _days(moment))


def _date_value(d: date) -> DateValue:
    """A Python date or datetime as a value (a naive datetime is taken as UTC)."""
    if isinstance(d, datetime):
        return DateValue(d.isoformat(), _days(d))
    return DateValue(d.isoformat(), float(d.toordinal() - _EPOCH_ORDINAL))


def _days(moment: datetime) -> float:
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return ((moment - _EPOCH) // timedelta(microseconds=1)) / _MICROSECONDS_PER_DAY


def answer_value(raw: Any, type_: str) -> Scalar:
    """An answer as stored (typed Python) as a value; see Context.answers."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        if raw and type_ in ("date", "datetime"):
            return _parse_date_text(raw) or raw
        return raw
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float | Decimal):
        try:
            return float(raw)
        except OverflowError:  # an int too big for a float
            return math.inf if raw > 0 else -math.inf
        except ValueError:  # Decimal('sNaN')
            return NAN
    if isinstance(raw, date):
        return _date_value(raw)
    if isinstance(raw, time):
        return f"{raw.hour:02d}:{raw.minute:02d}:{raw.second:02d}"
    if isinstance(raw, list | tuple):
        return " ".join(to_string(answer_value(item, "")) for item in raw)
    return ""


def _first(v: Value) -> Scalar:
    if isinstance(v, tuple):
        return v[0] if v else ""
    return v


def _items(args: Sequence[Value]) -> Iterator[Scalar]:
    """Every value of the arguments, a node-set contributing each of its values."""
    for v in args:
        if isinstance(v, tuple):
            yield from v
        else:
            yield v


def _tokens(v: Value) -> list[str]:
    return [t for t in _XML_SPACE.split(to_string(v)) if t]


def _to_date(v: Value) -> DateValue | None:
    """A date or datetime from a value: a date, ISO text, or a number of days."""
    v = _first(v)
    if isinstance(v, DateValue):
        return v
    if isinstance(v, str):
        parsed = _parse_date_text(v.strip(" \t\r\n"))
        if parsed or _NUMBER.fullmatch(v) is None:
            return parsed
    days = to_number(v)
    if not math.isfinite(days):
        return None
    ordinal = _EPOCH_ORDINAL + math.floor(days)
    if not 1 <= ordinal <= date.max.toordinal():
        return None
    return _date_value(date.fromordinal(ordinal))


def _moment(v: DateValue) -> datetime:
    """The wall-clock fields of a date value, in its own UTC offset."""
    if len(v.iso) == 10:
        return datetime.fromordinal(_EPOCH_ORDINAL + int(v.days))
    match = _DATETIME.fullmatch(v.iso)
    if match is None:  # from a Python datetime with an unusual offset: use UTC
        return _EPOCH + timedelta(days=v.days)
    y, mo, d, h, mi, s, frac, _ = match.groups()
    return datetime(
        int(y), int(mo), int(d), int(h), int(mi), int(s or 0), int((frac or "0")[:6].ljust(6, "0"))
    )


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
    first = _first(a[0])
    return first if to_string(first) != "" else _first(a[1])


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
    return _date_value(ctx.now.date())


def _now(a: list[Value], ctx: Context) -> Value:
    return DateValue(ctx.now.isoformat(timespec="milliseconds"), _days(ctx.now))


def _date(a: list[Value], ctx: Context) -> Value:
    found = _to_date(a[0])
    if found is None:
        return ""
    if len(found.iso) == 10:
        return found
    return _date_value(_moment(found).date())


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
    found = _to_date(a[0])
    if found is None:
        return ""
    moment, fmt, i = _moment(found), to_string(a[1]), 0
    out: list[str] = []
    while i < len(fmt):
        code = fmt[i + 1] if fmt[i] == "%" and i + 1 < len(fmt) else ""
        if code in _FORMATS:
            out.append(_FORMATS[code](moment))
            i += 2
        else:  # an unknown code stays as written
            out.append(fmt[i])
            i += 1
    return "".join(out)


def _decimal_date_time(a: list[Value], ctx: Context) -> Value:
    v = _first(a[0])
    found = v if isinstance(v, DateValue) else _parse_date_text(to_string(v).strip(" \t\r\n"))
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
    # Half toward +infinity on the shortest decimal form: floor(x * 10^p + 1/2) / 10^p,
    # computed exactly in decimal so that round(2.675, 2) is 2.68.
    step = Decimal(1).scaleb(-p)
    with localcontext() as exact:
        exact.prec = 1000
        rounded = float((Decimal(repr(x)) + step / 2).quantize(step, rounding=ROUND_FLOOR))
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
    "uuid": lambda a, ctx: ctx.make_uuid() if ctx.make_uuid else str(uuid.uuid4()),
}

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


# -- regex: the subset both Python's re and JavaScript's RegExp (u flag) read alike ------

# JavaScript's \s; Python's differs in a few code points.
_JS_SPACE = r"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_SYNTAX_CHARS = "^$\\.*+?()[]{}|/"
_QUANTIFIER = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
_HEX = re.compile(r"u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}")


@lru_cache(maxsize=512)
def compile_regex(pattern: str) -> re.Pattern[str] | None:
    """The compiled pattern, or None when it is outside the portable subset or invalid."""
    translated = _translate_regex(pattern)
    if translated is None:
        return None
    try:
        return re.compile(translated, re.ASCII)
    except (re.error, OverflowError, RecursionError, ValueError, Warning):
        return None


def _translate_regex(p: str) -> str | None:
    out: list[str] = []
    i, in_class = 0, False
    while i < len(p):
        c = p[i]
        if c == "\\":
            piece = _escape(p, i + 1, in_class)
            if piece is None:
                return None
            out.append(piece[0])
            i = piece[1]
            continue
        if in_class:
            if c == "[" or (c in "-&~|" and p[i + 1 : i + 2] == c):
                return None  # nested sets and set operations: Python warns, JS differs
            in_class = c != "]"
            out.append(c)
            i += 1
            continue
        if c == "[":
            j = i + 2 if p[i + 1 : i + 2] == "^" else i + 1
            if p[j : j + 1] == "]":
                return None  # '[]' and '[^]' mean different things in the two engines
            out.append(p[i:j])
            i, in_class = j, True
            continue
        if c == "(" and p.startswith("(?", i):
            if not p.startswith(("(?:", "(?=", "(?!"), i):
                return None
            out.append(p[i : i + 3])
            i += 3
            continue
        if c in "]}":
            return None
        if c in "*+?{":
            match = _QUANTIFIER.match(p, i) if c == "{" else None
            if c == "{" and match is None:
                return None
            end = match.end() if match else i + 1
            if p[end : end + 1] == "?":  # lazy
                end += 1
            if p[end : end + 1] and p[end] in "*+?{":
                return None  # possessive or doubled quantifiers
            out.append(p[i:end])
            i = end
            continue
        out.append(r"[^\n\r\u2028\u2029]" if c == "." else r"\Z" if c == "$" else c)
        i += 1
    return None if in_class else "".join(out)


def _escape(p: str, i: int, in_class: bool) -> tuple[str, int] | None:
    """The translation of the escape whose letter is at p[i], and where it ends."""
    if i >= len(p):
        return None
    c = p[i]
    if c in "dwDWntrfv":
        return "\\" + c, i + 1
    if c == "s":
        return (_JS_SPACE if in_class else f"[{_JS_SPACE}]"), i + 1
    if c == "S" and not in_class:
        return f"[^{_JS_SPACE}]", i + 1
    if c == "b" or (c == "B" and not in_class):
        return "\\" + c, i + 1
    if c == "0" and p[i + 1 : i + 2] not in tuple("0123456789"):
        return r"\x00", i + 1
    if c in "123456789" and not in_class:
        j = i
        while j < len(p) and p[j] in "0123456789":
            j += 1
        return "\\" + p[i:j], j
    match = _HEX.match(p, i)
    if match:
        return "\\" + match.group(), match.end()
    if c in _SYNTAX_CHARS or (c == "-" and in_class):
        return "\\" + c, i + 1
    return None
