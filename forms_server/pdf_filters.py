"""Which submissions of a form a summary report or a batch takes: :class:`Filters`.

A period of completion dates (inclusive, in the organisation's time zone; a submission
without a completion time counts by when it was received), a review state, and one
``select_one`` answer (a question outside repeats and not sensitive). Deleted
submissions are never taken. :func:`where` gives the SQL over the form's typed table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta, tzinfo
from typing import Any

from forms_server.model import Form, Question
from forms_server.queries import day_start
from forms_server.research_sql import quote
from forms_server.reviews import REVIEW_STATES, STATE_LABELS
from forms_server.schema import SUBMISSIONS, table_name
from forms_server.storage import Storage


class FilterError(ValueError):
    """A filter that cannot be applied; the message says which and how to fix it."""


@dataclass(frozen=True)
class Filters:
    """Which submissions of a form a report or a batch takes; every part optional."""

    #: First and last completion day (inclusive), in the organisation's time zone.
    start: date | None = None
    end: date | None = None
    status: str | None = None
    #: A top-level ``select_one`` question and the choice its answer must be.
    answer: tuple[str, str] | None = None

    @classmethod
    def parse(
        cls,
        form: Form,
        *,
        start: str | None = None,
        end: str | None = None,
        status: str | None = None,
        answer: str | None = None,
    ) -> Filters:
        """Filters from text (``2026-01-01``, ``approved``, ``sector:construction``)."""
        first, last = _day(start, "from"), _day(end, "to")
        if first and last and first > last:
            raise FilterError(f"the period starts ({first}) after it ends ({last})")
        if status and status not in REVIEW_STATES:
            raise FilterError(
                f"unknown review status {status!r}: use one of {', '.join(REVIEW_STATES)}"
            )
        chosen: tuple[str, str] | None = None
        if answer:
            name, sep, value = answer.partition(":")
            question = form.by_name.get(name.strip())
            if not sep or question is None:
                raise FilterError(
                    f"filter {answer!r}: write question:choice, e.g. sector:construction"
                )
            if not can_filter(form, question):
                raise FilterError(
                    f"filter {answer!r}: only a select_one question outside repeats and not "
                    "sensitive can filter"
                )
            if value.strip() not in {c.value for c in question.choices}:
                raise FilterError(f"filter {answer!r}: '{value.strip()}' is not a choice of {name}")
            chosen = (question.name, value.strip())
        return cls(first, last, status or None, chosen)

    def to_json(self) -> dict[str, str]:
        out = {}
        if self.start:
            out["from"] = self.start.isoformat()
        if self.end:
            out["to"] = self.end.isoformat()
        if self.status:
            out["status"] = self.status
        if self.answer:
            out["filter"] = f"{self.answer[0]}:{self.answer[1]}"
        return out


def where(form: Form, filters: Filters, zone: tzinfo) -> tuple[str, list[Any]]:
    """``FROM … WHERE …`` of the form's typed rows (alias ``t``) that ``filters`` take."""
    conditions = ["s.deleted = 0", "s.form_id = ?"]
    params: list[Any] = [form.id]
    moment = "coalesce(t._completed_at, t._received_at)"
    if filters.start:
        conditions.append(f"{moment} >= ?")
        params.append(day_start(filters.start, zone))
    if filters.end:
        conditions.append(f"{moment} < ?")
        params.append(day_start(filters.end + timedelta(days=1), zone))
    if filters.status:
        conditions.append("t._review_status = ?")
        params.append(filters.status)
    if filters.answer:
        conditions.append(f"t.{quote(filters.answer[0])} = ?")
        params.append(filters.answer[1])
    sql = (
        f"FROM {quote(table_name(form.id))} AS t JOIN {SUBMISSIONS} AS s ON s.id = t._id"
        f" WHERE {' AND '.join(conditions)}"
    )
    return sql, params


def matching_ids(storage: Storage, form: Form, filters: Filters, zone: tzinfo) -> list[str]:
    """The ids of the submissions ``filters`` take, oldest completion first."""
    sql, params = where(form, filters, zone)
    rows = storage.query(
        f"SELECT t._id AS id {sql} ORDER BY coalesce(t._completed_at, t._received_at), t._id",
        params,
    )
    return [str(row["id"]) for row in rows]


def can_filter(form: Form, question: Question) -> bool:
    """Whether answers to ``question`` may choose the submissions of a PDF: a
    select_one outside repeats, neither sensitive nor inside a sensitive container."""
    return (
        question.type == "select_one" and not question.repeats and not is_sensitive(form, question)
    )


def is_sensitive(form: Form, question: Question) -> bool:
    """Sensitive itself, or inside a sensitive group or repeat."""
    return question.sensitive or any(form.by_name[p].sensitive for p in question.parents)


def _day(value: str | None, what: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise FilterError(f"'{what}' must be a date as YYYY-MM-DD, not {value[:30]!r}") from None


def filters_text(form: Form, filters: Filters, langs: Sequence[str], w: Any) -> list[str]:
    """The filters of a report as lines for people: period, review state, answer."""
    lines = []
    if filters.start and filters.end:
        period = w("{start} to {end}", start=filters.start, end=filters.end)
    elif filters.start:
        period = w("from {start}", start=filters.start)
    elif filters.end:
        period = w("until {end}", end=filters.end)
    else:
        period = w("all dates")
    lines.append(f"{w('Period')}: {period} {w('(by date of completion)')}")
    if filters.status:
        labels = STATE_LABELS.get(filters.status, {})
        status = " / ".join(dict.fromkeys(labels.get(lang, filters.status) for lang in langs))
        lines.append(w("Review status: {status}", status=status))
    if filters.answer:
        question = form.by_name[filters.answer[0]]
        choice = next(c for c in question.choices if c.value == filters.answer[1])
        texts = [
            f"{form.text(question.label, lang)} = {form.text(choice.label, lang)}" for lang in langs
        ]
        lines.append(f"{w('Only where')}: {' / '.join(dict.fromkeys(texts))}")
    return lines
