"""Compiled references: a question's answer from a context, as the compiler binds them.

Each function here computes what `expressions._lookup` (or `_dot_value`) computes
for a reference whose field, and the question it is seen from, are known when
compiling: the question's place is worked out once, and the commonest answers (none,
a text, a number) are turned into values without a further call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from forms_server.expressions import (
    _UNSET,
    Compiled,
    Context,
    Field,
    _collect,
    _equal,
    _lookup,
)
from forms_server.functions import _tokens
from forms_server.values import Scalar, Value, _dated_answer, answer_value, to_number

__all__ = [
    "Answer",
    "answer_ref",
    "between_answer",
    "compare_answer",
    "entry_compare",
    "entry_text_equals",
    "every_ref",
    "free_compare",
    "free_ref",
    "free_text_equals",
    "no_dot",
    "scoped_ref",
    "selected_answer",
    "text_equals",
]

_DATED = frozenset({"date", "datetime"})
_NUMBERS = frozenset({"integer", "decimal", "range"})
_LISTS = frozenset({"select_multiple", "rank"})
#: Types whose answer is not its value when it is a text.
_NOT_TEXT = frozenset({"repeat", "date", "datetime"})


def _is_mapping(value: Any) -> bool:
    return isinstance(value, Mapping)


def answer_ref(name: str, type_: str, dot: bool = False) -> Compiled:
    """A question outside repeats: its answer in the context's answers.

    With ``dot``, the question's own answer as ``.``: the context's ``dot`` when it
    has one.
    """
    if type_ in _NUMBERS:

        def number(ctx: Context) -> Value:
            if dot:
                current = ctx.dot
                if current is not _UNSET:
                    return answer_value(current, type_)
            raw = ctx.answers.get(name)
            if raw is None:
                return ""
            kind = type(raw)
            if kind is float:
                number: float = raw
                return number
            if kind is int:
                try:
                    return float(raw)
                except OverflowError:
                    pass
            return answer_value(raw, type_)

        return number
    if type_ in _LISTS:

        def chosen(ctx: Context) -> Value:
            if dot:
                current = ctx.dot
                if current is not _UNSET:
                    return answer_value(current, type_)
            raw = ctx.answers.get(name)
            if raw is None:
                return ""
            if type(raw) is list:
                try:
                    return " ".join(raw)  # texts, as the choices' values are
                except TypeError:
                    pass
            return answer_value(raw, type_)

        return chosen
    plain = type_ not in _DATED  # a text answer is its own value

    def ref(ctx: Context) -> Value:
        if dot:
            current = ctx.dot
            if current is not _UNSET:
                return answer_value(current, type_)
        raw = ctx.answers.get(name)
        if raw is None:
            return ""
        if type(raw) is str:
            return raw if plain or not raw else _dated_answer(raw)
        return answer_value(raw, type_)

    return ref


def text_equals(name: str, type_: str, text: str, negate: bool) -> Compiled:
    """``${name} = 'text'`` (or ``!=``) for a question outside repeats."""
    plain = type_ not in _DATED
    unanswered = (text == "") is not negate

    def equals(ctx: Context) -> Value:
        raw = ctx.answers.get(name)
        if plain and type(raw) is str:
            return (raw == text) is not negate
        if raw is None:
            return unanswered
        a = answer_value(raw, type_)
        return (a == text if type(a) is str else _equal(a, text)) is not negate

    return equals


def every_ref(repeat: str, name: str, type_: str) -> Compiled:
    """A question of a repeat outside repeats (or the repeat's entries, for type ``''``),
    seen from outside it: every entry's answer."""
    plain = type_ not in _DATED

    def every(ctx: Context) -> Value:
        entries = ctx.answers.get(repeat)
        if type(entries) is not list and not isinstance(entries, list | tuple):
            return ()
        if not type_:
            return tuple(["" for entry in entries if type(entry) is dict or _is_mapping(entry)])
        return tuple(
            [
                raw if type(raw := e.get(name)) is str and plain else answer_value(raw, type_)
                for e in entries
                if type(e) is dict or _is_mapping(e)
            ]
        )

    return every


def scoped_ref(
    name: str, levels: tuple[str, ...], shared: int, type_: str, dot: str | None = None
) -> Compiled:
    """A question inside repeats (or a repeat) seen from a question sharing ``shared`` levels.

    The context's index fixes the entry of each shared level; the levels beyond
    contribute all their entries, which makes a node-set. With ``dot`` (the type of
    the question), the question's own answer as ``.``.
    """
    depth = len(levels)
    if depth == 1 and shared == 0 and dot is None:
        return every_ref(levels[0], name, type_)
    if depth == 1 and shared == 1 and type_:
        return _entry_ref(levels[0], name, type_, dot)
    plain = type_ not in _DATED
    dot_type = dot or ""

    def ref(ctx: Context) -> Value:
        if dot is not None:
            current = ctx.dot
            if current is not _UNSET:
                return answer_value(current, dot_type)
        index = ctx.index
        fixed = shared if shared <= len(index) else len(index)
        if fixed < depth:
            found: list[Scalar] = []
            chosen: list[int | None] = [*index[:fixed], *([None] * (depth - fixed))]
            _collect(ctx.answers, levels, chosen, 0, name, type_, found)
            return tuple(found)
        level: Mapping[str, Any] = ctx.answers
        for k in range(depth):
            entries = level.get(levels[k])
            if type(entries) is not list and not isinstance(entries, list | tuple):
                return ""
            i = index[k]
            if i < 0 or i >= len(entries):
                return ""
            entry = entries[i]
            if type(entry) is not dict and not isinstance(entry, Mapping):
                return ""
            level = entry
        if not type_:
            return ""
        raw = level.get(name)
        if raw is None:
            return ""
        if plain and type(raw) is str:
            return raw
        return answer_value(raw, type_)

    return ref


def _entry_ref(repeat: str, name: str, type_: str, dot: str | None) -> Compiled:
    """`scoped_ref` of a question in a repeat outside repeats, seen from that repeat."""
    plain = type_ not in _DATED
    numbers = type_ in _NUMBERS
    dot_type = dot or ""
    every = every_ref(repeat, name, type_)

    def ref(ctx: Context) -> Value:
        if dot is not None:
            current = ctx.dot
            if current is not _UNSET:
                return answer_value(current, dot_type)
        index = ctx.index
        if not index:
            return every(ctx)
        entries = ctx.answers.get(repeat)
        if type(entries) is not list and not isinstance(entries, list | tuple):
            return ""
        i = index[0]
        if i < 0 or i >= len(entries):
            return ""
        entry = entries[i]
        if type(entry) is not dict and not isinstance(entry, Mapping):
            return ""
        raw = entry.get(name)
        if raw is None:
            return ""
        kind = type(raw)
        if kind is str and plain:
            text: str = raw
            return text
        if kind is int and numbers:
            try:
                return float(raw)
            except OverflowError:
                pass
        return answer_value(raw, type_)

    return ref


def entry_text_equals(
    ref: Compiled, name: str, fields: Mapping[str, Field], text: str, negate: bool
) -> Compiled:
    """``${name} = 'text'`` (or ``!=``) for ``ref``, a question of a repeat outside repeats
    seen from inside it: a text answer in the context's entry is read without a call."""
    field = fields[name]
    (repeat,) = field.repeats
    plain = field.type not in _DATED

    def equals(ctx: Context) -> Value:
        index = ctx.index
        if index:
            entries = ctx.answers.get(repeat)
            if type(entries) is list:
                i = index[0]
                if 0 <= i < len(entries):
                    entry = entries[i]
                    if type(entry) is dict:
                        raw = entry.get(name)
                        if plain and type(raw) is str:
                            return (raw == text) is not negate
        a = ref(ctx)  # anything else, as the reference reads it
        return (a == text if type(a) is str else _equal(a, text)) is not negate

    return equals


def entry_compare(
    ref: Compiled,
    name: str,
    fields: Mapping[str, Field],
    compare: Callable[[float, float], bool],
    b: float,
) -> Compiled:
    """``${name} < b`` and the like for ``ref``, a question of a repeat outside repeats
    seen from inside it: a number in the context's entry is read without a call."""
    (repeat,) = fields[name].repeats

    def compared(ctx: Context) -> Value:
        index = ctx.index
        if index:
            entries = ctx.answers.get(repeat)
            if type(entries) is list:
                i = index[0]
                if 0 <= i < len(entries):
                    entry = entries[i]
                    if type(entry) is dict:
                        raw: Any = entry.get(name)
                        kind = type(raw)
                        if kind is float:
                            return compare(raw, b)
                        if kind is int:
                            try:
                                return compare(float(raw), b)
                            except OverflowError:
                                pass
        v = ref(ctx)  # anything else, as the reference reads it
        return compare(v if type(v) is float else to_number(v), b)

    return compared


# -- a question outside repeats inside an operation ---------------------------------------
#
# The operations below read the answer themselves, as `answer_ref` reads it: for a
# relevance, constraint or calculation that is one call instead of several.


class Answer(NamedTuple):
    """A reference to a question outside repeats, or that question's ``.``."""

    name: str
    type: str
    dot: bool


def _number_of(raw: Any, type_: str) -> float:
    return to_number(answer_value(raw, type_))


def compare_answer(answer: Answer, compare: Callable[[float, float], bool], b: float) -> Compiled:
    """``${name} < b`` and the like, with a constant number ``b``."""
    name, type_, dot = answer
    plain = type_ not in _DATED

    def compared(ctx: Context) -> Value:
        if dot and ctx.dot is not _UNSET:
            return compare(_number_of(ctx.dot, type_), b)
        raw: Any = ctx.answers.get(name)
        kind = type(raw)
        if kind is float:
            return compare(raw, b)
        if raw is None:
            return False  # NaN: every comparison is false
        if kind is str and plain:
            return compare(to_number(raw), b)
        return compare(_number_of(raw, type_), b)

    return compared


def between_answer(
    answer: Answer,
    first: Callable[[float, float], bool],
    a: float,
    second: Callable[[float, float], bool],
    b: float,
) -> Compiled:
    """``. >= a and . <= b`` and the like: one answer, read once, two comparisons."""
    name, type_, dot = answer
    plain = type_ not in _DATED

    def between(ctx: Context) -> Value:
        if dot and ctx.dot is not _UNSET:
            number = _number_of(ctx.dot, type_)
        else:
            raw: Any = ctx.answers.get(name)
            kind = type(raw)
            if kind is float:
                number = raw
            elif raw is None:
                return False
            elif kind is str and plain:
                number = to_number(raw)
            else:
                number = _number_of(raw, type_)
        return first(number, a) and second(number, b)

    return between


def selected_answer(answer: Answer, needle: str) -> Compiled:
    """``selected(${name}, 'needle')`` for a needle without white space."""
    name, type_, dot = answer

    def selected(ctx: Context) -> Value:
        if dot and ctx.dot is not _UNSET:
            v = answer_value(ctx.dot, type_)
        else:
            raw = ctx.answers.get(name)
            if type(raw) is list:
                if needle in raw:
                    return True  # one of the values, and a whole token of their text
                try:
                    v = " ".join(raw)
                except TypeError:
                    v = answer_value(raw, type_)
            else:
                v = answer_value(raw, type_)
        if type(v) is str and "\t" not in v and "\n" not in v and "\r" not in v:
            return needle in v.split(" ")
        return needle in _tokens(v)

    return selected


# -- the same for any context (not bound) ------------------------------------------------
#
# The reference's field is looked up in the context, and anything but a text or a
# number outside repeats is read by ``ref``, the reference compiled alone.


def free_text_equals(name: str, ref: Compiled, text: str, negate: bool) -> Compiled:
    """``${name} = 'text'`` (or ``!=``)."""

    def equals(ctx: Context) -> Value:
        field = ctx.fields.get(name)
        if field is not None and not field.repeats and field.type not in _NOT_TEXT:
            raw = ctx.answers.get(name)
            if type(raw) is str:
                return (raw == text) is not negate
        a = ref(ctx)
        return (a == text if type(a) is str else _equal(a, text)) is not negate

    return equals


def free_compare(
    name: str, ref: Compiled, compare: Callable[[float, float], bool], b: float
) -> Compiled:
    """``${name} < b`` and the like, with a constant number ``b``."""

    def compared(ctx: Context) -> Value:
        field = ctx.fields.get(name)
        if field is not None and not field.repeats and field.type in _NUMBERS:
            raw: Any = ctx.answers.get(name)
            kind = type(raw)
            if kind is float:
                return compare(raw, b)
            if kind is int:
                try:
                    return compare(float(raw), b)
                except OverflowError:
                    pass
        v = ref(ctx)
        return compare(v if type(v) is float else to_number(v), b)

    return compared


def free_ref(name: str) -> Compiled:
    """``${name}`` for any context: the field looked up in it."""

    def ref(ctx: Context) -> Value:
        field = ctx.fields.get(name)
        if field is None:
            return answer_value(ctx.answers.get(name), "")
        if not field.repeats and field.type != "repeat":
            return answer_value(ctx.answers.get(name), field.type)
        return _lookup(name, ctx)

    return ref


def no_dot(ctx: Context) -> Value:
    """``.`` where no question is current."""
    return answer_value(ctx.dot, "") if ctx.dot is not _UNSET else ""
