"""What the research database holds: its tables and columns, worked out from the forms alone.

Pure: no I/O. :mod:`forms_server.publish` turns these plans into SQL.

A form is published unless it says ``publish: false``. Its research table has the
same name as its private table (and ``<form>__<repeat>`` for each repeat), with:

- the system columns of :data:`FORM_SYSTEM` (or :data:`REPEAT_SYSTEM`), never the
  collector's name (``_submitted_by``), the time received or the instance name;
- one column per question that has an answer, **except** questions marked
  ``sensitive`` and image or file questions (attachments can show faces and papers,
  and their file names carry the private submission id);
- after each ``select_one`` column, ``<name>_label``: the choice's label in the form's
  default language (:data:`LABEL_SUFFIX`).

Submission ids are replaced by a keyed pseudonym (see :mod:`forms_server.publish`);
repeat entries keep their ``/<repeat>/<positions>`` suffix after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from forms_server.model import SELECT_TYPES, Form, Question
from forms_server.schema import LIST_TYPES, TablePlan, column_type, plan_tables

#: Bumped whenever the research tables change shape for every form: forces a rebuild.
FORMAT_VERSION = 1
#: Question types never published, whatever their ``sensitive`` flag says.
UNPUBLISHED_TYPES = frozenset({"image", "file"})
LABEL_SUFFIX = "_label"
#: Question types whose columns get an index: what facets, filters and counts read.
_INDEXED_TYPES = frozenset({"select_one", "select_multiple", "date"})
#: The table of every choice label in every language.
CHOICE_LABELS = "_choice_labels"
#: Bookkeeping of the research database (hidden in Datasette).
STATE = "_publish_state"

#: System columns of a form's research table: name -> (SQL type, description zh, en).
FORM_SYSTEM: Mapping[str, tuple[str, str, str]] = {
    "_id": (
        "TEXT",
        "匿名编号：由提交编号经密钥计算得出，同一份提交始终相同，但无法还原或与机构内部记录对应",
        "Pseudonymous key: derived from the submission id with a secret key; stable, but "
        "cannot be reversed or matched to the organisation's own records",
    ),
    "_version": ("TEXT", "填写时使用的表单版本", "Form version the submission was made with"),
    "_completed_at": (
        "TEXT",
        "填写完成时间（UTC，ISO 8601）",
        "When the form was completed (UTC, ISO 8601)",
    ),
    "_completed_date": (
        "TEXT",
        "填写完成日期（机构所在时区，YYYY-MM-DD）",
        "Date the form was completed (the organisation's time zone, YYYY-MM-DD)",
    ),
    "_review_status": (
        "TEXT",
        "审核状态：received 已收到、has_issues 有问题、approved 已核准、rejected 已驳回",
        "Review state: received, has_issues, approved or rejected",
    ),
}
REPEAT_SYSTEM: Mapping[str, tuple[str, str, str]] = {
    "_id": (
        "TEXT",
        "条目编号：所属提交的匿名编号/重复组名/位置",
        "Entry key: the submission's pseudonymous key / repeat name / position(s)",
    ),
    "_submission_id": (
        "TEXT",
        "所属提交的匿名编号（对应表单主表的 _id）",
        "The submission's pseudonymous key (the _id of the form's main table)",
    ),
    "_parent_id": (
        "TEXT",
        "嵌套重复组中上一层条目的 _id（顶层条目为空）",
        "For a nested repeat, the _id of the enclosing entry (empty at the top level)",
    ),
    "_position": ("INTEGER", "条目在重复组中的位置（从1开始）", "Position of the entry (from 1)"),
}


@dataclass(frozen=True)
class Column:
    """One column of a research table."""

    name: str
    type: str
    #: ``system``, ``answer`` (a question's own column) or ``label`` (of a select_one).
    kind: str
    question: Question | None = None
    #: For a label column: choice value -> label in the form's default language.
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def indexed(self) -> bool:
        """Worth an index: what researchers facet, filter and sort on."""
        if self.kind == "system":
            return self.name in ("_completed_at", "_completed_date", "_submission_id", "_parent_id")
        q = self.question
        return self.kind == "answer" and q is not None and q.type in _INDEXED_TYPES


@dataclass(frozen=True)
class ResearchTable:
    """One table of the research database, and the private table it comes from."""

    form: Form
    plan: TablePlan
    columns: tuple[Column, ...]

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def repeat(self) -> str | None:
        return self.plan.repeat

    @property
    def parent(self) -> str:
        """The table ``_parent_id`` (or, at the top, ``_submission_id``) refers to."""
        return self.plan.parent or self.form.id

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def published(question: Question) -> bool:
    """Whether a question's answers may appear in the research database."""
    return question.has_answer and not question.sensitive and question.type not in UNPUBLISHED_TYPES


def research_tables(forms: Iterable[Form]) -> list[ResearchTable]:
    """Every research table of the published forms, each form's own table before its repeats."""
    tables: list[ResearchTable] = []
    for form in sorted(forms, key=lambda f: f.id):
        if not form.publish:
            continue
        for plan in plan_tables(form).values():
            tables.append(ResearchTable(form, plan, _columns(form, plan)))
    return tables


def _columns(form: Form, plan: TablePlan) -> tuple[Column, ...]:
    system = FORM_SYSTEM if plan.repeat is None else REPEAT_SYSTEM
    columns = [Column(name, spec[0], "system") for name, spec in system.items()]
    questions = [form.by_name[name] for name in plan.columns]
    taken = set(plan.columns) | set(system)
    for question in questions:
        if not published(question):
            continue
        columns.append(Column(question.name, _type(form, question), "answer", question))
        if question.type == "select_one":
            label = label_column(question.name, taken)
            taken.add(label)
            labels = {c.value: form.text(c.label, form.default_language) for c in question.choices}
            columns.append(Column(label, "TEXT", "label", question, labels))
    return tuple(columns)


def _type(form: Form, question: Question) -> str:
    """The private table's type; NUMERIC for a calculation that gives a number (stored
    as text in forms.db), so "41" is published as the number 41."""
    if question.type == "calculate" and question.calculation is not None:
        return "NUMERIC" if _numeric(form, question.calculation.ast, 0) else "TEXT"
    return column_type(question)


#: Functions that always give a number.
_NUMBER_FUNCTIONS = frozenset(
    {
        "int",
        "round",
        "number",
        "abs",
        "pow",
        "min",
        "max",
        "sum",
        "count",
        "count-selected",
        "count-non-empty",
        "string-length",
        "position",
        "decimal-date-time",
    }
)
_NUMBER_OPERATORS = frozenset({"+", "-", "*", "div", "mod", "neg", "num"})


def _numeric(form: Form, node: Any, depth: int) -> bool:
    """Whether an expression's AST always gives a number (or nothing)."""
    if not isinstance(node, list) or not node or depth > 20:
        return False
    kind = node[0]
    if kind in _NUMBER_OPERATORS:
        return True
    if kind == "ref":
        question = form.by_name.get(str(node[1]))
        if question is None:
            return False
        if question.type == "calculate" and question.calculation is not None:
            return _numeric(form, question.calculation.ast, depth + 1)
        return question.type in ("integer", "decimal", "range")
    if kind != "call":
        return False
    name, args = node[1], node[2:]
    if name in _NUMBER_FUNCTIONS:
        return True
    if name == "if" and len(args) == 3:
        return _numeric(form, args[1], depth + 1) and _numeric(form, args[2], depth + 1)
    if name in ("once", "coalesce"):
        return bool(args) and all(_numeric(form, a, depth + 1) for a in args)
    return False


def label_column(name: str, taken: set[str]) -> str:
    """``<name>_label``, or ``<name>__label`` when a question already has that name."""
    candidate = name + LABEL_SUFFIX
    return candidate if candidate not in taken else f"{name}_{LABEL_SUFFIX}"


def is_list(column: Column) -> bool:
    """A column holding a JSON array of choice values (select_multiple, rank)."""
    return (
        column.question is not None
        and column.kind == "answer"
        and (column.question.type in LIST_TYPES)
    )


def choice_label_rows(tables: Iterable[ResearchTable]) -> list[dict[str, object]]:
    """Rows of :data:`CHOICE_LABELS`: every choice of every published select question."""
    rows: list[dict[str, object]] = []
    for table in tables:
        form = table.form
        for column in table.columns:
            q = column.question
            if column.kind != "answer" or q is None or q.type not in SELECT_TYPES:
                continue
            for position, choice in enumerate(q.choices, start=1):
                row: dict[str, object] = {
                    "form_id": form.id,
                    "table_name": table.name,
                    "question": q.name,
                    "value": choice.value,
                    "position": position,
                }
                for lang in form.languages:
                    row[label_language_column(lang)] = choice.label.get(lang, form.default_language)
                rows.append(row)
    return rows


def label_language_column(lang: str) -> str:
    """The column of :data:`CHOICE_LABELS` for a language: ``zh-Hans`` -> ``label_zh_hans``."""
    return "label_" + "".join(c if c.isalnum() else "_" for c in lang.lower())


def languages(tables: Iterable[ResearchTable]) -> list[str]:
    """Every language of the published forms, in first-seen order."""
    return list(dict.fromkeys(lang for t in tables for lang in t.form.languages))


def signature(tables: Iterable[ResearchTable]) -> dict[str, dict[str, list[str]]]:
    """The shape of the research tables, to see what changed since the last build:
    table -> column -> [type, hash of the labels]."""
    return {
        t.name: {
            c.name: [c.type, _digest(sorted(c.labels.items())) if c.labels else ""]
            for c in t.columns
        }
        for t in tables
    } | {"": {"format": [str(FORMAT_VERSION), ""]}}


def additions(
    old: Mapping[str, Mapping[str, list[str]]], new: Mapping[str, Mapping[str, list[str]]]
) -> dict[str, list[str]] | None:
    """What ``new`` adds to ``old`` (table -> new columns; every column for a new table),
    or None when it also removes or changes something, which only a rebuild can do."""
    added: dict[str, list[str]] = {}
    for table, columns in old.items():
        if table not in new:
            return None
        for name, spec in columns.items():
            if list(new[table].get(name, [])) != list(spec):
                return None
    for table, columns in new.items():
        fresh = [name for name in columns if name not in old.get(table, {})]
        if fresh:
            added[table] = fresh
    return added


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False).encode()).hexdigest()[:16]
