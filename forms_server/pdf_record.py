"""One submission as a printable record: pure data for ``templates/pdf/submission.html``.

:func:`record_view` walks the form, not the answers: every answered question appears
once, where the form puts it, with its label and its answer in the chosen languages
(choices by their labels). Groups become headed sections, repeats become tables (one
small table per entry when a repeat has too many columns for A4), calculations are shown
with their values. Notes, unanswered and irrelevant questions (whose stored answer is
None) are left out. Images are embedded only when the answer names a file of the
attachments store (see :func:`forms_server.pdf.attachment_url`). Answers to questions no
longer in the form (an older version's) are listed at the end under their names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from forms_server.attachments import path_of
from forms_server.model import Choice, Form, Question
from forms_server.pdf import attachment_url
from forms_server.reviews import STATE_LABELS, Edit, ReviewEvent
from forms_server.storage import SubmissionRecord, local_time

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: One text per language shown (one only, when every language says the same).
Texts = tuple[str, ...]
#: A repeat with more answered columns than this is printed one entry at a time.
MAX_TABLE_COLUMNS = 6
#: Changes listed per edit and edits listed per record; the rest are counted.
MAX_CHANGES = 30
MAX_EDITS = 50


@dataclass(frozen=True)
class Value:
    texts: Texts
    #: The ``attachment:`` URL of an image to embed.
    image: str | None = None
    #: An image or file answer whose file is not in the attachments store.
    missing: bool = False


@dataclass(frozen=True)
class Field:
    name: str
    label: Texts
    value: Value
    calculated: bool = False
    kind: str = "field"


@dataclass(frozen=True)
class Table:
    name: str
    label: Texts
    columns: tuple[Texts, ...]
    #: (entry number such as ``2`` or ``2.1``, one cell per column; None when unanswered)
    rows: tuple[tuple[str, tuple[Value | None, ...]], ...]
    cards: bool = False
    kind: str = "table"


@dataclass(frozen=True)
class Section:
    name: str
    label: Texts
    items: tuple[Field | Table | Section, ...]
    kind: str = "section"


Item = Field | Table | Section


@dataclass(frozen=True)
class Change:
    label: Texts
    old: Value
    new: Value


@dataclass(frozen=True)
class HistoryEntry:
    at: str
    actor: str
    changes: tuple[Change, ...]
    #: Changes of this edit not listed.
    more: int = 0


@dataclass(frozen=True)
class ReviewEntry:
    at: str
    actor: str
    status: Texts
    comment: str


@dataclass(frozen=True)
class RecordView:
    langs: tuple[str, ...]
    form_id: str
    form_title: Texts
    form_version: str
    current_version: str
    submission_id: str
    instance_name: str
    submitted_by: str
    started_at: str
    completed_at: str
    received_at: str
    review_status: Texts
    items: tuple[Item, ...]
    #: Answers to questions the current form no longer has.
    extra: tuple[Field, ...]
    history: tuple[HistoryEntry, ...]
    #: Edits not listed (the oldest).
    earlier_edits: int
    reviews: tuple[ReviewEntry, ...]
    generated_at: str
    generated_by: str
    timezone: str


def record_view(
    form: Form,
    record: SubmissionRecord,
    *,
    langs: Sequence[str],
    history: Sequence[Edit] = (),
    events: Sequence[ReviewEvent] = (),
    zone: tzinfo,
    data_dir: Path,
    generated_by: str = "",
    now: datetime,
) -> RecordView:
    """What the PDF of ``record`` shows, in ``langs`` (one language, or several together)."""
    walker = _Walker(form, tuple(langs), Path(data_dir))
    walker.root = record.answers
    items = walker.items(form.questions, record.answers)
    known = {q.name for q in form.walk()}
    extra = tuple(
        Field(name, (name,), walker.plain(value))
        for name, value in record.answers.items()
        if name not in known and not _empty(value)
    )
    edits = list(history)[-MAX_EDITS:]
    status = STATE_LABELS.get(record.review_status, {})
    return RecordView(
        langs=tuple(langs),
        form_id=form.id,
        form_title=walker.texts(form.title),
        form_version=record.form_version,
        current_version=form.version,
        submission_id=record.id,
        instance_name=record.instance_name or "",
        submitted_by=record.submitted_by or "",
        started_at=local_time(record.started_at, zone),
        completed_at=local_time(record.completed_at, zone),
        received_at=local_time(record.received_at, zone),
        review_status=_uniq(tuple(status.get(lang, record.review_status) for lang in langs)),
        items=items,
        extra=extra,
        history=tuple(walker.edit(edit, zone) for edit in reversed(edits)),
        earlier_edits=max(0, len(history) - MAX_EDITS),
        reviews=tuple(_review(event, langs, zone) for event in events),
        generated_at=now.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        generated_by=generated_by,
        timezone=str(getattr(zone, "key", zone)),
    )


def format_number(value: Any) -> str:
    """A number as people write it: no ``.0`` on whole numbers, every decimal kept,
    thousands grouped from 10,000 on (so a year stays 2026)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not value.is_integer():
        text = f"{value:,}"
        return text if abs(value) >= 10_000 else text.replace(",", "")
    whole = int(value)
    return f"{whole:,}" if abs(whole) >= 10_000 else str(whole)


class _Walker:
    def __init__(self, form: Form, langs: tuple[str, ...], data_dir: Path) -> None:
        self.form = form
        self.langs = langs
        self.data_dir = data_dir
        #: The answers ``${name}`` in labels is looked up in: the root's, once known.
        self.root: Mapping[str, Any] = {}

    def texts(self, text: Any) -> Texts:
        return _uniq(tuple(self.form.text(text, lang) for lang in self.langs))

    def label(self, question: Question, scope: Sequence[Mapping[str, Any]] = ()) -> Texts:
        """The label (a calculation's description, else its name), ``${name}`` filled in."""
        text = question.label or question.description
        if text is None:
            return (question.name,)
        scopes = [*scope, self.root]
        return _uniq(
            tuple(self._fill(self.form.text(text, lang), lang, scopes) for lang in self.langs)
        )

    def _fill(self, text: str, lang: str, scopes: Sequence[Mapping[str, Any]]) -> str:
        """``${name}`` replaced by that answer as text (… when unanswered)."""

        def answer(match: re.Match[str]) -> str:
            name = match[1]
            question = self.form.by_name.get(name)
            value = next((s[name] for s in scopes if name in s), None)
            if question is None or _empty(value) or question.type in ("image", "file"):
                return "…"
            single = _Walker(self.form, (lang,), self.data_dir)
            return single.value(question, value).texts[0]

        return _REFERENCE.sub(answer, text) if "${" in text else text

    def items(self, questions: Sequence[Question], answers: Mapping[str, Any]) -> tuple[Item, ...]:
        found: list[Item] = []
        for question in questions:
            if question.type == "group":
                inner = self.items(question.questions, answers)
                if inner and question.label is not None:
                    found.append(Section(question.name, self.label(question), inner))
                else:
                    found.extend(inner)
            elif question.type == "repeat":
                entries = _entries(answers.get(question.name))
                found.extend(self.tables(question, [(str(i), e) for i, e in entries]))
            elif question.has_answer and not _empty(answers.get(question.name)):
                found.append(
                    Field(
                        question.name,
                        self.label(question, [answers]),
                        self.value(question, answers[question.name]),
                        calculated=question.type in ("calculate", "hidden"),
                    )
                )
        return tuple(found)

    def tables(self, repeat: Question, entries: list[tuple[str, Mapping[str, Any]]]) -> list[Table]:
        """The table of a repeat's entries, then one per repeat nested in it."""
        columns = [
            q
            for q in _level(repeat.questions)
            if any(not _empty(e.get(q.name)) for _, e in entries)
        ]
        tables: list[Table] = []
        if columns:
            rows = tuple(
                (
                    number,
                    tuple(
                        None if _empty(entry.get(q.name)) else self.value(q, entry[q.name])
                        for q in columns
                    ),
                )
                for number, entry in entries
            )
            tables.append(
                Table(
                    repeat.name,
                    self.label(repeat),
                    tuple(self.label(q) for q in columns),
                    rows,
                    cards=len(columns) > MAX_TABLE_COLUMNS,
                )
            )
        for nested in _nested_repeats(repeat.questions):
            inner = [
                (f"{number}.{i}", child)
                for number, entry in entries
                for i, child in _entries(entry.get(nested.name))
            ]
            if inner:
                tables.extend(self.tables(nested, inner))
        return tables

    def value(self, question: Question, value: Any) -> Value:
        kind = question.type
        if kind in ("image", "file"):
            url = attachment_url(self.data_dir, value)
            if url is not None:
                return Value((), image=url)
            name = value.rsplit("/", 1)[-1] if isinstance(value, str) else ""
            stored = kind == "file" and isinstance(value, str) and _stored(self.data_dir, value)
            return Value((name if stored else _plain(value),), missing=not stored)
        if kind == "select_one":
            return Value(self._choice_texts([value], question))
        if kind in ("select_multiple", "rank") and isinstance(value, list):
            return Value(self._choice_texts(value, question, ranked=kind == "rank"))
        if kind in ("integer", "decimal", "range"):
            return Value((format_number(value),))
        if kind == "acknowledge":
            return Value(
                _uniq(
                    tuple("已确认" if lang.startswith("zh") else "Confirmed" for lang in self.langs)
                )
            )
        if kind == "date" and isinstance(value, str):
            if "year" in question.appearance:
                return Value((value[:4],))
            if "month-year" in question.appearance:
                return Value((value[:7],))
        if kind == "datetime" and isinstance(value, str):
            return Value((value.replace("T", " ")[:16],))
        return Value((_plain(value),))

    def plain(self, value: Any) -> Value:
        return Value((_plain(value),))

    def _choice_texts(self, values: list[Any], question: Question, ranked: bool = False) -> Texts:
        choices = {c.value: c for c in question.choices}
        texts = []
        for lang in self.langs:
            zh = lang.startswith("zh")
            labels = [_choice_label(self.form, choices.get(str(v)), v, lang) for v in values]
            if ranked:
                labels = [f"{i}. {label}" for i, label in enumerate(labels, start=1)]
            texts.append(
                ("；" if ranked else "、").join(labels)
                if zh
                else "; ".join(labels)
                if ranked
                else ", ".join(labels)
            )
        return _uniq(tuple(texts))

    def edit(self, edit: Edit, zone: tzinfo) -> HistoryEntry:
        changes = [
            Change(
                self._path_label(c.path, c.name),
                self._history_value(c.name, c.old),
                self._history_value(c.name, c.new),
            )
            for c in edit.changes
        ]
        return HistoryEntry(
            local_time(edit.at, zone),
            edit.actor or "",
            tuple(changes[:MAX_CHANGES]),
            more=max(0, len(changes) - MAX_CHANGES),
        )

    def _history_value(self, name: str, value: Any) -> Value:
        question = self.form.by_name.get(name)
        if _empty(value):
            return Value(("—",))
        if question is None or question.type in ("image", "file"):
            return self.plain(value)
        return self.value(question, value)

    def _path_label(self, path: str, name: str) -> Texts:
        """``children.1.child_age`` → 随迁子女 2 · 孩子年龄."""
        parts = path.split(".")
        steps = list(zip(parts[:-1:2], parts[1:-1:2], strict=True)) if len(parts) % 2 else []
        prefix: list[Texts] = []
        for repeat, index in steps:
            question = self.form.by_name.get(repeat)
            label = self.label(question) if question else (repeat,)
            number = str(int(index) + 1) if index.isdigit() else index
            prefix.append(tuple(f"{text} {number}" for text in label))
        question = self.form.by_name.get(name)
        own = self.label(question) if question else (name,)
        texts = []
        for i in range(len(self.langs)):
            chain = [step[min(i, len(step) - 1)] for step in [*prefix, own]]
            texts.append(" · ".join(chain))
        return _uniq(tuple(texts))


def _review(event: ReviewEvent, langs: Sequence[str], zone: tzinfo) -> ReviewEntry:
    labels = STATE_LABELS.get(event.status or "", {})
    status = (
        _uniq(tuple(labels.get(lang, event.status or "") for lang in langs)) if event.status else ()
    )
    return ReviewEntry(local_time(event.at, zone), event.actor or "", status, event.comment or "")


def _level(questions: Sequence[Question]) -> list[Question]:
    """The answer-bearing questions of one repeat level, through its groups."""
    found: list[Question] = []
    for question in questions:
        if question.type == "group":
            found.extend(_level(question.questions))
        elif question.has_answer:
            found.append(question)
    return found


def _nested_repeats(questions: Sequence[Question]) -> list[Question]:
    found: list[Question] = []
    for question in questions:
        if question.type == "group":
            found.extend(_nested_repeats(question.questions))
        elif question.type == "repeat":
            found.append(question)
    return found


def _entries(value: Any) -> list[tuple[int, Mapping[str, Any]]]:
    if not isinstance(value, list):
        return []
    return [(i, entry) for i, entry in enumerate(value, start=1) if isinstance(entry, Mapping)]


def _choice_label(form: Form, choice: Choice | None, value: Any, lang: str) -> str:
    return form.text(choice.label, lang) if choice is not None else _plain(value)


def _stored(data_dir: Path, relative: str) -> bool:
    return path_of(data_dir, relative) is not None


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_number(value)
    return json.dumps(value, ensure_ascii=False)


def _uniq(texts: Texts) -> Texts:
    """The texts in order without repeats; ``("", "")`` stays one empty text."""
    return tuple(dict.fromkeys(texts)) or ("",)
