"""Stored answers as people read them: labels, choice labels, sections, entries, diffs.

Pure: a form, answers and a language in, a tree of labelled items out, for the staff's
submission page and the collector's view (templates turn the tree into HTML and escape
every text). Unanswered and irrelevant questions (stored as None) are left out; a group
becomes a section, a repeat a list of numbered entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from forms_server.i18n import translator
from forms_server.model import Form, Question
from forms_server.reviews import Change

Kind = Literal["text", "multiline", "choices", "ranked", "image", "file"]


@dataclass(frozen=True)
class Answer:
    key: str
    label: str
    kind: Kind
    #: The answer as one text (choices joined); the file's relative name for a file.
    text: str
    #: Choice labels of a select_multiple or rank, in order.
    items: tuple[str, ...] = ()
    sensitive: bool = False


@dataclass(frozen=True)
class Section:
    key: str
    label: str
    kind: Literal["group", "repeat", "entry"]
    children: tuple[Answer | Section, ...] = ()
    #: The entry's number, from 1, for ``kind == "entry"``.
    number: int = 0


@dataclass(frozen=True)
class ChangeRow:
    """One changed answer of an edit: where it is (labels) and its old and new text."""

    key: str
    #: Enclosing repeats as (label, entry number), outermost first.
    where: tuple[tuple[str, int], ...]
    label: str
    old: str
    new: str
    old_file: str | None = None
    new_file: str | None = None


@dataclass
class _Scope:
    """The answers visible from a question: its own level and each enclosing one."""

    levels: list[Mapping[str, Any]] = field(default_factory=list)

    def find(self, name: str) -> Any:
        for level in reversed(self.levels):
            if name in level:
                return level[name]
        return None


def answer_tree(form: Form, answers: Mapping[str, Any], lang: str) -> list[Answer | Section]:
    """The answered questions of a submission, in document order."""
    return _level(form, form.questions, answers, lang, "", _Scope([answers]))


def format_value(form: Form, question: Question | None, value: Any, lang: str) -> str:
    """One answer as text: choice labels, whole numbers without ``.0``; "" for None."""
    if value is None:
        return ""
    if question is None:
        return _plain(value)
    if question.type in ("select_multiple", "rank") and isinstance(value, list):
        return _joiner(lang).join(_choice_label(form, question, v, lang) for v in value)
    if question.type == "select_one":
        return _choice_label(form, question, value, lang)
    if question.type == "acknowledge":
        return translator(lang)("Confirmed")
    if question.type == "datetime" and isinstance(value, str):
        return value.replace("T", " ")
    return _plain(value)


def question_label(form: Form, question: Question, lang: str, scope: _Scope | None = None) -> str:
    """The label (a calculation's description, else its name), ``${name}`` filled in."""
    text = form.text(question.label, lang) or form.text(question.description, lang)
    if not text:
        return question.name
    return _fill(form, text, lang, scope or _Scope())


def change_rows(form: Form, changes: tuple[Change, ...], lang: str) -> list[ChangeRow]:
    """An edit's changes with labels: ``children.0.child_age`` under "Children, entry 1"."""
    rows: list[ChangeRow] = []
    for change in changes:
        parts = change.path.split(".")
        where: list[tuple[str, int]] = []
        for repeat_name, index in zip(parts[0:-1:2], parts[1:-1:2], strict=False):
            repeat = form.by_name.get(repeat_name)
            label = question_label(form, repeat, lang) if repeat else repeat_name
            where.append((label, int(index) + 1 if index.isdigit() else 0))
        question = form.by_name.get(change.name)
        files = question is not None and question.type in ("image", "file")
        rows.append(
            ChangeRow(
                key=change.path,
                where=tuple(where),
                label=question_label(form, question, lang) if question else change.name,
                old=format_value(form, question, change.old, lang),
                new=format_value(form, question, change.new, lang),
                old_file=change.old if files and isinstance(change.old, str) else None,
                new_file=change.new if files and isinstance(change.new, str) else None,
            )
        )
    return rows


def to_raw(value: Any) -> Any:
    """Stored answers as the form page shows them: whole-number floats as integers
    (``6500.0`` is shown as ``6500``), lists and entries converted throughout."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [to_raw(item) for item in value]
    if isinstance(value, dict):
        return {key: to_raw(item) for key, item in value.items()}
    return value


def _level(
    form: Form,
    questions: tuple[Question, ...],
    answers: Mapping[str, Any],
    lang: str,
    prefix: str,
    scope: _Scope,
) -> list[Answer | Section]:
    out: list[Answer | Section] = []
    for q in questions:
        if q.type == "group":
            children = _level(form, q.questions, answers, lang, prefix, scope)
            if children:
                label = question_label(form, q, lang, scope) if q.label else ""
                out.append(Section(prefix + q.name, label, "group", tuple(children)))
        elif q.type == "repeat":
            found = answers.get(q.name)
            entries = found if isinstance(found, list) else []
            shown: list[Answer | Section] = []
            for i, entry in enumerate(entries):
                if not isinstance(entry, Mapping):
                    continue
                key = f"{prefix}{q.name}.{i}"
                inner = _Scope([*scope.levels, entry])
                children = _level(form, q.questions, entry, lang, key + ".", inner)
                shown.append(Section(key, "", "entry", tuple(children), number=i + 1))
            if shown:
                label = question_label(form, q, lang, scope)
                out.append(Section(prefix + q.name, label, "repeat", tuple(shown)))
        elif q.has_answer and answers.get(q.name) is not None:
            out.append(_answer(form, q, answers[q.name], lang, prefix, scope))
    return out


def _answer(form: Form, q: Question, value: Any, lang: str, prefix: str, scope: _Scope) -> Answer:
    label = question_label(form, q, lang, scope)
    key = prefix + q.name
    if q.type in ("image", "file"):
        kind: Kind = "image" if q.type == "image" else "file"
        return Answer(key, label, kind, str(value), sensitive=q.sensitive)
    if q.type in ("select_multiple", "rank") and isinstance(value, list):
        items = tuple(_choice_label(form, q, v, lang) for v in value)
        kind = "ranked" if q.type == "rank" else "choices"
        return Answer(key, label, kind, _joiner(lang).join(items), items, q.sensitive)
    text = format_value(form, q, value, lang)
    kind = "multiline" if "\n" in text else "text"
    return Answer(key, label, kind, text, sensitive=q.sensitive)


def _choice_label(form: Form, question: Question, value: Any, lang: str) -> str:
    for choice in question.choices:
        if choice.value == str(value):
            return form.text(choice.label, lang) or choice.value
    # A choice removed in a later version of the form: show what was stored.
    return str(value)


def _fill(form: Form, text: str, lang: str, scope: _Scope) -> str:
    """``${name}`` in a label replaced by that answer as text (… when unknown)."""
    if "${" not in text:
        return text
    head, *parts = text.split("${")
    out = [head]
    for part in parts:
        name, sep, rest = part.partition("}")
        if not sep:
            out.append("${" + part)
            continue
        question = form.by_name.get(name)
        value = scope.find(name) if question else None
        out.append((format_value(form, question, value, lang) or "…") + rest)
    return "".join(out)


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(_plain(v) for v in value)
    return str(value)


def _joiner(lang: str) -> str:
    return "、" if lang.startswith("zh") else ", "
