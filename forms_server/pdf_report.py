"""A form's summary report: the statistics of its answers, computed in SQL.

The submissions are those :class:`~forms_server.pdf_filters.Filters` take (never deleted
ones). Statistics come from the form's typed table (and a repeat's table for questions
inside a repeat) in ``forms.db``:

- ``select_one`` and ``select_multiple``: how many chose each choice, and their share of
  those who answered (several answers possible for ``select_multiple``);
- ``integer``, ``decimal`` and ``range``: n, mean, median, min, max and a histogram;
- ``date``: how many per week, month or year (depending on the span).

Sensitive questions (or questions inside a sensitive group) are never read, free-text
and other answers are not summarised. Pure apart from the queries: data in, data out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta, tzinfo
from typing import Any

from forms_server.model import Form, Question
from forms_server.pdf_charts import BarChart, Histogram, bar_chart, histogram
from forms_server.pdf_filters import Filters, is_sensitive, where
from forms_server.pdf_record import format_number
from forms_server.research_sql import quote
from forms_server.schema import table_name
from forms_server.storage import Storage

SUMMARISED_TYPES = frozenset(
    {"select_one", "select_multiple", "integer", "decimal", "range", "date"}
)
#: A choice list longer than this shows only the choices someone chose.
MAX_CHOICES_SHOWN = 15
_NUMBER_TYPES = frozenset({"integer", "decimal", "range"})
_REFERENCE = re.compile(r"\$\{[^}]*\}")
#: Periods of a date chart: the span of dates each one suits (in days).
_WEEKS_UP_TO = 7 * 16
_MONTHS_UP_TO = 366 * 4


@dataclass(frozen=True)
class Count:
    label: str
    count: int
    #: Percent of those who answered.
    share: float


@dataclass(frozen=True)
class ChoiceStat:
    name: str
    label: str
    section: str
    #: Submissions (or repeat entries) that answered, and that did not.
    answered: int
    unanswered: int
    multiple: bool
    counts: tuple[Count, ...]
    chart: BarChart
    entries: bool = False
    #: Choices of a long list left out of the chart because nobody chose them.
    unchosen: int = 0
    kind: str = "choices"


@dataclass(frozen=True)
class NumberStat:
    name: str
    label: str
    section: str
    answered: int
    unanswered: int
    mean: str
    median: str
    minimum: str
    maximum: str
    chart: Histogram
    entries: bool = False
    kind: str = "number"


@dataclass(frozen=True)
class DateStat:
    name: str
    label: str
    section: str
    answered: int
    unanswered: int
    #: "week", "month" or "year".
    period: str
    counts: tuple[Count, ...]
    chart: BarChart
    entries: bool = False
    kind: str = "dates"


Stat = ChoiceStat | NumberStat | DateStat


@dataclass(frozen=True)
class Summary:
    form_id: str
    title: str
    langs: tuple[str, ...]
    filters: Filters
    #: Submissions the filters take.
    total: int
    stats: tuple[Stat, ...]


def summarise(
    storage: Storage, form: Form, filters: Filters, *, langs: Sequence[str], zone: tzinfo
) -> Summary:
    """The statistics of every summarisable, non-sensitive question of ``form``."""
    base_sql, base_params = where(form, filters, zone)
    base = f"WITH base AS (SELECT t.* {base_sql})"
    total = int(storage.query(f"{base} SELECT count(*) AS n FROM base", base_params)[0]["n"])
    maker = _Maker(storage, form, tuple(langs), base, base_params)
    stats: list[Stat] = []
    if total:
        for question in form.walk():
            if question.type in SUMMARISED_TYPES and not is_sensitive(form, question):
                stat = maker.stat(question)
                if stat is not None:
                    stats.append(stat)
    return Summary(form.id, maker.text(form.title), tuple(langs), filters, total, tuple(stats))


class _Maker:
    def __init__(
        self, storage: Storage, form: Form, langs: tuple[str, ...], base: str, params: list[Any]
    ) -> None:
        self.storage = storage
        self.form = form
        self.langs = langs
        self.base = base
        self.params = params
        self._totals: dict[str | None, int] = {}

    def text(self, value: Any) -> str:
        """A form text in the report's languages; a ``${name}`` in it (someone's answer in a
        record) is left as …."""
        texts = [_REFERENCE.sub("…", self.form.text(value, lang)) for lang in self.langs]
        return " / ".join(dict.fromkeys(texts))

    def label(self, question: Question) -> str:
        text = question.label or question.description
        return self.text(text) if text is not None else question.name

    def rows(self, question: Question) -> tuple[str, str | None]:
        """The CTE giving the rows (``base``, or a repeat's entries) a question's answers are in."""
        if not question.repeats:
            return self.base, None
        repeat = question.repeats[-1]
        table = quote(table_name(self.form.id, repeat))
        return (
            f"{self.base}, rows AS (SELECT r.* FROM {table} AS r"
            " WHERE r._submission_id IN (SELECT _id FROM base))",
            repeat,
        )

    def query(
        self, question: Question, select: str, extra: Sequence[Any] = ()
    ) -> list[dict[str, Any]]:
        cte, repeat = self.rows(question)
        source = "rows" if repeat else "base"
        return self.storage.query(
            f"{cte} {select.replace('{rows}', source)}", [*self.params, *extra]
        )

    def total(self, question: Question) -> int:
        """Submissions, or entries of the question's repeat in them."""
        repeat = question.repeats[-1] if question.repeats else None
        if repeat not in self._totals:
            self._totals[repeat] = int(
                self.query(question, "SELECT count(*) AS n FROM {rows}")[0]["n"]
            )
        return self._totals[repeat]

    def section(self, question: Question) -> str:
        labels = []
        for name in question.parents:
            parent = self.form.by_name[name]
            if parent.label is not None:
                labels.append(self.text(parent.label))
        return " · ".join(labels)

    def stat(self, question: Question) -> Stat | None:
        if question.type in ("select_one", "select_multiple"):
            return self.choices(question)
        if question.type in _NUMBER_TYPES:
            return self.numbers(question)
        return self.dates(question)

    def choices(self, question: Question) -> ChoiceStat | None:
        col = quote(question.name)
        if question.type == "select_one":
            found = self.query(
                question,
                f"SELECT {col} AS v, count(*) AS n FROM {{rows}} WHERE {col} IS NOT NULL"
                f" AND {col} != '' GROUP BY {col}",
            )
            answered = sum(int(r["n"]) for r in found)
        else:
            found = self.query(
                question,
                f"SELECT j.value AS v, count(*) AS n FROM {{rows}}, json_each({{rows}}.{col}) AS j"
                f" WHERE json_valid({{rows}}.{col}) GROUP BY j.value",
            )
            answered = int(
                self.query(
                    question,
                    f"SELECT count(*) AS n FROM {{rows}} WHERE json_valid({col})"
                    f" AND json_array_length({col}) > 0",
                )[0]["n"]
            )
        if not answered:
            return None
        by_value = {str(r["v"]): int(r["n"]) for r in found}
        choices = question.choices
        # A long list (cities) shows only the choices someone chose.
        keep_zero = len(choices) <= MAX_CHOICES_SHOWN
        counts = []
        for choice in choices:
            count = by_value.pop(choice.value, 0)
            if count or keep_zero:
                counts.append(Count(self.text(choice.label), count, _percent(count, answered)))
        # Values no choice has now (a form version's older choices), under their value.
        for value, count in sorted(by_value.items()):
            counts.append(Count(value, count, _percent(count, answered)))
        return ChoiceStat(
            question.name,
            self.label(question),
            self.section(question),
            answered,
            self.total(question) - answered,
            question.type == "select_multiple",
            tuple(counts),
            bar_chart([(c.label, c.count, _figures(c)) for c in counts]),
            entries=bool(question.repeats),
            unchosen=0 if keep_zero else len(choices) - sum(1 for c in counts if c.count),
        )

    def numbers(self, question: Question) -> NumberStat | None:
        col = quote(question.name)
        numeric = f"typeof({col}) IN ('integer', 'real')"
        head = self.query(
            question,
            f"SELECT count({col}) AS n, avg({col}) AS mean, min({col}) AS lo, max({col}) AS hi"
            f" FROM {{rows}} WHERE {numeric}",
        )[0]
        answered = int(head["n"])
        if not answered:
            return None
        middle = self.query(
            question,
            f"SELECT {col} AS v FROM {{rows}} WHERE {numeric} ORDER BY {col} LIMIT ? OFFSET ?",
            [2 - answered % 2, (answered - 1) // 2],
        )
        median = sum(float(r["v"]) for r in middle) / len(middle)
        lo, hi = head["lo"], head["hi"]
        whole = question.type == "integer" or all(isinstance(v, int) for v in (lo, hi))
        start, width, bins = _bins(float(lo), float(hi), whole)
        found = self.query(
            question,
            f"SELECT CAST(({col} - ?) / ? AS INTEGER) AS b, count(*) AS n FROM {{rows}}"
            f" WHERE {numeric} GROUP BY b",
            [start, width],
        )
        counts = [0] * bins
        for row in found:
            counts[min(max(int(row["b"]), 0), bins - 1)] += int(row["n"])
        edges = [format_number(_tidy(start + i * width)) for i in range(bins + 1)]
        return NumberStat(
            question.name,
            self.label(question),
            self.section(question),
            answered,
            self.total(question) - answered,
            mean=format_number(round(float(head["mean"]), 2)),
            median=format_number(_tidy(median)),
            minimum=format_number(lo),
            maximum=format_number(hi),
            chart=histogram(counts, edges),
            entries=bool(question.repeats),
        )

    def dates(self, question: Question) -> DateStat | None:
        col = quote(question.name)
        valid = f"{col} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"
        head = self.query(
            question,
            f"SELECT count(*) AS n, min(substr({col}, 1, 10)) AS lo,"
            f" max(substr({col}, 1, 10)) AS hi FROM {{rows}} WHERE {valid}",
        )[0]
        answered = int(head["n"])
        if not answered:
            return None
        lo, hi = date.fromisoformat(head["lo"]), date.fromisoformat(head["hi"])
        span = (hi - lo).days
        period = "week" if span <= _WEEKS_UP_TO else "month" if span <= _MONTHS_UP_TO else "year"
        key = {
            "week": f"date(substr({col}, 1, 10), 'weekday 0', '-6 days')",
            "month": f"substr({col}, 1, 7)",
            "year": f"substr({col}, 1, 4)",
        }[period]
        found = self.query(
            question, f"SELECT {key} AS k, count(*) AS n FROM {{rows}} WHERE {valid} GROUP BY k"
        )
        by_key = {str(r["k"]): int(r["n"]) for r in found}
        counts = tuple(
            Count(k, by_key.get(k, 0), _percent(by_key.get(k, 0), answered))
            for k in _periods(lo, hi, period)
        )
        return DateStat(
            question.name,
            self.label(question),
            self.section(question),
            answered,
            self.total(question) - answered,
            period,
            counts,
            bar_chart([(c.label, c.count, f"{c.count:,}") for c in counts]),
            entries=bool(question.repeats),
        )


def _percent(count: int, of: int) -> float:
    return round(100 * count / of, 1) if of else 0.0


def _figures(count: Count) -> str:
    return f"{count.count:,} · {count.share:.1f}%"


def _tidy(value: float) -> float | int:
    """A float that is a whole number as an int, others rounded to 4 decimals."""
    return int(value) if float(value).is_integer() else round(value, 4)


def _bins(lo: float, hi: float, whole: bool) -> tuple[float, float, int]:
    """(start, width, count) of about ten bins of a round width covering lo..hi."""
    if hi <= lo:
        return lo, 1.0, 1
    raw = (hi - lo) / 10
    magnitude = 10 ** math.floor(math.log10(raw))
    width = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if whole:
        width = float(max(1, math.ceil(width)))
    start = math.floor(lo / width) * width
    return start, width, int((hi - start) // width) + 1


def _periods(lo: date, hi: date, period: str) -> list[str]:
    """Every period from ``lo``'s to ``hi``'s, empty ones too, as the SQL keys them."""
    keys: list[str] = []
    if period == "week":
        day = lo - timedelta(days=lo.weekday())
        while day <= hi:
            keys.append(day.isoformat())
            day += timedelta(days=7)
    elif period == "month":
        year, month = lo.year, lo.month
        while (year, month) <= (hi.year, hi.month):
            keys.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    else:
        keys = [f"{year:04d}" for year in range(lo.year, hi.year + 1)]
    return keys
