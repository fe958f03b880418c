"""Datasette's metadata for research.db: the organisation's hand-written part, merged with
what is generated from the forms. Pure: data in, data out.

Generated, per research table: a title and description (from the form, or the
repeat's label), a description of every column in the form's default language and in
English, with its unit where one is known, and canned queries: submissions per week,
and the count of every choice of each ``select_one`` and ``select_multiple``.

Units come from, in order: the hand-written ``units`` map of the base file
(``"form.question": "元 / RMB"``, or null for none); the question's English label or
description (``(RMB)``, ``(hours)``, ``in minutes``, ``how many days`` …); its name
(``daily_hours``, ``days_off``, ``child_age`` …). They are written in the column
description rather than Datasette's ``units`` key, whose display turns 6,500 元 into
"6.5 k元" and 1,200 days into "1.2 kd".
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from forms_server.model import Form, Question, Text
from forms_server.research_tables import (
    CHOICE_LABELS,
    FORM_SYSTEM,
    REPEAT_SYSTEM,
    STATE,
    Column,
    ResearchTable,
    is_list,
    label_language_column,
    research_tables,
)

DATABASE = "research"
#: The hand-written part, beside the generated file at the top of the repository.
BASE_FILE = "datasette_metadata.base.json"
GENERATED_FILE = "datasette_metadata.json"
#: Key of the base file that is ours, not Datasette's: taken out before merging.
_OWN_KEY = "forms_server"

#: unit -> (Chinese, English).
UNITS: Mapping[str, tuple[str, str]] = {
    "rmb": ("元", "RMB"),
    "hours": ("小时", "hours"),
    "minutes": ("分钟", "minutes"),
    "days": ("天", "days"),
    "months": ("个月", "months"),
    "years": ("年", "years"),
    "db": ("dB(A)", "dB(A)"),
    "celsius": ("°C", "°C"),
}
#: Patterns of an English label or description that name the unit; first match wins.
_TEXT_UNITS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (unit, re.compile(pattern, re.IGNORECASE))
    for unit, pattern in (
        ("rmb", r"\((?:RMB|yuan|CNY)\)|\bRMB\b"),
        ("hours", r"\(hours?\)|^hours\b|\bin hours\b"),
        ("minutes", r"\(minutes?\)|\bin minutes\b"),
        ("days", r"\(days?\)|\bhow many days\b|^days\b"),
        ("months", r"\(months?\)|\bhow many months\b|^months\b"),
        ("years", r"\(years?\)|\bhow many years\b|\bin completed years\b|^years\b"),
        ("db", r"\bdB\(A\)"),
        ("celsius", r"°C"),
    )
)
#: Patterns of a question's name; for numbers only, when the texts say nothing.
_NAME_UNITS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (unit, re.compile(pattern))
    for unit, pattern in (
        ("rmb", r"(^|_)(wage|wages|amount|salary|fee|cost|costs)(_|$)"),
        ("hours", r"(^|_)hours(_|$)"),
        ("minutes", r"(^|_)minutes(_|$)"),
        ("days", r"(^|_)days(_|$)"),
        ("months", r"(^|_)months(_|$)"),
        ("years", r"(^|_)(years|age)(_|$)"),
        ("db", r"(^|_)db(_|$)"),
    )
)
_NUMBER_TYPES = frozenset({"integer", "decimal", "range", "calculate"})


def load_base(path: Path) -> dict[str, Any]:
    """The hand-written metadata (an empty one when the file is missing)."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return data


def render(metadata: Mapping[str, Any]) -> str:
    """The metadata as the committed file holds it."""
    return json.dumps(metadata, ensure_ascii=False, indent=2) + "\n"


def build_metadata(forms: Iterable[Form], base: Mapping[str, Any]) -> dict[str, Any]:
    """The full metadata: generated from ``forms``, then the base file's keys over it."""
    own = base.get(_OWN_KEY) or {}
    units = dict(own.get("units") or {})
    tables = research_tables(forms)
    generated_tables: dict[str, Any] = {}
    queries: dict[str, Any] = {}
    for table in tables:
        generated_tables[table.name] = _table(table, units)
        queries.update(_queries(table))
    generated_tables[CHOICE_LABELS] = _choice_labels_table(tables)
    generated_tables[STATE] = {"hidden": True}
    generated = {
        "databases": {
            DATABASE: {
                "description": (
                    "研究数据库：由表单数据自动生成，不含敏感问题、附件、填表人和受访者身份信息。\n"
                    "Research database, derived from the forms' data: no sensitive question, "
                    "no attachment, nobody's identity."
                ),
                "tables": generated_tables,
                "queries": queries,
            }
        }
    }
    hand = {k: v for k, v in base.items() if k != _OWN_KEY}
    return _merge(generated, hand)


def unit_of(form: Form, question: Question, overrides: Mapping[str, str | None]) -> str | None:
    """The unit of a number question as "中文 / English", or None."""
    key = f"{form.id}.{question.name}"
    if key in overrides:
        return overrides[key]
    if question.type not in _NUMBER_TYPES:
        return None
    texts = [t.values.get("en", "") for t in (question.label, question.description) if t]
    for unit, pattern in _TEXT_UNITS:
        if any(pattern.search(text) for text in texts):
            return _unit(unit)
    for unit, pattern in _NAME_UNITS:
        if pattern.search(question.name):
            return _unit(unit)
    return None


def _unit(unit: str) -> str:
    zh, en = UNITS[unit]
    return zh if zh == en else f"{zh} / {en}"


# -- tables ---------------------------------------------------------------------------


def _table(table: ResearchTable, units: Mapping[str, str | None]) -> dict[str, Any]:
    form = table.form
    if table.repeat is None:
        title = _both(form, form.title)
        description = _both(form, form.description, sep="\n\n")
        note = (
            "每份提交一行。敏感问题、照片和文件、填表人姓名都不公开。\n"
            "One row per submission. Sensitive questions, photos and files, and who "
            "collected the data are never published."
        )
    else:
        repeat = form.by_name[table.repeat]
        title = f"{_both(form, form.title)} — {_both(form, repeat.label)}"
        parent = "主表" if table.plan.parent is None else f"表 {table.plan.parent}"
        description = ""
        note = (
            f"重复组每个条目一行；_submission_id 对应主表 {form.id} 的 _id，"
            f"_parent_id 对应{parent}的 _id。\n"
            f"One row per entry of the repeat '{table.repeat}'; _submission_id is the _id "
            f"of the form's table {form.id}."
        )
    system = FORM_SYSTEM if table.repeat is None else REPEAT_SYSTEM
    columns: dict[str, str] = {}
    for column in table.columns:
        if column.kind == "system":
            _, zh, en = system[column.name]
            columns[column.name] = f"{zh} / {en}"
        else:
            columns[column.name] = _column(form, column, units)
    # No default sort: Datasette 0.65 repeats a row across pages when sorting on a
    # column with ties (many submissions share a completion time).
    return {
        "title": title,
        "description": "\n\n".join(part for part in (description, note) if part),
        "columns": columns,
    }


def _column(form: Form, column: Column, units: Mapping[str, str | None]) -> str:
    question = column.question
    assert question is not None
    if column.kind == "label":
        lang = form.default_language
        return f"{question.name} 的选项文字（{lang}）/ Label of the choice ({lang})"
    text = _both(form, question.description or question.label)
    if not text and question.calculation is not None:
        text = f"计算值 / Calculated: {question.calculation.source}"
    notes = []
    if question.type == "select_one":
        notes.append("选项值，文字在下一列 / choice value, its label in the next column")
    elif question.type == "rank":
        notes.append("排序：JSON 数组，第一项最重要 / ranking: JSON array, most important first")
    elif is_list(column):
        notes.append("多选：JSON 数组（用 _facet_array 统计）/ JSON array of choice values")
    unit = unit_of(form, question, units)
    if unit:
        notes.append(f"单位 unit: {unit}")
    return " · ".join([text or question.name, *notes])


def _choice_labels_table(tables: list[ResearchTable]) -> dict[str, Any]:
    columns = {
        "form_id": "表单 / Form",
        "table_name": "问题所在的表 / Table of the question",
        "question": "问题名 / Question name",
        "value": "选项值，即数据中的值 / Choice value, as stored in the data",
        "position": "选项在表单中的顺序 / Order of the choice in the form",
    }
    for table in tables:
        for lang in table.form.languages:
            columns[label_language_column(lang)] = f"{lang} 选项文字 / Choice label in {lang}"
    return {
        "title": "选项文字 · Choice labels",
        "description": (
            "每个选择题选项在各语言中的文字，用于把选项值换成文字。\n"
            "Every choice of every published select question, with its label in each "
            "language: join on (form_id, question, value)."
        ),
        "columns": columns,
    }


# -- canned queries -------------------------------------------------------------------


def _queries(table: ResearchTable) -> dict[str, Any]:
    form = table.form
    queries: dict[str, Any] = {}
    name = _q(table.name)
    if table.repeat is None:
        queries[f"{table.name}_per_week"] = {
            "title": f"{_text(form, form.title, form.default_language)}：每周提交数 / "
            f"{_text(form, form.title, 'en')}: submissions per week",
            "description": "按填写完成日期所在的周（周一开始）统计 / "
            "By the week (starting on Monday) of the completion date",
            # Per day first: that reads the index on _completed_date, not every row.
            "sql": (
                "with days as (\n  select _completed_date as day, count(*) as n\n"
                f"  from {name} group by _completed_date\n)\n"
                "select date(day, '-6 days', 'weekday 1') as week_starting,\n"
                "  sum(n) as submissions\nfrom days\n"
                "group by week_starting\norder by week_starting desc"
            ),
        }
    labels = ", ".join(f"l.{label_language_column(lang)}" for lang in form.languages)
    for column in table.columns:
        question = column.question
        if column.kind != "answer" or question is None:
            continue
        if question.type not in ("select_one", "select_multiple"):
            continue
        what = _both(form, question.label) or question.name
        join = (
            f"left join {CHOICE_LABELS} as l on l.form_id = '{form.id}'"
            f" and l.question = '{question.name}' and l.value = counts.value"
        )
        if question.type == "select_one":
            sql = (
                f"with counts as (\n  select {_q(question.name)} as value, count(*) as n\n"
                f"  from {name} group by {_q(question.name)}\n)\n"
                f"select counts.value, {labels}, counts.n,\n"
                "  round(100.0 * counts.n / (select sum(n) from counts), 1) as percent\n"
                f"from counts {join}\norder by coalesce(l.position, 1e9), counts.value"
            )
            description = "每个选项的回答数和占全部的百分比（value 为空：未回答）/ " + (
                "Answers per choice, and percent of all rows (empty value: not answered)"
            )
        else:
            # Count each distinct answer first (an index scan), then split the few
            # distinct arrays: far cheaper than parsing every row's JSON.
            sql = (
                f"with combos as (\n  select {_q(question.name)} as v, count(*) as n from {name}\n"
                f"  where {_q(question.name)} is not null and {_q(question.name)} != '[]'\n"
                f"  group by {_q(question.name)}\n),\n"
                "counts as (\n  select j.value as value, sum(combos.n) as n\n"
                "  from combos, json_each(combos.v) as j group by j.value\n)\n"
                f"select counts.value, {labels}, counts.n,\n"
                "  round(100.0 * counts.n / (select sum(n) from combos), 1)"
                " as percent_of_answering\n"
                f"from counts {join}\norder by coalesce(l.position, 1e9), counts.value"
            )
            description = "多选题：每个选项被选的次数，占回答了此题的人的百分比 / " + (
                "Multiple choice: how often each choice was chosen, in percent of those "
                "who answered"
            )
        queries[f"{table.name}_{question.name}_counts"] = {
            "title": f"{what}：各选项人数 / counts per choice ({table.name}.{question.name})",
            "description": description,
            "sql": sql,
        }
    return queries


# -- helpers --------------------------------------------------------------------------


def _text(form: Form, text: Text | None, lang: str) -> str:
    return " ".join(form.text(text, lang).split())


def _both(form: Form, text: Text | None, sep: str = " / ") -> str:
    """A text in the form's default language, then in English when that differs."""
    if text is None:
        return ""
    first = _text(form, text, form.default_language)
    english = _text(form, text, "en") if "en" in text.values else ""
    return first if not english or english == first else f"{first}{sep}{english}"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _merge(generated: dict[str, Any], hand: Mapping[str, Any]) -> dict[str, Any]:
    """``hand`` over ``generated``, key by key inside objects; hand-written keys first."""
    merged: dict[str, Any] = {}
    for key, value in hand.items():
        if isinstance(value, Mapping) and isinstance(generated.get(key), dict):
            merged[key] = _merge(generated[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    for key, value in generated.items():
        merged.setdefault(key, value)
    return merged
