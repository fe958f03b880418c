"""Values of the expression language and their conversions.

Values follow XPath 1.0 as ODK applies it: a number is a float, text a str, a
boolean a bool, a date or datetime a `DateValue`, and the answers of a repeat
question seen from outside its repeat a node-set (a tuple of those). Numbers
become text as JavaScript writes them. Every rule here is mirrored by the
browser's evaluator, so each one is written to be reproducible in JavaScript
(docs/expressions.md states them; the shared vectors in tests/expressions/ check
both).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeAlias

__all__ = [
    "NAN",
    "DateValue",
    "NodeSet",
    "Scalar",
    "Value",
    "answer_value",
    "date_value",
    "epoch_days",
    "first_value",
    "number_to_string",
    "parse_date_text",
    "to_boolean",
    "to_date",
    "to_number",
    "to_string",
    "wall_clock",
]


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

NAN = math.nan
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECONDS_PER_DAY = 86_400_000_000
#: Whole numbers below this are written with all their digits (2⁵³).
_EXACT = 2.0**53
# XPath's number syntax: no exponent, no '+', no 'Infinity'; only XML whitespace around.
_NUMBER = re.compile(r"[ \t\r\n]*(-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))[ \t\r\n]*")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]+))?)?(Z|[+-][0-9]{2}:?[0-9]{2})?"
)


#: Texts already read as numbers, and dates: answers and calculations repeat.
_NUMBERS: dict[str, float] = {}
_DATED: dict[str, Scalar] = {}
_CACHED_LIMIT = 4096
_CACHED_LONGEST = 40


# -- conversions ---------------------------------------------------------------------


def to_number(v: Value) -> float:
    """XPath number(): text must be a plain decimal number, anything else is NaN."""
    if isinstance(v, float):
        return v
    if type(v) is DateValue:
        return v.days
    if isinstance(v, str):
        number = _NUMBERS.get(v)
        if number is None:
            match = _NUMBER.fullmatch(v)
            number = float(match.group(1)) if match else NAN
            if type(v) is str and len(v) <= _CACHED_LONGEST:
                if len(_NUMBERS) >= _CACHED_LIMIT:
                    _NUMBERS.clear()
                _NUMBERS[v] = number
        return number
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
    if x.is_integer() and -_EXACT < x < _EXACT:  # exact, and the shortest digits; -0 is "0"
        return str(int(x))
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
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


def parse_date_text(text: str) -> DateValue | None:
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
    return DateValue(text, epoch_days(moment))


def date_value(d: date) -> DateValue:
    """A Python date or datetime as a value (a naive datetime is taken as UTC)."""
    if isinstance(d, datetime):
        return DateValue(d.isoformat(), epoch_days(d))
    return DateValue(d.isoformat(), float(d.toordinal() - _EPOCH_ORDINAL))


def epoch_days(moment: datetime) -> float:
    """Days since 1970-01-01T00:00Z, with the fraction of the day (naive means UTC)."""
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return ((moment - _EPOCH) // timedelta(microseconds=1)) / _MICROSECONDS_PER_DAY


def answer_value(raw: Any, type_: str) -> Scalar:
    """An answer as stored (typed Python) as a value; see Context.answers."""
    if raw is None:
        return ""
    kind = type(raw)
    if kind is list:  # a select_multiple's or rank's values, as a rule
        try:
            return " ".join(raw)
        except TypeError:
            return " ".join(to_string(answer_value(item, "")) for item in raw)
    if kind is int or kind is float:
        try:
            return float(raw)
        except OverflowError:  # an int too big for a float
            return math.inf if raw > 0 else -math.inf
    if isinstance(raw, str):
        if raw and (type_ == "date" or type_ == "datetime"):
            return _dated_answer(raw)
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
        return date_value(raw)
    if isinstance(raw, time):
        return f"{raw.hour:02d}:{raw.minute:02d}:{raw.second:02d}"
    if isinstance(raw, list | tuple):
        try:
            return " ".join(raw)  # texts, such as a select_multiple's values, are themselves
        except TypeError:
            return " ".join(to_string(answer_value(item, "")) for item in raw)
    return ""


def _dated_answer(raw: str) -> Scalar:
    """A date or datetime question's text answer as a value: a date when it is one."""
    if type(raw) is not str:
        return parse_date_text(raw) or raw
    value = _DATED.get(raw)
    if value is None:
        value = parse_date_text(raw) or raw
        if len(raw) <= _CACHED_LONGEST:
            if len(_DATED) >= _CACHED_LIMIT:
                _DATED.clear()
            _DATED[raw] = value
    return value


def first_value(v: Value) -> Scalar:
    """A node-set's first value ('' when empty); any other value itself."""
    if isinstance(v, tuple):
        return v[0] if v else ""
    return v


def to_date(v: Value) -> DateValue | None:
    """A date or datetime from a value: a date, ISO text, or a number of days."""
    v = first_value(v)
    if isinstance(v, DateValue):
        return v
    if isinstance(v, str):
        parsed = parse_date_text(v.strip(" \t\r\n"))
        if parsed or _NUMBER.fullmatch(v) is None:
            return parsed
    days = to_number(v)
    if not math.isfinite(days):
        return None
    ordinal = _EPOCH_ORDINAL + math.floor(days)
    if not 1 <= ordinal <= date.max.toordinal():
        return None
    return date_value(date.fromordinal(ordinal))


def wall_clock(v: DateValue) -> datetime:
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
