"""One posted value to one typed answer, by question type, or the reason it is refused.

JSON and HTML clients send strings, numbers, booleans and lists; every type has one
stored form (see :func:`coerce`). Whether the answer is allowed *here* (relevance,
``required``, ``constraint``, choice filters) is ``validation``'s business, not this
module's: coercion looks at nothing but the value and its question.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from forms_server.model import Question

#: Longest text, barcode or hidden answer, in characters.
MAX_TEXT = 10_000
#: Longest file name of an image or file answer.
MAX_FILENAME = 255
#: Types whose posted strings are read with surrounding white space removed.
_STRIPPED = frozenset(
    {
        "integer",
        "decimal",
        "range",
        "date",
        "time",
        "datetime",
        "select_one",
        "select_multiple",
        "rank",
        "acknowledge",
        "geopoint",
    }
)
#: Numbers take any decimal digits, so full-width ones from a Chinese keyboard (３５) count.
_INTEGER = re.compile(r"[+-]?\d{1,19}(?:\.0*)?")
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?")
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?"
    r"(?:Z|[+-]\d{2}:\d{2})?",
    re.ASCII,
)
#: C0 controls but tab and newline, DEL, C1 controls, and lone surrogates (JSON can
#: carry them, UTF-8 cannot store them).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_MAX_NUMBER_TEXT = 64
_INT64 = 2**63


class Invalid(Exception):
    """A value its question cannot take: ``code`` for programs, ``key`` names the message."""

    def __init__(self, code: str, key: str, **params: Any) -> None:
        super().__init__(code, key)
        self.code = code
        self.key = key
        self.params = params


def coerce(question: Question, value: Any, choices: Mapping[str, int]) -> Any:
    """The typed answer ``question`` stores for the posted ``value``; None when unanswered.

    ``choices`` maps each choice value of a select to its position in the list.
    Stored forms: integer → int; decimal → float; range → int when its start and step
    are whole, else float; date → ``YYYY-MM-DD``; time → ``HH:MM[:SS]`` as given;
    datetime → ISO 8601 (``datetime.isoformat``); select_one → str; select_multiple →
    list in the choices' order; rank → list in the person's order; acknowledge →
    ``'OK'``; geopoint → ``"lat lon [alt [acc]]"``; text, barcode, hidden, image, file →
    str. Raises :class:`Invalid`.
    """
    if isinstance(value, str) and question.type in _STRIPPED:
        value = value.strip()
    if value is None or value == "" or value == [] or value is False:
        if value is False and question.type != "acknowledge":
            raise Invalid("type", question.type)
        return None
    return _COERCERS[question.type](question, value, choices)


def coercer(question: Question, choices: Mapping[str, int]) -> Callable[[Any], Any]:
    """``coerce`` for one question and its choices, what depends on them worked out once."""
    convert = _COERCERS.get(question.type)
    if convert is None:
        return lambda value: coerce(question, value, choices)
    stripped = question.type in _STRIPPED
    acknowledge = question.type == "acknowledge"

    def coerce_one(value: Any) -> Any:
        if stripped and isinstance(value, str):
            value = value.strip()
        if value is None or value == "" or value == [] or value is False:
            if value is False and not acknowledge:
                raise Invalid("type", question.type)
            return None
        return convert(question, value, choices)

    fast = _FAST.get(question.type)
    return coerce_one if fast is None else fast(coerce_one, choices)


def _fast_text(
    coerce_one: Callable[[Any], Any], choices: Mapping[str, int]
) -> Callable[[Any], Any]:
    def text(value: Any) -> Any:
        if (
            type(value) is str
            and value
            and "\r" not in value
            and len(value) <= MAX_TEXT
            and _CONTROL.search(value) is None
        ):
            return value
        return coerce_one(value)

    return text


def _fast_select_one(
    coerce_one: Callable[[Any], Any], choices: Mapping[str, int]
) -> Callable[[Any], Any]:
    plain = plain_choices(choices)

    def select_one(value: Any) -> Any:
        if type(value) is str and value in plain:
            return value
        return coerce_one(value)

    return select_one


def _fast_integer(
    coerce_one: Callable[[Any], Any], choices: Mapping[str, int]
) -> Callable[[Any], Any]:
    def integer(value: Any) -> Any:
        if type(value) is int and -_INT64 <= value < _INT64:
            return value
        return coerce_one(value)

    return integer


def _fast_decimal(
    coerce_one: Callable[[Any], Any], choices: Mapping[str, int]
) -> Callable[[Any], Any]:
    def decimal(value: Any) -> Any:
        if type(value) is float and math.isfinite(value):
            return value
        if type(value) is int and -_INT64 <= value < _INT64:
            return float(value)
        return coerce_one(value)

    return decimal


def _fast_select_many(
    coerce_one: Callable[[Any], Any], choices: Mapping[str, int]
) -> Callable[[Any], Any]:
    order = choices.__getitem__
    plain = plain_choices(choices)

    def select_multiple(value: Any) -> Any:
        if (
            type(value) is list
            and value
            and set(map(type, value)) == _TEXTS
            and plain.issuperset(value)
            and len(set(value)) == len(value)
        ):
            return sorted(value, key=order)
        return coerce_one(value)

    return select_multiple


_TEXTS = frozenset({str})


def plain_choices(choices: Mapping[str, int]) -> frozenset[str]:
    """The choice values that a select posts as that very text and stores as it is."""
    return frozenset(value for value in choices if value and value == value.strip())


#: Shortcuts for the commonest posted values, giving what ``coerce`` gives.
_FAST: dict[
    str,
    Callable[[Callable[[Any], Any], Mapping[str, int]], Callable[[Any], Any]],
] = {
    "text": _fast_text,
    "select_one": _fast_select_one,
    "integer": _fast_integer,
    "decimal": _fast_decimal,
    "select_multiple": _fast_select_many,
}


def _integer(question: Question, value: Any, choices: Mapping[str, int]) -> int:
    if isinstance(value, bool):
        raise Invalid("type", "integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INTEGER.fullmatch(value):
        number = int(value.partition(".")[0])
    else:
        raise Invalid("type", "integer")
    if not -_INT64 <= number < _INT64:
        raise Invalid("type", "integer")
    return number


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool):
        raise Invalid("type", key)
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            raise Invalid("type", key) from None
    elif isinstance(value, str) and len(value) <= _MAX_NUMBER_TEXT and _DECIMAL.fullmatch(value):
        number = float(value)
    else:
        raise Invalid("type", key)
    if not math.isfinite(number):
        raise Invalid("type", key)
    return number


def _decimal(question: Question, value: Any, choices: Mapping[str, int]) -> float:
    return _number(value, "decimal")


def _range(question: Question, value: Any, choices: Mapping[str, int]) -> int | float:
    params = question.parameters
    start, end, step = params.get("start", 1.0), params.get("end", 10.0), params.get("step", 1.0)
    shown = {"start": _plain(start), "end": _plain(end), "step": _plain(step)}
    try:
        number = _number(value, "range")
    except Invalid:
        raise Invalid("type", "range", **shown) from None
    tolerance = 1e-9 * max(1.0, abs(number))
    # The bounds first: a huge number's count of steps would overflow.
    if not (start - tolerance <= number <= end + tolerance):
        raise Invalid("range", "range", **shown)
    steps = round((number - start) / step)
    if abs(start + steps * step - number) > tolerance:
        raise Invalid("range", "range", **shown)
    if float(start).is_integer() and float(step).is_integer():
        return round(number)
    return number


def _plain(number: float) -> str:
    """A parameter as a person writes it: ``5``, not ``5.0``."""
    return str(int(number)) if number.is_integer() else str(number)


def _date(question: Question, value: Any, choices: Mapping[str, int]) -> str:
    # A month-year or year field posts YYYY-MM or YYYY without JavaScript: the first day.
    if isinstance(value, str) and "month-year" in question.appearance and len(value) == 7:
        value += "-01"
    elif isinstance(value, str) and "year" in question.appearance and len(value) == 4:
        value += "-01-01"
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    raise Invalid("type", "date")


def _time(question: Question, value: Any, choices: Mapping[str, int]) -> str:
    if isinstance(value, str) and _TIME.fullmatch(value):
        return value
    raise Invalid("type", "time")


def _datetime(question: Question, value: Any, choices: Mapping[str, int]) -> str:
    if isinstance(value, str) and _DATETIME.fullmatch(value):
        try:
            return datetime.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise Invalid("type", "datetime")


def _choice_value(value: Any, key: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise Invalid("type", key)


def _select_one(question: Question, value: Any, choices: Mapping[str, int]) -> str:
    chosen = _choice_value(value, "select_one")
    if chosen not in choices:
        raise Invalid("choice", "choice", value=chosen)
    return chosen


def _select_many(question: Question, value: Any, choices: Mapping[str, int]) -> list[str] | None:
    if isinstance(value, str):
        items = value.split()
    elif isinstance(value, list | tuple):
        items = [_choice_value(v, question.type).strip() for v in value]
    else:
        raise Invalid("type", question.type)
    chosen = [item for item in items if item]
    seen: set[str] = set()
    for item in chosen:
        if item not in choices:
            raise Invalid("choice", "choice", value=item)
        if item in seen:
            raise Invalid("duplicate", "duplicate", value=item)
        seen.add(item)
    if question.type == "select_multiple":
        chosen.sort(key=choices.__getitem__)
    return chosen or None


def _acknowledge(question: Question, value: Any, choices: Mapping[str, int]) -> str:
    if value is True or value == "OK":
        return "OK"
    raise Invalid("type", "acknowledge")


def _geopoint(question: Question, value: Any, choices: Mapping[str, int]) -> str:
    if isinstance(value, str):
        parts: list[Any] = value.split()
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        raise Invalid("type", "geopoint")
    if not 2 <= len(parts) <= 4:
        raise Invalid("type", "geopoint")
    numbers = [_number(part, "geopoint") for part in parts]
    lat, lon = numbers[0], numbers[1]
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (len(numbers) == 4 and numbers[3] < 0):
        raise Invalid("type", "geopoint")
    return " ".join(part if isinstance(part, str) else str(part) for part in parts)


def _text(question: Question, value: Any, choices: Mapping[str, int]) -> str:
    if not isinstance(value, str):
        raise Invalid("type", "text")
    text: str = value.replace("\r\n", "\n").replace("\r", "\n") if "\r" in value else value
    if _CONTROL.search(text):
        raise Invalid("type", "control")
    if len(text) > MAX_TEXT:
        raise Invalid("too_long", "too_long", limit=MAX_TEXT)
    return text


def _file(question: Question, value: Any, choices: Mapping[str, int]) -> str:
    # A name the web layer gave the stored bytes, e.g. "<submission>/photo_ab12.jpg":
    # a relative path that cannot climb out of the attachments directory.
    if not isinstance(value, str):
        raise Invalid("type", "file")
    if (
        len(value) > MAX_FILENAME
        or "\\" in value
        or _CONTROL.search(value)
        or any(part in ("", ".", "..") for part in value.split("/"))
    ):
        raise Invalid("type", "file")
    return value


_COERCERS: dict[str, Callable[[Question, Any, Mapping[str, int]], Any]] = {
    "integer": _integer,
    "decimal": _decimal,
    "range": _range,
    "date": _date,
    "time": _time,
    "datetime": _datetime,
    "select_one": _select_one,
    "select_multiple": _select_many,
    "rank": _select_many,
    "acknowledge": _acknowledge,
    "geopoint": _geopoint,
    "text": _text,
    "barcode": _text,
    "hidden": _text,
    # Only ever a calculated question's posted value, which `once()` may keep.
    "calculate": _text,
    "image": _file,
    "file": _file,
}
